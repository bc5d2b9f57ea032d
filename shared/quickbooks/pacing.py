"""Per-company pacing: QuickBooks answers 429 past 10 requests at once or 500 a minute for one company."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable


class Pacer(Protocol):
    def acquire(self, realm_id: str) -> None:
        """Block until one more request to ``realm_id`` fits within the limits."""
        ...

    def release(self, realm_id: str) -> None:
        """The request started by the matching ``acquire`` has finished."""
        ...


class LocalPacer:
    """Keeps one process under the limits with some headroom for other callers of the same company.

    Cross-process pacing (many Lambdas on one company) is the bulk worker's job: SQS MaximumConcurrency caps
    how many run at once, and each uses this pacer for its own calls.
    """

    def __init__(
        self, *, max_concurrent: int = 4, per_minute: int = 400, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_concurrent = max_concurrent
        self._per_minute = per_minute
        self._clock = clock
        self._lock = threading.Condition()
        self._in_flight: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}

    def acquire(self, realm_id: str) -> None:
        with self._lock:
            while True:
                now = self._clock()
                recent = self._recent.setdefault(realm_id, deque())
                while recent and now - recent[0] >= 60.0:
                    recent.popleft()
                if self._in_flight.get(realm_id, 0) < self._max_concurrent and len(recent) < self._per_minute:
                    recent.append(now)
                    self._in_flight[realm_id] = self._in_flight.get(realm_id, 0) + 1
                    return
                wait = 60.0 - (now - recent[0]) if len(recent) >= self._per_minute else 0.05
                self._lock.wait(timeout=max(wait, 0.01))

    def release(self, realm_id: str) -> None:
        with self._lock:
            self._in_flight[realm_id] = max(0, self._in_flight.get(realm_id, 0) - 1)
            self._lock.notify_all()

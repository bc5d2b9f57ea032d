"""Per-company pacing: QuickBooks answers 429 past 10 requests at once or 500 a minute for one company."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable


class CallNotStarted(Exception):  # noqa: N818 - a decision, not a failure
    """A pacer would not start a try of a call (``Pacer.acquire``): nothing of that try reached QuickBooks.

    The client sets ``sent_before`` when an earlier try of the same call was sent (a 5xx or a dropped connection:
    it may have been carried out), so whoever catches it knows whether a write must be looked for before it is
    sent again."""

    sent_before: bool = False


class Pacer(Protocol):
    def acquire(self, realm_id: str) -> None:
        """Block until one more request to ``realm_id`` fits within the limits (or, when it should not wait that
        long, raise the caller's own refusal: the bulk worker's ``Deferred``, a ``CallNotStarted``; the UI's 503)."""
        ...

    def release(self, realm_id: str) -> None:
        """The request started by the matching ``acquire`` has finished."""
        ...


class LocalPacer:
    """One process's guard: at most ``max_concurrent`` calls of one company in flight and ``per_minute`` in a
    sliding minute, counting this process's calls only ("10 at once" and "500 a minute" per container).

    It knows nothing of other containers. The product's clients book each call on the company's calendar shared
    by every container (``shared.services.pacing.CompanyPacer``), which keeps the rate across them, and use this
    as that pacer's per-container guard of QuickBooks' 10 at once. A bare ``QuickBooksClient`` (a tool, a test)
    gets this alone, with headroom left for other callers of the same company.
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

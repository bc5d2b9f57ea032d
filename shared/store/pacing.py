"""Per-company pacing shared by every bulk worker: a request counter per company and 10-second window in DynamoDB.

QuickBooks answers 429 past 500 requests in a sliding minute or 10 in flight for one company. Any 60 seconds
overlap at most 7 windows of 10 seconds, so ``per_window`` 60 keeps the bulk workers of all Lambdas together
at 420 a minute at most, leaving room for the interactive routes of the same company::

    window  |--- 0..10 s ---|--- 10..20 s ---| ...   one item each: pk PACE#{realmId}, sk = window start
    acquire  ADD n 1  IF n < per_window          one conditional write, no read, no lost update
             full? sleep until the next window, then try it

A job of 30 (a few calls an item) fits in the first windows and never waits. In-flight requests are capped by
the bulk queue's ``MaximumConcurrency`` (at most 8, the template's bound) times one call at a time per worker,
so ``release`` has nothing to give back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from shared.store.table import ConditionFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.store.table import Table

WINDOW_SECONDS = 10
PER_WINDOW = 60
RECORD_TTL_SECONDS = 3600


class DynamoPacer:
    """The ``Pacer`` of bulk workers: every Lambda on one company draws from the same windows."""

    def __init__(
        self,
        table: Table,
        *,
        window_seconds: int = WINDOW_SECONDS,
        per_window: int = PER_WINDOW,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table
        self.window_seconds = window_seconds
        self.per_window = per_window
        self._clock = clock
        self._sleep = sleep

    def acquire(self, realm_id: str) -> None:
        while True:
            now = self._clock()
            window = int(now // self.window_seconds) * self.window_seconds
            try:
                self.table.update(
                    f"PACE#{realm_id}",
                    str(window),
                    add={"n": 1},
                    set_values={"expiresAt": window + RECORD_TTL_SECONDS},
                    condition="attribute_not_exists(#n) OR #n < :limit",
                    values={"limit": self.per_window},
                )
                return
            except ConditionFailed:
                pass
            self._sleep(window + self.window_seconds - now + 0.01)

    def release(self, realm_id: str) -> None:
        return None

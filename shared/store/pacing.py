"""Per-company calendars in DynamoDB: every Lambda container books its QuickBooks calls on the company's one item.

QuickBooks answers 429 past 10 requests of one app in any sliding second and 500 of one company in any sliding
minute. A calendar hands out times ``spacing`` apart (GCRA: the item holds only the next free time, not a count
per window), so calls booked on it never come closer than ``spacing``, whichever container booked them::

    item   pk PACE#{realmId}  sk CALLS (or DEFERRALS)  next = the first free time (epoch ms)  expiresAt (TTL)

    book      SET next = next + :spacing  IF next > :start AND next <= :latest      the busy path: one write,
              → my time = next (new) - spacing                                       no read
    restart   SET next = :start + :spacing  IF next missing OR next <= :start       the idle path: my time = start
    neither   ConditionFailed carries the item as found (ReturnValuesOnConditionCheckFailure, no extra read):
              next <= start → restart; next > latest → full, nothing booked (the caller decides: wait? defer?)

``start`` is now (or a later ``not_before``). A restart only ever moves ``next`` forward from a time already past,
so the last time booked before it is at least ``spacing`` before the restart's: the spacing holds across restarts,
and two restarters cannot both win (the loser's condition sees the winner's ``next``). With ``spacing`` 125 ms
any sliding second holds at most 9 calls and any sliding minute at most 481, under QuickBooks' 10 and 500 with
headroom for the clocks of different containers.

Which write to try first is a guess from the last ``next`` this container saw (busy → book, idle or unknown →
restart): a right guess costs one write per call, a wrong one two. A company's steady traffic keeps the guess
right; an interactive call after a quiet spell restarts in one write. ``peek`` reads ``next`` without booking
(eventually consistent: half a read unit; a stale answer only makes a worker start or defer one item early or late).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.store.table import ConditionFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.store.table import Table

CALLS = "CALLS"
DEFERRALS = "DEFERRALS"
RECORD_TTL_SECONDS = 3600
_MAX_ATTEMPTS = 20  # each failed attempt means another container booked or restarted meanwhile


def pace_pk(realm_id: str) -> str:
    return f"PACE#{realm_id}"


@dataclass(frozen=True)
class Booking:
    """A time booked on a calendar (epoch seconds), and how many DynamoDB writes it took."""

    at: float
    writes: int


class Calendar:
    """One kind of calendar (``sk``) of every company, times ``spacing`` seconds apart."""

    def __init__(self, table: Table, sk: str, *, spacing: float, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.sk = sk
        self.spacing_ms = round(spacing * 1000)
        self._clock = clock
        self._seen: dict[str, int] = {}  # realm → the last ``next`` this container saw (the guess of busy or idle)
        self._lock = threading.Lock()

    @property
    def spacing(self) -> float:
        return self.spacing_ms / 1000

    def book(
        self,
        realm_id: str,
        *,
        latest: float | None = None,
        not_before: float | None = None,
        spacing: float | None = None,
    ) -> Booking | None:
        """The first free time from now (or ``not_before``), booked; None when it would be after ``latest``.
        ``spacing``: the gap this booking leaves after itself when longer than the calendar's (a slow company)."""
        pk = pace_pk(realm_id)
        gap_ms = max(self.spacing_ms, round((spacing or 0.0) * 1000))
        writes = 0
        for _ in range(_MAX_ATTEMPTS):
            now = self._clock()
            start = _ms(max(now, not_before or now))
            limit = _ms(latest) if latest is not None else None
            expires = int(now) + RECORD_TTL_SECONDS
            busy = self._guess(realm_id) > start
            try:
                writes += 1
                if busy:
                    item = self.table.update(
                        pk,
                        self.sk,
                        set_values={"expiresAt": expires},
                        add={"next": gap_ms},
                        condition="#next > :start" + (" AND #next <= :latest" if limit is not None else ""),
                        values={"start": start, **({"latest": limit} if limit is not None else {})},
                        old_on_failure=True,
                    )
                    self._saw(realm_id, int(item["next"]))
                    return Booking((int(item["next"]) - gap_ms) / 1000, writes)
                if limit is not None and start > limit:
                    return None
                self.table.update(
                    pk,
                    self.sk,
                    set_values={"next": start + gap_ms, "expiresAt": expires},
                    condition="attribute_not_exists(#next) OR #next <= :start",
                    values={"start": start},
                    old_on_failure=True,
                )
                self._saw(realm_id, start + gap_ms)
                return Booking(start / 1000, writes)
            except ConditionFailed as failed:
                found = int(failed.item["next"]) if failed.item and "next" in failed.item else 0
                self._saw(realm_id, found)
                if limit is not None and found > limit and found > start:
                    return None
        raise RuntimeError(f"no time booked on {pk} {self.sk} after {_MAX_ATTEMPTS} attempts")

    def seen(self, realm_id: str) -> float:
        """The first free time as this container last saw it (epoch seconds): after a booking refused for its
        ``latest``, the time found then. No request."""
        return self._guess(realm_id) / 1000

    def peek(self, realm_id: str) -> float:
        """The first free time (epoch seconds; in the past when the company is idle). One read, nothing booked."""
        item = self.table.get(pace_pk(realm_id), self.sk, consistent=False)
        found = int(item["next"]) if item and "next" in item else 0
        self._saw(realm_id, found)
        return found / 1000

    def _guess(self, realm_id: str) -> int:
        with self._lock:
            return self._seen.get(realm_id, 0)

    def _saw(self, realm_id: str, next_ms: int) -> None:
        with self._lock:
            self._seen[realm_id] = next_ms


def _ms(seconds: float) -> int:
    return round(seconds * 1000)

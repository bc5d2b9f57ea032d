"""One QuickBooks budget per company, shared by every Lambda container: the UI's calls and the bulk backlog's.

Every call books a time on the company's call calendar (``shared.store.pacing``: 8 a second, one DynamoDB write)
and starts at that time. What differs is how long a caller may wait, and who never starts waiting at all::

    interactive call (API routes, "Sync with QB", webhooks, list refresh)
        book a time ≤ now + 4.5 s ──▶ sleep until it ──▶ call QuickBooks
                    └─ booked further ahead ──▶ CompanyBusy: 503 with Retry-After (nothing sent)

    bulk item / invoice deletion (SQS worker)
        peek at the calendar (one read, nothing booked)
          free ≤ now + 1 s ───────▶ start the item: each of its calls books and waits (≤ 15 s; past that
                                    CompanyBusy, and the item is deferred like below: a sync that stops
                                    un-pends what it did not send)
          free  > now + 1 s ──────▶ DEFER: book a return time on the company's deferral calendar, not before
                                    the call calendar is back within 1 s, one item's worth (0.2 s) after the
                                    last deferral; send the message again with that DelaySeconds and
                                    acknowledge this delivery (an SQS receive is not spent on our own pacing)

The backlog thus keeps the call calendar booked about one second ahead, never more: an interactive call books
behind at most that second plus the calls of items already running, so the UI keeps its share (a "Sync with QB"
of a few calls answers in a few seconds while hundreds of invoices wait their turn in SQS, not in Lambda).
Deferred messages come back spread at about the pace the company absorbs them (0.2 s apart against ~0.25 s of
calls an item: a little more supply than capacity, so the calendar never runs dry), not all at once.

A process-wide guard keeps at most 10 calls of one company in flight from one container (QuickBooks' 10 at once);
a 429 that still comes back is handled by the client's retry and the worker's visibility delay as before.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.errors import CompanyBusy
from shared.observability import logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.quickbooks.pacing import Pacer
    from shared.store.pacing import Calendar

CALL_SPACING = 0.125
"""8 calls a second per company: any sliding second holds at most 9 (QuickBooks: 10), any minute 481 (500)."""
INTERACTIVE_MAX_WAIT = 4.5
"""How long a UI call may wait for its time; beyond, a 503 (the UI's sync answers within about 5 s)."""
BACKGROUND_MAX_WAIT = 15.0
"""How long a call of a started bulk item may wait for its time (items start only with ≤ 1 s booked ahead)."""
ADMISSION_HORIZON = 1.0
"""A bulk item starts only when the company's calls are booked at most this far ahead."""
DEFERRAL_SPACING = 0.2
"""Deferred messages come back this far apart: a little under one item's calls (about 2 × ``CALL_SPACING``)."""
LATE_REBOOKINGS = 3
MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds upper bound


@dataclass
class CompanyPacer:
    """The ``Pacer`` of every QuickBooks client: a time on the company's calendar, then at most ``guard``'s
    concurrent calls from this container."""

    calendar: Calendar
    guard: Pacer
    max_wait: float
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def acquire(self, realm_id: str) -> None:
        deadline = self.clock() + self.max_wait
        for attempt in range(1, LATE_REBOOKINGS + 2):
            booking = self.calendar.book(realm_id, latest=deadline)
            if booking is None:
                metrics.add_metric(name="QuickBooksCallRefusedByPacing", unit="Count", value=1)
                raise CompanyBusy(
                    "QuickBooks is busy with this company's other work; try again in a few seconds.",
                    retry_after=max(1, math.ceil(self.max_wait)),
                )
            wait = booking.at - self.clock()
            if wait > 0:
                self.sleep(wait)
            self.guard.acquire(realm_id)
            # Woken (or let through the guard) later than one spacing after its time, the call would crowd the
            # next ones: it books again instead (a few times at most; then it goes).
            if self.clock() - booking.at <= self.calendar.spacing or attempt > LATE_REBOOKINGS:
                return
            self.guard.release(realm_id)
            metrics.add_metric(name="QuickBooksCallBookedAgain", unit="Count", value=1)

    def release(self, realm_id: str) -> None:
        self.guard.release(realm_id)


@dataclass
class BacklogAdmission:
    """Whether a bulk worker may start an item for a company now, and if not, when its message should return."""

    calls: Calendar
    deferrals: Calendar
    horizon: float = ADMISSION_HORIZON
    clock: Callable[[], float] = field(default=time.time)

    def deferral(self, realm_id: str) -> int | None:
        """None: start now. Else the seconds (1 to 900) the message waits in the queue before it comes back."""
        free = self.calls.peek(realm_id)
        now = self.clock()
        if free <= now + self.horizon:
            return None
        slot = self.deferrals.book(realm_id, not_before=free - self.horizon)
        assert slot is not None  # no ``latest``: a deferral is always booked
        delay = min(MAX_DELAY_SECONDS, max(1, math.ceil(slot.at - now)))
        logger.info("quickbooks work deferred", realm_id=realm_id, booked_ahead=round(free - now, 3), delay=delay)
        return delay

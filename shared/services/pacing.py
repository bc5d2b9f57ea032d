"""One QuickBooks budget per company, shared by every Lambda container: the UI's calls and the bulk backlog's.

Every call books a time on the company's call calendar (``shared.store.pacing``: 8 a second, one DynamoDB write)
and starts at that time. What differs is how far ahead a caller may book, how long it may wait, and who never
starts waiting at all::

    interactive client (one API request: "Sync with QB", View QB Info, a list refresh, a webhook delivery)
        each call books a time ≤ now + what is left of the client's wait budget (3.5 s for all its calls,
        beyond their own pace of one spacing each)
          ──▶ sleep until it ──▶ call QuickBooks
                └─ booked further ahead ──▶ CompanyBusy: 503 with Retry-After (nothing more sent)

    bulk item / invoice deletion / automatic sync (SQS worker)
        peek at the calendar (one read, nothing booked)
          free ≤ now + 0.5 s ──▶ start the item. Each of its calls books only within now + 0.5 s (booked further
                                 ahead: sleep until the calendar is back within, then book), waits at most 3 s
                                 in all and never past the Lambda's time less a call's reserve; past that,
                                 Deferred: the sync stops (un-pending what it did not send) and the message is
                                 deferred like below
          free  > now + 0.5 s ──▶ DEFER: book a return time on the company's deferral calendar, not before the
                                 call calendar is back within 0.5 s, one item's worth (0.2 s) after the last
                                 deferral, and within SQS's longest delay (900 s); send the message again with
                                 that DelaySeconds and acknowledge this delivery (an SQS receive is not spent on
                                 our own pacing). The deferral calendar full for 900 s (a backlog of over 4,500
                                 items of one company): 900 s without a booking (see ``BacklogAdmission``)

The backlog thus keeps the call calendar booked at most half a second ahead, and the rest of it is the UI's: an
interactive call books behind at most that half second, so a first "Sync with QB" (customer, invoice, payment:
about 6 calls) answers within a few seconds while hundreds of invoices wait their turn in SQS, not in Lambda.
Deferred messages come back spread at about the pace the company absorbs them (0.2 s apart against ~0.25 s of
calls an item: a little more supply than capacity, so the calendar never runs dry), not all at once.

"10 at once" (QuickBooks' concurrent requests per company) is kept two ways: a process-wide guard keeps at most
10 calls of one company in flight from one container, and across containers the calendar: calls booked 125 ms
apart keep fewer than 10 in flight while QuickBooks answers within 1.125 s a call, and a slower company's calls
are booked ``latency / 9`` apart (``CallLatency``: the mean of the container's last calls to it; each booking
leaves that gap after itself on the shared calendar), so about 9 stay in flight however many workers call it.
The bulk queue's ``MaximumConcurrency`` (16 workers, all tenants together: room for a second tenant beside one
company's backlog) is not what bounds it. A container's first calls to a company that just turned slow are
booked before it knows: a 429 that still comes back is handled by the client's retry and the worker's visibility
delay as before (written once, never lost).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.errors import CompanyBusy
from shared.observability import logger, metrics
from shared.quickbooks.pacing import CallNotStarted

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.quickbooks.pacing import Pacer
    from shared.store.pacing import Calendar

CALL_SPACING = 0.125
"""8 calls a second per company: any sliding second holds at most 9 (QuickBooks: 10), any minute 481 (500)."""
INTERACTIVE_WAIT_BUDGET = 3.5
"""How long one interactive client (one request, all its calls together) may wait behind other callers for its
times (beyond one spacing a call: its own calls' pace is free); beyond, a 503. A "Sync with QB" of several calls
answers within about 5 s."""
BACKLOG_HORIZON = 0.5
"""The backlog keeps the company's calls booked at most this far ahead: a bulk item starts only then, and its
calls book only within it (the rest of the calendar is the UI's)."""
BACKGROUND_MAX_WAIT = 3.0
"""How long a call of a started bulk item may wait for its time: admitted with ≤ 0.5 s booked ahead, longer means
contention, and the item is deferred rather than hold a Lambda slot."""
CALL_RESERVE = 10.0
"""A worker's call starts no later than this before its Lambda's timeout: the call and its recording fit in it."""
DEFERRAL_SPACING = 0.2
"""Deferred messages come back this far apart: a little under one item's calls (about 2 × ``CALL_SPACING``)."""
IN_FLIGHT_TARGET = 9
"""Calls of one company in flight at once that the calendar aims for (QuickBooks: 10): a slow company's calls are
booked ``latency / 9`` apart, so that however long QuickBooks takes, about 9 are in flight across containers."""
LATENCY_WINDOW = 8
"""How many of this container's latest calls to a company say how slow it is (their mean)."""
LATE_REBOOKINGS = 3
MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds upper bound


class Deferred(CallNotStarted):
    """Background work did not start, or stopped before a call, for our own pacing: nothing was sent for it, and
    its message comes back after ``seconds``. Not an ``AppError``: nothing handles it but the bulk worker, and no
    sync records it as a failure (a sync un-pends the write it did not send, ``CallNotStarted``)."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"deferred {seconds} s")
        self.seconds = seconds


def call_deadline(remaining_ms: int, clock: Callable[[], float] = time.time) -> float:
    """The latest time (epoch seconds) a worker with ``remaining_ms`` of Lambda time left starts a call."""
    return clock() + remaining_ms / 1000 - CALL_RESERVE


class CallLatency:
    """How long this container's latest calls to each company took: the gap a booking leaves after itself.

    QuickBooks allows 10 requests of one company at once. Calls that start ``spacing`` apart and take ``latency``
    each keep ``latency / spacing`` in flight (Little's law), so at 125 ms apart that stays under 10 only while
    QuickBooks answers within 1.25 s. A slower company's calls are booked ``latency / IN_FLIGHT_TARGET`` apart
    instead (the mean of the last ``LATENCY_WINDOW``: the slowest of them made a single call stalled on a busy
    container slow the company's calendar, a second tenant's job 1.58x its time alone in the month-end burst
    instead of 1.14x): every container sees the same company's latency, so the calendar they share spaces all."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def observed(self, realm_id: str, seconds: float) -> None:
        with self._lock:
            self._recent.setdefault(realm_id, deque(maxlen=LATENCY_WINDOW)).append(max(0.0, seconds))

    def spacing(self, realm_id: str) -> float:
        """The gap after a call booked now: CALL_SPACING, or more for a company slower than 1.125 s a call on
        average (Little's law is about the mean: one call stalled by a busy container does not slow the company)."""
        with self._lock:
            recent = self._recent.get(realm_id)
            mean = sum(recent) / len(recent) if recent else 0.0
        return max(CALL_SPACING, mean / IN_FLIGHT_TARGET)


@dataclass
class CompanyPacer:
    """The ``Pacer`` of one QuickBooks client: a time on the company's calendar, then at most ``guard``'s
    concurrent calls from this container.

    ``max_wait`` bounds each call's wait, ``budget`` the sum of the client's waits (one request; each call's
    first spacing is not charged: the client's own pace), ``deadline``
    the time by which a call must have started (epoch seconds). ``horizon``: book only while the calendar is
    booked at most that far ahead (the backlog's calls leave the rest to the UI). A call that cannot have its
    time within those raises ``CompanyBusy`` (interactive: a 503), or ``Deferred`` when ``defer`` (background).
    """

    calendar: Calendar
    guard: Pacer
    max_wait: float
    budget: float = math.inf
    horizon: float | None = None
    deadline: float | None = None
    defer: bool = False
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    latency: CallLatency = field(default_factory=CallLatency)
    """The container's (``shared.wiring``: every pacer of the process learns from every call)."""
    _started: dict[str, float] = field(default_factory=dict)

    def acquire(self, realm_id: str) -> None:
        # The budget is for waiting behind other callers: a client's own calls one after another (a sync of an
        # invoice with a hundred payments) wait one spacing each, and that much a call is not charged.
        own = self.calendar.spacing
        started = self.clock()
        give_up = min(started + self.max_wait, started + max(0.0, self.budget) + own, self.deadline or math.inf)
        try:
            self._acquire(realm_id, give_up)
        finally:
            self.budget -= max(0.0, self.clock() - started - own)

    def release(self, realm_id: str) -> None:
        started = self._started.pop(realm_id, None)
        if started is not None:
            self.latency.observed(realm_id, self.clock() - started)
        self.guard.release(realm_id)

    def _acquire(self, realm_id: str, give_up: float) -> None:
        for attempt in range(1, LATE_REBOOKINGS + 2):
            booking_at = self._book(realm_id, give_up)
            wait = booking_at - self.clock()
            if wait > 0:
                self.sleep(wait)
            self.guard.acquire(realm_id)
            # Woken (or let through the guard) later than one spacing after its time, the call would crowd the
            # next ones: it books again instead (a few times at most; then it goes).
            if self.clock() - booking_at <= self.calendar.spacing or attempt > LATE_REBOOKINGS:
                self._started[realm_id] = self.clock()
                return
            self.guard.release(realm_id)
            metrics.add_metric(name="QuickBooksCallBookedAgain", unit="Count", value=1)

    def _book(self, realm_id: str, give_up: float) -> float:
        """A time booked by ``give_up`` (and within ``horizon`` of when it was booked), else the refusal."""
        while True:
            now = self.clock()
            latest = give_up if self.horizon is None else min(give_up, now + self.horizon)
            booking = self.calendar.book(realm_id, latest=latest, spacing=self.latency.spacing(realm_id))
            if booking is not None:
                return booking.at
            # The time this caller could book again: the calendar free (interactive), or back within the
            # horizon (background). The backlog's other callers wait for that time too: each wakes at a random
            # point of the horizon after it (a slot frees every spacing, so the calendar keeps some booked
            # ahead), rather than all of them writing at once for one slot.
            bookable = self.calendar.seen(realm_id) - (self.horizon or 0.0)
            if self.horizon is None or now >= give_up:
                raise self._refused(bookable - now)
            retry_at = bookable + self.jitter() * self.horizon
            if retry_at > give_up:
                raise self._refused(bookable - now)
            self.sleep(max(retry_at - now, self.calendar.spacing / 8))

    def _refused(self, seconds_to_bookable: float) -> Exception:
        metrics.add_metric(name="QuickBooksCallRefusedByPacing", unit="Count", value=1)
        seconds = min(MAX_DELAY_SECONDS, max(1, math.ceil(seconds_to_bookable)))
        if self.defer:
            return Deferred(seconds)
        return CompanyBusy(
            "QuickBooks is busy with this company's other work; try again in a few seconds.", retry_after=seconds
        )


def interactive_pacer(calendar: Calendar, guard: Pacer, latency: CallLatency | None = None) -> CompanyPacer:
    """One API request's pacer: its calls wait ``INTERACTIVE_WAIT_BUDGET`` in all, then a 503."""
    return CompanyPacer(
        calendar,
        guard,
        max_wait=INTERACTIVE_WAIT_BUDGET,
        budget=INTERACTIVE_WAIT_BUDGET,
        latency=latency or CallLatency(),
    )


def background_pacer(
    calendar: Calendar, guard: Pacer, *, deadline: float | None = None, latency: CallLatency | None = None
) -> CompanyPacer:
    """A bulk worker's pacer: within the backlog's horizon, a short wait a call, never past ``deadline``."""
    return CompanyPacer(
        calendar,
        guard,
        max_wait=BACKGROUND_MAX_WAIT,
        horizon=BACKLOG_HORIZON,
        deadline=deadline,
        defer=True,
        latency=latency or CallLatency(),
    )


@dataclass
class BacklogAdmission:
    """Whether a bulk worker may start an item for a company now, and if not, when its message should return.

    SQS delays a message at most 900 s, so return times are booked only within that. Past it (over 4,500 items
    of one company already deferred) a message waits 900 s without a booking and tries again then: a time booked
    beyond 900 s would come back early, book again at the end and leave its first time a hole (the company idle
    while work waits, and every message deferred again and again). Unbooked, such a message only costs one read
    and one send every 15 minutes until the calendar reaches it; the company's booked messages keep their
    pace. (Carrying the booked time in the message would spare those sends, at the price of a field in every
    message kind; the backlog's items are interchangeable, so which of them returns first does not matter.)
    """

    calls: Calendar
    deferrals: Calendar
    horizon: float = BACKLOG_HORIZON
    clock: Callable[[], float] = field(default=time.time)

    def deferral(self, realm_id: str) -> int | None:
        """None: start now. Else the seconds (1 to 900) the message waits in the queue before it comes back."""
        free = self.calls.peek(realm_id)
        now = self.clock()
        if free <= now + self.horizon:
            return None
        slot = self.deferrals.book(realm_id, not_before=free - self.horizon, latest=now + MAX_DELAY_SECONDS)
        if slot is None:
            metrics.add_metric(name="QuickBooksWorkDeferredUnbooked", unit="Count", value=1)
            logger.info("quickbooks work deferred, unbooked", realm_id=realm_id, delay=MAX_DELAY_SECONDS)
            return MAX_DELAY_SECONDS
        delay = min(MAX_DELAY_SECONDS, max(1, math.ceil(slot.at - now)))
        logger.info("quickbooks work deferred", realm_id=realm_id, booked_ahead=round(free - now, 3), delay=delay)
        return delay

"""How long callers wait for their QuickBooks times, and when background work is deferred (``shared.services.pacing``),
against the calendars in moto with a fake clock: a sleep moves the clock, nothing really waits."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import CompanyBusy
from shared.quickbooks.pacing import LocalPacer
from shared.services.pacing import (
    BACKGROUND_MAX_WAIT,
    BACKLOG_HORIZON,
    CALL_SPACING,
    INTERACTIVE_WAIT_BUDGET,
    LATENCY_WINDOW,
    MAX_DELAY_SECONDS,
    BacklogAdmission,
    CallLatency,
    CompanyPacer,
    Deferred,
    background_pacer,
    interactive_pacer,
)
from shared.store.pacing import CALLS, DEFERRALS, Calendar
from shared.store.table import Table
from tests.conftest import TABLE_NAME

REALM = "r1"


class Clock:
    """Now, moved by the code's sleeps (and by the test)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def calendar(aws: Any, clock: Clock, sk: str = CALLS, spacing: float = CALL_SPACING) -> Calendar:
    return Calendar(Table(TABLE_NAME, aws), sk, spacing=spacing, clock=clock)


def on_clock(pacer: CompanyPacer, clock: Clock) -> CompanyPacer:
    pacer.clock, pacer.sleep, pacer.jitter = clock, clock.sleep, lambda: 0.5
    return pacer


def book_ahead(calls: Calendar, clock: Clock, seconds: float) -> None:
    while calls.peek(REALM) < clock.now + seconds:
        calls.book(REALM)


def call(pacer: CompanyPacer) -> None:
    pacer.acquire(REALM)
    pacer.release(REALM)


# -- interactive: one wait budget for the whole request ---------------------------------------------------------


def test_interactive_client_waits_at_most_its_budget_over_all_its_calls(aws):
    # GIVEN other callers keep the company booked 1.5 s ahead, and a "Sync with QB" of several calls
    clock = Clock()
    calls = calendar(aws, clock)
    pacer = on_clock(interactive_pacer(calls, LocalPacer(clock=clock)), clock)

    # WHEN the request makes its calls one after another, each behind 1.5 s of others' calls
    made = 0
    with pytest.raises(CompanyBusy) as busy:
        for _ in range(5):
            book_ahead(calls, clock, 1.5)
            call(pacer)
            made += 1

    # THEN its waits together stayed within the budget (each call alone would have been within it): the call
    # that would pass it is refused (a 503 with Retry-After), and nothing was waited for it
    assert made == int(INTERACTIVE_WAIT_BUDGET // (1.5 - CALL_SPACING))
    assert sum(clock.slept) <= INTERACTIVE_WAIT_BUDGET + made * CALL_SPACING
    assert busy.value.retry_after >= 1


def test_interactive_client_own_calls_one_after_another_are_not_charged(aws):
    # GIVEN a request that makes 100 calls one after another (an invoice with 100 payments), nobody else calling
    clock = Clock()
    calls = calendar(aws, clock)
    pacer = on_clock(interactive_pacer(calls, LocalPacer(clock=clock)), clock)

    # WHEN each call takes 10 ms
    for _ in range(100):
        call(pacer)
        clock.now += 0.01

    # THEN they all went, at the calendar's pace (12 s of waiting, none of it behind anyone else)
    assert sum(clock.slept) == pytest.approx(99 * (CALL_SPACING - 0.01))


def test_each_interactive_client_has_its_own_budget(aws):
    clock = Clock()
    calls = calendar(aws, clock)
    first = on_clock(interactive_pacer(calls, LocalPacer(clock=clock)), clock)
    book_ahead(calls, clock, 3.0)
    call(first)

    second = on_clock(interactive_pacer(calls, LocalPacer(clock=clock)), clock)
    book_ahead(calls, clock, 3.0)
    call(second)  # the first request's 3 s of waiting are not this one's

    with pytest.raises(CompanyBusy):
        book_ahead(calls, clock, 3.0)
        call(first)


# -- background: within the backlog's horizon, a short wait, never past the deadline --------------------------


def test_background_call_books_only_within_the_horizon_leaving_the_rest_to_the_ui(aws):
    # GIVEN the company booked 1 s ahead (say by the UI), and a started item's call
    clock = Clock()
    calls = calendar(aws, clock)
    book_ahead(calls, clock, 1.0)
    booked_until = calls.peek(REALM)
    pacer = on_clock(background_pacer(calls, LocalPacer(clock=clock)), clock)

    # WHEN it acquires its time
    call(pacer)

    # THEN it first slept until the calendar was back within the horizon (plus a random part of it), then booked:
    # it never booked more than the horizon ahead
    assert clock.slept[0] == pytest.approx(booked_until - BACKLOG_HORIZON + 0.5 * BACKLOG_HORIZON - 1_000_000.0)
    assert calls.peek(REALM) - CALL_SPACING - (1_000_000.0 + clock.slept[0]) <= BACKLOG_HORIZON + 1e-6


def test_background_call_waits_a_few_seconds_at_most_then_defers(aws):
    # GIVEN an admitted item whose company filled up 5 s ahead meanwhile (the old limit was 15 s)
    clock = Clock()
    calls = calendar(aws, clock)
    book_ahead(calls, clock, 5.0)
    pacer = on_clock(background_pacer(calls, LocalPacer(clock=clock)), clock)

    # WHEN its call asks for a time
    with pytest.raises(Deferred) as deferred:
        call(pacer)

    # THEN it did not wait for it: its message comes back when the calendar is within the horizon again
    assert sum(clock.slept) <= BACKGROUND_MAX_WAIT
    assert deferred.value.seconds == pytest.approx(5.0 - BACKLOG_HORIZON, abs=1)


def test_background_call_never_waits_past_the_lambdas_deadline(aws):
    clock = Clock()
    calls = calendar(aws, clock)
    book_ahead(calls, clock, 1.5)  # a wait within BACKGROUND_MAX_WAIT
    pacer = on_clock(background_pacer(calls, LocalPacer(clock=clock), deadline=clock.now + 0.5), clock)

    with pytest.raises(Deferred):
        call(pacer)

    assert clock.now <= 1_000_000.0 + 0.5


# -- deferral: return times within SQS's 900 s ---------------------------------------------------------------


def test_deferrals_are_booked_within_900_s_and_beyond_wait_900_s_unbooked(aws):
    # GIVEN a company booked 50 s ahead, and a deferral calendar that fills 900 s with 9 messages (100 s apart)
    clock = Clock()
    calls = calendar(aws, clock)
    deferrals = calendar(aws, clock, DEFERRALS, spacing=100.0)
    admission = BacklogAdmission(calls, deferrals, clock=clock)
    calls.book(REALM, not_before=clock.now + 50)

    # WHEN 12 messages are deferred
    delays = [admission.deferral(REALM) for _ in range(12)]
    booked_until = deferrals.peek(REALM)

    # THEN those that fit come back at their booked times, all within SQS's 900 s; the others wait 900 s without
    # a booking (no time left behind as a hole, nothing booked past what SQS can delay)
    assert delays[:9] == list(range(50, 900, 100))
    assert delays[9:] == [MAX_DELAY_SECONDS] * 3
    assert booked_until == pytest.approx(clock.now + 50 - BACKLOG_HORIZON + 900)

    # WHEN they come back 900 s later, the company still busy: they book the times that follow, within 900 s
    clock.now += MAX_DELAY_SECONDS
    calls.book(REALM, not_before=clock.now + 50)
    assert [admission.deferral(REALM) for _ in range(3)] == [50, 150, 250]
    assert deferrals.peek(REALM) == pytest.approx(booked_until + 3 * 100.0)


# -- a slow company: its calls are booked further apart, so at most about 9 are in flight -------------------------


def test_calls_of_a_slow_company_are_booked_latency_over_9_apart(aws):
    # GIVEN QuickBooks has been answering this company in 2.7 s a call (this container saw it)
    clock = Clock()
    calls = calendar(aws, clock)
    latency = CallLatency()
    pacer = on_clock(background_pacer(calls, LocalPacer(clock=clock), latency=latency), clock)
    pacer.acquire(REALM)
    clock.now += 2.7
    pacer.release(REALM)

    # WHEN workers book the company's next calls back to back
    times = [calls.book(REALM, spacing=latency.spacing(REALM)) for _ in range(4)]

    # THEN they are 0.3 s apart (2.7 s / 9), not 0.125 s: calls started that far apart and lasting 2.7 s keep 9 in
    # flight, under QuickBooks' 10 at once, however many workers (containers) make them
    starts = [t.at for t in times if t is not None]
    assert [round(b - a, 3) for a, b in zip(starts, starts[1:], strict=False)] == [0.3, 0.3, 0.3]


def test_one_stalled_call_does_not_slow_a_fast_company_but_a_slow_one_is_spaced_by_its_mean():
    # GIVEN a company answering in 0.1 s, one call of which stalled 4.5 s on a busy container
    latency = CallLatency()
    latency.observed(REALM, 0.1)
    assert latency.spacing(REALM) == CALL_SPACING
    for _ in range(LATENCY_WINDOW - 2):
        latency.observed(REALM, 0.1)
    latency.observed(REALM, 4.5)

    # THEN its calls keep the calendar's spacing (mean 0.65 s: under 9 in flight at 8 a second)
    assert latency.spacing(REALM) == CALL_SPACING

    # WHEN QuickBooks really is slow for it (every recent call 2.7 s): THEN 0.3 s apart
    for _ in range(LATENCY_WINDOW):
        latency.observed(REALM, 2.7)
    assert latency.spacing(REALM) == pytest.approx(0.3)

"""The per-company call calendar against moto, with a fake clock: spacing, restarts, races between containers."""

from __future__ import annotations

import bisect
import random
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.store.pacing import CALLS, Calendar
from shared.store.table import Table
from tests.conftest import TABLE_NAME

SPACING = 0.125


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def calendar(aws: Any, clock: Clock, table: Any = None) -> Calendar:
    return Calendar(table or Table(TABLE_NAME, aws), CALLS, spacing=SPACING, clock=clock)


def most_in_window(times: list[float], window: float) -> int:
    """The most times within any closed interval ``window`` long."""
    ordered = sorted(times)
    return max((bisect.bisect_right(ordered, t + window + 1e-9) - i for i, t in enumerate(ordered)), default=0)


def test_calls_at_once_are_booked_an_eighth_of_a_second_apart(aws):
    clock = Clock()
    pace = calendar(aws, clock)

    times = [pace.book("r1").at for _ in range(5)]  # type: ignore[union-attr]

    assert times == pytest.approx([clock.now + i * SPACING for i in range(5)])
    # another company has its own calendar
    assert pace.book("r2").at == pytest.approx(clock.now)  # type: ignore[union-attr]


def test_busy_company_costs_one_write_a_call(aws):
    clock = Clock()
    pace = calendar(aws, clock)
    first = pace.book("r1")
    assert first is not None and first.writes == 1  # idle (restart first) and right

    later = [pace.book("r1") for _ in range(20)]

    assert [b.writes for b in later if b] == [1] * 20


def test_idle_company_restarts_at_now_and_keeps_the_spacing(aws):
    clock = Clock()
    pace = calendar(aws, clock)
    for _ in range(3):
        pace.book("r1")
    last = clock.now + 2 * SPACING

    # WHEN the company was quiet for ten seconds, and then for a moment shorter than the spacing after the booking
    clock.now += 10
    restarted = pace.book("r1")
    assert restarted is not None and restarted.at == pytest.approx(clock.now)
    assert restarted.at - last > SPACING
    # the container's own last booking is long past: it restarts in one write
    assert restarted.writes == 1
    clock.now += 0.05
    after = pace.book("r1")

    # THEN the next time is still a full spacing after the restart
    assert after is not None and after.at == pytest.approx(restarted.at + SPACING)


def test_two_containers_restarting_at_once_do_not_both_win(aws):
    clock = Clock()
    one, two = calendar(aws, clock), calendar(aws, clock)

    a, b = one.book("r1"), two.book("r1")  # both guess "idle": two's restart finds one's booking

    assert a is not None and b is not None
    assert a.at == pytest.approx(clock.now)
    assert b.at == pytest.approx(clock.now + SPACING)
    assert (a.writes, b.writes) == (1, 2)
    assert two.book("r1").writes == 1  # type: ignore[union-attr]  # and now it knows the company is busy


def test_a_time_later_than_the_caller_may_wait_is_not_booked(aws):
    clock = Clock()
    pace = calendar(aws, clock)
    for _ in range(8):
        pace.book("r1")  # booked up to now + 0.875 s

    assert pace.book("r1", latest=clock.now + 0.5) is None
    assert pace.peek("r1") == pytest.approx(clock.now + 1.0)  # nothing was booked
    assert pace.book("r1", latest=clock.now + 1.0).at == pytest.approx(clock.now + 1.0)  # type: ignore[union-attr]


def test_not_before_books_from_that_time(aws):
    clock = Clock()
    pace = calendar(aws, clock)

    first = pace.book("r1", not_before=clock.now + 30)
    second = pace.book("r1", not_before=clock.now + 10)

    assert first is not None and first.at == pytest.approx(clock.now + 30)
    assert second is not None and second.at == pytest.approx(clock.now + 30 + SPACING)


def test_peek_reads_without_booking(aws):
    clock = Clock()
    pace = calendar(aws, clock)
    assert pace.peek("r1") < clock.now  # never booked: idle

    pace.book("r1")
    pace.book("r1")

    assert pace.peek("r1") == pytest.approx(clock.now + 2 * SPACING)
    assert pace.peek("r1") == pytest.approx(clock.now + 2 * SPACING)


class Interleaved:
    """A table whose every write first lets another container book, as the drawn schedule says: any order of
    conditional writes between containers (each write itself is atomic, as in DynamoDB)."""

    def __init__(self, table: Table, schedule: list[int]) -> None:
        self.table = table
        self.schedule = schedule
        self.containers: list[Calendar] = []
        self.booked: list[tuple[float, float]] = []  # (when the booking began, the time booked)
        self.realm = ""
        self.clock: Clock | None = None

    def update(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if self.schedule:
            who = self.schedule.pop()
            if who < len(self.containers):
                self.book(who)
        return self.table.update(*args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return self.table.get(*args, **kwargs)

    def book(self, who: int) -> None:
        assert self.clock is not None
        began = self.clock.now
        booking = self.containers[who].book(self.realm)
        assert booking is not None
        self.booked.append((began, booking.at))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    containers=st.integers(min_value=1, max_value=4),
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=400)),
        min_size=1,
        max_size=40,
    ),
    schedule=st.lists(st.integers(min_value=0, max_value=5), max_size=40),
)
def test_any_interleaving_keeps_the_spacing(aws, containers, steps, schedule):
    clock = Clock()
    table = Interleaved(Table(TABLE_NAME, aws), list(schedule))
    table.clock = clock
    table.realm = f"r-{uuid.uuid4()}"
    table.containers = [calendar(aws, clock, table) for _ in range(containers)]

    for who, pause_ms in steps:
        clock.now += pause_ms / 1000
        table.book(who % containers)

    times = sorted(at for _, at in table.booked)
    # no booking lies in the past of its caller, and any two are at least the spacing apart
    assert all(at >= began - 0.001 for began, at in table.booked)  # the calendar counts milliseconds
    assert all(b - a >= SPACING - 1e-6 for a, b in zip(times, times[1:], strict=False))
    assert most_in_window(times, 1.0) <= 9


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=False))
def test_a_minute_of_callers_faster_than_the_limit_holds_at_most_481(aws, rng: random.Random):
    # GIVEN three containers whose callers arrive at about 12 a second for 70 seconds, some after quiet spells
    clock = Clock()
    pace = [calendar(aws, clock) for _ in range(3)]
    realm = f"r-{uuid.uuid4()}"
    times: list[float] = []
    while clock.now < 1_000_070.0:
        clock.now += rng.choice([0.0, 0.01, 0.05, 0.1, 0.2]) if rng.random() > 0.01 else 3.0
        booking = pace[rng.randrange(3)].book(realm)
        assert booking is not None
        times.append(booking.at)

    # THEN no second holds more than 9 and no minute more than 481 (QuickBooks: 10 and 500)
    assert most_in_window(times, 1.0) <= 9
    assert most_in_window(times, 60.0) <= 481

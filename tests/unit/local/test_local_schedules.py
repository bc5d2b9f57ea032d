"""Schedules: rate and cron expressions, the scheduled event, running by name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from local.runtime import Outcome
from local.schedules import Cron, ScheduleError, Scheduler, rate_seconds, scheduled_event
from local.template import Schedule


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(15 minutes)", 900), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rate_seconds(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


def test_rate_seconds_of_cron_is_none() -> None:
    assert rate_seconds("cron(0 12 * * ? *)") is None


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 12 * * ? *)", datetime(2026, 11, 25, 10, 30, tzinfo=UTC), datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("cron(0 12 * * ? *)", datetime(2026, 11, 25, 12, 0, tzinfo=UTC), datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),
        (
            "cron(0/15 * * * ? *)",
            datetime(2026, 11, 25, 10, 16, tzinfo=UTC),
            datetime(2026, 11, 25, 10, 30, tzinfo=UTC),
        ),
        (
            "cron(30 2 ? * MON-FRI *)",
            datetime(2026, 11, 28, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 30, 2, 30, tzinfo=UTC),
        ),
        ("cron(0 0 1 JAN,JUL ? *)", datetime(2026, 11, 25, 0, 0, tzinfo=UTC), datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("cron(5 8-10 * * ? 2027)", datetime(2026, 11, 25, 0, 0, tzinfo=UTC), datetime(2027, 1, 1, 8, 5, tzinfo=UTC)),
    ],
)
def test_cron_next_after(expression: str, after: datetime, expected: datetime) -> None:
    assert Cron.parse(expression).next_after(after) == expected


@pytest.mark.parametrize("expression", ["cron(0 12 L * ? *)", "cron(0 12 * * 2#1 *)", "cron(0 12 * *)", "every day"])
def test_cron_unsupported_is_an_error(expression: str) -> None:
    with pytest.raises(ScheduleError):
        Cron.parse(expression)


SWEEP = Schedule("AutoSync", "Sweep", "auto-invoice-sync", "rate(15 minutes)")


def test_scheduled_event_shape() -> None:
    event = scheduled_event(SWEEP, now=1795608000)
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/auto-invoice-sync"]
    assert event["detail"] == {}
    assert event["time"] == "2026-11-25T12:00:00Z"


class FakeRuntime:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def invoke(self, function: str, event: Any, trigger: str, **_: Any) -> Outcome:
        self.calls.append((function, event))
        return Outcome(True)


def test_scheduler_finds_by_name_or_logical_id_and_runs() -> None:
    runtime = FakeRuntime()
    scheduler = Scheduler(runtime, [SWEEP], retries=0)  # type: ignore[arg-type]
    assert scheduler.find("auto-invoice-sync") is SWEEP
    assert scheduler.find("Sweep") is SWEEP
    assert scheduler.find("nope") is None
    assert scheduler.run(SWEEP).ok
    assert runtime.calls[0][0] == "AutoSync"


def test_scheduler_warns_about_unfireable_cron() -> None:
    odd = Schedule("F", "E", "odd", "cron(0 12 L * ? *)")
    scheduler = Scheduler(FakeRuntime(), [odd], retries=0)  # type: ignore[arg-type]
    try:
        warnings = scheduler.start()
    finally:
        scheduler.stop()
    assert len(warnings) == 1 and "odd" in warnings[0]

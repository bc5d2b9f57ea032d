"""EventBridge schedules, locally: ``rate(...)`` exactly, ``cron(...)`` to the minute in UTC.

moto stores the rules but never fires them, so the stack runs them itself. A rate schedule first fires one period
after start (as a new rule does). Cron supports numbers, names, ``*``, ``?``, ranges, lists and steps in all six
fields; ``L``, ``W`` and ``#`` are not supported: such a schedule is not fired automatically (a warning says so) but
can still be run with ``POST /_local/schedules/{name}/run``.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from local.config import ACCOUNT_ID, REGION
from local.eventbridge import invoke_async

if TYPE_CHECKING:
    from local.runtime import Outcome, Runtime
    from local.template import Schedule

log = logging.getLogger("local")
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class ScheduleError(ValueError):
    """A schedule expression the local stack cannot fire."""


def rate_seconds(expression: str) -> int | None:
    """The period of a ``rate(...)`` expression in seconds; None when it is not a rate."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).rstrip("s")]


def _field(text: str, low: int, high: int, names: dict[str, int]) -> set[int] | None:
    """The values of one cron field; None for ``*``/``?`` (any)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1

        def number(token: str) -> int:
            token = token.upper()
            if token in names:
                return names[token]
            if not token.isdigit():
                raise ScheduleError(f"cron value {token!r} is not supported")
            return int(token)

        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = number(first), number(last)
        else:
            start = number(base)
            end = high if step_text else start
        if not low <= start <= high or not low <= end <= high:
            raise ScheduleError(f"cron field {text!r} is out of range")
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class Cron:
    minutes: set[int] | None
    hours: set[int] | None
    days: set[int] | None
    months: set[int] | None
    weekdays: set[int] | None
    years: set[int] | None

    @classmethod
    def parse(cls, expression: str) -> Cron:
        match = re.match(r"^cron\((.*)\)$", expression.strip())
        if not match:
            raise ScheduleError(f"{expression!r} is neither rate(...) nor cron(...)")
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ScheduleError(f"{expression!r} does not have six fields")
        return cls(
            minutes=_field(fields[0], 0, 59, {}),
            hours=_field(fields[1], 0, 23, {}),
            days=_field(fields[2], 1, 31, {}),
            months=_field(fields[3], 1, 12, _MONTHS),
            weekdays=_field(fields[4], 1, 7, _DAYS),
            years=_field(fields[5], 1970, 2199, {}),
        )

    def _day_fits(self, moment: datetime) -> bool:
        weekday = (moment.isoweekday() % 7) + 1  # EventBridge counts SUN=1 .. SAT=7
        return all(
            allowed is None or value in allowed
            for allowed, value in (
                (self.years, moment.year),
                (self.months, moment.month),
                (self.days, moment.day),
                (self.weekdays, weekday),
            )
        )

    def next_after(self, moment: datetime, horizon_days: int = 366 * 2) -> datetime | None:
        """The first whole minute after ``moment`` that the expression selects (None within the horizon)."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = moment + timedelta(days=horizon_days)
        while candidate <= end:
            if not self._day_fits(candidate):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
            elif self.hours is not None and candidate.hour not in self.hours:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0)
            elif self.minutes is not None and candidate.minute not in self.minutes:
                candidate += timedelta(minutes=1)
            else:
                return candidate
        return None


def scheduled_event(schedule: Schedule, now: float | None = None) -> dict[str, Any]:
    """What EventBridge sends a function on a schedule (or the event's ``Input`` when it has one)."""
    if schedule.input is not None:
        payload: dict[str, Any] = json.loads(schedule.input)
        return payload
    moment = time.time() if now is None else now
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)),
        "region": REGION,
        "resources": [schedule.rule_arn],
        "detail": {},
    }


class Scheduler:
    """Fires the template's schedules and runs one on request."""

    def __init__(self, runtime: Runtime, schedules: list[Schedule], retries: int) -> None:
        self.runtime = runtime
        self.schedules = schedules
        self.retries = retries
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def find(self, name: str) -> Schedule | None:
        """By the event's ``Name`` (``auto-invoke-sync``) or its logical id (``Sweep``)."""
        return next((s for s in self.schedules if s.name == name), None) or next(
            (s for s in self.schedules if s.event == name), None
        )

    def run(self, schedule: Schedule, trigger: str = "schedule (manual run)") -> Outcome:
        event = scheduled_event(schedule)
        return invoke_async(
            self.runtime, schedule.function, event, f"{trigger} {schedule.name}", self.retries, schedule=schedule.name
        )

    def start(self) -> list[str]:
        """Start a timer for every enabled schedule; the warnings for those that cannot be fired."""
        warnings: list[str] = []
        for schedule in self.schedules:
            if not schedule.enabled:
                continue
            period = rate_seconds(schedule.expression)
            cron: Cron | None = None
            if period is None:
                try:
                    cron = Cron.parse(schedule.expression)
                except ScheduleError as exc:
                    warnings.append(f"schedule {schedule.name} is not fired automatically: {exc}")
                    continue
            thread = threading.Thread(
                target=self._loop, args=(schedule, period, cron), name=f"schedule-{schedule.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return warnings

    def _loop(self, schedule: Schedule, period: int | None, cron: Cron | None) -> None:
        next_run = time.time() + period if period is not None else 0.0
        while not self._stop.is_set():
            if cron is not None:
                upcoming = cron.next_after(datetime.now(UTC))
                if upcoming is None:
                    return
                next_run = upcoming.timestamp()
            if self._stop.wait(max(0.0, next_run - time.time())):
                return
            try:
                self.run(schedule, trigger="schedule")
            except Exception:
                log.exception("schedule %s failed to run", schedule.name)
            if period is not None:
                # A run that outlasted its period is not caught up afterwards (EventBridge does not either).
                while next_run <= time.time():
                    next_run += period

    def stop(self) -> None:
        self._stop.set()

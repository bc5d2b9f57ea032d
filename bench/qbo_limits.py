"""The least time QuickBooks' limits allow for a number of calls to one company: what the benchmarks divide by.

QuickBooks (``qbo-api-facts.md`` §6) admits per company at most 500 requests in a sliding minute, 10 in a sliding
second, 10 in flight and 40 batch requests in a sliding minute. Two bounds of the time ``calls`` take when each
call lasts ``latency`` seconds:

* ``formula_bound``: issue 9's ``max(calls / 500 per minute, calls / 10 per second, calls / 10 concurrent x
  latency)``, with the batch requests against 40 a minute. Its per-minute term is a fluid rate (8.3 a second), so
  for fewer than 500 calls it asks more than QuickBooks does (60 calls at 100 ms: 7.2 s, where 5.1 s is possible).
* ``earliest_finish``: the finish of the fastest schedule the sliding windows admit (each call as early as every
  window lets it start, which no other order beats as all calls are alike): the honest bound for short jobs. At
  100 ms a call, 60 calls finish at 5.1 s at best (10 starts a second), 600 at 69.1 s (500 in the first 50 s,
  then the minute holds the rest until 60 s), where the formula says 72 s.

Batch requests are bounded apart (the batch window with the others) and the larger of the two bounds is kept: a
relaxation, so still a lower bound.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class QboLimits:
    per_minute: int = 500
    per_second: int = 10
    concurrent: int = 10
    batch_per_minute: int = 40


QBO = QboLimits()


def formula_bound(calls: int, latency: float, batch_calls: int = 0, limits: QboLimits = QBO) -> float:
    """Issue 9's lower bound, in seconds (``calls`` includes the batch requests)."""
    return max(
        calls * 60.0 / limits.per_minute,
        calls / limits.per_second,
        calls / limits.concurrent * latency,
        batch_calls * 60.0 / limits.batch_per_minute,
    )


def _schedule(calls: int, latency: float, windows: list[tuple[int, float]], concurrent: int) -> float:
    """When the last of ``calls`` ends if each starts as soon as every ``(count, seconds)`` window and the
    concurrency allow (a window admits ``count`` starts within any ``seconds``)."""
    if calls <= 0:
        return 0.0
    starts: deque[float] = deque()
    keep = max([concurrent, *(count for count, _ in windows)])
    last = 0.0
    for _ in range(calls):
        start = last  # starts are in order: no call starts before the one before it
        if len(starts) >= concurrent:
            start = max(start, starts[-concurrent] + latency)
        for count, seconds in windows:
            if len(starts) >= count:
                start = max(start, starts[-count] + seconds)
        starts.append(start)
        if len(starts) > keep:
            starts.popleft()
        last = start
    return last + latency


def earliest_finish(calls: int, latency: float, batch_calls: int = 0, limits: QboLimits = QBO) -> float:
    """The least time, in seconds, in which ``calls`` (``batch_calls`` of them batch requests) can be answered."""
    windows = [(limits.per_minute, 60.0), (limits.per_second, 1.0)]
    every = _schedule(calls, latency, windows, limits.concurrent)
    batches = _schedule(batch_calls, latency, [*windows, (limits.batch_per_minute, 60.0)], limits.concurrent)
    return max(every, batches)

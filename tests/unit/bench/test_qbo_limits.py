"""The lower bounds the benchmarks divide by (``bench/qbo_limits.py``): what QuickBooks' limits allow at best."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.qbo_limits import QboLimits, earliest_finish, formula_bound


@pytest.mark.parametrize(
    ("calls", "latency", "earliest", "formula"),
    [
        (0, 0.1, 0.0, 0.0),
        (10, 0.1, 0.1, 1.2),  # ten start at once, within the second and the concurrency
        (11, 0.1, 1.1, 1.32),  # the eleventh waits for the second to slide
        (60, 0.1, 5.1, 7.2),  # the formula's per-minute term asks more than QuickBooks does for a short job
        (600, 0.1, 69.1, 72.0),  # 500 in the first 50 s, the last 100 once the minute has slid
        (20, 2.0, 4.0, 4.0),  # slow calls: ten at once is what binds
    ],
)
def test_bounds_of_plain_calls(calls: int, latency: float, earliest: float, formula: float) -> None:
    assert earliest_finish(calls, latency) == pytest.approx(earliest)
    assert formula_bound(calls, latency) == pytest.approx(formula)


def test_batch_requests_are_held_to_forty_a_minute() -> None:
    # 41 batch requests: the 41st starts a minute after the first; the formula spreads them evenly
    assert earliest_finish(41, 0.1, batch_calls=41) == pytest.approx(60.1)
    assert formula_bound(41, 0.1, batch_calls=41) == pytest.approx(61.5)
    assert earliest_finish(41, 0.1, batch_calls=0) == pytest.approx(4.1)


def test_other_limits_are_honoured() -> None:
    lifted = QboLimits(per_minute=10_000, per_second=1_000, concurrent=100, batch_per_minute=1_000)
    assert earliest_finish(600, 0.1, limits=lifted) == pytest.approx(0.6)


@given(st.integers(0, 2_000), st.floats(0.0, 2.0))
def test_the_earliest_finish_never_exceeds_the_formula_by_more_than_one_call(calls: int, latency: float) -> None:
    earliest = earliest_finish(calls, latency)
    assert earliest <= formula_bound(calls, latency) + latency + 1e-9
    assert earliest <= earliest_finish(calls + 1, latency) + 1e-9

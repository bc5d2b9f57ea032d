"""Bulk job rules: the request's ids, and how a job ends."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.domain.jobs import BulkIds, JobStatus, final_status

ids = TypeAdapter(BulkIds)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"succeeded": 3, "failed": 0, "skipped": 0}, JobStatus.SUCCEEDED),
        ({"succeeded": 1, "failed": 0, "skipped": 2}, JobStatus.SUCCEEDED),
        ({"succeeded": 0, "failed": 0, "skipped": 3}, JobStatus.SUCCEEDED),
        ({"succeeded": 2, "failed": 1, "skipped": 0}, JobStatus.PARTIALLY_FAILED),
        ({"succeeded": 0, "failed": 2, "skipped": 1}, JobStatus.PARTIALLY_FAILED),
        ({"succeeded": 0, "failed": 3, "skipped": 0}, JobStatus.FAILED),
        ({"succeeded": 2, "failed": 0, "skipped": 0}, None),
    ],
)
def test_final_status_of_counts_follows_the_bulk_jobs_rule(counts, expected):
    assert final_status(total=3, **counts) is expected


@pytest.mark.parametrize("count", [1, 30])
def test_bulk_ids_from_1_to_30_distinct_are_accepted(count):
    assert len(ids.validate_python([f"c-{i}" for i in range(count)])) == count


@pytest.mark.parametrize("value", [[], [f"c-{i}" for i in range(31)], ["a", "b", "a"], [""], [1], "a"])
def test_bulk_ids_breaking_a_rule_are_rejected(value):
    with pytest.raises(ValidationError):
        ids.validate_python(value)


def test_bulk_ids_repeated_are_named_once_each():
    with pytest.raises(ValidationError) as caught:
        ids.validate_python(["b", "a", "b", "a", "b"])

    assert "repeated: a, b" in str(caught.value)

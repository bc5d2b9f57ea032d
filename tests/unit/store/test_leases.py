"""Leases (``shared.store.leases``) against moto: a released lease is, to every reader, no lease at all."""

from __future__ import annotations

import pytest

from shared.store.leases import LeaseStore
from shared.store.table import Table
from tests.conftest import TABLE_NAME


@pytest.fixture
def leases(aws) -> LeaseStore:
    return LeaseStore(Table(TABLE_NAME, aws), clock=lambda: 1_000.0)


def test_released_lease_is_free_at_once_and_lapsed_to_seconds_left(leases):
    # GIVEN A holds the invoice's lease
    assert leases.acquire("t1", "invoice#i1", "A", seconds=60)
    assert leases.seconds_left("t1", "invoice#i1") == 60

    # WHEN A gives it back
    leases.release("t1", "invoice#i1", "A")

    # THEN nobody holds it, and B takes it at once
    assert leases.seconds_left("t1", "invoice#i1") is None
    assert leases.acquire("t1", "invoice#i1", "B", seconds=60)
    assert leases.table.get("TENANT#t1", "LOCK#invoice#i1")["owner"] == "B"


def test_release_updates_the_lease_and_never_deletes_it(leases, monkeypatch):
    # The webhook, which releases invoice leases, is granted no DeleteItem.
    assert leases.acquire("t1", "invoice#i1", "A", seconds=60)
    monkeypatch.setattr(leases.table, "delete_if", None)  # any delete would raise
    monkeypatch.setattr(leases.table, "delete", None)

    leases.release("t1", "invoice#i1", "A")

    item = leases.table.get("TENANT#t1", "LOCK#invoice#i1")
    assert item is not None and item["leaseUntil"] == 0 and "owner" not in item


def test_release_by_another_owner_or_of_no_lease_changes_nothing(leases):
    assert leases.acquire("t1", "invoice#i1", "A", seconds=60)

    leases.release("t1", "invoice#i1", "B")
    leases.release("t1", "invoice#i2", "A")

    assert leases.seconds_left("t1", "invoice#i1") == 60
    assert not leases.acquire("t1", "invoice#i1", "B", seconds=60)
    assert leases.table.get("TENANT#t1", "LOCK#invoice#i2") is None

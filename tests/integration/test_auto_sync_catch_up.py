"""Automatic sync's catch-up (issue 9 review): nothing silently lost after a reconnect, a marker set again while the
sweep ran, a failing tenant or a huge backlog; the index's shards and version-conditioned changes.

As test_auto_sync: the functions run in-process against moto and the emulator; the test plays EventBridge, the
schedule and Lambda's SQS event source. What the user sees is read from the Invoices tab.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from shared import wiring
from shared.services import auto_sync as auto_sync_service
from tests.integration.test_auto_sync import (  # noqa: F401 - ``dynamo_reads``, ``instant_retries`` are fixtures
    TENANT,
    automatic,
    client,
    dynamo_reads,
    instant_retries,
    link,
    linked_client,
    publish,
    qb_invoice_writes,
    qb_invoices_by_source,
    queued,
    rows,
    sweep,
    upsert,
)
from tests.integration.test_bulk_jobs import Bulk, bulk  # noqa: F401 - the fixture behind ``queue``

if TYPE_CHECKING:
    from tests.integration.test_auto_sync import DynamoReads


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> Bulk:
    """The bulk queue in moto and the bulk_sync function (test_bulk_jobs' ``bulk``), as test_auto_sync has it."""
    queue: Bulk = request.getfixturevalue("bulk")
    return queue


@pytest.fixture
def reads(request: pytest.FixtureRequest) -> DynamoReads:
    """test_auto_sync's count of DynamoDB calls and items read."""
    counted: DynamoReads = request.getfixturevalue("dynamo_reads")
    return counted


def switch_off(queue: Bulk, *, tenant: str = TENANT) -> None:
    """The admin switches the integration off (disconnects)."""
    status, body = queue.stack.api("PUT", "/quickbooks/connection", tenant=tenant, body={"active": False})
    assert status == 200, body


def linked_client_of(queue: Bulk, tenant: str, client_id: str, name: str) -> None:
    """Another tenant's client, linked to a QuickBooks customer by its user."""
    client(client_id, name, tenant=tenant)
    status, body = queue.stack.api(
        "POST", f"/quickbooks/customers/{client_id}/sync", tenant=tenant, body={"create": True}
    )
    assert status == 200, body


def settle_all(queue: Bulk, runs: int = 3) -> None:
    """The worker and the schedule take turns until nothing is left to do."""
    for _ in range(runs):
        queue.drain()
        sweep()
    queue.drain()


def index_items(tenant: str = TENANT) -> list[dict[str, Any]]:
    """What the index holds for the tenant: its due shard and its waiting invoices."""
    from shared.store.auto_sync import WAITING_PREFIX, due_partition

    table = wiring.table()
    due = [i for i in table.query_index(due_partition(tenant)) if str(i["pk"]) == f"TENANT#{tenant}"]
    return due + table.query_index(WAITING_PREFIX + tenant)


# -- reconnecting ---------------------------------------------------------------------------------------------


def test_catch_up_invoice_changed_while_disconnected_is_synced_after_reconnecting_to_the_same_company(queue):
    # GIVEN automatic sync on and a linked client; the tenant then disconnects for a while
    realm = queue.stack.connect()
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    sweep()
    switch_off(queue)

    # WHEN Books360 publishes an invoice meanwhile, and the tenant connects the same company again
    assert upsert("i1", "c1") == "applied"
    queue.drain()
    queue.stack.connect(realm_id=realm)
    sweep()
    queue.drain()

    # THEN the schedule caught it up: synced, once
    assert rows(queue)["i1"]["syncStatus"] == "synced"
    assert qb_invoice_writes(queue, realm) == 1


def test_catch_up_connecting_another_company_syncs_every_invoice_there(queue):
    # GIVEN two invoices synced automatically to one company
    first = queue.stack.connect()
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    upsert("i1", "c1")
    upsert("i2", "c1")
    queue.drain()
    assert {r["syncStatus"] for r in rows(queue).values()} == {"synced"}

    # WHEN the tenant switches to another company, links the client there, and the schedule runs
    switch_off(queue)
    second = queue.stack.connect()
    link(queue, "c1")
    settle_all(queue)

    # THEN both invoices are in the new company too, once each; nothing more was written to the first one
    assert {r["invoiceId"]: r["syncStatus"] for r in rows(queue).values()} == {"i1": "synced", "i2": "synced"}
    assert sorted(qb_invoices_by_source(queue, second)) == ["i1", "i2"]
    assert qb_invoice_writes(queue, second) == 2
    assert qb_invoice_writes(queue, first) == 2


def test_catch_up_invoices_stored_before_the_index_existed_are_synced_once_the_release_is_deployed(queue):
    # GIVEN a connected tenant with automatic sync on and two unsynced invoices of a linked client that the index
    # does not know: one stored before it existed, one in the first release's unsharded partition
    realm = queue.stack.connect()
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    sweep()
    upsert("old", "c1")
    upsert("legacy", "c1")
    queue.sqs.purge_queue(QueueUrl=queue.queue_url)
    table = wiring.table()
    index = {"gsi1pk": None, "gsi1sk": None, "autoQueuedAt": None, "autoFailures": None}
    table.update("TENANT#t1", "INVOICE#old", set_values=index)
    table.update(
        "TENANT#t1", "INVOICE#legacy", set_values={**index, "gsi1pk": "AUTOSYNC", "gsi1sk": "t1#INVOICE#legacy"}
    )
    table.delete("AUTOSYNC", "SWEEP")  # this release's sweep never ran

    # WHEN this release's schedule runs
    sweep()
    queue.drain()

    # THEN both are synced, and the first release's partition is empty
    assert {r["invoiceId"]: r["syncStatus"] for r in rows(queue).values()} == {"old": "synced", "legacy": "synced"}
    assert qb_invoice_writes(queue, realm) == 2
    assert table.query_index("AUTOSYNC") == []


def test_catch_up_nothing_of_a_tenant_with_automatic_sync_off_is_kept_in_the_index(queue):
    # GIVEN a connected tenant with automatic sync off, and invoices of a linked and an unlinked client
    queue.stack.connect()
    linked_client(queue, "c1", "Acme Corp")
    client("c2", "Beta LLC")

    # WHEN Books360 publishes invoices and the schedule runs
    upsert("i1", "c1")
    upsert("i2", "c2")
    sweep()

    # THEN the index holds nothing of theirs (turning the setting on catches them up: test_auto_sync)
    assert index_items() == []
    assert queued(queue) == []


# -- markers set again while the sweep ran ------------------------------------------------------------------


def test_catch_up_client_linked_while_the_sweep_looked_at_it_is_not_lost(queue, monkeypatch):
    # GIVEN an invoice waiting because its client is not linked, and the client changed (its marker is set)
    realm = queue.stack.connect()
    automatic(queue, True)
    client("c1", "Acme Corp")
    upsert("i1", "c1")
    sweep()
    # a change of the client: the sweep is to look at its waiting invoices again
    publish("ClientUpserted", {"tenantId": TENANT, "version": 2, "clientId": "c1", "name": "Acme", "email": "a@b.c"})
    assert rows(queue)["i1"]["syncStatus"] == "unsynced"

    # WHEN the user links the client while the sweep is between reading that marker and clearing it
    decide = auto_sync_service.AutoSync._decide

    def decide_then_link(self: Any, tenant_id: str, invoices: Any, **kwargs: Any) -> Any:
        decided = decide(self, tenant_id, invoices, **kwargs)
        if invoices:
            link(queue, "c1")
        return decided

    monkeypatch.setattr(auto_sync_service.AutoSync, "_decide", decide_then_link)
    sweep()
    monkeypatch.setattr(auto_sync_service.AutoSync, "_decide", decide)

    # THEN the link is not lost: the next run syncs the invoice
    settle_all(queue)
    assert rows(queue)["i1"]["syncStatus"] == "synced"
    assert qb_invoice_writes(queue, realm) == 1


def test_catch_up_setting_turned_on_again_while_a_catch_up_ran_starts_it_over(queue, monkeypatch):
    # GIVEN a catch-up of 6 invoices under way, 2 a run
    realm = queue.stack.connect()
    linked_client(queue, "c1", "Acme Corp")
    for n in range(6):
        upsert(f"i{n}", "c1")
    monkeypatch.setattr(auto_sync_service, "SHARD_BUDGET", 3)
    monkeypatch.setattr(auto_sync_service, "PAGE", 2)
    automatic(queue, True)
    sweep()

    # WHEN the admin turns it off and on again before the next run, and the runs go on
    automatic(queue, False)
    automatic(queue, True)
    for _ in range(8):
        queue.drain()
        sweep()
    queue.drain()

    # THEN every invoice is synced, once
    assert {r["syncStatus"] for r in rows(queue).values()} == {"synced"}
    assert qb_invoice_writes(queue, realm) == 6


# -- isolation and budget -----------------------------------------------------------------------------------


def test_catch_up_one_failing_tenant_does_not_stop_the_others(queue, monkeypatch):
    # GIVEN two tenants with an invoice due whose messages were lost; reading one tenant's settings fails
    realm = queue.stack.connect()
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    queue.stack.connect(tenant="a-broken")
    automatic(queue, True, tenant="a-broken")
    linked_client_of(queue, "a-broken", "c1", "Other")
    sweep()
    upsert("i1", "c1")
    upsert("i1", "c1", tenant="a-broken")
    queue.sqs.purge_queue(QueueUrl=queue.queue_url)
    monkeypatch.setattr(auto_sync_service, "IN_FLIGHT", timedelta(0))
    settings = wiring.invoice_stores().settings
    read = settings.get

    def broken(tenant_id: str) -> Any:
        if tenant_id == "a-broken":
            raise RuntimeError("throttled for good")
        return read(tenant_id)

    monkeypatch.setattr(settings, "get", broken)

    # WHEN the schedule runs
    report = sweep()
    queue.drain()

    # THEN the failing tenant is counted, and the other one's invoice is synced
    assert report["tenantsFailed"] == 1
    assert rows(queue)["i1"]["syncStatus"] == "synced"
    assert qb_invoice_writes(queue, realm) == 1


def test_catch_up_a_backlog_larger_than_a_run_moves_on_run_after_run(queue, monkeypatch, reads):
    # GIVEN 12 unsynced invoices of a linked client, automatic sync turned on, and a budget of 5 items a run
    realm = queue.stack.connect()
    linked_client(queue, "c1", "Acme Corp")
    for n in range(12):
        upsert(f"i{n:02}", "c1")
    monkeypatch.setattr(auto_sync_service, "SHARD_BUDGET", 5)
    monkeypatch.setattr(auto_sync_service, "PAGE", 3)
    automatic(queue, True)

    # WHEN the schedule runs again and again (the worker in between)
    queued_per_run = []
    for _ in range(5):
        reads.items = 0
        queued_per_run.append(sweep()["invoicesQueued"])
        assert reads.items <= 5 + 8, reads.items  # the budget, and a few tenant and client reads
        queue.drain()

    # THEN each run did a part and none did it again: all 12 synced, once each, and nothing is left to do
    assert sum(queued_per_run) == 12 and max(queued_per_run) <= 5, queued_per_run
    assert {r["syncStatus"] for r in rows(queue).values()} == {"synced"}
    assert qb_invoice_writes(queue, realm) == 12
    assert index_items() == []


def test_catch_up_a_tenant_in_another_shard_is_served_while_one_has_a_huge_backlog(queue, monkeypatch):
    from shared.store.auto_sync import shard_of

    # GIVEN two tenants in different shards; one has 8 lost syncs, more than a run's budget for a shard
    other = next(t for t in (f"t{n}" for n in range(2, 50)) if shard_of(t) != shard_of(TENANT))
    realm = queue.stack.connect()
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    other_realm = queue.stack.connect(tenant=other)
    automatic(queue, True, tenant=other)
    linked_client_of(queue, other, "c1", "Other")
    sweep()
    for n in range(8):
        upsert(f"i{n}", "c1")
    upsert("theirs", "c1", tenant=other)
    queue.sqs.purge_queue(QueueUrl=queue.queue_url)
    monkeypatch.setattr(auto_sync_service, "IN_FLIGHT", timedelta(0))
    monkeypatch.setattr(auto_sync_service, "SHARD_BUDGET", 3)
    monkeypatch.setattr(auto_sync_service, "PAGE", 3)

    # WHEN the schedule runs once
    report = sweep()
    queue.drain()

    # THEN the other tenant's invoice is synced at once; the backlog is left for the next runs
    assert rows(queue, tenant=other)["theirs"]["syncStatus"] == "synced"
    assert qb_invoice_writes(queue, other_realm) == 1
    assert report["shardsUnfinished"] == 1
    settle_all(queue, runs=4)
    assert qb_invoice_writes(queue, realm) == 8


# -- races on the index -------------------------------------------------------------------------------------


def test_catch_up_a_failed_try_of_an_older_version_does_not_touch_the_newer_ones_entry(queue, monkeypatch):
    # GIVEN automatic sync gives up after one failed try, and an invoice's version 1 queued
    realm = queue.stack.connect()
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    monkeypatch.setattr(auto_sync_service, "MAX_AUTO_FAILURES", 1)
    upsert("i1", "c1")

    # WHEN QuickBooks refuses version 1 while Books360 publishes version 2, whose sync is not queued (lost)
    from shared.errors import QuickBooksRejected

    def refused_while_changed(*args: Any, **kwargs: Any) -> Any:
        with monkeypatch.context() as lost:
            lost.setattr(auto_sync_service.AutoSync, "invoice_changed", lambda *a, **k: False)
            assert upsert("i1", "c1", version=2, dueDate="2026-10-31") == "applied"
        raise QuickBooksRejected("6000", "A business validation error has occurred.")

    monkeypatch.setattr(auto_sync_service, "sync_invoice", refused_while_changed)
    queue.drain()
    monkeypatch.undo()

    # THEN version 2 is still due: the schedule syncs it
    assert sweep()["invoicesQueued"] == 1
    queue.drain()
    assert rows(queue)["i1"]["syncStatus"] == "synced"
    assert qb_invoice_writes(queue, realm) == 1


def test_catch_up_turning_the_setting_on_is_one_write(queue, reads):
    # GIVEN a connected tenant with automatic sync off
    queue.stack.connect()
    reads.calls.clear()

    # WHEN the admin turns it on
    automatic(queue, True)

    # THEN the setting and the catch-up it asks for were written together, in one transaction
    writes = {k: v for k, v in reads.calls.items() if k in ("PutItem", "UpdateItem", "TransactWriteItems")}
    assert writes == {"TransactWriteItems": 1}, reads.calls


@pytest.mark.parametrize("tenant", ["t1", "tenant-42", "a#b"])
def test_catch_up_a_tenant_is_always_in_the_same_shard(tenant):
    from shared.store.auto_sync import SHARDS, due_keys, shard_of

    assert 0 <= shard_of(tenant) < SHARDS
    assert due_keys(tenant, "i1")["gsi1pk"] == f"AUTOSYNC#{shard_of(tenant)}"
    assert len({shard_of(f"tenant-{n}") for n in range(100)}) == SHARDS  # spread over every shard

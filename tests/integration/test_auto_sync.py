"""Automatic sync (issue 9, "Automatic sync"): events, the bulk worker's InvoiceSyncMessage and the 15-minute sweep.

The functions run in-process (books360_events, bulk_sync, auto_sync) against moto and the emulator; the test plays
EventBridge, the schedule and Lambda's SQS event source (``Bulk.drain``). What QuickBooks holds is counted at the
emulator, and what the user sees is read from the Invoices tab.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from shared import wiring
from shared.domain.auto_sync import MAX_AUTO_FAILURES, NO_EMAIL, NOT_LINKED
from shared.domain.settings import DEFAULT_DOCUMENT
from shared.services import auto_sync as auto_sync_service
from shared.store.auto_sync import SHARDS
from tests.conftest import load_function
from tests.integration.test_bulk_invoices import (  # noqa: F401 - ``instant_retries`` is a fixture
    PAYMENTS,
    TRANSACTIONS,
    client,
    connect,
    fault,
    instant_retries,
    invoice_detail,
    qb_invoices_by_source,
    writes,
)
from tests.integration.test_bulk_jobs import Bulk, bulk  # noqa: F401 - the fixture behind ``queue``
from tests.support.events import LambdaContext, eventbridge_event

if TYPE_CHECKING:
    from collections.abc import Iterator

TENANT = "t1"
events_function = load_function("books360_events")
sweep_function = load_function("auto_sync")


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> Bulk:
    """The bulk queue in moto and the bulk_sync function (test_bulk_jobs' ``bulk``), as test_bulk_invoices has it."""
    queue: Bulk = request.getfixturevalue("bulk")
    return queue


# -- Books360, the user, the schedule -----------------------------------------------------------------------


def publish(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return dict(events_function.lambda_handler(eventbridge_event(detail_type, detail), LambdaContext()))


def upsert(invoice_id: str, client_id: str, *, version: int = 1, tenant: str = TENANT, **overrides: Any) -> str:
    """Books360 publishes ``InvoiceUpserted``; the outcome (``applied``/``stale``)."""
    detail = invoice_detail(invoice_id, client_id, version=version, tenant=tenant, **overrides)
    return str(publish("InvoiceUpserted", detail)["status"])


def automatic(queue: Bulk, on: bool, *, tenant: str = TENANT) -> None:
    """The admin flips "Automatically create invoices for synced customers" (Additional Settings)."""
    status, body = queue.stack.api(
        "PUT", "/quickbooks/settings", tenant=tenant, body={**DEFAULT_DOCUMENT, "autoCreateInvoices": on}
    )
    assert status == 200, body


def linked_client(queue: Bulk, client_id: str, name: str, *, email: str | None = "ap@example.com") -> None:
    client(client_id, name, email=email)
    link(queue, client_id)


def link(queue: Bulk, client_id: str) -> None:
    status, body = queue.stack.api("POST", f"/quickbooks/customers/{client_id}/sync", body={"create": True})
    assert status == 200, body


def sweep() -> dict[str, Any]:
    event = eventbridge_event("Scheduled Event", {}, source="aws.events")
    return dict(sweep_function.lambda_handler(event, LambdaContext()))


def rows(queue: Bulk, *, tenant: str = TENANT) -> dict[str, dict[str, Any]]:
    status, body = queue.stack.api("GET", "/quickbooks/invoices", tenant=tenant, query={"limit": "100"})
    assert status == 200, body
    return {row["invoiceId"]: row for row in body["items"]}


def queued(queue: Bulk) -> list[dict[str, Any]]:
    """The messages waiting in the bulk queue (received, then made visible again for the worker)."""
    messages = queue.receive(10)
    queue.retry_now(messages)
    return [json.loads(m["Body"]) for m in messages]


def qb_invoice_writes(queue: Bulk, realm: str) -> int:
    return writes(queue, realm).get("POST invoice", 0)


# -- InvoiceUpserted ----------------------------------------------------------------------------------------


def test_auto_sync_on_invoice_of_linked_client_is_queued_and_synced(queue):
    # GIVEN automatic sync on, and a client linked to a QuickBooks customer, with an email
    realm = connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")

    # WHEN Books360 publishes a new invoice of that client
    assert upsert("i1", "c1") == "applied"

    # THEN its sync is on the bulk queue at once, and once the worker ran it is synced, one QuickBooks invoice
    assert queued(queue) == [{"type": "invoice-sync", "tenantId": TENANT, "invoiceId": "i1", "realmId": realm}]
    queue.drain()
    row = rows(queue)["i1"]
    assert (row["syncStatus"], row["lastError"]) == ("synced", None)
    assert qb_invoices_by_source(queue, realm) == {"i1": row["qbInvoiceIds"]}
    assert qb_invoice_writes(queue, realm) == 1


def test_auto_sync_changed_invoice_is_synced_again_in_place(queue):
    # GIVEN an invoice synced automatically
    realm = connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    upsert("i1", "c1")
    queue.drain()
    first = rows(queue)["i1"]["qbInvoiceIds"]

    # WHEN Books360 changes it (a new transaction)
    more = [*TRANSACTIONS, {"id": "t3", "date": "2026-09-20", "description": "Extra", "amount": "25.00"}]
    assert upsert("i1", "c1", version=2, transactions=more) == "applied"
    queue.drain()

    # THEN the same QuickBooks invoice carries the new amount: one invoice, a create and an update
    row = rows(queue)["i1"]
    assert (row["syncStatus"], row["qbInvoiceIds"], row["amount"]) == ("synced", first, "175.10")
    assert qb_invoices_by_source(queue, realm) == {"i1": first}
    assert qb_invoice_writes(queue, realm) == 2


def test_auto_sync_stale_or_repeated_event_queues_nothing(queue):
    # GIVEN version 2 of an invoice, synced automatically
    connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    upsert("i1", "c1", version=2)
    queue.drain()

    # WHEN version 2 arrives again, and then the older version 1
    repeated, older = upsert("i1", "c1", version=2), upsert("i1", "c1", version=1)

    # THEN both are stale and nothing is queued
    assert (repeated, older) == ("stale", "stale")
    assert queued(queue) == []


@pytest.mark.parametrize(
    ("email", "linked", "reason"),
    [("ap@example.com", False, NOT_LINKED), (None, True, NO_EMAIL)],
    ids=["unlinked client", "client without email"],
)
def test_auto_sync_invoice_it_cannot_sync_is_left_alone_and_listed_with_why(queue, email, linked, reason):
    # GIVEN automatic sync on, and a client that is unlinked or has no email
    realm = connect(queue)
    automatic(queue, True)
    client("c1", "Acme Corp", email=email)
    if linked:
        link(queue, "c1")

    # WHEN Books360 publishes an invoice of that client, and the schedule runs
    upsert("i1", "c1")
    sweep()

    # THEN nothing is queued or written to QuickBooks, and the tab says why
    assert queued(queue) == []
    row = rows(queue)["i1"]
    assert (row["syncStatus"], row["lastError"]) == ("unsynced", reason)
    assert qb_invoice_writes(queue, realm) == 0


def test_auto_sync_off_writes_nothing_by_events_or_the_schedule(queue):
    # GIVEN automatic sync off (the default), and a linked client with an email
    realm = connect(queue)
    linked_client(queue, "c1", "Acme Corp")

    # WHEN Books360 publishes invoices and the schedule runs
    upsert("i1", "c1")
    upsert("i2", "c1")
    sweep()

    # THEN nothing is queued, nothing reaches QuickBooks, and no reason is shown (the user chose this)
    assert queued(queue) == []
    assert {r["invoiceId"]: (r["syncStatus"], r["lastError"]) for r in rows(queue).values()} == {
        "i1": ("unsynced", None),
        "i2": ("unsynced", None),
    }
    assert qb_invoice_writes(queue, realm) == 0


def test_auto_sync_turned_off_between_queueing_and_running_writes_nothing(queue):
    # GIVEN an invoice's automatic sync queued
    realm = connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    upsert("i1", "c1")

    # WHEN the admin turns automatic sync off before the worker runs it
    automatic(queue, False)
    queue.drain()

    # THEN nothing is written; turned on again, the schedule catches it up
    assert qb_invoice_writes(queue, realm) == 0
    assert rows(queue)["i1"]["syncStatus"] == "unsynced"
    automatic(queue, True)
    assert sweep()["invoicesQueued"] == 1
    queue.drain()
    assert rows(queue)["i1"]["syncStatus"] == "synced"
    assert qb_invoice_writes(queue, realm) == 1


# -- the schedule's catch-up --------------------------------------------------------------------------------


def test_auto_sync_turned_on_later_catches_up_unsynced_invoices(queue):
    # GIVEN invoices published while automatic sync was off: two of a linked client, one of an unlinked one
    realm = connect(queue)
    linked_client(queue, "c1", "Acme Corp")
    client("c2", "Beta LLC")
    for invoice_id, client_id in (("i1", "c1"), ("i2", "c1"), ("i3", "c2")):
        upsert(invoice_id, client_id)

    # WHEN the admin turns it on and the schedule runs
    automatic(queue, True)
    report = sweep()
    queue.drain()

    # THEN the linked client's invoices are synced, the other one is listed with why
    assert (report["invoicesQueued"], report["invoicesWaiting"]) == (2, 1)
    found = {r["invoiceId"]: (r["syncStatus"], r["lastError"]) for r in rows(queue).values()}
    assert found == {"i1": ("synced", None), "i2": ("synced", None), "i3": ("unsynced", NOT_LINKED)}
    assert sorted(qb_invoices_by_source(queue, realm)) == ["i1", "i2"]


def test_auto_sync_client_linked_later_gets_its_invoices_caught_up(queue):
    # GIVEN an invoice left alone because its client was not linked
    realm = connect(queue)
    automatic(queue, True)
    client("c1", "Acme Corp")
    upsert("i1", "c1")
    assert rows(queue)["i1"]["lastError"] == NOT_LINKED

    # WHEN the user links the client, and the schedule runs
    link(queue, "c1")
    assert sweep()["invoicesQueued"] == 1
    queue.drain()

    # THEN the invoice is synced, its reason gone; a second run finds nothing to do
    row = rows(queue)["i1"]
    assert (row["syncStatus"], row["lastError"]) == ("synced", None)
    assert qb_invoice_writes(queue, realm) == 1
    assert sweep()["invoicesQueued"] == 0


def test_auto_sync_email_added_later_gets_its_invoices_caught_up(queue):
    # GIVEN an invoice left alone because its linked client had no email
    connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp", email=None)
    upsert("i1", "c1")
    assert rows(queue)["i1"]["lastError"] == NO_EMAIL

    # WHEN Books360 publishes the client with an email, and the schedule runs
    publish(
        "ClientUpserted", {"tenantId": TENANT, "version": 2, "clientId": "c1", "name": "Acme Corp", "email": "a@b.c"}
    )
    sweep()
    queue.drain()

    # THEN the invoice is synced
    assert rows(queue)["i1"]["syncStatus"] == "synced"


def test_auto_sync_lost_message_of_a_changed_invoice_is_queued_again_by_the_schedule(queue, monkeypatch):
    # GIVEN a synced invoice, changed in Books360, whose queued sync was lost
    realm = connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    upsert("i1", "c1")
    queue.drain()
    upsert("i1", "c1", version=2, dueDate="2026-10-31")
    queue.sqs.purge_queue(QueueUrl=queue.queue_url)

    # WHEN the schedule runs while the message could still be on its way, then after that
    first = sweep()["invoicesQueued"]
    monkeypatch.setattr(auto_sync_service, "IN_FLIGHT", timedelta(0))
    second = sweep()["invoicesQueued"]
    queue.drain()

    # THEN it is queued only once it can no longer be in flight, and synced in place
    assert (first, second) == (0, 1)
    assert rows(queue)["i1"]["syncStatus"] == "synced"
    assert len(qb_invoices_by_source(queue, realm)["i1"]) == 1
    assert qb_invoice_writes(queue, realm) == 2


def test_auto_sync_throttled_until_the_last_receive_is_listed_failed_then_caught_up_once(queue):
    # GIVEN QuickBooks answers 429 to every invoice write for as long as the message is received
    realm = connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    max_receives = int(wiring.settings().bulk_max_receive_count)
    fault(queue, realm, method="POST", entity="invoice", status=429, count=max_receives)

    # WHEN the invoice is published and its message received until its last time
    upsert("i1", "c1")
    queue.drain()

    # THEN it is listed failed with why (never silently lost), and nothing was written
    row = rows(queue)["i1"]
    assert row["syncStatus"] == "failed" and row["lastError"], row
    assert qb_invoices_by_source(queue, realm) == {}

    # WHEN QuickBooks answers again and the schedule runs
    assert sweep()["invoicesQueued"] == 1
    queue.drain()

    # THEN it is synced, and QuickBooks holds it once
    row = rows(queue)["i1"]
    assert (row["syncStatus"], row["lastError"]) == ("synced", None)
    assert len(qb_invoices_by_source(queue, realm)["i1"]) == 1


@pytest.mark.parametrize("status", [500, 503, 0])
def test_auto_sync_transient_faults_write_the_invoice_exactly_once(queue, status):
    # GIVEN QuickBooks fails invoice and payment writes now and then (0: the connection drops after the write)
    realm = connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    fault(queue, realm, method="POST", entity="invoice", status=status, count=2)
    fault(queue, realm, method="POST", entity="payment", status=status, count=2)

    # WHEN the invoice is published, and the worker and the schedule do their work
    upsert("i1", "c1")
    queue.drain()
    sweep()
    queue.drain()

    # THEN it is synced, with one QuickBooks invoice and one payment
    assert rows(queue)["i1"]["syncStatus"] == "synced"
    assert len(qb_invoices_by_source(queue, realm)["i1"]) == 1
    token = queue.stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    payments = queue.stack.http.get(
        f"/v3/company/{realm}/query",
        params={"query": "SELECT * FROM Payment", "minorversion": 75},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    ).json()["QueryResponse"]
    assert len(payments.get("Payment", [])) == 1


def test_auto_sync_refused_again_and_again_stops_being_retried(queue, monkeypatch):
    # GIVEN an invoice whose automatic sync keeps failing (QuickBooks stays throttled)
    realm = connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    fault(queue, realm, method="POST", entity="invoice", status=429, count=1000)
    upsert("i1", "c1")

    # WHEN the worker and the schedule try it again and again
    runs = []
    for _ in range(MAX_AUTO_FAILURES + 2):
        queue.drain()
        runs.append(sweep()["invoicesQueued"])

    # THEN it is tried MAX_AUTO_FAILURES times in all, then left failed (a change or "Sync with QB" tries again)
    assert runs == [1] * (MAX_AUTO_FAILURES - 1) + [0, 0, 0]
    assert rows(queue)["i1"]["syncStatus"] == "failed"


# -- what the sweep costs -----------------------------------------------------------------------------------


class DynamoReads:
    """Counts the DynamoDB calls of the process and the items they read, by operation."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.items = 0

    def __call__(self, operation_name: str, parsed: dict[str, Any], **_: Any) -> None:
        self.calls[operation_name] = self.calls.get(operation_name, 0) + 1
        self.items += len(parsed.get("Items", [])) + (1 if "Item" in parsed else 0)
        self.items += sum(len(v) for v in parsed.get("Responses", {}).values())


@pytest.fixture
def dynamo_reads() -> Iterator[DynamoReads]:
    reads = DynamoReads()
    events = wiring.dynamodb_client().meta.events
    handler = lambda **kwargs: reads(kwargs["model"].name, kwargs["parsed"])  # noqa: E731
    events.register("after-call.dynamodb", handler)
    yield reads
    events.unregister("after-call.dynamodb", handler)


def test_auto_sync_sweep_reads_none_of_the_synced_invoices(queue, dynamo_reads):
    # GIVEN a tenant with 12 invoices synced automatically (more only cost the company's calls: 8 a second), and
    # another tenant that never connected
    connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    for n in range(12):
        upsert(f"i{n}", "c1")
    queue.drain()
    client("c9", "Other", tenant="t2")
    upsert("theirs", "c9", tenant="t2")
    sweep()  # t2's invoice moves to waiting (not connected): nothing to do for it any more
    dynamo_reads.calls.clear()
    dynamo_reads.items = 0

    # WHEN the schedule runs
    report = sweep()

    # THEN it read one empty page of each due shard and its own state: no invoice, no tenant, no Scan
    assert report["invoicesQueued"] == 0
    assert dynamo_reads.items == 1, dynamo_reads.calls  # the sweep's state (where each shard stopped)
    assert "Scan" not in dynamo_reads.calls
    assert dynamo_reads.calls.get("Query", 0) == SHARDS + 1  # the shards, and the open jobs' index
    assert sum(dynamo_reads.calls.values()) - dynamo_reads.calls.get("Query", 0) <= 1


def test_auto_sync_sweep_reads_grow_with_what_is_due_not_with_what_is_synced(queue, dynamo_reads, monkeypatch):
    # GIVEN 12 synced invoices and one whose message was lost
    connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    for n in range(12):
        upsert(f"i{n}", "c1")
    queue.drain()
    sweep()  # the setting turned on and the client linked: looked at once, then forgotten
    upsert("lost", "c1")
    queue.sqs.purge_queue(QueueUrl=queue.queue_url)
    dynamo_reads.calls.clear()
    dynamo_reads.items = 0

    # WHEN the schedule runs past the message's time in flight
    monkeypatch.setattr(auto_sync_service, "IN_FLIGHT", timedelta(0))
    report = sweep()

    # THEN only that invoice, the tenant's settings and connection, and its client were read (and the sweep's state)
    assert report["invoicesQueued"] == 1
    assert dynamo_reads.items == 4 + 1, dynamo_reads.calls
    assert "Scan" not in dynamo_reads.calls


# -- deletions made in Books360 ---------------------------------------------------------------------------


def test_auto_sync_failed_deletion_in_quickbooks_is_queued_again_by_the_schedule(queue):
    # GIVEN an invoice synced, then deleted in Books360 while QuickBooks refuses deletions for a while
    realm = connect(queue)
    automatic(queue, True)
    linked_client(queue, "c1", "Acme Corp")
    upsert("i1", "c1")
    queue.drain()
    max_receives = int(wiring.settings().bulk_max_receive_count)
    fault(queue, realm, method="POST", entity="payment", status=429, count=max_receives)
    publish("InvoiceDeleted", {"tenantId": TENANT, "version": 2, "invoiceId": "i1"})
    queue.drain()
    assert len(qb_invoices_by_source(queue, realm)) == 1  # the deletion gave up: still there

    # WHEN the schedule runs
    report = sweep()
    queue.drain()

    # THEN the deletion is queued again and done: QuickBooks holds nothing for it
    assert report["deletionsQueued"] == 1
    assert qb_invoices_by_source(queue, realm) == {}
    assert sweep()["deletionsQueued"] == 0

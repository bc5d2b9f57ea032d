"""Automatic sync through the local stack (issue 9, "Automatic sync"): Books360 publishes ``InvoiceUpserted`` on the
local EventBridge, and the invoice becomes synced in the Invoices list within seconds, through SQS and the bulk
worker; the ``auto-invoice-sync`` schedule catches up what events could not.

Each test has a tenant and a company of its own (the demo's are other tests' business); writes are counted at
the emulator (``GET /_admin/requests``) as QuickBooks' own user would not see them twice.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from shared.domain.auto_sync import NOT_LINKED
from shared.domain.settings import DEFAULT_DOCUMENT
from tests.e2e.helpers import emulator, qb_query, qb_writes
from tests.e2e.oauth import connect, new_tenant

pytestmark = pytest.mark.e2e

SYNC_TIMEOUT = 20.0
"""Within seconds: the event queues the sync at once, the local SQS delivers it within a second or two."""
TRANSACTIONS = [
    {"id": "t1", "date": "2026-09-05", "description": "Ad spend", "amount": "100.10"},
    {"id": "t2", "date": "2026-09-12", "description": "Fee", "amount": "50.00"},
]


def automatic(stack, tenant: str, on: bool) -> None:
    with stack.client(tenant) as api:
        answer = api.put("/quickbooks/settings", json={**DEFAULT_DOCUMENT, "autoCreateInvoices": on})
    assert answer.status_code == 200, answer.text


def publish_client(stack, tenant: str, client_id: str, *, email: str | None = "ap@example.com", version: int = 1):
    detail = {"tenantId": tenant, "version": version, "clientId": client_id, "name": f"Client {client_id}"}
    put(stack, "ClientUpserted", {**detail, "email": email})


def link(stack, tenant: str, client_id: str) -> None:
    with stack.client(tenant) as api:
        answer = api.post(f"/quickbooks/customers/{client_id}/sync", json={"create": True})
    assert answer.status_code == 200, answer.text


def publish_invoice(stack, tenant: str, invoice_id: str, client_id: str, *, version: int = 1, **overrides: Any):
    detail = {
        "tenantId": tenant,
        "version": version,
        "invoiceId": invoice_id,
        "clientId": client_id,
        "number": f"N-{invoice_id[-8:]}",
        "createdAt": "2026-09-28T09:00:00Z",
        "dateFrom": "2026-09-01",
        "dateTo": "2026-09-28",
        "dueDate": "2026-10-15",
        "transactions": TRANSACTIONS,
        "payments": [],
        **overrides,
    }
    put(stack, "InvoiceUpserted", detail)


def put(stack, detail_type: str, detail: dict[str, Any]) -> None:
    answer = stack.put_events(
        {"Source": "books360.accounting", "DetailType": detail_type, "Detail": json.dumps(detail)}
    )
    assert answer["FailedEntryCount"] == 0, answer


def row(stack, tenant: str, invoice_id: str) -> dict[str, Any]:
    with stack.client(tenant) as api:
        answer = api.get("/quickbooks/invoices", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return next(r for r in answer.json()["items"] if r["invoiceId"] == invoice_id)


def wait_for(stack, tenant: str, invoice_id: str, check, timeout: float = SYNC_TIMEOUT) -> tuple[dict[str, Any], float]:
    """Poll the Invoices list as the UI would until ``check(row)``; the row and the seconds it took."""
    started = time.monotonic()
    while True:
        found = row(stack, tenant, invoice_id)
        if check(found):
            return found, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {found}")
        time.sleep(0.25)


def ids(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_auto_sync_e2e_invoice_upserted_becomes_synced_within_seconds_and_a_change_in_place(local_stack):
    # GIVEN a tenant with automatic sync on and a linked client with an email
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    automatic(local_stack, tenant, True)
    client_id, invoice_id = ids("c"), ids("inv")
    publish_client(local_stack, tenant, client_id)
    link(local_stack, tenant, client_id)

    # WHEN Books360 publishes an invoice of that client
    publish_invoice(local_stack, tenant, invoice_id, client_id)

    # THEN the Invoices list shows it synced within seconds
    synced, seconds = wait_for(local_stack, tenant, invoice_id, lambda r: r["syncStatus"] == "synced")
    assert seconds < SYNC_TIMEOUT and synced["lastError"] is None
    assert qb_writes(local_stack, realm).get("POST invoice") == 1

    # WHEN Books360 changes it
    more = [*TRANSACTIONS, {"id": "t3", "date": "2026-09-20", "description": "Extra", "amount": "25.00"}]
    publish_invoice(local_stack, tenant, invoice_id, client_id, version=2, transactions=more)

    # THEN the same QuickBooks invoice is updated: one invoice in QuickBooks, one create and one update
    changed, _ = wait_for(
        local_stack, tenant, invoice_id, lambda r: r["amount"] == "175.10" and r["syncedAt"] != synced["syncedAt"]
    )
    assert changed["qbInvoiceIds"] == synced["qbInvoiceIds"] and changed["syncStatus"] == "synced"
    assert qb_writes(local_stack, realm).get("POST invoice") == 2
    found = qb_query(local_stack, realm, "Invoice", f"Id = '{synced['qbInvoiceIds'][0]}'")
    assert str(found[0]["TotalAmt"]) in {"175.1", "175.10"}

    # WHEN the same version arrives again
    publish_invoice(local_stack, tenant, invoice_id, client_id, version=2, transactions=more)
    time.sleep(2)

    # THEN nothing more is written
    assert qb_writes(local_stack, realm).get("POST invoice") == 2


def test_auto_sync_e2e_unlinked_client_is_listed_with_why_then_caught_up_by_the_schedule_once_linked(local_stack):
    # GIVEN automatic sync on, and a client not linked to QuickBooks
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    automatic(local_stack, tenant, True)
    client_id, invoice_id = ids("c"), ids("inv")
    publish_client(local_stack, tenant, client_id)

    # WHEN Books360 publishes an invoice of that client
    publish_invoice(local_stack, tenant, invoice_id, client_id)

    # THEN it is left alone and listed with why
    waiting = row(local_stack, tenant, invoice_id)
    assert (waiting["syncStatus"], waiting["lastError"]) == ("unsynced", NOT_LINKED)
    assert qb_writes(local_stack, realm).get("POST invoice", 0) == 0

    # WHEN the user links the client and the auto-invoice-sync schedule runs
    link(local_stack, tenant, client_id)
    local_stack.run_schedule("auto-invoice-sync")

    # THEN the invoice is synced
    synced, _ = wait_for(local_stack, tenant, invoice_id, lambda r: r["syncStatus"] == "synced")
    assert synced["lastError"] is None
    assert qb_writes(local_stack, realm).get("POST invoice") == 1


def test_auto_sync_e2e_off_writes_nothing_until_turned_on_and_the_schedule_runs(local_stack):
    # GIVEN automatic sync off, and a linked client
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    client_id, invoice_id = ids("c"), ids("inv")
    publish_client(local_stack, tenant, client_id)
    link(local_stack, tenant, client_id)

    # WHEN Books360 publishes an invoice, and the schedule runs
    publish_invoice(local_stack, tenant, invoice_id, client_id)
    local_stack.run_schedule("auto-invoice-sync")
    time.sleep(2)

    # THEN nothing is written
    assert row(local_stack, tenant, invoice_id)["syncStatus"] == "unsynced"
    assert qb_writes(local_stack, realm).get("POST invoice", 0) == 0

    # WHEN the admin turns it on and the schedule runs
    automatic(local_stack, tenant, True)
    local_stack.run_schedule("auto-invoice-sync")

    # THEN the invoice is caught up
    wait_for(local_stack, tenant, invoice_id, lambda r: r["syncStatus"] == "synced")
    assert qb_writes(local_stack, realm).get("POST invoice") == 1


def test_auto_sync_e2e_throttled_and_failing_quickbooks_still_writes_once(local_stack):
    # GIVEN automatic sync on, a linked client, and QuickBooks answering 429 then 500 to invoice writes
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    automatic(local_stack, tenant, True)
    client_id, invoice_id = ids("c"), ids("inv")
    publish_client(local_stack, tenant, client_id)
    link(local_stack, tenant, client_id)
    for status in (429, 500):
        emulator(
            local_stack,
            "POST",
            "/_admin/faults",
            json={"realmId": realm, "method": "POST", "entity": "invoice", "status": status, "count": 1},
        )

    # WHEN Books360 publishes the invoice
    publish_invoice(local_stack, tenant, invoice_id, client_id)

    # THEN it ends synced, with one QuickBooks invoice (the 429 brings the message back after a delay)
    synced, _ = wait_for(local_stack, tenant, invoice_id, lambda r: r["syncStatus"] == "synced", timeout=120.0)
    assert len(synced["qbInvoiceIds"]) == 1
    assert (
        len(qb_query(local_stack, realm, "Invoice", f"CustomerRef = '{qb_customer(local_stack, tenant, client_id)}'"))
        == 1
    )


def qb_customer(stack, tenant: str, client_id: str) -> str:
    with stack.client(tenant) as api:
        answer = api.get(f"/quickbooks/customers/{client_id}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["qbCustomer"]["Id"])

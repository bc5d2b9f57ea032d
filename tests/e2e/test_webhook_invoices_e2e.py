"""An invoice deleted by the QuickBooks company's own user reaches the Invoices tab through Intuit's webhook
(issue 9, "Deletions made in QuickBooks"), end to end: the emulator's signed CloudEvents delivery (registered by
the stack at start) to the public webhook route of the local stack.

Demo invoice used: ``inv-038`` (Zorg Industries, two months, partly paid; no other test uses it). It is synced, then
deleted in QuickBooks, and stays ``deleted_in_qb`` (nothing is unlinked without the user).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.helpers import emulator, qb_read, qb_user
from tests.e2e.oauth import connect

pytestmark = pytest.mark.e2e

DEMO = "demo"
DELETED_THERE = "inv-038"
DEMO_CLIENT = "cl-038"


@pytest.fixture(scope="module")
def demo_realm(local_stack) -> str:
    """The demo tenant connected to the demo company (once; an earlier module may have connected it already)."""
    assert local_stack.demo_realm_id, "the stack has no demo company"
    with local_stack.client(DEMO) as api:
        connection = api.get("/quickbooks/connection").json()
    if (connection["status"], connection["realmId"]) == ("connected", local_stack.demo_realm_id):
        return str(local_stack.demo_realm_id)
    return connect(local_stack, DEMO, local_stack.demo_realm_id)


def row_of(api, invoice_id: str) -> dict[str, Any]:
    answer = api.get("/quickbooks/invoices", params={"client": DEMO_CLIENT, "limit": 100})
    assert answer.status_code == 200, answer.text
    (row,) = [r for r in answer.json()["items"] if r["invoiceId"] == invoice_id]
    return dict(row)


def test_invoice_deleted_by_a_quickbooks_user_shows_deleted_in_qb_through_intuits_webhook(local_stack, demo_realm):
    # GIVEN a demo invoice synced to the demo company
    with local_stack.client(DEMO) as api:
        answer = api.post(f"/quickbooks/invoices/{DELETED_THERE}/sync")
        assert answer.status_code == 200, answer.text
        qb_invoice = answer.json()["qbInvoiceIds"][0]
        assert row_of(api, DELETED_THERE)["syncStatus"] == "synced"
    emulator(local_stack, "POST", "/_admin/webhooks/flush")  # the sync's own changes, delivered and recorded
    webhook_runs = len(local_stack.invocations("WebhookFunction"))
    # A moment later (the company's per-second window, 10 requests, is the sync's no more)
    time.sleep(1.05)

    # WHEN the company's user deletes that QuickBooks invoice, and the emulator delivers Intuit's signed webhook
    current = qb_read(local_stack, demo_realm, "invoice", qb_invoice)
    assert current.status_code == 200, current.text
    emulator(
        local_stack,
        "POST",
        f"/v3/company/{demo_realm}/invoice",
        params={"operation": "delete", "minorversion": 75},
        json={"Id": qb_invoice, "SyncToken": current.json()["Invoice"]["SyncToken"]},
        headers=qb_user(local_stack, demo_realm),
    )
    flushed = emulator(local_stack, "POST", "/_admin/webhooks/flush")

    # THEN the delivery was a CloudEvents one naming the deletion, and the stack's webhook function took it
    assert flushed["delivered"] >= 1, flushed
    deliveries = emulator(local_stack, "GET", "/_admin/webhooks")["deliveries"]
    deleted = [
        event
        for delivery in deliveries
        if delivery["status"] == "delivered" and isinstance(delivery["body"], list)
        for event in delivery["body"]
        if (event["type"], event["intuitentityid"], event["intuitaccountid"])
        == ("qbo.invoice.deleted.v1", qb_invoice, demo_realm)
    ]
    assert len(deleted) == 1, deliveries
    assert len(local_stack.invocations("WebhookFunction")) > webhook_runs
    # AND the tab lists the invoice deleted in QuickBooks, saying which, and nothing was unlinked
    with local_stack.client(DEMO) as api:
        row = row_of(api, DELETED_THERE)
        view = api.get(f"/quickbooks/invoices/{DELETED_THERE}/qb")
        again = api.post(f"/quickbooks/invoices/{DELETED_THERE}/sync")
    assert (row["syncStatus"], row["qbInvoiceIds"][0]) == ("deleted_in_qb", qb_invoice)
    assert f"QuickBooks invoice {qb_invoice} was deleted in QuickBooks." in row["lastError"]
    assert view.status_code == 200, view.text
    assert {"id": qb_invoice, "deleted": True} in view.json()["invoices"]
    assert again.status_code == 409, again.text

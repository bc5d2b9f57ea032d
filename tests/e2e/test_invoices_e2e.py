"""The Invoices tab through the local front, as the Books360 UI calls it, on the demo tenant's data.

The demo tenant (``demo``: 40 clients, 60 invoices, loaded at start by ``local/demo.py``) is connected once to
the demo company. What QuickBooks holds is looked at as the company's user would (the emulator's admin token),
and what we wrote is counted at the emulator (``GET /_admin/requests``).

Demo invoices used (invoice ``n`` belongs to client ``(n - 1) % 40 + 1``; no client of theirs is in the demo
company, so syncing creates the customer):

* ``inv-013`` (Pied Piper, paid, one payment): preview, sync, list, View QB Info, re-sync; then deleted in Books360.
* ``inv-008`` (Wonka Confections) and ``inv-009`` (Cyberdyne Systems): synced through an injected fault.
* ``inv-007`` (Stark Industries, no email): the ``client.email`` problem.

The tests run in file order: the list test expects all 60 invoices, so it comes before the deletion test.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.demo import books360_entries
from shared.domain.parties import CUSTOMER
from tests.e2e.helpers import emulator, qb_names, qb_query, qb_read, qb_writes
from tests.e2e.oauth import connect, new_company, new_tenant

pytestmark = pytest.mark.e2e

DEMO = "demo"
SYNCED = "inv-013"
NO_EMAIL = "inv-007"
LIST_COLUMNS = {
    "invoiceId",
    "clientId",
    "clientName",
    "number",
    "date",
    "status",
    "amount",
    "paid",
    "due",
    "qbInvoiceIds",
    "syncStatus",
    "syncedAt",
    "lastError",
}
PROBLEM_FIELDS = {"type", "title", "status", "detail", "errors"}
MONEY = re.compile(r"^-?\d+\.\d{2}$")
DELETION_TIMEOUT = 15.0


def _demo_data() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The demo tenant's invoices and clients as Books360 published them, by id."""
    invoices, clients = {}, {}
    for entry in books360_entries(DEMO):
        detail = json.loads(entry["Detail"])
        if entry["DetailType"] == "InvoiceUpserted":
            invoices[detail["invoiceId"]] = detail
        elif entry["DetailType"] == "ClientUpserted":
            clients[detail["clientId"]] = detail
    return invoices, clients


INVOICES, CLIENTS = _demo_data()


def cents(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def is_problem(answer: httpx.Response, status: int) -> bool:
    return (
        answer.status_code == status
        and answer.headers["content-type"].startswith("application/problem+json")
        and PROBLEM_FIELDS <= answer.json().keys()
        and answer.json()["status"] == status
    )


def all_pages(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every row of the tab, following ``nextCursor`` as the UI does."""
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        answer = api.get("/quickbooks/invoices", params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        rows += answer.json()["items"]
        cursor = answer.json()["nextCursor"]
        if cursor is None:
            return rows
    pytest.fail(f"the list never ended: {params}")


def row_of(api: httpx.Client, invoice_id: str) -> dict[str, Any] | None:
    client_id = INVOICES[invoice_id]["clientId"]
    return next((r for r in all_pages(api, client=client_id) if r["invoiceId"] == invoice_id), None)


@pytest.fixture(scope="module")
def demo_realm(local_stack) -> str:
    """The demo tenant connected to the demo company, through the OAuth dance as its admin would (once)."""
    assert local_stack.demo_realm_id, "the stack has no demo company"
    with local_stack.client(DEMO) as api:
        connection = api.get("/quickbooks/connection").json()
    if (connection["status"], connection["realmId"]) == ("connected", local_stack.demo_realm_id):
        return str(local_stack.demo_realm_id)
    return connect(local_stack, DEMO, local_stack.demo_realm_id)


# -- (1) the demo tenant's invoices --------------------------------------------------------------------------


def test_demo_list_shows_the_60_invoices_with_the_contract_columns(local_stack, demo_realm):
    today = datetime.now(UTC).date()

    # WHEN the UI pages through the tab, 25 at a time
    with local_stack.client(DEMO) as api:
        rows = all_pages(api, limit=25)
        single = api.get("/quickbooks/invoices", params={"limit": 100}).json()

    # THEN each of the 60 invoices is there once, with every column the contract names
    assert sorted(r["invoiceId"] for r in rows) == sorted(INVOICES)
    assert len(single["items"]) == 60
    assert single["nextCursor"] is None
    for row in rows:
        assert LIST_COLUMNS <= row.keys(), row
        source = INVOICES[row["invoiceId"]]
        amount = sum((Decimal(t["amount"]) for t in source["transactions"]), Decimal(0))
        paid = sum((Decimal(p["amount"]) for p in source["payments"]), Decimal(0))
        assert all(MONEY.match(row[k]) for k in ("amount", "paid", "due")), row
        assert (cents(row["amount"]), cents(row["paid"]), cents(row["due"])) == (amount, paid, amount - paid), row
        assert (row["clientId"], row["number"]) == (source["clientId"], source["number"])
        assert row["clientName"] == CLIENTS[source["clientId"]]["name"]
        assert row["date"] == source["createdAt"][:10]
        due_passed = date.fromisoformat(source["dueDate"]) < today
        expected = "paid" if paid >= amount else "overdue" if due_passed else "not_paid"
        assert row["status"] == expected, row
        assert row["syncStatus"] in {"synced", "unsynced", "failed", "deleted_in_qb"}
        assert isinstance(row["qbInvoiceIds"], list)


@pytest.mark.parametrize(
    "params",
    [
        {"client": "cl-013"},
        {"client": "pied PIPER"},
        {"dateFrom": "2026-11-01"},
        {"dateFrom": "2026-06-28", "dateTo": "2026-06-28"},
        {"client": "cl-013", "dateTo": "2026-09-30"},
    ],
    ids=["client-id", "client-name", "date-from", "one-day", "client-and-date"],
)
def test_demo_list_filters_match_the_demo_data(local_stack, demo_realm, params):
    def expected(source: dict[str, Any]) -> bool:
        created, client = source["createdAt"][:10], params.get("client")
        name = CLIENTS[source["clientId"]]["name"]
        matches_client = client is None or client == source["clientId"] or client.casefold() in name.casefold()
        return matches_client and params.get("dateFrom", "0000") <= created <= params.get("dateTo", "9999")

    with local_stack.client(DEMO) as api:
        rows = all_pages(api, limit=7, **params)

    assert sorted(r["invoiceId"] for r in rows) == sorted(i for i, s in INVOICES.items() if expected(s))
    assert rows


def test_demo_invoice_preview_sync_list_view_and_unchanged_resync(local_stack, demo_realm):
    source = INVOICES[SYNCED]
    client = CLIENTS[source["clientId"]]
    (transaction,) = source["transactions"]
    (payment,) = source["payments"]
    writes_before_preview = qb_writes(local_stack, demo_realm)

    with local_stack.client(DEMO) as api:
        # WHEN the admin opens "Sync with QB"
        preview = api.get(f"/quickbooks/invoices/{SYNCED}/sync-preview")
        writes_after_preview = qb_writes(local_stack, demo_realm)
        # ... and confirms
        synced = api.post(f"/quickbooks/invoices/{SYNCED}/sync")
        row = row_of(api, SYNCED)
        synced_rows = all_pages(api, syncStatus="synced")
        info = api.get(f"/quickbooks/invoices/{SYNCED}/qb")
        customer = api.get(f"/quickbooks/customers/{source['clientId']}").json()
        # ... then syncs it again, unchanged
        writes_before_resync = qb_writes(local_stack, demo_realm)
        again = api.post(f"/quickbooks/invoices/{SYNCED}/sync")
        writes_after_resync = qb_writes(local_stack, demo_realm)
        preview_after = api.get(f"/quickbooks/invoices/{SYNCED}/sync-preview").json()

    # THEN the preview showed the customer to create, the document, the payment, no problem, and wrote nothing
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert shown["invoiceId"] == SYNCED
    assert shown["customer"] == {
        "clientId": client["clientId"],
        "displayName": client["name"],
        "qbCustomerId": None,
        "action": "create",
    }
    (document,) = shown["documents"]
    assert (document["docNumber"], document["dueDate"], document["action"], document["qbInvoiceId"]) == (
        source["number"],
        source["dueDate"],
        "create",
        None,
    )
    assert document["txnDate"] == source["dateTo"]  # invoiceDate defaults to dateTo
    assert cents(document["amount"]) == Decimal(transaction["amount"])
    assert document["lines"] == [
        {
            "description": transaction["description"],
            "amount": transaction["amount"],
            "serviceDate": transaction["date"],
        }
    ]
    (shown_payment,) = shown["payments"]
    assert (shown_payment["paymentId"], shown_payment["action"], shown_payment["qbPaymentId"]) == (
        payment["id"],
        "create",
        None,
    )
    assert cents(shown_payment["amount"]) == Decimal(payment["amount"])
    assert shown["problems"] == []
    assert writes_after_preview == writes_before_preview

    # ... the sync wrote one invoice and one payment, creating the customer first
    assert synced.status_code == 200, synced.text
    answer = synced.json()
    assert answer["invoiceId"] == SYNCED
    assert len(answer["qbInvoiceIds"]) == 1
    assert len(answer["qbPaymentIds"]) == 1
    assert answer["customerCreated"] is True
    assert answer["syncedAt"]
    assert customer["status"] == "synced"
    assert client["name"] in qb_names(local_stack, demo_realm, CUSTOMER)

    # ... the tab shows it synced
    assert row is not None
    assert (row["syncStatus"], row["qbInvoiceIds"], row["syncedAt"], row["lastError"]) == (
        "synced",
        answer["qbInvoiceIds"],
        answer["syncedAt"],
        None,
    )
    assert SYNCED in [r["invoiceId"] for r in synced_rows]
    assert all(r["syncStatus"] == "synced" for r in synced_rows)

    # ... View QB Info shows what QuickBooks holds: the invoice for the new customer, paid by the payment
    assert info.status_code == 200, info.text
    (qb_invoice,) = info.json()["invoices"]
    (qb_payment,) = info.json()["payments"]
    assert qb_invoice["Id"] == answer["qbInvoiceIds"][0]
    assert qb_invoice["DocNumber"] == source["number"]
    assert qb_invoice["CustomerRef"]["value"] == customer["qbCustomer"]["Id"]
    assert cents(str(qb_invoice["TotalAmt"])) == Decimal(transaction["amount"])
    assert cents(str(qb_invoice["Balance"])) == Decimal(0)
    assert qb_payment["Id"] == answer["qbPaymentIds"][0]
    assert cents(str(qb_payment["TotalAmt"])) == Decimal(payment["amount"])
    assert [t["TxnId"] for line in qb_payment["Line"] for t in line["LinkedTxn"]] == [qb_invoice["Id"]]

    # ... and syncing it again unchanged answers the same objects without one write at QuickBooks
    assert again.status_code == 200, again.text
    assert (again.json()["qbInvoiceIds"], again.json()["qbPaymentIds"]) == (
        answer["qbInvoiceIds"],
        answer["qbPaymentIds"],
    )
    assert again.json()["customerCreated"] is False
    assert again.json()["syncedAt"] == answer["syncedAt"]
    assert writes_after_resync == writes_before_resync
    assert preview_after["customer"]["action"] == "linked"
    assert [d["action"] for d in preview_after["documents"]] == ["unchanged"]
    assert [p["action"] for p in preview_after["payments"]] == ["unchanged"]


def test_demo_invoice_whose_client_has_no_email_shows_the_problem_and_is_not_written(local_stack, demo_realm):
    assert CLIENTS[INVOICES[NO_EMAIL]["clientId"]]["email"] is None
    before = qb_writes(local_stack, demo_realm)

    with local_stack.client(DEMO) as api:
        preview = api.get(f"/quickbooks/invoices/{NO_EMAIL}/sync-preview")
        refused = api.post(f"/quickbooks/invoices/{NO_EMAIL}/sync")
        row = row_of(api, NO_EMAIL)

    assert preview.status_code == 200, preview.text
    assert [p["field"] for p in preview.json()["problems"]] == ["client.email"]
    assert is_problem(refused, 422), refused.text
    assert "client.email" in [e["field"] for e in refused.json()["errors"]]
    assert qb_writes(local_stack, demo_realm) == before
    assert row is not None
    assert (row["syncStatus"], row["qbInvoiceIds"]) == ("unsynced", [])


# -- (2) tenant isolation -------------------------------------------------------------------------------------


def test_another_tenant_gets_404_for_a_demo_invoice(local_stack, demo_realm):
    # GIVEN another tenant, connected to a company of its own, and a cursor of the demo tenant's list
    stranger = new_tenant()
    realm = connect(local_stack, stranger, new_company(local_stack, "Stranger Co (QBO)"))
    with local_stack.client(DEMO) as api:
        demo_cursor = api.get("/quickbooks/invoices", params={"limit": 1}).json()["nextCursor"]

    # WHEN it calls every route of the tab on a demo invoice
    with local_stack.client(stranger) as api:
        answers = {
            "preview": api.get(f"/quickbooks/invoices/{SYNCED}/sync-preview"),
            "sync": api.post(f"/quickbooks/invoices/{SYNCED}/sync"),
            "view": api.get(f"/quickbooks/invoices/{SYNCED}/qb"),
            "unlink": api.delete(f"/quickbooks/invoices/{SYNCED}/qb-link"),
        }
        listed = api.get("/quickbooks/invoices", params={"limit": 100}).json()
        by_demo_client = api.get("/quickbooks/invoices", params={"client": INVOICES[SYNCED]["clientId"]}).json()
        foreign_cursor = api.get("/quickbooks/invoices", params={"limit": 1, "cursor": demo_cursor})

    # THEN each is a 404 problem, it sees none of demo's invoices, and nothing reached its company
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 404)
    assert all(is_problem(a, 404) for a in answers.values())
    assert listed == {"items": [], "nextCursor": None}
    assert by_demo_client["items"] == []
    assert is_problem(foreign_cursor, 400)
    assert qb_writes(local_stack, realm) == {}


# -- (3) deleted in Books360 ----------------------------------------------------------------------------------


def test_invoice_deleted_in_books360_leaves_the_tab_at_once_and_quickbooks_soon(local_stack, demo_realm):
    # GIVEN the demo invoice synced (a no-op when the flow above already did it)
    with local_stack.client(DEMO) as api:
        synced = api.post(f"/quickbooks/invoices/{SYNCED}/sync")
    assert synced.status_code == 200, synced.text
    (qb_invoice_id,) = synced.json()["qbInvoiceIds"]
    (qb_payment_id,) = synced.json()["qbPaymentIds"]
    assert qb_read(local_stack, demo_realm, "invoice", qb_invoice_id).status_code == 200
    writes_before = qb_writes(local_stack, demo_realm)

    # WHEN Books360 publishes its deletion
    detail = {"tenantId": DEMO, "version": INVOICES[SYNCED]["version"] + 1, "invoiceId": SYNCED}
    put = local_stack.put_events(
        {"Source": "books360.accounting", "DetailType": "InvoiceDeleted", "Detail": json.dumps(detail)}
    )
    assert put["FailedEntryCount"] == 0, put

    # THEN the tab no longer has it as soon as the event is answered
    with local_stack.client(DEMO) as api:
        rows = all_pages(api, limit=100)
        preview = api.get(f"/quickbooks/invoices/{SYNCED}/sync-preview")
    assert SYNCED not in [r["invoiceId"] for r in rows]
    assert len(rows) == len(INVOICES) - 1
    assert is_problem(preview, 404)

    # ... and within a few seconds QuickBooks no longer has its invoice nor its payment
    started = time.monotonic()
    while True:
        seen = {
            "invoice": qb_read(local_stack, demo_realm, "invoice", qb_invoice_id),
            "payment": qb_read(local_stack, demo_realm, "payment", qb_payment_id),
        }
        if all(a.status_code != 200 for a in seen.values()):
            break
        if time.monotonic() - started > DELETION_TIMEOUT:
            pytest.fail(
                f"still in QuickBooks after {DELETION_TIMEOUT} s: "
                f"{[k for k, a in seen.items() if a.status_code == 200]}\n{local_stack.output(60)}"
            )
        time.sleep(0.25)
    for answer in seen.values():
        assert answer.status_code == 400, answer.text
        assert answer.json()["Fault"]["Error"][0]["code"] == "610"
    assert qb_query(local_stack, demo_realm, "Invoice", f"DocNumber = '{INVOICES[SYNCED]['number']}'") == []
    writes_after = qb_writes(local_stack, demo_realm)
    assert writes_after.get("POST invoice", 0) - writes_before.get("POST invoice", 0) == 1
    assert writes_after.get("POST payment", 0) - writes_before.get("POST payment", 0) == 1
    # The customer stays: only the invoice was deleted in Books360.
    assert CLIENTS[INVOICES[SYNCED]["clientId"]]["name"] in qb_names(local_stack, demo_realm, CUSTOMER)


# -- (4) QuickBooks faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "invoice_id"),
    [(503, "inv-008"), (0, "inv-009")],
    ids=["503-before-writing", "connection-dropped-after-writing"],
)
def test_fault_at_the_invoice_create_still_ends_with_one_quickbooks_invoice(
    local_stack, demo_realm, status, invoice_id
):
    # GIVEN the demo company fails the next invoice write once
    number = INVOICES[invoice_id]["number"]
    assert qb_query(local_stack, demo_realm, "Invoice", f"DocNumber = '{number}'") == []
    before = qb_writes(local_stack, demo_realm).get("POST invoice", 0)
    rule = {"realmId": demo_realm, "method": "POST", "entity": "invoice", "status": status, "count": 1}
    emulator(local_stack, "POST", "/_admin/faults", json=rule)

    # WHEN the admin syncs a demo invoice
    with local_stack.client(DEMO) as api:
        synced = api.post(f"/quickbooks/invoices/{invoice_id}/sync")
        row = row_of(api, invoice_id)

    # THEN the sync retried through it and QuickBooks holds exactly one invoice for it
    assert synced.status_code == 200, synced.text
    rules = emulator(local_stack, "GET", "/_admin/faults")["rules"]
    assert [r for r in rules if r["realmId"] == demo_realm] == []  # the fault was met (other tests' rules aside)
    assert qb_writes(local_stack, demo_realm).get("POST invoice", 0) - before == 2
    found = qb_query(local_stack, demo_realm, "Invoice", f"DocNumber = '{number}'")
    assert [f["Id"] for f in found] == synced.json()["qbInvoiceIds"]
    assert row is not None
    assert (row["syncStatus"], row["qbInvoiceIds"]) == ("synced", synced.json()["qbInvoiceIds"])


# -- (5) problems ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/quickbooks/invoices/no-such-invoice/sync-preview"),
        ("POST", "/quickbooks/invoices/no-such-invoice/sync"),
        ("GET", "/quickbooks/invoices/no-such-invoice/qb"),
        ("DELETE", "/quickbooks/invoices/no-such-invoice/qb-link"),
    ],
    ids=["preview", "sync", "view", "unlink"],
)
def test_unknown_invoice_is_a_404_problem(local_stack, demo_realm, method, path):
    with local_stack.client(DEMO) as api:
        answer = api.request(method, path)

    assert is_problem(answer, 404), answer.text


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"limit": 0}, 422, "limit"),
        ({"limit": 101}, 422, "limit"),
        ({"cursor": "Zm9v.YmFy"}, 400, "cursor"),
        ({"syncStatus": "maybe"}, 422, "syncStatus"),
        ({"dateFrom": "yesterday"}, 422, "dateFrom"),
        ({"dateFrom": "2026-11-02", "dateTo": "2026-11-01"}, 422, "dateTo"),
    ],
    ids=["limit-0", "limit-101", "tampered-cursor", "bad-sync-status", "bad-date", "dates-reversed"],
)
def test_list_bad_query_is_a_problem_naming_the_parameter(local_stack, demo_realm, params, status, field):
    with local_stack.client(DEMO) as api:
        answer = api.get("/quickbooks/invoices", params=params)

    assert is_problem(answer, status), answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_list_cursor_of_other_filters_is_a_400(local_stack, demo_realm):
    with local_stack.client(DEMO) as api:
        cursor = api.get("/quickbooks/invoices", params={"limit": 1}).json()["nextCursor"]
        answer = api.get("/quickbooks/invoices", params={"limit": 1, "cursor": cursor, "syncStatus": "unsynced"})

    assert is_problem(answer, 400), answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["cursor"]

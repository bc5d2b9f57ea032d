"""The Invoices tab (contract: "Invoices tab", "How Books360 objects become QuickBooks objects") through the API and
sync_invoice handlers, moto and the QuickBooks emulator; the InvoiceDeleted event through the books360_events
function, the bulk queue in moto and the bulk_sync worker.

What QuickBooks holds is checked as the company's own user would see it (``Bookkeeper``, the emulator's admin
token), never through our stored links.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared import wiring
from shared.domain.parties import CUSTOMER
from shared.services.books360_events import apply_event
from tests.conftest import load_function
from tests.integration.test_api_parties import QuickBooksUser, calls, qb_calls_since, seed
from tests.integration.test_bulk_jobs import Bulk, bulk  # noqa: F401 - bulk: the queue fixture the worker drains
from tests.support.events import LambdaContext, eventbridge_event

TODAY = datetime.now(UTC).date()
NOT_DUE = (TODAY + timedelta(days=30)).isoformat()
PAST_DUE = (TODAY - timedelta(days=10)).isoformat()
CONTRACT_COLUMNS = {
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

events_function = load_function("books360_events")


# -- builders ---------------------------------------------------------------------------------------------------


def transaction(tid: str, day: str, amount: str, description: str | None = None) -> dict[str, Any]:
    return {"id": tid, "date": day, "description": description or f"Ad spend {tid}", "amount": amount}


def payment(pid: str, day: str, amount: str, system: str | None = "stripe", broker: str | None = None) -> dict:
    return {"id": pid, "date": day, "amount": amount, "paymentSystem": system, "brokerId": broker}


def invoice_detail(invoice_id: str, client_id: str, *, version: int, tenant: str, **overrides: Any) -> dict[str, Any]:
    """Books360's InvoiceUpserted detail: 150.10 over two transactions (Sep, Oct), 120.00 paid, due in a month."""
    return {
        "tenantId": tenant,
        "version": version,
        "invoiceId": invoice_id,
        "clientId": client_id,
        "number": "B360-1001",
        "createdAt": "2026-10-28T09:00:00Z",
        "dateFrom": "2026-09-01",
        "dateTo": "2026-10-28",
        "dueDate": NOT_DUE,
        "currency": "USD",
        "customFields": {"CampaignId": "CMP-1", "Region": "EMEA", "Clicks": "12"},
        "transactions": [
            transaction("t1", "2026-09-05", "100.10", "Ad spend"),
            transaction("t2", "2026-10-05", "50.00", "Fee"),
        ],
        "payments": [payment("p1", "2026-10-27", "120.00")],
        **overrides,
    }


def publish_invoice(invoice_id: str, client_id: str = "c-1", *, version: int = 1, tenant: str = "t1", **overrides):
    """Books360 publishes InvoiceUpserted (through the same service the events function runs)."""
    detail = invoice_detail(invoice_id, client_id, version=version, tenant=tenant, **overrides)
    outcome = apply_event(wiring.books360_store(), "InvoiceUpserted", detail, event_id=f"{invoice_id}-{version}")
    assert outcome.status == "applied", outcome


def client(
    client_id: str = "c-1", name: str = "Acme Corp", *, tenant: str = "t1", email: str | None = "ap@acme.example"
):
    seed(CUSTOMER, client_id, name, tenant=tenant, email=email)


def delete_in_books360(invoice_id: str, *, version: int = 99, tenant: str = "t1") -> dict[str, Any]:
    """Books360 publishes InvoiceDeleted, delivered to the books360_events function as EventBridge would."""
    detail = {"tenantId": tenant, "version": version, "invoiceId": invoice_id}
    return dict(events_function.lambda_handler(eventbridge_event("InvoiceDeleted", detail), LambdaContext()))


# -- the tab, as the UI calls it --------------------------------------------------------------------------------


def sync(stack, invoice_id: str, *, tenant: str = "t1") -> tuple[int, Any]:
    answer = stack.call("sync_invoice", "POST", f"/quickbooks/invoices/{invoice_id}/sync", tenant=tenant)
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def synced(stack, invoice_id: str) -> dict[str, Any]:
    status, body = sync(stack, invoice_id)
    assert status == 200, body
    return dict(body)


def listing(stack, *, tenant: str = "t1", **query: str) -> tuple[int, Any]:
    return stack.api("GET", "/quickbooks/invoices", query=query or None, tenant=tenant)


def row(stack, invoice_id: str) -> dict[str, Any]:
    status, page = listing(stack, limit="100")
    assert status == 200, page
    (found,) = [item for item in page["items"] if item["invoiceId"] == invoice_id]
    return dict(found)


def every_page(stack, **query: str) -> tuple[list[str], int]:
    """The invoice ids of every page reached through nextCursor, and how many pages it took."""
    ids: list[str] = []
    cursor = None
    for pages in range(1, 60):
        status, page = listing(stack, **query, **({"cursor": cursor} if cursor else {}))
        assert status == 200, page
        ids += [item["invoiceId"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return ids, pages
    raise AssertionError("the cursor never ended")


def preview(stack, invoice_id: str, *, tenant: str = "t1") -> dict[str, Any]:
    status, body = stack.api("GET", f"/quickbooks/invoices/{invoice_id}/sync-preview", tenant=tenant)
    assert status == 200, body
    return dict(body)


def settings(stack, **changes: Any) -> dict[str, Any]:
    """PUT /quickbooks/settings: the stored document with ``changes``."""
    status, document = stack.api("GET", "/quickbooks/settings")
    assert status == 200, document
    status, stored = stack.api("PUT", "/quickbooks/settings", body={**document, **changes})
    assert status == 200, stored
    return dict(stored)


def writes(counts: dict[str, int]) -> dict[str, int]:
    """The emulator calls that change something: every POST but a query."""
    return {k: v for k, v in counts.items() if k.startswith("POST ") and k != "POST query"}


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


# -- QuickBooks, as its own user sees it ------------------------------------------------------------------------


@dataclass
class Bookkeeper(QuickBooksUser):
    """Someone working in the QuickBooks company: reads and deletes what our sync wrote."""

    def query(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        statement = f"SELECT * FROM {entity}{' WHERE ' + where if where else ''} MAXRESULTS 1000"
        answer = self.http.get(
            f"/v3/company/{self.realm_id}/query", params={"query": statement}, headers=self._headers()
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["QueryResponse"].get(entity, []))

    def read(self, entity: str, qb_id: str) -> dict[str, Any] | None:
        answer = self.http.get(f"/v3/company/{self.realm_id}/{entity.lower()}/{qb_id}", headers=self._headers())
        if answer.status_code == 400 and "Object Not Found" in answer.text:
            return None
        assert answer.status_code == 200, answer.text
        return dict(answer.json()[entity])

    def delete(self, entity: str, qb_id: str) -> None:
        record = self.read(entity, qb_id)
        assert record is not None
        answer = self.http.post(
            f"/v3/company/{self.realm_id}/{entity.lower()}",
            params={"operation": "delete"},
            json={"Id": record["Id"], "SyncToken": record["SyncToken"]},
            headers=self._headers(),
        )
        assert answer.status_code == 200, answer.text

    def invoices(self) -> list[dict[str, Any]]:
        return sorted(self.query("Invoice"), key=lambda i: int(i["Id"]))


def lines_of(qb_invoice: dict[str, Any]) -> list[tuple[str, Decimal, str | None]]:
    """The sales lines as the invoice form shows them: description, amount, service date."""
    return [
        (line.get("Description", ""), money(line["Amount"]), line["SalesItemLineDetail"].get("ServiceDate"))
        for line in qb_invoice["Line"]
        if line["DetailType"] == "SalesItemLineDetail"
    ]


def applied_to(qb_payment: dict[str, Any]) -> dict[str, Decimal]:
    """QuickBooks invoice id -> the amount of this payment applied to it."""
    found: dict[str, Decimal] = {}
    for line in qb_payment.get("Line", []):
        for linked in line.get("LinkedTxn", []):
            if linked["TxnType"] == "Invoice":
                found[linked["TxnId"]] = found.get(linked["TxnId"], Decimal(0)) + money(line["Amount"])
    return found


@pytest.fixture
def realm(stack) -> str:
    return stack.connect()


@pytest.fixture
def qb(stack, realm) -> Bookkeeper:
    token = stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    return Bookkeeper(stack.http, realm, token)


@pytest.fixture
def lists(stack, realm) -> dict[str, Any]:
    """ "Update Lists" pressed: the company's bank accounts and payment methods as the settings screen offers them."""
    answer = stack.call("list_refresh", "POST", "/quickbooks/lists/refresh")
    assert answer["statusCode"] == 200, answer
    status, found = stack.api("GET", "/quickbooks/lists")
    assert status == 200, found
    return dict(found)


def linkable_accounts(lists: dict[str, Any]) -> list[str]:
    return [a["id"] for a in lists["bankAccounts"] if a["linkable"] and a["active"]]


def payment_method(lists: dict[str, Any], name: str) -> str:
    return next(m["id"] for m in lists["paymentMethods"] if m["name"] == name)


# --- the list ----------------------------------------------------------------------------------------------


def test_list_invoices_shows_every_contract_column(stack, realm):
    # GIVEN a paid, a not paid (partly paid) and an overdue invoice, the partly paid one synced
    client("c-1", "Acme Corp")
    client("c-2", "Globex")
    publish_invoice("i-1")
    publish_invoice("i-2", "c-2", payments=[payment("p1", "2026-10-27", "150.10")], dueDate=PAST_DUE)
    publish_invoice("i-3", "c-2", payments=[], dueDate=PAST_DUE)
    answer = synced(stack, "i-1")

    # WHEN the tab is listed
    status, page = listing(stack)

    # THEN every column is there, money as two-decimal strings, the status from the Books360 invoice
    assert status == 200, page
    assert page["nextCursor"] is None
    partly, paid, late = page["items"]
    assert all(set(item) == CONTRACT_COLUMNS for item in page["items"])
    assert partly == {
        "invoiceId": "i-1",
        "clientId": "c-1",
        "clientName": "Acme Corp",
        "number": "B360-1001",
        "date": "2026-10-28",
        "status": "not_paid",
        "amount": "150.10",
        "paid": "120.00",
        "due": "30.10",
        "qbInvoiceIds": answer["qbInvoiceIds"],
        "syncStatus": "synced",
        "syncedAt": answer["syncedAt"],
        "lastError": None,
    }
    assert partly["syncedAt"].endswith("Z")
    assert (paid["status"], paid["paid"], paid["due"], paid["clientName"]) == ("paid", "150.10", "0.00", "Globex")
    assert (late["status"], late["paid"], late["due"]) == ("overdue", "0.00", "150.10")
    assert (late["syncStatus"], late["qbInvoiceIds"], late["syncedAt"], late["lastError"]) == (
        "unsynced",
        [],
        None,
        None,
    )


def test_list_invoices_refused_sync_shows_failed_with_quickbooks_words(stack, realm, qb):
    # GIVEN an invoice whose client QuickBooks refuses (its email is no email address)
    client(email="ap at acme")
    publish_invoice("i-1", payments=[])

    # WHEN it is synced
    status, problem = sync(stack, "i-1")

    # THEN the sync is refused with QuickBooks' message, and the list shows it failed, saying why
    assert status == 502, problem
    item = row(stack, "i-1")
    assert item["syncStatus"] == "failed"
    assert "email" in (item["lastError"] or "").lower()
    assert [i["invoiceId"] for i in listing(stack, syncStatus="failed")[1]["items"]] == ["i-1"]
    assert qb.invoices() == []


FILTER_CASES: list[tuple[dict[str, str], list[str]]] = [
    ({"client": "c-1"}, ["i-1", "i-4"]),
    ({"client": "acme"}, ["i-1", "i-2", "i-4"]),
    ({"client": "hOLDings"}, ["i-2"]),
    ({"client": "c-9"}, []),
    ({"dateFrom": "2026-10-15"}, ["i-2", "i-3", "i-4"]),
    ({"dateTo": "2026-10-31"}, ["i-1", "i-2", "i-3"]),
    ({"dateFrom": "2026-10-15", "dateTo": "2026-10-15"}, ["i-2"]),
    ({"dateFrom": "2026-11-01", "dateTo": "2026-11-01"}, ["i-4"]),
    ({"syncStatus": "synced"}, ["i-2"]),
    ({"syncStatus": "unsynced"}, ["i-1", "i-4"]),
    ({"syncStatus": "failed"}, ["i-3"]),
    ({"client": "ACME", "syncStatus": "unsynced", "dateTo": "2026-10-31"}, ["i-1"]),
]


def test_list_invoices_filters_by_client_creation_date_and_sync_status(stack, realm):
    # GIVEN i-1 Acme Corp (Oct 1), i-2 Acme Holdings (Oct 15, synced), i-3 Globex (Oct 31 23:30 UTC, refused by
    # QuickBooks: failed), i-4 Acme Corp (Nov 1 00:00 UTC)
    client("c-1", "Acme Corp")
    client("c-2", "Acme Holdings")
    client("c-3", "Globex", email="ap at globex")
    publish_invoice("i-1", "c-1", createdAt="2026-10-01T12:00:00Z")
    publish_invoice("i-2", "c-2", createdAt="2026-10-15T08:00:00Z")
    publish_invoice("i-3", "c-3", createdAt="2026-10-31T23:30:00Z")
    publish_invoice("i-4", "c-1", createdAt="2026-11-01T00:00:00Z")
    synced(stack, "i-2")
    assert sync(stack, "i-3")[0] == 502

    # WHEN the tab is filtered each way (one stack for all: each case is a read)
    shown = {}
    for query, _ in FILTER_CASES:
        status, page = listing(stack, **query)
        shown[str(query)] = [item["invoiceId"] for item in page["items"]] if status == 200 else status

    # THEN exactly the matching invoices show: the client by exact id or part of the name in any case, the
    # creation date with both ends included, the sync status in the connected company
    assert shown == {str(query): expected for query, expected in FILTER_CASES}


def test_list_invoices_following_cursor_visits_every_invoice_exactly_once(stack, realm):
    # GIVEN 7 invoices
    client()
    ids = [f"i-{n}" for n in range(7)]
    for invoice_id in ids:
        publish_invoice(invoice_id)

    # WHEN every page is read through nextCursor, at several page sizes
    visits = {limit: every_page(stack, limit=limit) for limit in ("1", "3", "7", "100")}

    # THEN each invoice shows exactly once, in as many pages as the limit makes (a page filled exactly is the last)
    assert visits == {"1": (ids, 7), "3": (ids, 3), "7": (ids, 1), "100": (ids, 1)}


def test_list_invoices_cursor_with_a_filter_visits_each_match_once(stack, realm):
    # GIVEN 9 invoices, 5 of them for clients named Acme
    client("c-1", "Acme Corp")
    client("c-2", "Globex")
    for n in range(9):
        publish_invoice(f"i-{n}", "c-1" if n % 2 == 0 else "c-2")

    # WHEN the filtered list is read two at a time
    seen, taken = every_page(stack, client="acme", limit="2")

    # THEN each match shows once
    assert seen == ["i-0", "i-2", "i-4", "i-6", "i-8"]
    assert taken >= 3


INVALID_QUERIES: list[tuple[dict[str, str], str]] = [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"syncStatus": "deleted"}, "syncStatus"),
    ({"dateFrom": "2026-13-01"}, "dateFrom"),
]


def test_list_invoices_invalid_parameter_returns_422_naming_it(stack, realm):
    # WHEN the tab is asked with a parameter out of its range
    answers = {str(query): listing(stack, **query) for query, _ in INVALID_QUERIES}

    # THEN each is a 422 naming that parameter
    named = {query: (status, [e["field"] for e in problem["errors"]]) for query, (status, problem) in answers.items()}
    assert named == {str(query): (422, [field]) for query, field in INVALID_QUERIES}


def test_list_invoices_date_to_before_date_from_returns_422(stack, realm):
    status, problem = listing(stack, dateFrom="2026-10-15", dateTo="2026-10-14")

    assert status == 422, problem
    assert problem["errors"] and {e["field"] for e in problem["errors"]} <= {"dateFrom", "dateTo"}


def test_list_invoices_tampered_cursor_returns_400(stack, realm):
    # GIVEN a genuine cursor, altered in its position part
    client()
    for n in range(4):
        publish_invoice(f"i-{n}")
    cursor = listing(stack, limit="2")[1]["nextCursor"]
    position, signature = cursor.split(".")
    tampered = ("A" if position[0] != "A" else "B") + position[1:] + "." + signature

    # WHEN it is used, and so is garbage
    answers = [listing(stack, limit="2", cursor=c) for c in (tampered, "garbage", cursor + "x")]

    # THEN each is a 400, never a 500
    assert [status for status, _ in answers] == [400, 400, 400]


def test_list_invoices_cursor_of_another_filter_or_tenant_returns_400(stack, realm):
    # GIVEN a cursor t1 got for its unfiltered list, and t2 with invoices of the same ids
    client()
    client(tenant="t2")
    for n in range(4):
        publish_invoice(f"i-{n}")
        publish_invoice(f"i-{n}", tenant="t2")
    cursor = listing(stack, limit="2")[1]["nextCursor"]

    # WHEN t1 uses it with a filter, and t2 uses it as is
    other_filter = listing(stack, limit="2", cursor=cursor, client="acme")
    other_dates = listing(stack, limit="2", cursor=cursor, dateFrom="2026-01-01")
    other_tenant = listing(stack, tenant="t2", limit="2", cursor=cursor)

    # THEN all are refused, and the cursor still works where it was given
    assert [answer[0] for answer in (other_filter, other_dates, other_tenant)] == [400, 400, 400]
    assert listing(stack, limit="2", cursor=cursor)[0] == 200


def test_list_invoices_shows_only_own_tenants_invoices(stack, realm):
    # GIVEN t1's synced invoice, and t2 connected to the same company
    client()
    publish_invoice("i-1")
    synced(stack, "i-1")
    stack.connect(tenant="t2", realm_id=realm)

    # WHEN t2 lists its tab, in every sync status
    answers = [listing(stack, tenant="t2", **q) for q in ({}, {"syncStatus": "synced"}, {"client": "acme"})]

    # THEN it sees none of t1's invoices
    assert [(status, page["items"]) for status, page in answers] == [(200, [])] * 3


def test_invoice_of_another_tenant_returns_404_everywhere(stack, realm, qb):
    # GIVEN t1's synced invoice, and t2 connected to the same company
    client()
    publish_invoice("i-1")
    synced(stack, "i-1")
    stack.connect(tenant="t2", realm_id=realm)
    before = calls(stack, realm)

    # WHEN t2 previews, syncs, views and unlinks it
    answers = [
        stack.api("GET", "/quickbooks/invoices/i-1/sync-preview", tenant="t2")[0],
        sync(stack, "i-1", tenant="t2")[0],
        stack.api("GET", "/quickbooks/invoices/i-1/qb", tenant="t2")[0],
        stack.api("DELETE", "/quickbooks/invoices/i-1/qb-link", tenant="t2")[0],
    ]

    # THEN each is a 404, nothing was written, and t1's invoice stays synced
    assert answers == [404, 404, 404, 404]
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}
    assert row(stack, "i-1")["syncStatus"] == "synced"
    assert len(qb.invoices()) == 1


# --- the Sync with QB pop-up -------------------------------------------------------------------------------


def test_sync_preview_unlinked_client_shows_everything_the_sync_would_write(stack, realm, qb, lists):
    # GIVEN custom field sync on, stripe payments mapped, defaults for the rest
    bank, other_bank = linkable_accounts(lists)[:2]
    visa, cash = payment_method(lists, "Visa"), payment_method(lists, "Cash")
    settings(
        stack,
        syncCustomFields=True,
        paymentMethodMappings=[
            {"paymentSystem": "stripe", "brokerId": None, "bankAccountId": bank, "paymentMethodId": visa}
        ],
        defaults={"bankAccountId": other_bank, "paymentMethodId": cash},
    )
    client()
    publish_invoice(
        "i-1", payments=[payment("p1", "2026-10-20", "100.00"), payment("p2", "2026-10-27", "20.00", system="wire")]
    )
    before = calls(stack, realm)

    # WHEN the pop-up opens
    shown = preview(stack, "i-1")

    # THEN it shows the customer to create, the invoice, its payments and the custom fields that have no home
    assert shown["invoiceId"] == "i-1"
    assert shown["customer"] == {
        "clientId": "c-1",
        "displayName": "Acme Corp",
        "qbCustomerId": None,
        "action": "create",
    }
    assert shown["documents"] == [
        {
            "docNumber": "B360-1001",
            "txnDate": "2026-10-28",
            "dueDate": NOT_DUE,
            "amount": "150.10",
            "lines": [
                {"description": "Ad spend", "amount": "100.10", "serviceDate": "2026-09-05"},
                {"description": "Fee", "amount": "50.00", "serviceDate": "2026-10-05"},
            ],
            "customFields": [{"name": "CampaignId", "value": "CMP-1"}, {"name": "Region", "value": "EMEA"}],
            "qbInvoiceId": None,
            "action": "create",
        }
    ]
    assert shown["payments"] == [
        {
            "paymentId": "p1",
            "amount": "100.00",
            "bankAccountId": bank,
            "paymentMethodId": visa,
            "qbPaymentId": None,
            "action": "create",
        },
        {
            "paymentId": "p2",
            "amount": "20.00",
            "bankAccountId": other_bank,
            "paymentMethodId": cash,
            "qbPaymentId": None,
            "action": "create",
        },
    ]
    assert shown["unmappedCustomFields"] == ["Clicks"]
    assert shown["problems"] == []
    # AND it wrote nothing: no write reached QuickBooks, nothing new there, the invoice still unsynced
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}
    assert (qb.query("Customer"), qb.invoices(), qb.query("Item", "Name LIKE 'Books360%'")) == ([], [], [])
    assert row(stack, "i-1")["syncStatus"] == "unsynced"


def test_sync_preview_linked_client_shows_linked_customer(stack, realm):
    # GIVEN a client already linked on the customers tab
    client()
    status, linked = stack.api("POST", "/quickbooks/customers/c-1/sync", body={"create": True})
    assert status == 200, linked
    publish_invoice("i-1")

    # WHEN the pop-up opens
    shown = preview(stack, "i-1")

    # THEN the customer is the linked one
    assert shown["customer"] == {
        "clientId": "c-1",
        "displayName": "Acme Corp",
        "qbCustomerId": linked["qbCustomerId"],
        "action": "linked",
    }


def test_sync_preview_client_without_email_shows_the_problem(stack, realm):
    client(email=None)
    publish_invoice("i-1")

    shown = preview(stack, "i-1")

    assert [p["field"] for p in shown["problems"]] == ["client.email"]


def test_sync_preview_after_changes_shows_update_delete_and_unchanged_and_writes_nothing(stack, realm):
    # GIVEN a synced invoice, then changed in Books360: new amount, payment p1 removed
    client()
    publish_invoice("i-1")
    answer = synced(stack, "i-1")
    assert preview(stack, "i-1")["documents"][0]["action"] == "unchanged"
    publish_invoice("i-1", version=2, transactions=[transaction("t1", "2026-09-05", "200.00")], payments=[])
    before = calls(stack, realm)

    # WHEN the pop-up opens
    shown = preview(stack, "i-1")

    # THEN the invoice is an update of the same QuickBooks invoice, the payment a delete
    assert [(d["action"], d["qbInvoiceId"], d["amount"]) for d in shown["documents"]] == [
        ("update", answer["qbInvoiceIds"][0], "200.00")
    ]
    assert [(p["paymentId"], p["action"], p["qbPaymentId"]) for p in shown["payments"]] == [
        ("p1", "delete", answer["qbPaymentIds"][0])
    ]
    assert shown["customer"]["action"] == "linked"
    # AND nothing was written, the list still says synced
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}
    item = row(stack, "i-1")
    assert (item["syncStatus"], item["syncedAt"], item["amount"]) == ("synced", answer["syncedAt"], "200.00")


# --- Sync with QB ------------------------------------------------------------------------------------------


def test_sync_invoice_unlinked_client_creates_customer_then_invoice_and_payment(stack, realm, qb):
    # GIVEN an unlinked client with an email and its partly paid invoice
    client()
    publish_invoice("i-1")

    # WHEN it is synced
    status, answer = sync(stack, "i-1")

    # THEN the answer has the contract's shape
    assert status == 200, answer
    assert set(answer) == {"invoiceId", "qbInvoiceIds", "qbPaymentIds", "customerCreated", "syncedAt"}
    assert (answer["invoiceId"], answer["customerCreated"]) == ("i-1", True)
    assert answer["syncedAt"].endswith("Z")
    # AND the customer was created and linked (the customers tab shows it synced)
    (customer,) = qb.query("Customer")
    assert (customer["DisplayName"], customer["PrimaryEmailAddr"]["Address"]) == ("Acme Corp", "ap@acme.example")
    tab = stack.api("GET", "/quickbooks/customers", query={"client": "c-1"})[1]["items"][0]
    assert (tab["status"], tab["qbCustomerId"]) == ("synced", customer["Id"])
    # AND QuickBooks holds the invoice as Books360 has it, on the Books360 Service item
    (invoice,) = qb.invoices()
    assert answer["qbInvoiceIds"] == [invoice["Id"]]
    assert invoice["CustomerRef"]["value"] == customer["Id"]
    assert (invoice["DocNumber"], invoice["TxnDate"], invoice["DueDate"]) == ("B360-1001", "2026-10-28", NOT_DUE)
    assert lines_of(invoice) == [
        ("Ad spend", Decimal("100.10"), "2026-09-05"),
        ("Fee", Decimal("50.00"), "2026-10-05"),
    ]
    (item,) = qb.query("Item", "Name = 'Books360 Service'")
    assert item["Type"] == "Service"
    assert {
        line["SalesItemLineDetail"]["ItemRef"]["value"] for line in invoice["Line"] if "SalesItemLineDetail" in line
    } == {item["Id"]}
    assert "i-1" in invoice["PrivateNote"]
    # AND the payment is applied to it: the balance is what is still due
    (paid,) = qb.query("Payment")
    assert answer["qbPaymentIds"] == [paid["Id"]]
    assert (money(paid["TotalAmt"]), paid["TxnDate"], paid["CustomerRef"]["value"]) == (
        Decimal("120.00"),
        "2026-10-27",
        customer["Id"],
    )
    assert applied_to(paid) == {invoice["Id"]: Decimal("120.00")}
    assert (money(invoice["TotalAmt"]), money(invoice["Balance"])) == (Decimal("150.10"), Decimal("30.10"))


def test_sync_invoice_writes_custom_fields_and_mapped_payment_accounts(stack, realm, qb, lists):
    # GIVEN custom field sync on and stripe mapped to a bank account and Visa
    bank = linkable_accounts(lists)[0]
    visa = payment_method(lists, "Visa")
    settings(
        stack,
        syncCustomFields=True,
        paymentMethodMappings=[
            {"paymentSystem": "stripe", "brokerId": None, "bankAccountId": bank, "paymentMethodId": visa}
        ],
    )
    client()
    publish_invoice("i-1")

    # WHEN it is synced
    synced(stack, "i-1")

    # THEN the invoice carries the custom fields QuickBooks has, and the payment goes to the mapped account
    (invoice,) = qb.invoices()
    assert {f["Name"]: f.get("StringValue") for f in invoice["CustomField"] if f.get("StringValue")} == {
        "CampaignId": "CMP-1",
        "Region": "EMEA",
    }
    (paid,) = qb.query("Payment")
    assert (paid["DepositToAccountRef"]["value"], paid["PaymentMethodRef"]["value"]) == (bank, visa)


def test_sync_invoice_client_without_email_returns_422_and_writes_nothing(stack, realm, qb):
    # GIVEN a client without email
    client(email=None)
    publish_invoice("i-1")
    before = calls(stack, realm)

    # WHEN the invoice is synced
    status, problem = sync(stack, "i-1")

    # THEN 422 names client.email, and nothing was written in QuickBooks
    assert status == 422, problem
    assert "client.email" in [e["field"] for e in problem["errors"]]
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}
    assert (qb.query("Customer"), qb.invoices()) == ([], [])
    assert row(stack, "i-1")["syncStatus"] == "unsynced"


def test_sync_invoice_client_name_taken_by_quickbooks_customer_returns_409_naming_it(stack, realm, qb):
    # GIVEN QuickBooks already has a customer with the client's name
    holder = qb.create("Customer", DisplayName="Acme Corp")
    client()
    publish_invoice("i-1")

    # WHEN the invoice is synced
    status, problem = sync(stack, "i-1")

    # THEN 409 names that customer (link it instead), and no invoice was written
    assert status == 409, problem
    assert holder["Id"] in problem["detail"]
    assert problem.get("qbCustomerId") == holder["Id"]
    assert qb.invoices() == []
    assert len(qb.query("Customer")) == 1


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("dateTo", "2026-10-28"), ("creationDate", "2026-10-20"), ("syncDate", "today")],
)
def test_sync_invoice_invoice_date_setting_sets_txn_date(stack, realm, qb, choice, expected):
    # GIVEN an invoice created on Oct 20 covering up to Oct 28
    settings(stack, invoiceDate=choice)
    client()
    publish_invoice("i-1", createdAt="2026-10-20T23:00:00Z")

    # WHEN it is synced
    synced(stack, "i-1")

    # THEN TxnDate follows the setting (syncDate: today in UTC)
    (invoice,) = qb.invoices()
    assert invoice["TxnDate"] == (datetime.now(UTC).date().isoformat() if expected == "today" else expected)


def test_sync_invoice_one_transaction_invoice_writes_one_rendered_line(stack, realm, qb):
    # GIVEN One Transaction Invoice on, with the guide's description
    settings(
        stack,
        oneTransactionInvoice=True,
        oneTransactionDescription="Invoice: {invoiceNumber} / {invoiceDate} / {client}",
    )
    client(name="Acme")
    publish_invoice("i-1")

    # WHEN it is synced
    synced(stack, "i-1")

    # THEN one line holds the sum, described as the template renders it
    (invoice,) = qb.invoices()
    assert [(d, a) for d, a, _ in lines_of(invoice)] == [
        ("Invoice: B360-1001 / Oct 28, 2026 / Acme", Decimal("150.10"))
    ]
    assert money(invoice["Balance"]) == Decimal("30.10")


def test_sync_invoice_product_item_type_uses_books360_product(stack, realm, qb):
    settings(stack, itemType="product")
    client()
    publish_invoice("i-1")

    synced(stack, "i-1")

    (item,) = qb.query("Item", "Name LIKE 'Books360%'")
    assert (item["Name"], item["Type"]) == ("Books360 Product", "NonInventory")
    (invoice,) = qb.invoices()
    assert all(
        line["SalesItemLineDetail"]["ItemRef"]["value"] == item["Id"]
        for line in invoice["Line"]
        if "SalesItemLineDetail" in line
    )


def test_sync_invoice_number_over_21_characters_keeps_the_last_21_and_notes_the_full_one(stack, realm, qb):
    client()
    publish_invoice("i-1", number="CAMPAIGN-2026-ACME-CORP-0001")

    synced(stack, "i-1")

    (invoice,) = qb.invoices()
    assert invoice["DocNumber"] == "CAMPAIGN-2026-ACME-CORP-0001"[-21:]
    assert "CAMPAIGN-2026-ACME-CORP-0001" in invoice["PrivateNote"]


# --- syncing again -----------------------------------------------------------------------------------------


def test_resync_unchanged_invoice_writes_nothing(stack, realm, qb):
    # GIVEN a synced invoice
    client()
    publish_invoice("i-1")
    first = synced(stack, "i-1")
    before = calls(stack, realm)

    # WHEN it is synced again without a change
    again = synced(stack, "i-1")

    # THEN the same objects, no write, at most one read
    assert (again["qbInvoiceIds"], again["qbPaymentIds"], again["customerCreated"]) == (
        first["qbInvoiceIds"],
        first["qbPaymentIds"],
        False,
    )
    since = qb_calls_since(before, calls(stack, realm))
    assert writes(since) == {}
    assert sum(since.values()) <= 1
    assert len(qb.invoices()) == 1 and len(qb.query("Payment")) == 1


def test_resync_after_books360_change_updates_the_same_quickbooks_invoice(stack, realm, qb):
    # GIVEN a synced invoice
    client()
    publish_invoice("i-1")
    first = synced(stack, "i-1")
    (before,) = qb.invoices()

    # WHEN Books360 changes its amount (a new version) and it is synced again
    publish_invoice(
        "i-1",
        version=2,
        transactions=[transaction("t1", "2026-09-05", "200.00", "Ad spend"), transaction("t3", "2026-10-09", "5.55")],
    )
    again = synced(stack, "i-1")

    # THEN the same QuickBooks invoice holds the new content, with a later SyncToken; no second copy
    (after,) = qb.invoices()
    assert again["qbInvoiceIds"] == first["qbInvoiceIds"] == [after["Id"]] == [before["Id"]]
    assert int(after["SyncToken"]) > int(before["SyncToken"])
    assert money(after["TotalAmt"]) == Decimal("205.55")
    assert lines_of(after) == [
        ("Ad spend", Decimal("200.00"), "2026-09-05"),
        ("Ad spend t3", Decimal("5.55"), "2026-10-09"),
    ]
    assert money(after["Balance"]) == Decimal("85.55")
    assert row(stack, "i-1")["amount"] == "205.55"


def test_resync_removed_payment_is_deleted_in_quickbooks(stack, realm, qb):
    # GIVEN a synced invoice with two payments
    client()
    publish_invoice("i-1", payments=[payment("p1", "2026-10-20", "100.00"), payment("p2", "2026-10-27", "20.00")])
    first = synced(stack, "i-1")
    assert len(qb.query("Payment")) == 2

    # WHEN Books360 removes p2 and the invoice is synced again
    publish_invoice("i-1", version=2, payments=[payment("p1", "2026-10-20", "100.00")])
    again = synced(stack, "i-1")

    # THEN p2's QuickBooks payment is gone, p1's stays applied
    (left,) = qb.query("Payment")
    assert again["qbPaymentIds"] == [left["Id"]] == first["qbPaymentIds"][:1]
    assert qb.read("Payment", first["qbPaymentIds"][1]) is None
    (invoice,) = qb.invoices()
    assert money(invoice["Balance"]) == Decimal("50.10")


SPLIT_TRANSACTIONS = [
    transaction("t-aug", "2026-08-12", "100.10", "August"),
    transaction("t-sep", "2026-09-05", "50.00", "September"),
    transaction("t-oct", "2026-10-02", "30.00", "October"),
]


def split_invoice(stack, **overrides: Any) -> dict[str, Any]:
    """A synced invoice with Split Invoice on: transactions in Aug, Sep and Oct 2026; 120.00 paid."""
    settings(stack, splitInvoice=True)
    client()
    publish_invoice("i-1", dateFrom="2026-08-01", transactions=SPLIT_TRANSACTIONS, **overrides)
    return synced(stack, "i-1")


def test_sync_split_invoice_writes_one_invoice_per_month_and_applies_payments_oldest_first(stack, realm, qb):
    # WHEN an invoice with transactions in three months is synced with Split Invoice on
    answer = split_invoice(
        stack, payments=[payment("p1", "2026-10-20", "100.00"), payment("p2", "2026-10-27", "20.00")]
    )

    # THEN three QuickBooks invoices, numbered in month order, each with its month's lines
    invoices = qb.invoices()
    assert answer["qbInvoiceIds"] == [i["Id"] for i in invoices]
    assert [(i["DocNumber"], i["TxnDate"], lines_of(i)) for i in invoices] == [
        ("B360-1001-1", "2026-08-31", [("August", Decimal("100.10"), "2026-08-12")]),
        ("B360-1001-2", "2026-09-30", [("September", Decimal("50.00"), "2026-09-05")]),
        ("B360-1001-3", "2026-10-28", [("October", Decimal("30.00"), "2026-10-02")]),
    ]
    # AND the payments fill the oldest parts first: Aug paid, Sep partly, Oct open
    assert [money(i["Balance"]) for i in invoices] == [Decimal("0.00"), Decimal("30.10"), Decimal("30.00")]
    aug, sep, _ = (i["Id"] for i in invoices)
    by_amount = {money(p["TotalAmt"]): applied_to(p) for p in qb.query("Payment")}
    assert by_amount == {
        Decimal("100.00"): {aug: Decimal("100.00")},
        Decimal("20.00"): {aug: Decimal("0.10"), sep: Decimal("19.90")},
    }


def test_resync_split_invoice_month_left_empty_deletes_that_part_and_others_keep_numbers(stack, realm, qb):
    # GIVEN a split invoice synced in three parts
    first = split_invoice(stack)
    aug, sep, oct_ = first["qbInvoiceIds"]

    # WHEN Books360 drops September's transaction and it is synced again
    publish_invoice(
        "i-1", version=2, dateFrom="2026-08-01", transactions=[SPLIT_TRANSACTIONS[0], SPLIT_TRANSACTIONS[2]]
    )
    again = synced(stack, "i-1")

    # THEN September's part is deleted in QuickBooks; the others keep their ids and numbers
    assert again["qbInvoiceIds"] == [aug, oct_]
    assert qb.read("Invoice", sep) is None
    assert [(i["Id"], i["DocNumber"]) for i in qb.invoices()] == [(aug, "B360-1001-1"), (oct_, "B360-1001-3")]
    # AND the payment is applied to what is left, oldest first: Aug in full, the rest to Oct
    assert [money(i["Balance"]) for i in qb.invoices()] == [Decimal("0.00"), Decimal("10.10")]


def test_resync_split_invoice_only_one_month_left_keeps_its_number(stack, realm, qb):
    first = split_invoice(stack, payments=[])

    publish_invoice("i-1", version=2, dateFrom="2026-08-01", transactions=[SPLIT_TRANSACTIONS[1]], payments=[])
    synced(stack, "i-1")

    assert [(i["Id"], i["DocNumber"]) for i in qb.invoices()] == [(first["qbInvoiceIds"][1], "B360-1001-2")]


def test_resync_split_invoice_month_added_later_takes_next_unused_number(stack, realm, qb):
    # GIVEN a split invoice synced in three parts, then September dropped (its number stays used)
    split_invoice(stack)
    kept = [SPLIT_TRANSACTIONS[0], SPLIT_TRANSACTIONS[2]]
    publish_invoice("i-1", version=2, dateFrom="2026-08-01", transactions=kept)
    synced(stack, "i-1")

    # WHEN a transaction in July (older than all) appears and the invoice is synced again
    july = transaction("t-jul", "2026-07-30", "7.00", "July")
    publish_invoice("i-1", version=3, dateFrom="2026-07-01", transactions=[july, *kept])
    synced(stack, "i-1")

    # THEN July's part takes the next unused number, the others keep theirs, and the payment (120.00) is applied
    # oldest first again: Jul 7.00, Aug 100.10, Oct 12.90
    numbers = {lines_of(i)[0][0]: (i["DocNumber"], money(i["Balance"])) for i in qb.invoices()}
    assert numbers == {
        "August": ("B360-1001-1", Decimal("0.00")),
        "October": ("B360-1001-3", Decimal("17.10")),
        "July": ("B360-1001-4", Decimal("0.00")),
    }


def test_resync_split_part_reduced_below_its_payments_moves_them_to_the_next_parts(stack, realm, qb):
    # GIVEN a split invoice whose August part is paid in full (120.00: Aug 100.10, Sep 19.90)
    first = split_invoice(stack)

    # WHEN Books360 corrects August's transaction to 50.00 and the invoice is synced again
    corrected = [transaction("t-aug", "2026-08-12", "50.00", "August"), *SPLIT_TRANSACTIONS[1:]]
    publish_invoice("i-1", version=2, dateFrom="2026-08-01", transactions=corrected)
    status, answer = sync(stack, "i-1")

    # THEN the same three invoices, August smaller, the payment applied oldest first again: Aug 50, Sep 50, Oct 20
    assert status == 200, answer
    assert answer["qbInvoiceIds"] == first["qbInvoiceIds"]
    assert [(i["DocNumber"], money(i["TotalAmt"]), money(i["Balance"])) for i in qb.invoices()] == [
        ("B360-1001-1", Decimal("50.00"), Decimal("0.00")),
        ("B360-1001-2", Decimal("50.00"), Decimal("0.00")),
        ("B360-1001-3", Decimal("30.00"), Decimal("10.00")),
    ]


def test_resync_invoice_reduced_below_its_payment_keeps_the_rest_unapplied(stack, realm, qb):
    # GIVEN a synced invoice of 150.10 with 120.00 paid
    client()
    publish_invoice("i-1")
    synced(stack, "i-1")

    # WHEN Books360 corrects it to 100.00 (now overpaid) and it is synced again
    publish_invoice("i-1", version=2, transactions=[transaction("t1", "2026-09-05", "100.00", "Ad spend")])
    status, answer = sync(stack, "i-1")

    # THEN the invoice is 100.00 and paid; the payment keeps its 120.00, 100.00 of it applied
    assert status == 200, answer
    (invoice,) = qb.invoices()
    (paid,) = qb.query("Payment")
    assert (money(invoice["TotalAmt"]), money(invoice["Balance"])) == (Decimal("100.00"), Decimal("0.00"))
    assert (money(paid["TotalAmt"]), applied_to(paid)) == (Decimal("120.00"), {invoice["Id"]: Decimal("100.00")})
    assert (row(stack, "i-1")["status"], row(stack, "i-1")["syncStatus"]) == ("paid", "synced")


def test_sync_split_invoice_single_month_keeps_the_plain_number(stack, realm, qb):
    settings(stack, splitInvoice=True)
    client()
    publish_invoice(
        "i-1", transactions=[transaction("t1", "2026-10-01", "10.00"), transaction("t2", "2026-10-09", "5")]
    )

    synced(stack, "i-1")

    assert [i["DocNumber"] for i in qb.invoices()] == ["B360-1001"]


def test_sync_split_invoice_long_number_keeps_the_last_21_characters_of_each_part(stack, realm, qb):
    split_invoice(stack, number="CAMPAIGN-2026-ACME-CORP-0001", payments=[])

    invoices = qb.invoices()

    assert [i["DocNumber"] for i in invoices] == [f"CAMPAIGN-2026-ACME-CORP-0001-{n}"[-21:] for n in (1, 2, 3)]
    assert all(f"CAMPAIGN-2026-ACME-CORP-0001-{n}" in i["PrivateNote"] for n, i in enumerate(invoices, start=1))


# --- View QB Info and the manual unlink --------------------------------------------------------------------


def test_view_in_quickbooks_shows_linked_invoice_and_payment_as_quickbooks_returns_them(stack, realm, qb):
    # GIVEN a synced invoice with one payment
    client()
    publish_invoice("i-1")
    answer = synced(stack, "i-1")

    # WHEN View QB Info opens
    status, seen = stack.api("GET", "/quickbooks/invoices/i-1/qb")

    # THEN it shows the QuickBooks invoice and payment as QuickBooks has them now
    assert status == 200, seen
    assert set(seen) == {"invoices", "payments"}
    (invoice,) = seen["invoices"]
    (paid,) = seen["payments"]
    live_invoice = qb.read("Invoice", answer["qbInvoiceIds"][0])
    live_payment = qb.read("Payment", answer["qbPaymentIds"][0])
    assert live_invoice is not None and live_payment is not None
    for shown, live in ((invoice, live_invoice), (paid, live_payment)):
        assert (shown["Id"], shown["SyncToken"]) == (live["Id"], live["SyncToken"])
        assert money(shown["TotalAmt"]) == money(live["TotalAmt"])
    assert (invoice["DocNumber"], money(invoice["Balance"])) == ("B360-1001", Decimal("30.10"))


def test_view_in_quickbooks_objects_are_exactly_what_quickbooks_answers(stack, realm, qb):
    # GIVEN a synced invoice with one payment
    client()
    publish_invoice("i-1")
    answer = synced(stack, "i-1")

    # WHEN View QB Info opens
    _, seen = stack.api("GET", "/quickbooks/invoices/i-1/qb")

    # THEN each object is the one QuickBooks answers its own user, field for field, numbers as numbers
    assert seen == {
        "invoices": [qb.read("Invoice", qb_id) for qb_id in answer["qbInvoiceIds"]],
        "payments": [qb.read("Payment", qb_id) for qb_id in answer["qbPaymentIds"]],
    }


def test_view_in_quickbooks_unlinked_invoice_shows_nothing(stack, realm):
    client()
    publish_invoice("i-1")
    before = calls(stack, realm)

    status, seen = stack.api("GET", "/quickbooks/invoices/i-1/qb")

    assert (status, seen) == (200, {"invoices": [], "payments": []})
    assert qb_calls_since(before, calls(stack, realm)) == {}


@pytest.fixture
def deleted_in_quickbooks(stack, realm, qb) -> dict[str, Any]:
    """A synced invoice (with a payment) whose QuickBooks invoice a QuickBooks user then deleted."""
    client()
    publish_invoice("i-1")
    answer = synced(stack, "i-1")
    qb.delete("Invoice", answer["qbInvoiceIds"][0])
    return answer


def test_view_in_quickbooks_invoice_deleted_there_shows_it_deleted(stack, deleted_in_quickbooks):
    status, seen = stack.api("GET", "/quickbooks/invoices/i-1/qb")

    assert status == 200, seen
    assert seen["invoices"] == [{"id": deleted_in_quickbooks["qbInvoiceIds"][0], "deleted": True}]
    assert [p["Id"] for p in seen["payments"]] == deleted_in_quickbooks["qbPaymentIds"]


def test_sync_invoice_deleted_in_quickbooks_unchanged_returns_409_and_lists_deleted_in_qb(
    stack, realm, qb, deleted_in_quickbooks
):
    # WHEN the unchanged invoice is synced again
    status, problem = sync(stack, "i-1")

    # THEN 409, the list shows deleted_in_qb, and nothing was created in QuickBooks
    assert status == 409, problem
    assert row(stack, "i-1")["syncStatus"] == "deleted_in_qb"
    assert qb.invoices() == []


def test_sync_invoice_deleted_in_quickbooks_after_a_change_returns_409_and_lists_deleted_in_qb(
    stack, realm, qb, deleted_in_quickbooks
):
    # GIVEN Books360 changed the invoice since
    publish_invoice("i-1", version=2, transactions=[transaction("t1", "2026-09-05", "180.00")])

    # WHEN it is synced
    status, problem = sync(stack, "i-1")

    # THEN 409, the list shows deleted_in_qb, and the deleted invoice was not brought back
    assert status == 409, problem
    item = row(stack, "i-1")
    assert (item["syncStatus"], item["qbInvoiceIds"]) == ("deleted_in_qb", deleted_in_quickbooks["qbInvoiceIds"])
    assert qb.invoices() == []
    # AND another sync is refused the same way until the user unlinks
    assert sync(stack, "i-1")[0] == 409


def test_unlink_after_deletion_in_quickbooks_returns_204_and_changes_nothing_there(
    stack, realm, qb, deleted_in_quickbooks
):
    # GIVEN the deletion was noticed (a changed invoice's sync met it)
    publish_invoice("i-1", version=2, transactions=[transaction("t1", "2026-09-05", "180.00")])
    assert sync(stack, "i-1")[0] == 409
    payments_before = qb.query("Payment")
    before = calls(stack, realm)

    # WHEN the user unlinks it (View QB Info > Delete)
    status, body = stack.api("DELETE", "/quickbooks/invoices/i-1/qb-link")

    # THEN 204, the invoice is unsynced, and QuickBooks was not touched
    assert (status, body) == (204, None)
    item = row(stack, "i-1")
    assert (item["syncStatus"], item["qbInvoiceIds"], item["syncedAt"]) == ("unsynced", [], None)
    assert qb_calls_since(before, calls(stack, realm)) == {}
    assert qb.query("Payment") == payments_before
    # AND unlinking again is a 404
    assert stack.api("DELETE", "/quickbooks/invoices/i-1/qb-link")[0] == 404


def test_unlink_never_synced_or_unknown_invoice_returns_404(stack, realm):
    client()
    publish_invoice("i-1")

    answers = [stack.api("DELETE", f"/quickbooks/invoices/{i}/qb-link")[0] for i in ("i-1", "i-404")]

    assert answers == [404, 404]


def test_sync_after_unlink_creates_a_new_quickbooks_invoice(stack, realm, qb, deleted_in_quickbooks):
    # GIVEN the deleted invoice noticed and unlinked
    publish_invoice("i-1", version=2, transactions=[transaction("t1", "2026-09-05", "180.00")])
    assert sync(stack, "i-1")[0] == 409
    assert stack.api("DELETE", "/quickbooks/invoices/i-1/qb-link")[0] == 204

    # WHEN it is synced again
    answer = synced(stack, "i-1")

    # THEN a new QuickBooks invoice is created (not the deleted one back), for the same customer, paid as in Books360
    (invoice,) = qb.invoices()
    assert answer["qbInvoiceIds"] == [invoice["Id"]]
    assert invoice["Id"] not in deleted_in_quickbooks["qbInvoiceIds"]
    assert (answer["customerCreated"], len(qb.query("Customer"))) == (False, 1)
    assert (money(invoice["TotalAmt"]), money(invoice["Balance"])) == (Decimal("180.00"), Decimal("60.00"))
    assert row(stack, "i-1")["syncStatus"] == "synced"


# --- deleted in Books360 -----------------------------------------------------------------------------------


@pytest.fixture
def queue(bulk) -> Bulk:  # noqa: F811 - the imported fixture
    """The bulk queue in moto, as template.yaml defines it, and the bulk_sync function that drains it (see
    test_bulk_jobs): InvoiceDeleted sends the deletion in QuickBooks there."""
    return bulk


@pytest.fixture
def synced_invoice(stack, realm, queue) -> dict[str, Any]:
    """A synced invoice with two payments (the bulk queue exists, so InvoiceDeleted can queue its deletion)."""
    client()
    publish_invoice("i-1", payments=[payment("p1", "2026-10-20", "100.00"), payment("p2", "2026-10-27", "20.00")])
    return synced(stack, "i-1")


def test_invoice_deleted_in_books360_leaves_the_list_at_once_and_the_worker_deletes_it_in_quickbooks(
    stack, realm, qb, queue, synced_invoice
):
    # WHEN Books360 deletes the invoice
    outcome = delete_in_books360("i-1")

    # THEN it leaves the list at once, and its deletion waits in the queue
    assert outcome["status"] == "applied"
    assert listing(stack)[1]["items"] == []
    assert stack.api("GET", "/quickbooks/invoices/i-1/sync-preview")[0] == 404
    assert len(qb.invoices()) == 1
    messages = queue.receive()
    assert len(messages) == 1

    # WHEN the worker runs it
    assert queue.deliver(messages) == set()

    # THEN the payments and the invoice are gone from QuickBooks
    assert qb.invoices() == []
    assert qb.query("Payment") == []
    assert all(qb.read("Payment", p) is None for p in synced_invoice["qbPaymentIds"])


def test_invoice_deleted_in_books360_deletes_payments_before_the_invoice(stack, realm, qb, queue, synced_invoice):
    # GIVEN QuickBooks throttles the next payment deletion
    rule = {"realmId": realm, "method": "POST", "entity": "payment", "operation": "delete", "status": 429, "count": 1}
    assert stack.http.post("/_admin/faults", json=rule).status_code == 200
    delete_in_books360("i-1")
    messages = queue.receive()

    # WHEN the worker meets the throttle
    failed = queue.deliver(messages)

    # THEN the message comes back later, and the invoice is still in QuickBooks (payments go first)
    assert failed == {messages[0]["MessageId"]}
    assert [i["Id"] for i in qb.invoices()] == synced_invoice["qbInvoiceIds"]

    # WHEN it comes back
    queue.retry_now(messages)
    queue.drain()

    # THEN everything is gone
    assert (qb.invoices(), qb.query("Payment")) == ([], [])


def test_invoice_deleted_repeated_event_and_message_are_harmless(stack, realm, qb, queue, synced_invoice):
    # GIVEN the deletion delivered and done
    delete_in_books360("i-1")
    (message,) = queue.receive()
    assert queue.deliver([message]) == set()
    before = calls(stack, realm)

    # WHEN SQS delivers the same message again, and Books360 repeats the event
    again = queue.deliver([message])
    repeated = delete_in_books360("i-1")
    queue.drain()

    # THEN nothing fails, nothing more is written, and the invoice stays gone
    assert again == set()
    assert repeated["status"] == "stale"
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}
    assert (qb.invoices(), qb.query("Payment"), listing(stack)[1]["items"]) == ([], [], [])


def test_invoice_deleted_already_deleted_in_quickbooks_counts_as_done(stack, realm, qb, queue, synced_invoice):
    # GIVEN a QuickBooks user already deleted the invoice and one payment
    qb.delete("Invoice", synced_invoice["qbInvoiceIds"][0])
    qb.delete("Payment", synced_invoice["qbPaymentIds"][0])

    # WHEN Books360 deletes it and the worker runs
    delete_in_books360("i-1")
    messages = queue.receive()
    failed = queue.deliver(messages)

    # THEN the message is done (not retried), and the other payment is deleted too
    assert failed == set()
    assert queue.visible_and_hidden() == (0, 0)
    assert qb.query("Payment") == []
    # AND nothing is left to delete: a repeated event queues nothing
    delete_in_books360("i-1")
    assert queue.receive() == []


def test_invoice_deleted_never_synced_queues_nothing(stack, realm, qb, queue):
    # GIVEN an unsynced invoice
    client()
    publish_invoice("i-1")

    # WHEN Books360 deletes it
    outcome = delete_in_books360("i-1")

    # THEN it leaves the list, and no deletion is queued
    assert outcome["status"] == "applied"
    assert listing(stack)[1]["items"] == []
    assert queue.receive() == []
    assert queue.visible_and_hidden() == (0, 0)

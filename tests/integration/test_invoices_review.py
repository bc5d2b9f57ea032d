"""Regression tests for the review of the Invoices tab (commit 1f6c001): each scenario the reviewer reproduced,
through the API and sync_invoice handlers, moto and the QuickBooks emulator.

As in test_invoices, what QuickBooks holds is checked as the company's own user sees it (``Bookkeeper``, the
emulator's admin token), and what the tab shows through the list (``syncStatus``, ``lastError``), never through
our stored links.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.test_api_parties import calls, qb_calls_since
from tests.integration.test_invoices import (
    Bookkeeper,
    applied_to,
    client,
    lines_of,
    listing,
    money,
    payment,
    preview,
    publish_invoice,
    row,
    settings,
    sync,
    synced,
    transaction,
    writes,
)
from tests.integration.test_invoices_exactly_once import crash_once_after_answer


@pytest.fixture
def realm(stack) -> str:
    return stack.connect()


@pytest.fixture
def qb(stack, realm) -> Bookkeeper:
    token = stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    return Bookkeeper(stack.http, realm, token)


def unlink(stack, invoice_id: str, *, tenant: str = "t1") -> tuple[int, Any]:
    """View QB Info > Delete."""
    return stack.api("DELETE", f"/quickbooks/invoices/{invoice_id}/qb-link", tenant=tenant)


def row_of(stack, invoice_id: str, *, tenant: str) -> dict[str, Any]:
    status, page = listing(stack, tenant=tenant, limit="100")
    assert status == 200, page
    (found,) = [item for item in page["items"] if item["invoiceId"] == invoice_id]
    return dict(found)


def by_note(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """QuickBooks objects by their PrivateNote (our marker), every note once."""
    found = {r.get("PrivateNote", ""): r for r in records}
    assert len(found) == len(records), [r.get("PrivateNote") for r in records]
    return found


def service_item(qb: Bookkeeper) -> dict[str, Any]:
    """The ``Books360 Service`` Item, active or not: there is exactly one."""
    (item,) = [i for i in qb.all("Item") if i["Name"] == "Books360 Service"]
    return item


# --- a reference QuickBooks refuses: the Item made inactive ------------------------------------------------


def test_sync_new_invoice_after_item_made_inactive_reactivates_it_and_writes_one_invoice(stack, realm, qb):
    # GIVEN a synced invoice, then a QuickBooks user made the Books360 Service item inactive
    client()
    publish_invoice("i-1")
    synced(stack, "i-1")
    qb.deactivate("Item", service_item(qb))
    assert service_item(qb)["Active"] is False

    # WHEN a new invoice is synced (its first create refers to the inactive Item, which QuickBooks refuses)
    publish_invoice("i-2", number="B360-1002")
    status, answer = sync(stack, "i-2")

    # THEN the one click succeeds: the Item was found again and made active (not a second one), and the create
    # was sent again as a new request (the refusal was not replayed)
    assert status == 200, answer
    item = service_item(qb)
    assert item["Active"] is True
    invoices = {i["DocNumber"]: i for i in qb.invoices()}
    assert sorted(invoices) == ["B360-1001", "B360-1002"]
    new = invoices["B360-1002"]
    assert answer["qbInvoiceIds"] == [new["Id"]]
    assert {
        line["SalesItemLineDetail"]["ItemRef"]["value"] for line in new["Line"] if "SalesItemLineDetail" in line
    } == {item["Id"]}
    (paid,) = [p for p in qb.query("Payment") if p["Id"] in answer["qbPaymentIds"]]
    assert applied_to(paid) == {new["Id"]: Decimal("120.00")}
    assert money(new["Balance"]) == Decimal("30.10")
    shown = row(stack, "i-2")
    assert (shown["syncStatus"], shown["lastError"], shown["qbInvoiceIds"]) == ("synced", None, [new["Id"]])
    # AND a second click writes nothing more
    before = calls(stack, realm)
    assert synced(stack, "i-2")["qbInvoiceIds"] == [new["Id"]]
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}
    assert len(qb.invoices()) == 2


def test_resync_changed_invoice_after_item_made_inactive_updates_the_same_invoice(stack, realm, qb):
    # GIVEN a synced invoice, the Item then made inactive in QuickBooks, and the invoice changed in Books360
    client()
    publish_invoice("i-1")
    first = synced(stack, "i-1")
    qb.deactivate("Item", service_item(qb))
    publish_invoice("i-1", version=2, transactions=[transaction("t1", "2026-09-05", "180.00", "Ad spend")])

    # WHEN it is synced again (the update refers to the inactive Item)
    status, answer = sync(stack, "i-1")

    # THEN the same QuickBooks invoice holds the new content, on the Item made active again; still one of each
    assert status == 200, answer
    (invoice,) = qb.invoices()
    assert answer["qbInvoiceIds"] == first["qbInvoiceIds"] == [invoice["Id"]]
    assert lines_of(invoice) == [("Ad spend", Decimal("180.00"), "2026-09-05")]
    assert (money(invoice["TotalAmt"]), money(invoice["Balance"])) == (Decimal("180.00"), Decimal("60.00"))
    assert service_item(qb)["Active"] is True
    assert [p["Id"] for p in qb.query("Payment")] == first["qbPaymentIds"]
    assert (row(stack, "i-1")["syncStatus"], row(stack, "i-1")["lastError"]) == ("synced", None)


# --- a payment deleted in QuickBooks -----------------------------------------------------------------------


def test_resync_after_payment_deleted_in_quickbooks_writes_it_again(stack, realm, qb):
    # GIVEN a synced invoice whose payment a QuickBooks user deleted
    client()
    publish_invoice("i-1")
    first = synced(stack, "i-1")
    qb.delete("Payment", first["qbPaymentIds"][0])
    assert qb.query("Payment") == []

    # WHEN Books360 changes the payment (120.00 -> 100.00) and the invoice is synced again
    publish_invoice("i-1", version=2, payments=[payment("p1", "2026-10-27", "100.00")])
    status, answer = sync(stack, "i-1")

    # THEN the payment is written again (a new object) and applied to the same invoice; the invoice is synced,
    # not deleted_in_qb (only our own invoice gone is that)
    assert status == 200, answer
    (invoice,) = qb.invoices()
    (paid,) = qb.query("Payment")
    assert answer["qbInvoiceIds"] == first["qbInvoiceIds"] == [invoice["Id"]]
    assert answer["qbPaymentIds"] == [paid["Id"]] != first["qbPaymentIds"]
    assert paid["PrivateNote"] == "Books360 t1 payment p1 of invoice i-1"
    assert (money(paid["TotalAmt"]), applied_to(paid)) == (Decimal("100.00"), {invoice["Id"]: Decimal("100.00")})
    assert money(invoice["Balance"]) == Decimal("50.10")
    shown = row(stack, "i-1")
    assert (shown["syncStatus"], shown["lastError"]) == ("synced", None)
    # AND everything was recorded: another click writes nothing
    before = calls(stack, realm)
    synced(stack, "i-1")
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}


# --- an invoice deleted in QuickBooks, unlinked and synced again -------------------------------------------


@pytest.mark.parametrize("changed", [False, True], ids=["unchanged", "changed"])
def test_resync_after_unlink_of_invoice_deleted_in_quickbooks_adopts_the_old_payment(stack, realm, qb, changed):
    # GIVEN a synced invoice (120.00 paid) whose QuickBooks invoice a user deleted: the payment stays, unapplied
    client()
    publish_invoice("i-1")
    first = synced(stack, "i-1")
    qb.delete("Invoice", first["qbInvoiceIds"][0])
    (orphan,) = qb.query("Payment")
    assert (applied_to(orphan), money(orphan["UnappliedAmt"])) == ({}, Decimal("120.00"))
    amount = Decimal("150.10")
    if changed:
        publish_invoice("i-1", version=2, transactions=[transaction("t1", "2026-09-05", "180.00", "Ad spend")])
        amount = Decimal("180.00")

    # WHEN it is synced: 409, and the list says deleted_in_qb, naming what is gone
    status, problem = sync(stack, "i-1")
    assert status == 409, problem
    assert problem["type"] == "/problems/conflict"
    shown = row(stack, "i-1")
    assert shown["syncStatus"] == "deleted_in_qb"
    assert "deleted" in (shown["lastError"] or "").lower()
    assert qb.invoices() == []

    # WHEN the user unlinks it, then syncs it again
    assert unlink(stack, "i-1") == (204, None)
    assert row(stack, "i-1")["syncStatus"] == "unsynced"
    status, answer = sync(stack, "i-1")

    # THEN a new QuickBooks invoice, and the old payment (not a second one) applied to it again: no double deposit
    assert status == 200, answer
    (invoice,) = qb.invoices()
    assert invoice["Id"] not in first["qbInvoiceIds"]
    assert answer["qbInvoiceIds"] == [invoice["Id"]]
    (paid,) = qb.query("Payment")
    assert answer["qbPaymentIds"] == first["qbPaymentIds"] == [paid["Id"]]
    assert money(paid["TotalAmt"]) == Decimal("120.00")
    assert (applied_to(paid), money(paid["UnappliedAmt"])) == ({invoice["Id"]: Decimal("120.00")}, Decimal("0.00"))
    assert (money(invoice["TotalAmt"]), money(invoice["Balance"])) == (amount, amount - Decimal("120.00"))
    assert (answer["customerCreated"], len(qb.query("Customer"))) == (False, 1)
    shown = row(stack, "i-1")
    assert (shown["syncStatus"], shown["lastError"], shown["qbInvoiceIds"]) == ("synced", None, [invoice["Id"]])


# --- Split Invoice: payments swapping parts ----------------------------------------------------------------


@pytest.mark.parametrize(("p1", "p2"), [("100.00", "100.00"), ("80.00", "100.00")])
def test_resync_split_invoice_payments_swapping_parts_applies_each_to_its_new_part(stack, realm, qb, p1, p2):
    # GIVEN a split invoice (Sep 100.00, Oct 100.00): p1 (Oct 20) fills September first, p2 (Oct 27) the rest
    settings(stack, splitInvoice=True)
    client()
    parts = [transaction("a", "2026-09-05", "100.00", "Sep"), transaction("b", "2026-10-05", "100.00", "Oct")]
    publish_invoice(
        "i-1",
        dateFrom="2026-09-01",
        transactions=parts,
        payments=[payment("p1", "2026-10-20", p1), payment("p2", "2026-10-27", p2)],
    )
    first = synced(stack, "i-1")
    sep, oct_ = first["qbInvoiceIds"]
    notes = by_note(qb.query("Payment"))
    assert applied_to(notes["Books360 t1 payment p1 of invoice i-1"]) == {sep: Decimal(p1)}

    # WHEN Books360 corrects p2's date to before p1's (p2 now fills September first) and it is synced again
    publish_invoice(
        "i-1",
        version=2,
        dateFrom="2026-09-01",
        transactions=parts,
        payments=[payment("p1", "2026-10-20", p1), payment("p2", "2026-10-10", p2)],
    )
    status, answer = sync(stack, "i-1")

    # THEN the sync succeeds: the same objects, each payment applied to its new part, the balances right
    assert status == 200, answer
    assert (answer["qbInvoiceIds"], answer["qbPaymentIds"]) == (first["qbInvoiceIds"], first["qbPaymentIds"])
    notes = by_note(qb.query("Payment"))
    moved_p1, moved_p2 = (notes[f"Books360 t1 payment {p} of invoice i-1"] for p in ("p1", "p2"))
    assert (applied_to(moved_p2), moved_p2["TxnDate"]) == ({sep: Decimal("100.00")}, "2026-10-10")
    assert applied_to(moved_p1) == {oct_: Decimal(p1)}
    paid = Decimal(p1) + Decimal(p2)
    assert [money(i["Balance"]) for i in qb.invoices()] == [Decimal("0.00"), Decimal("200.00") - paid]
    assert (row(stack, "i-1")["syncStatus"], row(stack, "i-1")["lastError"]) == ("synced", None)
    # AND another click writes nothing
    before = calls(stack, realm)
    synced(stack, "i-1")
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}


# --- the client moved to another QuickBooks customer -------------------------------------------------------


def test_resync_after_client_linked_to_another_customer_returns_409_then_unlink_syncs_to_the_new_one(stack, realm, qb):
    # GIVEN a synced invoice (customer Acme Corp created), then its client unsynced and linked to another
    # QuickBooks customer
    client()
    publish_invoice("i-1")
    first = synced(stack, "i-1")
    (old_customer,) = qb.query("Customer")
    (old_invoice,) = qb.invoices()
    (old_payment,) = qb.query("Payment")
    other = qb.create("Customer", DisplayName="Acme Corporation")
    assert stack.api("DELETE", "/quickbooks/customers/c-1/sync")[0] == 204
    status, linked = stack.api("POST", "/quickbooks/customers/c-1/sync", body={"qbCustomerId": other["Id"]})
    assert (status, linked["qbCustomerId"]) == (200, other["Id"]), linked
    before = calls(stack, realm)

    # WHEN the invoice is synced again
    status, problem = sync(stack, "i-1")

    # THEN 409 naming both customers, nothing written, and the list says why
    assert status == 409, problem
    assert problem["type"] == "/problems/conflict"
    named = [f"customer {old_customer['Id']}", f"customer {other['Id']}"]
    assert all(name in problem["detail"] for name in named), problem["detail"]
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}
    shown = row(stack, "i-1")
    assert shown["syncStatus"] == "failed"
    assert all(name in (shown["lastError"] or "") for name in named), shown["lastError"]
    assert shown["qbInvoiceIds"] == first["qbInvoiceIds"]

    # WHEN the user unlinks the invoice and syncs it again
    assert unlink(stack, "i-1") == (204, None)
    answer = synced(stack, "i-1")

    # THEN a new invoice and payment under the new customer; the old ones, not adopted, stay untouched under the
    # old customer
    new_invoices = qb.query("Invoice", f"CustomerRef = '{other['Id']}'")
    (new_invoice,) = new_invoices
    (new_payment,) = qb.query("Payment", f"CustomerRef = '{other['Id']}'")
    assert answer["qbInvoiceIds"] == [new_invoice["Id"]] != first["qbInvoiceIds"]
    assert answer["qbPaymentIds"] == [new_payment["Id"]] != first["qbPaymentIds"]
    assert applied_to(new_payment) == {new_invoice["Id"]: Decimal("120.00")}
    assert (money(new_invoice["TotalAmt"]), money(new_invoice["Balance"])) == (Decimal("150.10"), Decimal("30.10"))
    assert qb.read("Invoice", old_invoice["Id"]) == old_invoice
    assert qb.read("Payment", old_payment["Id"]) == old_payment
    assert len(qb.invoices()) == 2 and len(qb.query("Payment")) == 2
    shown = row(stack, "i-1")
    assert (shown["syncStatus"], shown["lastError"], shown["qbInvoiceIds"]) == ("synced", None, [new_invoice["Id"]])


# --- unlink of a link with more objects than one DynamoDB transaction takes --------------------------------


def test_unlink_invoice_with_101_objects_returns_204_and_lists_unsynced(stack, realm, qb):
    # GIVEN a synced invoice with 1 part and 100 payments: 101 QuickBooks objects linked, so forgetting them
    # all takes more than the 100 actions of one DynamoDB transaction
    client()
    many = [payment(f"p{n:03d}", "2026-10-20", "0.01") for n in range(100)]
    publish_invoice("i-1", transactions=[transaction("t1", "2026-09-05", "10.00")], payments=many)
    first = synced(stack, "i-1")
    assert len(first["qbPaymentIds"]) == 100
    before = calls(stack, realm)

    # WHEN the user unlinks it
    status, body = unlink(stack, "i-1")

    # THEN 204 (no 500), the list shows it unsynced, and QuickBooks was not touched
    assert (status, body) == (204, None)
    shown = row(stack, "i-1")
    assert (shown["syncStatus"], shown["qbInvoiceIds"], shown["syncedAt"], shown["lastError"]) == (
        "unsynced",
        [],
        None,
        None,
    )
    assert qb_calls_since(before, calls(stack, realm)) == {}
    assert len(qb.invoices()) == 1 and len(qb.query("Payment")) == 100
    # AND it is unlinked for good: unlinking again is a 404, View QB Info shows nothing
    assert unlink(stack, "i-1")[0] == 404
    assert stack.api("GET", "/quickbooks/invoices/i-1/qb") == (200, {"invoices": [], "payments": []})


# --- dates and ids at the edges ----------------------------------------------------------------------------


def test_list_invoices_date_to_the_last_day_of_year_9999_returns_200(stack, realm):
    client()
    publish_invoice("i-1")

    status, page = listing(stack, dateTo="9999-12-31")

    assert status == 200, page
    assert [item["invoiceId"] for item in page["items"]] == ["i-1"]
    assert listing(stack, dateFrom="2026-01-01", dateTo="9999-12-31")[1]["items"][0]["invoiceId"] == "i-1"


@pytest.mark.parametrize("length", [129, 200, 1100])
def test_invoice_id_over_128_characters_returns_422_problem_naming_it_everywhere(
    stack, realm, qb, dynamodb_key_limits, length
):
    # GIVEN a synced invoice, and an id longer than any Books360 id
    client()
    publish_invoice("i-1")
    synced(stack, "i-1")
    invoice_id = "x" * length
    before = calls(stack, realm)

    # WHEN it is previewed, synced, viewed and unlinked
    answers = {
        "sync-preview": stack.call("api", "GET", f"/quickbooks/invoices/{invoice_id}/sync-preview"),
        "sync": stack.call("sync_invoice", "POST", f"/quickbooks/invoices/{invoice_id}/sync"),
        "qb": stack.call("api", "GET", f"/quickbooks/invoices/{invoice_id}/qb"),
        "qb-link": stack.call("api", "DELETE", f"/quickbooks/invoices/{invoice_id}/qb-link"),
    }

    # THEN each is a 422 problem naming the id (never a 500: a key DynamoDB refuses), and nothing was written
    for route, answer in answers.items():
        assert answer["statusCode"] == 422, (route, answer)
        headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
        assert headers.get("content-type") == "application/problem+json", (route, headers)
        problem = json.loads(answer["body"])
        assert (problem["type"], problem["status"]) == ("/problems/invalid-input", 422), (route, problem)
        assert [e["field"] for e in problem["errors"]] == ["invoiceId"], (route, problem)
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}
    assert row(stack, "i-1")["syncStatus"] == "synced"
    assert len(qb.invoices()) == 1


# --- what QuickBooks would refuse, caught before anything is written ---------------------------------------

REFUSED_FIELDS = ["payments[0].amount", "transactions[0].amount", "transactions[0].description"]


def test_negative_line_zero_payment_and_long_description_are_problems_and_sync_writes_nothing(stack, realm, qb):
    # GIVEN an invoice with a negative line described in 4001 characters and a payment of 0.00, and another
    # whose description is exactly 4000 characters
    client()
    publish_invoice(
        "i-1",
        transactions=[
            transaction("t1", "2026-09-05", "-5.00", "x" * 4001),
            transaction("t2", "2026-10-05", "50.00", "Fee"),
        ],
        payments=[payment("p1", "2026-10-27", "0.00")],
    )
    publish_invoice("i-2", transactions=[transaction("t1", "2026-09-05", "5.00", "y" * 4000)], payments=[])
    before = calls(stack, realm)

    # WHEN the pop-up opens
    shown = preview(stack, "i-1")

    # THEN it lists a problem for each, by field
    assert sorted(p["field"] for p in shown["problems"]) == REFUSED_FIELDS
    assert preview(stack, "i-2")["problems"] == []

    # WHEN it is synced anyway
    status, problem = sync(stack, "i-1")

    # THEN 422 naming the same fields, and nothing was written in QuickBooks (not even the customer)
    assert status == 422, problem
    assert problem["type"] == "/problems/invalid-input"
    assert sorted(e["field"] for e in problem["errors"]) == REFUSED_FIELDS
    assert writes(qb_calls_since(before, calls(stack, realm))) == {}
    assert (qb.query("Customer"), qb.invoices(), qb.query("Payment")) == ([], [], [])
    assert row(stack, "i-1")["syncStatus"] == "unsynced"


# --- two Books360 accounts connected to one QuickBooks company ---------------------------------------------


def test_two_tenants_same_company_same_customer_crashed_create_resumes_with_its_own_invoice(
    stack, realm, qb, monkeypatch
):
    # GIVEN t1 and t2 connected to the same company, each with a client c-1 linked to the same customer and an
    # invoice inv-1; t1's invoice synced
    stack.connect(tenant="t2", realm_id=realm)
    client()
    client(tenant="t2")
    publish_invoice("inv-1")
    publish_invoice("inv-1", tenant="t2")
    status, linked = stack.api("POST", "/quickbooks/customers/c-1/sync", body={"create": True})
    assert status == 200, linked
    customer_id = linked["qbCustomerId"]
    status, linked_too = stack.api(
        "POST", "/quickbooks/customers/c-1/sync", tenant="t2", body={"qbCustomerId": customer_id}
    )
    assert (status, linked_too["qbCustomerId"]) == (200, customer_id), linked_too
    first = synced(stack, "inv-1")

    # AND t2's first sync died right after QuickBooks answered its invoice create (still pending in our record)
    crashes = crash_once_after_answer(monkeypatch, "invoice")
    status, _ = sync(stack, "inv-1", tenant="t2")
    assert (status, len(crashes)) == (500, 1)
    assert len(qb.invoices()) == 2

    # WHEN t2 syncs it again
    status, answer = sync(stack, "inv-1", tenant="t2")

    # THEN t2 resumed with its own QuickBooks invoice (not t1's): one invoice and one payment per tenant, each
    # marker naming its tenant, each payment applied to its own tenant's invoice
    assert status == 200, answer
    invoices = by_note(qb.invoices())
    assert sorted(invoices) == ["Books360 t1 invoice inv-1", "Books360 t2 invoice inv-1"]
    mine, theirs = invoices["Books360 t2 invoice inv-1"], invoices["Books360 t1 invoice inv-1"]
    assert answer["qbInvoiceIds"] == [mine["Id"]]
    assert first["qbInvoiceIds"] == [theirs["Id"]]
    assert {i["CustomerRef"]["value"] for i in invoices.values()} == {customer_id}
    payments = by_note(qb.query("Payment"))
    assert sorted(payments) == [f"Books360 {t} payment p1 of invoice inv-1" for t in ("t1", "t2")]
    assert applied_to(payments["Books360 t2 payment p1 of invoice inv-1"]) == {mine["Id"]: Decimal("120.00")}
    assert applied_to(payments["Books360 t1 payment p1 of invoice inv-1"]) == {theirs["Id"]: Decimal("120.00")}
    assert [money(i["Balance"]) for i in (mine, theirs)] == [Decimal("30.10"), Decimal("30.10")]
    # AND each tab shows its own invoice synced
    assert row_of(stack, "inv-1", tenant="t1")["qbInvoiceIds"] == [theirs["Id"]]
    t2_row = row_of(stack, "inv-1", tenant="t2")
    assert (t2_row["syncStatus"], t2_row["lastError"], t2_row["qbInvoiceIds"]) == ("synced", None, [mine["Id"]])

"""Invoices and payments deleted or voided in QuickBooks, told by Intuit's webhooks (contract: "Intuit webhooks",
"Invoices tab"; issue 9, "Deletions made in QuickBooks"), through the webhook, API and sync_invoice handlers,
moto and the QuickBooks emulator.

The QuickBooks user acts in the emulator (``Bookkeeper``), then the webhook is delivered as Intuit would, in
either format: what we keep is checked through the tab (the list, View QB Info, sync, unlink) and, where the tab
cannot show it, through our stored link.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from shared import wiring
from shared.domain.parties import CUSTOMER
from shared.store.invoices import InvoiceStore
from shared.store.links import LinkGuards, guard_sk
from shared.store.table import tenant_pk
from shared.store.webhook_events import WebhookEventStore
from tests.integration.test_api_parties import calls, qb_calls_since
from tests.integration.test_invoices import (
    Bookkeeper,
    client,
    money,
    payment,
    publish_invoice,
    row,
    sync,
    synced,
)
from tests.integration.test_webhook import cloudevent, deliver, fail_once, sign

if TYPE_CHECKING:
    from collections.abc import Callable

FORMATS = ["classic", "cloudevents"]
ACTIONS = {"Delete": "deleted", "Void": "voided"}


def intuit_payload(fmt: str, realm_id: str, entity: str, qb_id: str, operation: str, *, event_id: str) -> Any:
    """What Intuit posts when a QuickBooks user deletes or voids ``entity`` ``qb_id``, in format ``fmt``."""
    if fmt == "cloudevents":
        kind = f"qbo.{entity.lower()}.{ACTIONS[operation]}.v1"
        return [cloudevent(realm_id, entity_id=qb_id, kind=kind, event_id=event_id)]
    stamp = f"2026-11-25T10:00:{len(event_id) % 60:02d}.000Z"
    change = {"name": entity, "id": qb_id, "operation": operation, "lastUpdated": stamp}
    return {"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": [change]}}]}


def void(user: Bookkeeper, entity: str, qb_id: str) -> None:
    """The QuickBooks user voids the object."""
    record = user.read(entity, qb_id)
    assert record is not None
    answer = user.http.post(
        f"/v3/company/{user.realm_id}/{entity.lower()}",
        params={"operation": "void"},
        json={"Id": record["Id"], "SyncToken": record["SyncToken"]},
        headers=user._headers(),
    )
    assert answer.status_code == 200, answer.text


def settle() -> None:
    """A moment passes before the QuickBooks user acts after a sync: the company's per-second window (10 requests,
    the emulator's real limit) is empty again, so a sync and the user's clicks do not share one second."""
    time.sleep(1.05)


def stored_link(realm_id: str, invoice_id: str = "i-1", tenant: str = "t1"):
    stored = wiring.invoice_store().get(tenant, invoice_id, with_deleted=True)
    assert stored is not None
    return stored.link_in(realm_id)


def raw_item(invoice_id: str = "i-1", tenant: str = "t1") -> dict[str, Any] | None:
    return wiring.table().get(tenant_pk(tenant), f"INVOICE#{invoice_id}")


def guard_of(realm_id: str, entity: str, qb_id: str, tenant: str = "t1") -> dict[str, Any] | None:
    """The guard as its readers see it (a released one is none)."""
    return LinkGuards(wiring.table()).holder(tenant, realm_id, entity, qb_id)


def recorded_ids(tenant: str = "t1") -> list[str]:
    return [str(e["sk"]).removeprefix("QBEVENT#") for e in wiring.webhook_event_store().recorded(tenant)]


@pytest.fixture
def realm(stack) -> str:
    return stack.connect()


class PatientBrowser:
    """The QuickBooks user's own calls, tried again after a moment when QuickBooks answers 429: they count
    against the company's limits (10 a second) like ours, and a person simply tries again."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def get(self, *args: Any, **kwargs: Any) -> httpx.Response:
        return self._patiently(self.http.get, *args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> httpx.Response:
        return self._patiently(self.http.post, *args, **kwargs)

    @staticmethod
    def _patiently(call: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> httpx.Response:
        for _ in range(30):
            answer = call(*args, **kwargs)
            if answer.status_code != 429:
                return answer
            time.sleep(0.2)
        return answer


@pytest.fixture
def qb(stack, realm) -> Bookkeeper:
    """The company's own QuickBooks user."""
    token = stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    return Bookkeeper(PatientBrowser(stack.http), realm, token)  # type: ignore[arg-type]


@pytest.fixture
def synced_invoice(stack, realm, qb) -> dict[str, Any]:
    """Invoice i-1 (150.10, one payment of 120.00) synced to QuickBooks."""
    client()
    publish_invoice("i-1")
    answer = synced(stack, "i-1")
    settle()
    return answer


# --- an invoice deleted in QuickBooks ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_invoice_deleted_in_quickbooks_shows_deleted_in_qb_until_the_user_unlinks(
    stack, realm, qb, synced_invoice, fmt
):
    # GIVEN a synced invoice whose QuickBooks invoice a QuickBooks user deletes
    qb_invoice = synced_invoice["qbInvoiceIds"][0]
    qb.delete("Invoice", qb_invoice)

    # WHEN Intuit tells us, in either format
    status, ack = deliver(stack, intuit_payload(fmt, realm, "Invoice", qb_invoice, "Delete", event_id="ev-inv-del"))

    # THEN the list shows it deleted in QuickBooks, saying which, still naming the QuickBooks invoice
    assert (status, ack) == (200, {"events": 1, "new": 1, "ignored": 0})
    item = row(stack, "i-1")
    assert (item["syncStatus"], item["qbInvoiceIds"]) == ("deleted_in_qb", [qb_invoice])
    assert item["lastError"] == f"QuickBooks invoice {qb_invoice} was deleted in QuickBooks."
    # AND nothing was unlinked: View QB Info shows it deleted, the payment as QuickBooks has it
    status, seen = stack.api("GET", "/quickbooks/invoices/i-1/qb")
    assert status == 200, seen
    assert seen["invoices"] == [{"id": qb_invoice, "deleted": True}]
    assert [p["Id"] for p in seen["payments"]] == synced_invoice["qbPaymentIds"]
    # AND a sync is refused (409) without writing anything
    before = calls(stack, realm)
    status, problem = sync(stack, "i-1")
    assert status == 409, problem
    assert "unlink" in problem["detail"]
    assert {k: v for k, v in qb_calls_since(before, calls(stack, realm)).items() if k.startswith("POST ")} == {}
    # AND the manual unlink makes it unsynced
    assert stack.api("DELETE", "/quickbooks/invoices/i-1/qb-link")[0] == 204
    item = row(stack, "i-1")
    assert (item["syncStatus"], item["qbInvoiceIds"]) == ("unsynced", [])


def test_invoice_deleted_in_quickbooks_then_unlinked_syncs_again_as_a_new_invoice(stack, realm, qb, synced_invoice):
    qb_invoice = synced_invoice["qbInvoiceIds"][0]
    qb.delete("Invoice", qb_invoice)
    deliver(stack, intuit_payload("cloudevents", realm, "Invoice", qb_invoice, "Delete", event_id="ev-1"))
    assert stack.api("DELETE", "/quickbooks/invoices/i-1/qb-link")[0] == 204

    again = synced(stack, "i-1")

    (invoice,) = qb.invoices()
    assert again["qbInvoiceIds"] == [invoice["Id"]] != [qb_invoice]
    assert (row(stack, "i-1")["syncStatus"], row(stack, "i-1")["lastError"]) == ("synced", None)


# --- an invoice voided in QuickBooks -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_invoice_voided_in_quickbooks_stays_synced_with_a_last_error_saying_so(stack, realm, qb, fmt):
    # GIVEN a synced invoice without payments (QuickBooks refuses to void a paid one), voided by a QuickBooks user
    client()
    publish_invoice("i-1", payments=[])
    qb_invoice = synced(stack, "i-1")["qbInvoiceIds"][0]
    settle()
    void(qb, "Invoice", qb_invoice)

    # WHEN Intuit tells us
    status, ack = deliver(stack, intuit_payload(fmt, realm, "Invoice", qb_invoice, "Void", event_id="ev-void"))

    # THEN it is still synced (the voided invoice exists in QuickBooks), and the list says it was voided
    assert (status, ack["new"]) == (200, 1)
    item = row(stack, "i-1")
    assert (item["syncStatus"], item["qbInvoiceIds"]) == ("synced", [qb_invoice])
    assert item["lastError"] == f"QuickBooks invoice {qb_invoice} was voided in QuickBooks."
    # AND View QB Info shows the voided invoice as QuickBooks has it
    (shown,) = stack.api("GET", "/quickbooks/invoices/i-1/qb")[1]["invoices"]
    assert shown["Id"] == qb_invoice


# --- a payment deleted or voided in QuickBooks -------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["Delete", "Void"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_payment_deleted_or_voided_in_quickbooks_is_noted_and_the_next_sync_writes_it_once(
    stack, realm, qb, synced_invoice, fmt, operation
):
    # GIVEN a synced invoice whose payment a QuickBooks user deletes (or voids)
    (qb_payment,) = synced_invoice["qbPaymentIds"]
    (qb.delete if operation == "Delete" else lambda e, i: void(qb, e, i))("Payment", qb_payment)

    # WHEN Intuit tells us
    status, ack = deliver(stack, intuit_payload(fmt, realm, "Payment", qb_payment, operation, event_id="ev-pay"))

    # THEN the invoice lists a lastError naming the payment, and is otherwise as it was
    assert (status, ack["new"]) == (200, 1)
    item = row(stack, "i-1")
    assert item["syncStatus"] == "synced"
    assert item["qbInvoiceIds"] == synced_invoice["qbInvoiceIds"]
    assert f"QuickBooks payment {qb_payment} was {ACTIONS[operation]} in QuickBooks" in item["lastError"]
    # AND the link no longer holds the payment (its guard gone), its next write a new request
    link = stored_link(realm)
    assert (dict(link.payments), link.generation("payment:p1")) == ({}, 1)
    assert guard_of(realm, "Payment", qb_payment) is None
    assert guard_of(realm, "Invoice", synced_invoice["qbInvoiceIds"][0]) is not None
    # (released, not deleted: the webhook may not delete; out of the index, the TTL removes it)
    tombstone = wiring.table().get(tenant_pk("t1"), guard_sk(realm, "Payment", qb_payment))
    assert tombstone is not None and tombstone["released"] is True and "gsi1pk" not in tombstone
    assert int(tombstone["expiresAt"]) > time.time()
    assert LinkGuards(wiring.table()).holders_by_index("t1", realm, "Payment", qb_payment) == []

    # WHEN the invoice is synced again
    before = calls(stack, realm)
    again = synced(stack, "i-1")

    # THEN exactly one new payment is written (not the replay of the gone one), applied to the same invoice
    assert qb_calls_since(before, calls(stack, realm)).get("POST payment") == 1
    (new_payment,) = again["qbPaymentIds"]
    assert new_payment != qb_payment
    live = [p for p in qb.query("Payment") if p["Id"] != qb_payment]
    assert [p["Id"] for p in live] == [new_payment]
    (invoice,) = qb.invoices()
    assert money(invoice["Balance"]) == money("30.10")
    item = row(stack, "i-1")
    assert (item["syncStatus"], item["lastError"]) == ("synced", None)
    # AND a third sync writes nothing more
    before = calls(stack, realm)
    synced(stack, "i-1")
    assert "POST payment" not in qb_calls_since(before, calls(stack, realm))


def test_payment_deleted_by_our_own_sync_changes_nothing_when_its_webhook_arrives(stack, realm, qb):
    # GIVEN Books360 removed a payment and the sync deleted it in QuickBooks
    client()
    publish_invoice("i-1", payments=[payment("p1", "2026-10-20", "100.00"), payment("p2", "2026-10-27", "20.00")])
    first = synced(stack, "i-1")
    settle()
    publish_invoice("i-1", version=2, payments=[payment("p1", "2026-10-20", "100.00")])
    synced(stack, "i-1")
    before = raw_item()

    # WHEN QuickBooks' webhook of that deletion arrives
    status, ack = deliver(
        stack, intuit_payload("cloudevents", realm, "Payment", first["qbPaymentIds"][1], "Delete", event_id="ev-own")
    )

    # THEN it is recorded, and the invoice is untouched
    assert (status, ack["new"]) == (200, 1)
    assert raw_item() == before
    assert row(stack, "i-1")["lastError"] is None


# --- repeated deliveries, unknown companies, other objects -------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "operation"), [("Invoice", "Delete"), ("Invoice", "Void"), ("Payment", "Delete")], ids=str
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_repeated_delivery_changes_nothing(stack, realm, qb, fmt, entity, operation):
    # GIVEN a synced invoice (no payment for a void, which QuickBooks refuses on a paid invoice), the QuickBooks
    # user's change to it, and its event delivered
    client()
    publish_invoice("i-1", **({"payments": []} if operation == "Void" else {}))
    answer = synced(stack, "i-1")
    qb_id = (answer["qbInvoiceIds"] if entity == "Invoice" else answer["qbPaymentIds"])[0]
    settle()
    (qb.delete if operation == "Delete" else lambda e, i: void(qb, e, i))(entity, qb_id)
    payload = intuit_payload(fmt, realm, entity, qb_id, operation, event_id="ev-repeat")
    deliver(stack, payload)
    after_first = raw_item()

    # WHEN the same delivery comes again, before and after a sync
    second = deliver(stack, payload)
    after_second = raw_item()
    sync(stack, "i-1")
    after_sync = raw_item()
    third = deliver(stack, payload)

    # THEN each repeat is acknowledged, counted as nothing new, and changes nothing
    assert second == third == (200, {"events": 1, "new": 0, "ignored": 0})
    assert after_second == after_first
    assert raw_item() == after_sync
    assert len(recorded_ids()) == 1


def test_events_of_an_unknown_company_are_acknowledged_and_ignored(stack, realm, synced_invoice):
    before = raw_item()
    payload = [
        cloudevent("999999", entity_id=synced_invoice["qbInvoiceIds"][0], kind="qbo.invoice.deleted.v1"),
        cloudevent("999999", entity_id=synced_invoice["qbPaymentIds"][0], kind="qbo.payment.deleted.v1", event_id="x"),
    ]

    status, ack = deliver(stack, payload)

    assert (status, ack) == (200, {"events": 2, "new": 0, "ignored": 2})
    assert raw_item() == before
    assert row(stack, "i-1")["syncStatus"] == "synced"


def test_same_ids_in_another_tenants_company_leave_ours_alone(stack, realm, qb, synced_invoice):
    # GIVEN another tenant connected to another company, where the same ids mean other objects
    other = stack.connect("t2", stack.company("Other Co"))
    before = raw_item()

    # WHEN that company deletes "the same" invoice and payment ids
    ids = [synced_invoice["qbInvoiceIds"][0], synced_invoice["qbPaymentIds"][0]]
    payload = [
        cloudevent(other, entity_id=ids[0], kind="qbo.invoice.deleted.v1", event_id="o-1"),
        cloudevent(other, entity_id=ids[1], kind="qbo.payment.deleted.v1", event_id="o-2"),
    ]
    status, ack = deliver(stack, payload)

    # THEN only t2 recorded them; our invoice is untouched
    assert (status, ack) == (200, {"events": 2, "new": 2, "ignored": 0})
    assert raw_item() == before
    assert recorded_ids() == []


def test_created_updated_and_emailed_events_only_get_recorded(stack, realm, synced_invoice):
    before = raw_item()
    qb_invoice = synced_invoice["qbInvoiceIds"][0]
    payload = [
        cloudevent(realm, entity_id=qb_invoice, kind=f"qbo.invoice.{action}.v1", event_id=f"ev-{action}")
        for action in ("created", "updated", "emailed")
    ]

    assert deliver(stack, payload) == (200, {"events": 3, "new": 3, "ignored": 0})
    assert raw_item() == before


# --- effect first, then the event id ------------------------------------------------------------------------------


def test_a_failure_while_marking_records_nothing_and_intuits_retry_applies_it(
    stack, realm, qb, synced_invoice, monkeypatch
):
    # GIVEN the mark fails once (DynamoDB refuses the write, say)
    qb_invoice = synced_invoice["qbInvoiceIds"][0]
    qb.delete("Invoice", qb_invoice)
    fail_once(monkeypatch, InvoiceStore, "save_link", "DynamoDB said no")
    payload = intuit_payload("classic", realm, "Invoice", qb_invoice, "Delete", event_id="ev-fail")

    # WHEN Intuit delivers the deletion
    first = stack.call("webhook", "POST", "/quickbooks/webhooks", tenant=None, **signed(payload))

    # THEN it is an error, the event is not recorded, and nothing is marked (nor the invoice left held)
    assert first["statusCode"] == 500
    assert recorded_ids() == []
    assert row(stack, "i-1")["syncStatus"] == "synced"
    assert wiring.lease_store().seconds_left("t1", "invoice#i-1") is None

    # WHEN Intuit retries
    status, ack = deliver(stack, payload)

    # THEN the retry applies it
    assert (status, ack["new"]) == (200, 1)
    assert row(stack, "i-1")["syncStatus"] == "deleted_in_qb"
    assert len(recorded_ids()) == 1


def test_a_failure_after_marking_before_recording_is_reapplied_harmlessly(
    stack, realm, qb, synced_invoice, monkeypatch
):
    # GIVEN recording the event fails once, after the mark was made
    (qb_payment,) = synced_invoice["qbPaymentIds"]
    qb.delete("Payment", qb_payment)
    record = WebhookEventStore.record
    failures = []

    def failing_once(self, *args, **kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("lost before recording")
        return record(self, *args, **kwargs)

    monkeypatch.setattr(WebhookEventStore, "record", failing_once)
    payload = intuit_payload("cloudevents", realm, "Payment", qb_payment, "Delete", event_id="ev-between")

    # WHEN Intuit delivers it (an error), then retries
    first = stack.call("webhook", "POST", "/quickbooks/webhooks", tenant=None, **signed(payload))
    marked = raw_item()
    status, ack = deliver(stack, payload)

    # THEN the mark made the first time stands, the retry changed nothing more, and the event is recorded now
    assert first["statusCode"] == 500
    assert (status, ack["new"]) == (200, 1)
    assert raw_item() == marked
    link = stored_link(realm)
    assert (dict(link.payments), link.generation("payment:p1")) == ({}, 1)
    assert recorded_ids() == ["ev-between"]


def test_a_customer_deletion_is_also_applied_before_it_is_recorded(stack, realm, monkeypatch):
    # GIVEN a linked customer, and marks that fail once
    client("c-9", "Gone Corp")
    status, linked = stack.api("POST", "/quickbooks/customers/c-9/sync", body={"create": True})
    assert status == 200, linked
    party_store = type(wiring.party_store())
    mark = party_store.mark_deleted_in_qb
    failures = []

    def failing_once(self, *args, **kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("DynamoDB said no")
        return mark(self, *args, **kwargs)

    monkeypatch.setattr(party_store, "mark_deleted_in_qb", failing_once)
    payload = [cloudevent(realm, entity_id=linked["qbCustomerId"], event_id="ev-cust")]

    # WHEN Intuit delivers the deletion, then retries
    first = stack.call("webhook", "POST", "/quickbooks/webhooks", tenant=None, **signed(payload))
    assert (first["statusCode"], recorded_ids()) == (500, [])
    status, ack = deliver(stack, payload)

    # THEN the retry marked it
    assert (status, ack["new"]) == (200, 1)
    (item,) = stack.api("GET", "/quickbooks/customers", query={"client": "c-9"})[1]["items"]
    assert item["status"] == "deleted_in_qb"
    assert wiring.party_store().get("t1", CUSTOMER, "c-9") is not None


# --- an invoice being synced ---------------------------------------------------------------------------------------


def test_an_invoice_being_synced_answers_503_at_once_and_the_retry_applies_it(stack, realm, qb, synced_invoice):
    # GIVEN a sync holds the invoice (its lease), and a delivery names its deleted invoice and another change
    qb_invoice = synced_invoice["qbInvoiceIds"][0]
    qb.delete("Invoice", qb_invoice)
    leases = wiring.lease_store()
    assert leases.acquire("t1", "invoice#i-1", "a-sync", seconds=60)
    payload = [
        cloudevent(realm, entity_id=qb_invoice, kind="qbo.invoice.deleted.v1", event_id="ev-held"),
        cloudevent(realm, entity_id="777", kind="qbo.customer.updated.v1", event_id="ev-other"),
    ]

    # WHEN Intuit delivers it
    started = time.monotonic()
    answer = stack.call("webhook", "POST", "/quickbooks/webhooks", tenant=None, **signed(payload))
    elapsed = time.monotonic() - started

    # THEN 503 at once (well within Intuit's 3 s) with Retry-After; only the other event is recorded; nothing marked
    assert answer["statusCode"] == 503, answer
    assert elapsed < 3.0
    assert json.loads(answer["body"])["status"] == 503
    assert int(answer["headers"]["Retry-After"]) > 0
    assert recorded_ids() == ["ev-other"]
    assert row(stack, "i-1")["syncStatus"] == "synced"
    # AND the sync's lease is still the sync's
    assert leases.seconds_left("t1", "invoice#i-1") is not None

    # WHEN the sync is done and Intuit retries
    leases.release("t1", "invoice#i-1", "a-sync")
    status, ack = deliver(stack, payload)

    # THEN the held event is applied now (the other one was seen already)
    assert (status, ack) == (200, {"events": 2, "new": 1, "ignored": 0})
    assert row(stack, "i-1")["syncStatus"] == "deleted_in_qb"
    assert sorted(recorded_ids()) == ["ev-held", "ev-other"]
    # AND the mark let go of the lease: the user can unlink at once
    assert stack.api("DELETE", "/quickbooks/invoices/i-1/qb-link")[0] == 204


def test_a_deleted_payment_then_a_deleted_invoice_keep_both_notes(stack, realm, qb, synced_invoice):
    # GIVEN the QuickBooks user deletes the invoice and its payment, both told in one delivery
    (qb_invoice,), (qb_payment,) = synced_invoice["qbInvoiceIds"], synced_invoice["qbPaymentIds"]
    qb.delete("Payment", qb_payment)
    qb.delete("Invoice", qb_invoice)
    payload = [
        cloudevent(realm, entity_id=qb_payment, kind="qbo.payment.deleted.v1", event_id="ev-a"),
        cloudevent(realm, entity_id=qb_invoice, kind="qbo.invoice.deleted.v1", event_id="ev-b"),
    ]

    assert deliver(stack, payload)[1]["new"] == 2

    item = row(stack, "i-1")
    assert item["syncStatus"] == "deleted_in_qb"
    assert f"QuickBooks payment {qb_payment} was deleted" in item["lastError"]
    assert f"QuickBooks invoice {qb_invoice} was deleted" in item["lastError"]
    status, seen = stack.api("GET", "/quickbooks/invoices/i-1/qb")
    assert (status, seen) == (200, {"invoices": [{"id": qb_invoice, "deleted": True}], "payments": []})


def signed(payload: Any) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    return {"body": body.decode(), "headers": {"intuit-signature": sign(body)}}

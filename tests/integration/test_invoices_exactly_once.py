"""Writing an invoice to QuickBooks exactly once (architecture: "Writing to QuickBooks exactly once").

Every test counts what a QuickBooks user of the company would see (the emulator queried with an admin token):
exactly one customer, the right invoices and payments with the right amounts, none missing and none orphaned,
whatever was injected on the way:

* 429, 500, 503 and a connection dropped after QuickBooks carried the request out, at the customer create, the
  invoice create, the invoice update, the payment create and the deletes (a payment removed in Books360; the
  payment and the invoice after ``InvoiceDeleted``), once (the client retries within the call) and more often
  than the client tries (the sync answers 503 with ``Retry-After``; the next sync completes);
* a crash between QuickBooks' answer and our record of it (the next sync resumes);
* a second click, and two syncs of one invoice at once (the lease);
* a sync racing ``InvoiceDeleted`` (the deletion waits for the lease and leaves nothing behind);
* a QuickBooks user editing what we wrote between two syncs (a stale SyncToken).

Retries never sleep here (``RetryPolicy.delay`` is 0), so the backoff costs nothing but the requests themselves.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared import wiring
from shared.domain.invoices import InvoiceLink, SyncStatus
from shared.domain.parties import CUSTOMER
from shared.quickbooks.client import QuickBooksClient, RetryPolicy
from shared.services import invoices as service
from shared.services.books360_events import apply_event
from shared.services.pacing import Deferred
from shared.store.bulk_queue import BulkQueue
from shared.store.invoices import InvoiceStore
from tests.conftest import load_function
from tests.integration.test_api_parties import seed
from tests.integration.test_bulk_jobs import Bulk, bulk  # noqa: F401 - the fixture behind ``queue``
from tests.support.events import LambdaContext, eventbridge_event, http_event

TENANT = "t1"
INVOICE_ID = "i1"
CLIENT_ID = "c1"
CLIENT_NAME = "Acme Corp"
ATTEMPTS = RetryPolicy().attempts
"""How often the QuickBooks client tries one request before it gives up (503 with Retry-After)."""
STATUSES = [429, 500, 503, 0]
"""What the emulator injects; 0 = it carries the request out, then drops the connection without an answer."""

TRANSACTIONS = [
    {"id": "t1", "date": "2026-09-05", "description": "Ad spend", "amount": "100.10"},
    {"id": "t2", "date": "2026-10-05", "description": "Fee", "amount": "50.00"},
]
PAYMENTS = [
    {"id": "p1", "date": "2026-10-20", "amount": "100.00", "paymentSystem": "stripe", "brokerId": None},
    {"id": "p2", "date": "2026-10-27", "amount": "20.00", "paymentSystem": "stripe", "brokerId": None},
]
CHANGED_TRANSACTIONS = [TRANSACTIONS[0], {**TRANSACTIONS[1], "description": "Fee (revised)", "amount": "60.00"}]

events_function = load_function("books360_events")


# -- Books360 and the sync, as the functions run them ---------------------------------------------------------


@pytest.fixture(autouse=True)
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's backoff sleeps 0 s: retries are real requests, without the waiting."""
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, draw: 0.0)


def publish_invoice(*, version: int = 1, invoice_id: str = INVOICE_ID, **overrides: Any) -> None:
    """Books360 publishes ``InvoiceUpserted`` (through the service the events function runs)."""
    detail = {
        "tenantId": TENANT,
        "version": version,
        "invoiceId": invoice_id,
        "clientId": CLIENT_ID,
        "number": f"B360-{invoice_id}",
        "createdAt": "2026-10-28T09:00:00Z",
        "dateFrom": "2026-09-01",
        "dateTo": "2026-10-28",
        "dueDate": "2026-11-15",
        "transactions": TRANSACTIONS,
        "payments": PAYMENTS,
        **overrides,
    }
    outcome = apply_event(wiring.books360_store(), "InvoiceUpserted", detail, event_id=f"{invoice_id}-{version}")
    assert outcome.status == "applied", outcome


def publish_invoice_deleted(*, version: int) -> dict[str, Any]:
    """Books360 publishes ``InvoiceDeleted``: the events function stores the tombstone and queues the deletion."""
    detail = {"tenantId": TENANT, "version": version, "invoiceId": INVOICE_ID}
    return dict(events_function.lambda_handler(eventbridge_event("InvoiceDeleted", detail), LambdaContext()))


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def sync(stack: Any, invoice_id: str = INVOICE_ID) -> Answer:
    """The "Sync with QB" button: the sync_invoice function, called as API Gateway calls it."""
    answer = stack.call("sync_invoice", "POST", f"/quickbooks/invoices/{invoice_id}/sync")
    body = json.loads(answer["body"]) if answer.get("body") else None
    return Answer(answer["statusCode"], body, dict(answer.get("headers") or {}))


def synced(stack: Any, invoice_id: str = INVOICE_ID) -> Answer:
    answer = sync(stack, invoice_id)
    assert answer.status == 200, answer
    return answer


def link_of(realm: str, invoice_id: str = INVOICE_ID) -> InvoiceLink | None:
    stored = wiring.invoice_store().get(TENANT, invoice_id, with_deleted=True)
    assert stored is not None
    return stored.link_in(realm)


# -- the QuickBooks company, as its own user sees it ----------------------------------------------------------


@dataclass
class QuickBooksCompany:
    """The company through the emulator's admin token: what a QuickBooks user would list and edit."""

    http: httpx.Client
    realm_id: str
    token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def all(self, entity: str) -> list[dict[str, Any]]:
        answer = self.http.get(
            f"/v3/company/{self.realm_id}/query",
            params={"query": f"SELECT * FROM {entity} MAXRESULTS 1000", "minorversion": 75},
            headers=self._headers(),
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["QueryResponse"].get(entity, []))

    def edit(self, entity: str, record: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A sparse update as the user's own screen sends it: QuickBooks moves the SyncToken on."""
        body = {"Id": record["Id"], "SyncToken": record["SyncToken"], "sparse": True, **fields}
        answer = self.http.post(f"/v3/company/{self.realm_id}/{entity.lower()}", json=body, headers=self._headers())
        assert answer.status_code == 200, answer.text
        return dict(answer.json()[entity])

    def calls(self) -> dict[str, int]:
        """Every request the company answered so far, by method and entity (``POST invoice``: 3)."""
        return dict(self.http.get("/_admin/requests", params={"realmId": self.realm_id}).json()["byEndpoint"])

    def writes(self) -> dict[str, int]:
        """The requests so far that may change the company: every POST but the queries."""
        return {k: v for k, v in self.calls().items() if k.startswith("POST ") and k != "POST query"}

    def fault(self, **rule: Any) -> None:
        answer = self.http.post("/_admin/faults", json={"realmId": self.realm_id, **rule})
        assert answer.status_code == 200, answer.text


@pytest.fixture
def realm(stack: Any) -> str:
    """A connected company, and the Books360 client every invoice here belongs to."""
    realm_id = str(stack.connect())
    seed(CUSTOMER, CLIENT_ID, CLIENT_NAME, email="ap@acme.example")
    return realm_id


@pytest.fixture
def qb(stack: Any, realm: str) -> QuickBooksCompany:
    token = stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    return QuickBooksCompany(stack.http, realm, token)


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> Bulk:
    """The bulk queue in moto and bulk_sync's worker, as test_bulk_jobs builds them (the deletions go there)."""
    queue: Bulk = request.getfixturevalue("bulk")
    return queue


def clear_faults(stack: Any) -> None:
    """QuickBooks is well again: the rules not used up yet are dropped (the emulator runs in this process)."""
    stack.emulator.state.faults.clear()


def amount(value: Any) -> Decimal:
    return Decimal(str(value))


def assert_exactly_once(
    qb: QuickBooksCompany,
    *,
    total: str = "150.10",
    payments: dict[str, str] | None = None,
    lines: list[tuple[str, str]] | None = None,
) -> None:
    """One customer, one invoice with the Books360 content, one payment per Books360 payment applied to it, and
    the link naming exactly those objects with nothing left pending."""
    payments = {"p1": "100.00", "p2": "20.00"} if payments is None else payments
    lines = lines or [("Ad spend", "100.10"), ("Fee", "50.00")]
    (customer,) = qb.all("Customer")
    assert customer["DisplayName"] == CLIENT_NAME
    (invoice,) = qb.all("Invoice")
    assert invoice["CustomerRef"]["value"] == customer["Id"]
    assert invoice["PrivateNote"] == f"Books360 t1 invoice {INVOICE_ID}"
    assert invoice["DocNumber"] == f"B360-{INVOICE_ID}"
    assert amount(invoice["TotalAmt"]) == Decimal(total)
    paid = sum((Decimal(v) for v in payments.values()), Decimal("0"))
    assert amount(invoice["Balance"]) == Decimal(total) - paid
    sales = [line for line in invoice["Line"] if line.get("DetailType") == "SalesItemLineDetail"]
    assert [(line["Description"], amount(line["Amount"])) for line in sales] == [
        (text, Decimal(value)) for text, value in lines
    ]
    found = {p["PrivateNote"]: p for p in qb.all("Payment")}
    assert sorted(found) == sorted(f"Books360 t1 payment {pid} of invoice {INVOICE_ID}" for pid in payments)
    for payment_id, value in payments.items():
        payment = found[f"Books360 t1 payment {payment_id} of invoice {INVOICE_ID}"]
        assert amount(payment["TotalAmt"]) == Decimal(value)
        assert payment["CustomerRef"]["value"] == customer["Id"]
        applied = [txn["TxnId"] for line in payment["Line"] for txn in line.get("LinkedTxn", [])]
        assert applied == [invoice["Id"]]
    link = link_of(qb.realm_id)
    assert link is not None
    assert (link.status, dict(link.pending), link.customer_id) == (SyncStatus.SYNCED, {}, customer["Id"])
    assert link.qb_invoice_ids == [invoice["Id"]]
    assert link.qb_payment_ids == [
        found[f"Books360 t1 payment {p} of invoice {INVOICE_ID}"]["Id"] for p in sorted(payments)
    ]


def assert_nothing_left(qb: QuickBooksCompany) -> None:
    """After the deletion: the customer stays, no invoice or payment of ours, and nothing tracked any more."""
    assert len(qb.all("Customer")) == 1
    assert qb.all("Invoice") == []
    assert qb.all("Payment") == []
    link = link_of(qb.realm_id)
    assert link is not None
    assert not link.linked
    assert link.status is SyncStatus.UNSYNCED


# -- 1. faults at every write ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """Where the fault is injected: the rule, and what happens before the faulted step runs."""

    rule: dict[str, Any]
    before: Callable[[Any], None]
    via_queue: bool = False
    """The faulted step is the queued deletion after ``InvoiceDeleted`` (bulk_sync's worker), not a sync."""
    expect: dict[str, Any] | None = None
    """What QuickBooks must hold afterwards (``assert_exactly_once``'s arguments)."""


def _new_invoice(stack: Any) -> None:
    publish_invoice()


def _synced_then(**changes: Any) -> Callable[[Any], None]:
    def before(stack: Any) -> None:
        publish_invoice()
        synced(stack)
        publish_invoice(version=2, **changes)

    return before


def _synced_then_deleted(stack: Any) -> None:
    publish_invoice()
    synced(stack)
    assert publish_invoice_deleted(version=2)["status"] == "applied"


POINTS = {
    "customer-create": Point({"method": "POST", "entity": "customer"}, _new_invoice),
    "invoice-create": Point({"method": "POST", "entity": "invoice"}, _new_invoice),
    "invoice-update": Point(
        {"method": "POST", "entity": "invoice"},
        _synced_then(transactions=CHANGED_TRANSACTIONS),
        expect={"total": "160.10", "lines": [("Ad spend", "100.10"), ("Fee (revised)", "60.00")]},
    ),
    "payment-create": Point({"method": "POST", "entity": "payment"}, _new_invoice),
    "payment-delete": Point(
        {"method": "POST", "entity": "payment", "operation": "delete"},
        _synced_then(payments=PAYMENTS[:1]),
        expect={"payments": {"p1": "100.00"}},
    ),
    "InvoiceDeleted-payment-delete": Point(
        {"method": "POST", "entity": "payment", "operation": "delete"}, _synced_then_deleted, via_queue=True
    ),
    "InvoiceDeleted-invoice-delete": Point(
        {"method": "POST", "entity": "invoice", "operation": "delete"}, _synced_then_deleted, via_queue=True
    ),
}


def _sync_through_fault(stack: Any, qb: QuickBooksCompany, point: Point, *, exhausted: bool) -> None:
    answer = sync(stack)
    if exhausted:
        # The client gave up: 503 with Retry-After, in QuickBooks' words; then QuickBooks is well again.
        assert answer.status == 503, answer
        assert answer.body["type"] == "/problems/quickbooks-throttled"
        assert int(answer.headers["Retry-After"]) > 0
        clear_faults(stack)
        answer = sync(stack)
    # Retried within the call (or by the second sync): done, with exactly one of each object.
    assert answer.status == 200, answer
    assert_exactly_once(qb, **(point.expect or {}))
    # Everything was recorded: one more sync writes nothing at all.
    before = qb.writes()
    assert synced(stack).body["qbInvoiceIds"] == answer.body["qbInvoiceIds"]
    assert qb.writes() == before


def _delete_through_fault(stack: Any, qb: QuickBooksCompany, queue: Bulk, status: int, *, exhausted: bool) -> None:
    (message,) = queue.receive()
    failed = queue.deliver([message])
    if exhausted or status == 429:
        # Given up (or a 429, which a bulk worker never sleeps on): the message comes back later, with what is
        # not deleted yet still linked.
        assert failed == {message["MessageId"]}
        link = link_of(qb.realm_id)
        assert link is not None and link.linked
        clear_faults(stack)
        queue.retry_now([message])
        queue.drain()
    else:
        assert failed == set()
    assert queue.visible_and_hidden() == (0, 0)
    assert_nothing_left(qb)


@pytest.mark.parametrize("times", ["once", "exhausted"])
@pytest.mark.parametrize("status", STATUSES, ids=lambda s: "dropped" if s == 0 else str(s))
@pytest.mark.parametrize("point", POINTS)
def test_fault_at_each_write_leaves_exactly_one_of_each_object(stack, realm, qb, request, point, status, times):
    # GIVEN the invoice as it stands before the faulted write
    scenario = POINTS[point]
    queue: Bulk | None = request.getfixturevalue("queue") if scenario.via_queue else None
    scenario.before(stack)
    faulted = f"{scenario.rule['method']} {scenario.rule['entity']}"
    calls_before = qb.calls().get(faulted, 0)

    # WHEN QuickBooks fails that write (or carries it out and drops the answer), once or more often than the
    # client tries
    exhausted = times == "exhausted"
    qb.fault(**scenario.rule, status=status, count=ATTEMPTS + 2 if exhausted else 1)
    if queue is not None:
        _delete_through_fault(stack, qb, queue, status, exhausted=exhausted)
    else:
        _sync_through_fault(stack, qb, scenario, exhausted=exhausted)

    # THEN (asserted above) exactly one of each object, none missing, none orphaned; and the faulted write was
    # really met and tried again
    assert qb.calls().get(faulted, 0) - calls_before >= 2


# -- 2. a crash between QuickBooks' answer and our record --------------------------------------------------------


class LambdaDied(Exception):
    """The process ended between QuickBooks' answer and the DynamoDB write recording it."""


def crash_once_after_answer(monkeypatch: pytest.MonkeyPatch, created: str) -> list[InvoiceLink]:
    """The first record of an answered create of ``created`` (``invoice``: the QuickBooks invoice, ``payment``:
    the first payment) dies before DynamoDB has it; what the record would have said is kept in the list."""
    original = InvoiceStore.save_link
    crashes: list[InvoiceLink] = []

    def objects(link: InvoiceLink | None) -> set[str]:
        if link is None:
            return set()
        return set(link.parts if created == "invoice" else link.payments)

    def save_link(self, tenant_id, invoice_id, link, previous):
        if objects(link) - objects(previous) and not crashes:
            crashes.append(link)
            raise LambdaDied
        return original(self, tenant_id, invoice_id, link, previous)

    monkeypatch.setattr(InvoiceStore, "save_link", save_link)
    return crashes


def crashed_sync(stack: Any, qb: QuickBooksCompany, monkeypatch: pytest.MonkeyPatch, created: str) -> None:
    """A first sync that dies right after QuickBooks answered the create of ``created``."""
    publish_invoice()
    crashes = crash_once_after_answer(monkeypatch, created)

    answer = sync(stack)

    # It failed, QuickBooks holds what it answered, and our record still calls that create pending (the creates
    # it never sent are not: the next run sends them without looking for them first).
    assert answer.status == 500, answer
    assert len(crashes) == 1
    assert len(qb.all("Invoice")) == 1
    assert len(qb.all("Payment")) == (1 if created == "payment" else 0)
    link = link_of(qb.realm_id)
    assert link is not None
    assert set(link.pending) == ({"part:all"} if created == "invoice" else {"payment:p1"})


@pytest.mark.parametrize("created", ["invoice", "payment"])
def test_crash_after_quickbooks_answered_resumes_without_a_second_object(stack, realm, qb, monkeypatch, created):
    # GIVEN a sync that died between QuickBooks' answer to a create and our record of it
    crashed_sync(stack, qb, monkeypatch, created)

    # WHEN the invoice is synced again
    again = sync(stack)

    # THEN it resumed: the object QuickBooks made was found (by our marker), not made twice, and the rest written
    assert again.status == 200, again
    assert_exactly_once(qb)


def test_sync_near_the_end_of_its_time_answers_503_instead_of_outliving_api_gateway(stack, realm, qb):
    # GIVEN QuickBooks answering every call in 2.5 s, and a "Sync with QB" invoked with 4 s of Lambda time left
    publish_invoice(payments=PAYMENTS[:1])
    qb.fault(latencyMs=2500)
    event = http_event("POST", f"/quickbooks/invoices/{INVOICE_ID}/sync", claims={"sub": "user", "tenant_id": TENANT})

    # WHEN it runs
    started = time.monotonic()
    answer = stack.functions["sync_invoice"].lambda_handler(event, LambdaContext(remaining_ms=4000))
    elapsed = time.monotonic() - started

    # THEN it stopped calling QuickBooks before its time ran out and said "busy, try again" (503 with Retry-After),
    # and what it did write is recorded: the next sync resumes, one invoice in QuickBooks in the end
    assert answer["statusCode"] == 503, answer
    assert int(answer["headers"]["Retry-After"]) > 0
    assert elapsed < 4.0, elapsed
    clear_faults(stack)
    synced(stack)
    assert len(qb.all("Invoice")) == 1 and len(qb.all("Payment")) == 1


class DeferAt:
    """A bulk worker's pacing that defers (``Deferred``: nothing sent) the ``at``-th call of a client."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def acquire(self, realm_id: str) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise Deferred(5)

    def release(self, realm_id: str) -> None:
        pass


@pytest.mark.parametrize(("deferred_call", "created"), [(5, "invoice"), (6, "payment")])
def test_sync_deferred_before_a_create_resumes_without_looking_for_it(stack, realm, qb, deferred_call, created):
    # GIVEN a first automatic sync that our own pacing stopped just before the create of ``created`` was sent (the
    # customer create is the first call, then the company's Item is looked for and made, then the invoice, then
    # the payment)
    publish_invoice(payments=PAYMENTS[:1])
    stores = wiring.invoice_stores()
    with (
        pytest.raises(Deferred),
        wiring.quickbooks_for(TENANT, pacer=DeferAt(deferred_call)) as qbo,
    ):
        service.sync_invoice(qbo, stores, tenant_id=TENANT, invoice_id=INVOICE_ID, now=wiring.now())
    link = link_of(qb.realm_id)
    assert link is not None and dict(link.pending) == {}
    assert len(qb.all("Invoice")) == (0 if created == "invoice" else 1)
    before = qb.calls()

    # WHEN its message comes back and the sync runs again
    with wiring.quickbooks_for(TENANT, pacer=DeferAt(0)) as qbo:
        service.sync_invoice(qbo, stores, tenant_id=TENANT, invoice_id=INVOICE_ID, now=wiring.now())

    # THEN nothing was looked for (no query: what was never sent cannot be in QuickBooks), each object made once
    after = qb.calls()
    assert after.get("POST query", 0) == before.get("POST query", 0)
    assert len(qb.all("Invoice")) == 1 and len(qb.all("Payment")) == 1
    assert link_of(qb.realm_id).status is SyncStatus.SYNCED


def test_sync_deferred_before_retrying_a_create_quickbooks_carried_out_finds_it_next_time(stack, realm, qb):
    # GIVEN QuickBooks carries out the invoice create but the connection drops before its answer, and our pacing
    # defers the client's retry of it (the 6th call: customer, the Item's two look-ups and create, the invoice)
    publish_invoice(payments=PAYMENTS[:1])
    qb.fault(method="POST", entity="invoice", status=0, count=1)
    stores = wiring.invoice_stores()
    with pytest.raises(Deferred), wiring.quickbooks_for(TENANT, pacer=DeferAt(6)) as qbo:
        service.sync_invoice(qbo, stores, tenant_id=TENANT, invoice_id=INVOICE_ID, now=wiring.now())

    # THEN the create stays pending (it may be in QuickBooks: it is), and the next run finds it by our marker
    # instead of making a second invoice
    link = link_of(qb.realm_id)
    assert link is not None and set(link.pending) == {"part:all"}
    assert len(qb.all("Invoice")) == 1
    with wiring.quickbooks_for(TENANT, pacer=DeferAt(0)) as qbo:
        service.sync_invoice(qbo, stores, tenant_id=TENANT, invoice_id=INVOICE_ID, now=wiring.now())
    assert len(qb.all("Invoice")) == 1 and len(qb.all("Payment")) == 1
    assert link_of(qb.realm_id).status is SyncStatus.SYNCED


@pytest.mark.parametrize("created", ["invoice", "payment"])
def test_invoice_deleted_after_a_crashed_sync_leaves_no_orphan(stack, realm, qb, queue, monkeypatch, created):
    # GIVEN a sync that died between QuickBooks' answer to a create and our record of it
    crashed_sync(stack, qb, monkeypatch, created)

    # WHEN Books360 deletes the invoice and whatever was queued runs
    assert publish_invoice_deleted(version=2)["status"] == "applied"
    queue.drain()

    # THEN nothing the crashed sync made is left in QuickBooks
    assert qb.all("Invoice") == []
    assert qb.all("Payment") == []


# -- 3. a second click, two syncs at once -------------------------------------------------------------------------


def test_second_click_right_after_the_first_writes_nothing_more(stack, realm, qb):
    # GIVEN an invoice synced once
    publish_invoice()
    first = synced(stack)
    after_first = qb.writes()

    # WHEN "Sync with QB" is clicked again at once
    second = synced(stack)

    # THEN the same objects, and not one more write
    assert (second.body["qbInvoiceIds"], second.body["qbPaymentIds"]) == (
        first.body["qbInvoiceIds"],
        first.body["qbPaymentIds"],
    )
    assert qb.writes() == after_first
    assert_exactly_once(qb)


def test_sync_while_another_holds_the_invoice_answers_409_and_writes_nothing(stack, realm, qb):
    # GIVEN another sync of the invoice holds its lease
    publish_invoice()
    assert wiring.lease_store().acquire(TENANT, f"invoice#{INVOICE_ID}", "other-sync", seconds=60)
    before = qb.calls()

    # WHEN the user syncs it
    answer = sync(stack)

    # THEN 409 sync-in-progress, and QuickBooks was not called at all
    assert answer.status == 409, answer
    assert answer.body["type"] == "/problems/sync-in-progress"
    assert qb.calls() == before
    assert qb.all("Invoice") == []


def test_two_syncs_of_one_invoice_at_once_make_one_of_each(stack, realm, qb):
    # GIVEN one invoice, and a QuickBooks slow enough at the invoice create that the two syncs overlap
    publish_invoice()
    qb.fault(method="POST", entity="invoice", latencyMs=300, count=1)
    start = threading.Barrier(2)

    def run(_: int) -> tuple[int, list[str], list[str]]:
        qbo = wiring.quickbooks_for(TENANT)
        start.wait()
        try:
            with qbo:
                done = service.sync_invoice(
                    qbo, wiring.invoice_stores(), tenant_id=TENANT, invoice_id=INVOICE_ID, now=wiring.now()
                )
        except service.SyncInProgress:
            return 409, [], []
        return 200, done.qb_invoice_ids, done.qb_payment_ids

    # WHEN both run at the same moment
    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(run, range(2)))

    # THEN one wrote, the other was turned away (or, had it come after, found everything written)
    assert outcomes[0][0] == 200
    assert outcomes[1][0] in (200, 409)
    assert_exactly_once(qb)


def test_two_invoices_of_one_new_client_synced_at_once_make_one_customer(stack, realm, qb):
    # GIVEN two invoices of a client not in QuickBooks yet
    publish_invoice(invoice_id="i1")
    publish_invoice(invoice_id="i2", payments=[])
    start = threading.Barrier(2)

    def run(invoice_id: str) -> str:
        qbo = wiring.quickbooks_for(TENANT)
        start.wait()
        with qbo:
            service.sync_invoice(
                qbo, wiring.invoice_stores(), tenant_id=TENANT, invoice_id=invoice_id, now=wiring.now()
            )
        return invoice_id

    # WHEN both are synced at the same moment (both create the customer)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, ["i1", "i2"]))

    # THEN one customer, with both invoices
    (customer,) = qb.all("Customer")
    invoices = qb.all("Invoice")
    assert sorted(i["PrivateNote"] for i in invoices) == ["Books360 t1 invoice i1", "Books360 t1 invoice i2"]
    assert {i["CustomerRef"]["value"] for i in invoices} == {customer["Id"]}


# -- 4. a sync racing InvoiceDeleted ------------------------------------------------------------------------------


def test_invoice_deleted_while_a_sync_holds_the_lease_is_retried_and_leaves_nothing(stack, realm, qb, queue):
    # GIVEN a synced invoice, and a sync of it under way (its lease held)
    publish_invoice()
    synced(stack)
    leases = wiring.lease_store()
    assert leases.acquire(TENANT, f"invoice#{INVOICE_ID}", "running-sync", seconds=60)

    # WHEN Books360 deletes it and the queued deletion meets the lease
    assert publish_invoice_deleted(version=2)["status"] == "applied"
    (message,) = queue.receive()
    failed = queue.deliver([message])

    # THEN the deletion waits (the message comes back later) and nothing was deleted under the sync's feet
    assert failed == {message["MessageId"]}
    assert queue.visible_and_hidden() == (0, 1)
    assert len(qb.all("Invoice")) == 1
    assert len(qb.all("Payment")) == 2

    # WHEN the sync ends and the message comes back
    leases.release(TENANT, f"invoice#{INVOICE_ID}", "running-sync")
    queue.retry_now([message])
    queue.drain()

    # THEN nothing of the invoice is left in QuickBooks
    assert_nothing_left(qb)


def test_invoice_deleted_meeting_the_lease_of_a_dead_sync_still_deletes_once_it_lapses(
    stack, realm, qb, queue, monkeypatch
):
    # GIVEN a synced invoice whose next sync died holding the lease (a Lambda timeout runs no ``finally``)
    publish_invoice()
    synced(stack)
    leases = wiring.lease_store()
    assert leases.acquire(TENANT, f"invoice#{INVOICE_ID}", "dead-sync", seconds=service.LEASE_SECONDS)
    # SQS's clock: a message handed back with a delay is received again that much later.
    elapsed = [0.0]
    monkeypatch.setattr(leases, "clock", lambda: time.time() + elapsed[0])

    def delay(self: BulkQueue, receipt_handle: str, seconds: int) -> None:
        elapsed[0] += seconds

    monkeypatch.setattr(BulkQueue, "delay", delay)

    # WHEN Books360 deletes it and SQS delivers the deletion until the worker lets it go
    assert publish_invoice_deleted(version=2)["status"] == "applied"
    queue.drain()

    # THEN the deletion outlived the dead sync's lease: nothing of the invoice is left in QuickBooks
    assert_nothing_left(qb)


class PausedSync:
    """A sync run in a thread that stops just before it sends its first create of ``entity`` to QuickBooks (its
    lease held, everything before that recorded) until ``resume``: the race is set up without timing."""

    def __init__(self, stack: Any, monkeypatch: pytest.MonkeyPatch, entity: str) -> None:
        self.reached = threading.Event()
        self.go_on = threading.Event()
        self.answers: list[Answer] = []
        original = QuickBooksClient.create

        def create(client: QuickBooksClient, name: str, body: dict[str, Any], *, request_id: str) -> dict[str, Any]:
            if name == entity and not self.reached.is_set():
                self.reached.set()
                assert self.go_on.wait(10), "the test never resumed the sync"
            return original(client, name, body, request_id=request_id)

        monkeypatch.setattr(QuickBooksClient, "create", create)
        self.thread = threading.Thread(target=lambda: self.answers.append(sync(stack)))
        self.thread.start()
        assert self.reached.wait(10), f"the sync never reached its {entity} create"

    def resume(self) -> Answer:
        self.go_on.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        (answer,) = self.answers
        return answer


def test_sync_while_another_sync_writes_answers_409_and_the_first_completes(stack, realm, qb, monkeypatch):
    # GIVEN a sync of the invoice under way (stopped just before its invoice create)
    publish_invoice()
    first = PausedSync(stack, monkeypatch, "Invoice")

    # WHEN the user clicks again meanwhile
    second = sync(stack)

    # THEN the second click is turned away, and the first one completes: one of each object
    assert second.status == 409, second
    assert second.body["type"] == "/problems/sync-in-progress"
    assert first.resume().status == 200
    assert_exactly_once(qb)


def test_invoice_deleted_in_the_middle_of_a_sync_deletes_what_the_sync_wrote(stack, realm, qb, queue, monkeypatch):
    # GIVEN a first sync under way: the invoice written and recorded, the payments not sent yet
    publish_invoice()
    running = PausedSync(stack, monkeypatch, "Payment")
    link = link_of(realm)
    assert link is not None and link.parts

    # WHEN Books360 deletes the invoice meanwhile, and the queued deletion runs during the sync
    assert publish_invoice_deleted(version=2)["status"] == "applied"
    (message,) = queue.receive()
    failed = queue.deliver([message])

    # THEN the deletion waits for the sync's lease (the message comes back later); nothing was deleted yet
    assert failed == {message["MessageId"]}
    assert len(qb.all("Invoice")) == 1

    # WHEN the sync finishes its writes and the message comes back
    assert running.resume().status == 200
    queue.retry_now([message])
    queue.drain()

    # THEN none of what the sync wrote is left, the payments it wrote after the deletion included
    assert_nothing_left(qb)


def test_invoice_deleted_before_a_first_sync_recorded_anything_leaves_no_orphan(stack, realm, qb, queue, monkeypatch):
    # GIVEN a first sync under way, still at the customer create: nothing recorded on the invoice yet
    publish_invoice()
    running = PausedSync(stack, monkeypatch, "Customer")
    assert link_of(realm) is None

    # WHEN Books360 deletes the invoice meanwhile, the sync goes on, and whatever was queued runs
    assert publish_invoice_deleted(version=2)["status"] == "applied"
    assert running.resume().status == 200
    queue.drain()

    # THEN what the sync wrote after the deletion is deleted too: no orphan invoice or payment
    assert qb.all("Invoice") == []
    assert qb.all("Payment") == []


# -- 5. a stale SyncToken -----------------------------------------------------------------------------------------


def _edit_invoice(qb: QuickBooksCompany) -> tuple[str, str]:
    """The user adds a memo to the invoice; (the SyncToken we recorded, the one QuickBooks has now)."""
    (invoice,) = qb.all("Invoice")
    edited = qb.edit("Invoice", invoice, CustomerMemo={"value": "Edited in QuickBooks"})
    link = link_of(qb.realm_id)
    assert link is not None
    return link.parts["all"].sync_token, edited["SyncToken"]


def _edit_payment(qb: QuickBooksCompany) -> tuple[str, str]:
    """The user adds a reference number to payment p1; (the SyncToken we recorded, QuickBooks' one now)."""
    payment = next(p for p in qb.all("Payment") if "payment p1 " in p["PrivateNote"])
    edited = qb.edit("Payment", payment, PaymentRefNum="QB-EDIT")
    link = link_of(qb.realm_id)
    assert link is not None
    return link.payments["p1"].sync_token, edited["SyncToken"]


@dataclass(frozen=True)
class Edited:
    payments: list[dict[str, Any]]
    """The Books360 payments of the invoice synced first."""
    edit: Callable[[QuickBooksCompany], tuple[str, str]]
    """What the QuickBooks user changes."""
    change: dict[str, Any]
    """What Books360 changes afterwards."""
    expect: dict[str, Any]
    """What QuickBooks must hold after the re-sync (``assert_exactly_once``'s arguments)."""


CHANGED_LINES = [("Ad spend", "100.10"), ("Fee (revised)", "60.00")]
STALE = {
    # The recorded SyncToken is stale: the update meets a 5010, reads the invoice again and retries once.
    "invoice-without-payments": Edited(
        [],
        _edit_invoice,
        {"transactions": CHANGED_TRANSACTIONS, "payments": []},
        {"total": "160.10", "payments": {}, "lines": CHANGED_LINES},
    ),
    # A payment changed the invoice in QuickBooks, so its token is unknown to us anyway: read first.
    "invoice-with-payments": Edited(
        PAYMENTS, _edit_invoice, {"transactions": CHANGED_TRANSACTIONS}, {"total": "160.10", "lines": CHANGED_LINES}
    ),
    "payment-update": Edited(
        PAYMENTS,
        _edit_payment,
        {"payments": [{**PAYMENTS[0], "amount": "110.00"}, PAYMENTS[1]]},
        {"payments": {"p1": "110.00", "p2": "20.00"}},
    ),
    "payment-delete": Edited(PAYMENTS, _edit_payment, {"payments": PAYMENTS[1:]}, {"payments": {"p2": "20.00"}}),
}


@pytest.mark.parametrize("case", STALE)
def test_resync_after_an_edit_in_quickbooks_writes_the_books360_content(stack, realm, qb, case):
    # GIVEN a synced invoice that a QuickBooks user then edited: the SyncToken we recorded is not QuickBooks' now
    scenario = STALE[case]
    publish_invoice(payments=scenario.payments)
    synced(stack)
    recorded, current = scenario.edit(qb)
    assert recorded != current

    # WHEN Books360 changes the invoice and it is synced again
    publish_invoice(version=2, **scenario.change)
    answer = sync(stack)

    # THEN the sync succeeded and QuickBooks holds the Books360 content, still one of each
    assert answer.status == 200, answer
    assert_exactly_once(qb, **scenario.expect)

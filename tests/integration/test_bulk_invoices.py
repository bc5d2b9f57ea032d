"""Bulk "Sync invoice" (issue 9, "Bulk"): the bulk_sync handler's route and its SQS worker, in-process.

As in test_bulk_jobs, the test plays Lambda's SQS event source (``Bulk.deliver``/``drain``): it receives what the
route queued in moto, hands the messages to the handler as an SQS event, deletes what succeeded and makes the
reported failures visible again at once. What QuickBooks holds is counted at the emulator, as the company's own
user would list it.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.sqs import sqs_record
from shared import wiring
from shared.domain.jobs import BulkItemMessage, ItemStatus
from shared.domain.parties import CUSTOMER
from shared.errors import (
    Busy,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    QuickBooksRejected,
    QuickBooksThrottled,
)
from shared.quickbooks.client import QuickBooksClient, RetryPolicy
from shared.services import invoices as invoice_service
from shared.services import job_items
from shared.services.books360_events import apply_event
from shared.store.bulk_queue import BulkQueue
from shared.store.table import tenant_pk
from tests.integration.test_api_parties import seed
from tests.integration.test_bulk_jobs import Bulk, bulk  # noqa: F401 - the fixture behind ``queue``
from tests.support.events import LambdaContext, http_event

TENANT = "t1"
TRANSACTIONS = [
    {"id": "t1", "date": "2026-09-05", "description": "Ad spend", "amount": "100.10"},
    {"id": "t2", "date": "2026-09-12", "description": "Fee", "amount": "50.00"},
]
PAYMENTS = [{"id": "p1", "date": "2026-09-20", "amount": "100.00", "paymentSystem": "stripe", "brokerId": None}]


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> Bulk:
    """The bulk queue and its dead-letter queue in moto, and the bulk_sync function (test_bulk_jobs' ``bulk``)."""
    queue: Bulk = request.getfixturevalue("bulk")
    return queue


@pytest.fixture(autouse=True)
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's backoff sleeps 0 s: a retried 5xx or dropped connection is a real request, without the wait."""
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, draw: 0.0)


# -- Books360, the route, QuickBooks as its user sees it --------------------------------------------------------


def connect(queue: Bulk) -> str:
    """Connect t1 to a new company at QuickBooks' real limits (keeping under them is the product's business)."""
    return queue.stack.connect()


def client(client_id: str, name: str, *, email: str | None = "ap@example.com", tenant: str = TENANT) -> None:
    seed(CUSTOMER, client_id, name, tenant=tenant, email=email)


def invoice_detail(
    invoice_id: str, client_id: str, *, version: int = 1, tenant: str = TENANT, **overrides: Any
) -> dict[str, Any]:
    """The ``InvoiceUpserted`` detail of a September invoice with ``TRANSACTIONS`` and ``PAYMENTS``."""
    return {
        "tenantId": tenant,
        "version": version,
        "invoiceId": invoice_id,
        "clientId": client_id,
        "number": f"B360-{invoice_id}",
        "createdAt": "2026-09-28T09:00:00Z",
        "dateFrom": "2026-09-01",
        "dateTo": "2026-09-28",
        "dueDate": "2026-10-15",
        "transactions": TRANSACTIONS,
        "payments": PAYMENTS,
        **overrides,
    }


def invoice(invoice_id: str, client_id: str, *, tenant: str = TENANT, **overrides: Any) -> str:
    """Books360 publishes ``InvoiceUpserted`` (through the service the events function runs); the id."""
    detail = invoice_detail(invoice_id, client_id, tenant=tenant, **overrides)
    outcome = apply_event(wiring.books360_store(), "InvoiceUpserted", detail, event_id=f"{tenant}-{invoice_id}")
    assert outcome.status == "applied", outcome
    return invoice_id


def post(queue: Bulk, body: Any, *, tenant: str = TENANT) -> tuple[int, Any]:
    event = http_event("POST", "/quickbooks/invoices/bulk-sync", body=body, claims={"sub": "u", "tenant_id": tenant})
    answer = queue.function.lambda_handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def start(queue: Bulk, ids: list[str]) -> str:
    status, body = post(queue, {"invoiceIds": ids})
    assert status == 202, body
    assert body["total"] == len(ids)
    return str(body["jobId"])


def job(queue: Bulk, job_id: str) -> dict[str, Any]:
    status, body = queue.job(job_id)
    assert status == 200, body
    return dict(body)


def items(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in found["items"]}


def jobs_of(tenant: str) -> list[dict[str, Any]]:
    return wiring.table().query_prefix(tenant_pk(tenant), "JOB#")


def qb_all(queue: Bulk, realm: str, entity: str) -> list[dict[str, Any]]:
    token = queue.stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    answer = queue.stack.http.get(
        f"/v3/company/{realm}/query",
        params={"query": f"SELECT * FROM {entity} MAXRESULTS 1000", "minorversion": 75},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["QueryResponse"].get(entity, []))


def qb_invoices_by_source(queue: Bulk, realm: str) -> dict[str, list[str]]:
    """Books360 invoice id -> the ids of the QuickBooks invoices written for it (by our PrivateNote marker)."""
    found: dict[str, list[str]] = {}
    for record in qb_all(queue, realm, "Invoice"):
        found.setdefault(record["PrivateNote"].removeprefix(f"Books360 {TENANT} invoice "), []).append(record["Id"])
    return found


def calls(queue: Bulk, realm: str) -> dict[str, int]:
    return dict(queue.stack.requests(realm)["byEndpoint"])


def writes(queue: Bulk, realm: str) -> dict[str, int]:
    return {k: v for k, v in calls(queue, realm).items() if k.startswith("POST ") and k != "POST query"}


def fault(queue: Bulk, realm: str, **rule: Any) -> None:
    answer = queue.stack.http.post("/_admin/faults", json={"realmId": realm, **rule})
    assert answer.status_code == 200, answer.text


# -- the request --------------------------------------------------------------------------------------------


def test_bulk_invoices_valid_ids_answers_202_and_queues_one_message_per_invoice(queue):
    # GIVEN a connected tenant with three invoices
    connect(queue)
    client("c1", "Acme Corp")
    ids = [invoice(f"i{n}", "c1") for n in range(3)]

    # WHEN they are sent for a bulk sync
    status, body = post(queue, {"invoiceIds": ids})

    # THEN 202 with the job, of kind invoices, every item pending, one message an invoice in the queue
    assert (status, body["total"]) == (202, 3)
    found = job(queue, body["jobId"])
    assert (found["kind"], found["status"], found["total"]) == ("invoices", "queued", 3)
    assert [(i["id"], i["status"], i["qbId"], i["error"]) for i in found["items"]] == [
        (i, "pending", None, None) for i in ids
    ]
    bodies = [json.loads(m["Body"]) for m in queue.receive(10)]
    assert sorted(b["itemId"] for b in bodies) == ids
    assert {(b["tenantId"], b["jobId"], b["kind"]) for b in bodies} == {(TENANT, body["jobId"], "invoices")}


INVALID = {
    "empty": ({"invoiceIds": []}, "invoiceIds"),
    "31 ids": ({"invoiceIds": [f"i{n}" for n in range(31)]}, "invoiceIds"),
    "duplicates": ({"invoiceIds": ["i1", "i2", "i1"]}, "invoiceIds"),
    "missing": ({"clientIds": ["i1"]}, "invoiceIds"),
    "a string": ({"invoiceIds": "i1"}, "invoiceIds"),
    "empty id": ({"invoiceIds": [""]}, "invoiceIds[0]"),
}


@pytest.mark.parametrize("case", INVALID)
def test_bulk_invoices_invalid_ids_answers_422_naming_invoice_ids_and_makes_no_job(queue, case):
    # GIVEN a connected tenant whose invoices i0..i30 exist (so only the rule can refuse them)
    connect(queue)
    client("c1", "Acme Corp")
    for n in range(31):
        invoice(f"i{n}", "c1")
    body, field = INVALID[case]

    # WHEN the ids break the 1-to-30-distinct rule
    status, problem = post(queue, body)

    # THEN 422 names the field, nothing is queued, no job is written
    assert status == 422, problem
    assert field in [e["field"] for e in problem["errors"]]
    assert queue.receive() == []
    assert jobs_of(TENANT) == []


def test_bulk_invoices_duplicates_answer_names_the_repeated_id(queue):
    connect(queue)

    _, problem = post(queue, {"invoiceIds": ["i1", "i2", "i1"]})

    assert "i1" in problem["errors"][0]["message"]


def test_bulk_invoices_of_another_tenant_or_unknown_answers_404_naming_them_and_makes_no_job(queue):
    # GIVEN t1's invoice i1, and t2's invoice theirs-1 (t2 has clients and invoices of its own)
    connect(queue)
    client("c1", "Acme Corp")
    invoice("i1", "c1")
    client("c9", "Other Corp", tenant="t2")
    invoice("theirs-1", "c9", tenant="t2")

    # WHEN t1 names its own, t2's and one nobody has
    status, problem = post(queue, {"invoiceIds": ["i1", "theirs-1", "ghost"]})

    # THEN 404 naming the two (not i1), and no job, no message
    assert status == 404, problem
    assert problem["type"] == "/problems/not-found"
    assert "theirs-1" in problem["detail"] and "ghost" in problem["detail"] and "i1," not in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["invoiceIds[1]", "invoiceIds[2]"]
    assert queue.receive() == []
    assert jobs_of(TENANT) == []


def test_bulk_invoices_deleted_in_books360_answers_404(queue):
    # GIVEN an invoice Books360 deleted (a tombstone)
    connect(queue)
    client("c1", "Acme Corp")
    invoice("i1", "c1")
    outcome = apply_event(
        wiring.books360_store(), "InvoiceDeleted", {"tenantId": TENANT, "version": 2, "invoiceId": "i1"}, event_id="d"
    )
    assert outcome.status == "applied", outcome

    status, problem = post(queue, {"invoiceIds": ["i1"]})

    assert status == 404, problem
    assert jobs_of(TENANT) == []


def test_bulk_invoices_not_connected_answers_409(queue):
    client("c1", "Acme Corp")
    invoice("i1", "c1")

    status, problem = post(queue, {"invoiceIds": ["i1"]})

    assert status == 409
    assert problem["type"] == "/problems/not-connected"
    assert queue.receive() == []


# -- the worker ---------------------------------------------------------------------------------------------


def test_bulk_invoices_job_syncs_each_invoice_and_creates_a_shared_client_once(queue):
    # GIVEN three invoices: two of a client not in QuickBooks yet, one of another new client
    realm = connect(queue)
    client("c1", "Acme Corp")
    client("c2", "Beta LLC")
    ids = [invoice("i1", "c1"), invoice("i2", "c2"), invoice("i3", "c1", payments=[])]

    # WHEN a job of the three runs to its end
    job_id = start(queue, ids)
    queue.drain()

    # THEN every item succeeded with its first QuickBooks invoice id, the job finished
    found = job(queue, job_id)
    assert (found["kind"], found["status"], found["succeeded"], found["failed"]) == ("invoices", "succeeded", 3, 0)
    assert found["finishedAt"] is not None
    written = qb_invoices_by_source(queue, realm)
    assert {i: item["qbId"] for i, item in items(found).items()} == {i: written[i][0] for i in ids}
    assert all(len(qb_ids) == 1 for qb_ids in written.values())
    # AND one customer per client, Acme's made once for its two invoices
    customers = {c["DisplayName"]: c["Id"] for c in qb_all(queue, realm, "Customer")}
    assert sorted(customers) == ["Acme Corp", "Beta LLC"]
    assert calls(queue, realm)["POST customer"] == 2
    by_customer = {r["PrivateNote"][-2:]: r["CustomerRef"]["value"] for r in qb_all(queue, realm, "Invoice")}
    assert by_customer == {"i1": customers["Acme Corp"], "i2": customers["Beta LLC"], "i3": customers["Acme Corp"]}
    assert len(qb_all(queue, realm, "Payment")) == 2
    # AND the tab lists them synced
    status, tab = queue.stack.api("GET", "/quickbooks/invoices")
    assert status == 200, tab
    assert {r["invoiceId"]: r["syncStatus"] for r in tab["items"]} == dict.fromkeys(ids, "synced")


def test_bulk_invoices_items_of_one_new_client_run_at_once_create_the_customer_once(queue, monkeypatch):
    # GIVEN three invoices of one client not in QuickBooks yet, each message handed to its own worker, and every
    # worker held at the customer create until all three are there (so all three really race for it)
    realm = connect(queue)
    client("c1", "Acme Corp")
    ids = [invoice(f"i{n}", "c1") for n in range(3)]
    job_id = start(queue, ids)
    messages = queue.receive(10)
    assert len(messages) == 3
    at_create = threading.Barrier(3, timeout=20)
    original = QuickBooksClient.create

    def create(qbo: QuickBooksClient, name: str, body: dict[str, Any], *, request_id: str) -> dict[str, Any]:
        if name == "Customer":
            at_create.wait()
        return original(qbo, name, body, request_id=request_id)

    monkeypatch.setattr(QuickBooksClient, "create", create)
    worker = wiring.bulk_worker()

    def run(message: dict[str, Any]) -> None:
        worker.handle(sqs_record(message, queue.queue_arn))

    # WHEN the three items run in parallel
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(run, messages))

    # THEN the three sent the create, and QuickBooks holds one customer, with the three invoices
    assert calls(queue, realm)["POST customer"] == 3
    (customer,) = qb_all(queue, realm, "Customer")
    invoices = qb_all(queue, realm, "Invoice")
    assert sorted(i["PrivateNote"] for i in invoices) == [f"Books360 {TENANT} invoice {i}" for i in ids]
    assert {i["CustomerRef"]["value"] for i in invoices} == {customer["Id"]}
    # AND the client is linked to it, and every item succeeded
    party = wiring.party_store().get(TENANT, CUSTOMER, "c1")
    assert party is not None
    link = party.link_in(realm)
    assert link is not None and link.qb_id == customer["Id"]
    found = job(queue, job_id)
    assert (found["status"], found["succeeded"]) == ("succeeded", 3), found


def test_bulk_invoices_client_without_email_fails_its_item_with_the_reason(queue):
    # GIVEN one invoice of a client with an email, one of a client without
    realm = connect(queue)
    client("c1", "Acme Corp")
    client("c2", "No Email Studio", email=None)
    ids = [invoice("i1", "c1"), invoice("i2", "c2")]

    # WHEN a job of both runs
    job_id = start(queue, ids)
    queue.drain()

    # THEN the first succeeded; the second failed saying the client has no email, and nothing of it was written
    found = job(queue, job_id)
    assert (found["status"], found["succeeded"], found["failed"]) == ("partially_failed", 1, 1)
    failed = items(found)["i2"]
    assert (failed["status"], failed["qbId"]) == ("failed", None)
    assert "client.email" in failed["error"]
    assert "The client c2 has no email; add one in Books360." in failed["error"]
    assert sorted(qb_invoices_by_source(queue, realm)) == ["i1"]
    assert [c["DisplayName"] for c in qb_all(queue, realm, "Customer")] == ["Acme Corp"]


def test_bulk_invoices_quickbooks_refusal_fails_the_item_in_quickbooks_words(queue):
    # GIVEN a client whose name QuickBooks refuses (a colon separates parent and child in its names)
    connect(queue)
    client("c1", "Acme: Holdings")
    job_id = start(queue, [invoice("i1", "c1")])

    # WHEN the job runs
    queue.drain()

    # THEN the item failed with QuickBooks' own error, the job finished
    found = job(queue, job_id)
    (item,) = found["items"]
    assert (found["status"], item["status"]) == ("failed", "failed")
    assert item["error"].startswith("QuickBooks error 2040:"), item
    assert "invalid characters" in item["error"]


def test_bulk_invoices_name_taken_in_quickbooks_fails_the_item_with_the_conflict(queue):
    # GIVEN the company's user already has a customer with the client's name
    realm = connect(queue)
    client("c1", "Acme Corp")
    token = queue.stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    theirs = queue.stack.http.post(
        f"/v3/company/{realm}/customer",
        json={"DisplayName": "Acme Corp"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert theirs.status_code == 200, theirs.text
    job_id = start(queue, [invoice("i1", "c1")])

    # WHEN the job runs
    queue.drain()

    # THEN the item failed with the 409's detail naming that customer (link it instead); no invoice written
    (item,) = job(queue, job_id)["items"]
    assert item["status"] == "failed"
    assert theirs.json()["Customer"]["Id"] in item["error"]
    assert qb_all(queue, realm, "Invoice") == []


@pytest.mark.parametrize("status", [429, 0], ids=["throttled", "dropped"])
def test_bulk_invoices_faults_at_the_invoice_create_write_each_invoice_exactly_once(queue, status):
    # GIVEN four invoices, and QuickBooks throttling or dropping the connection (after doing the work) at invoice
    # creates, more than once
    realm = connect(queue)
    client("c1", "Acme Corp")
    client("c2", "Beta LLC")
    ids = [invoice("i1", "c1"), invoice("i2", "c1"), invoice("i3", "c2"), invoice("i4", "c2")]
    job_id = start(queue, ids)
    fault(queue, realm, method="POST", entity="invoice", status=status, count=3)

    # WHEN the job runs to its end (a throttled item comes back; a dropped answer is retried in place)
    queue.drain(batch_size=2)

    # THEN every item succeeded, and QuickBooks holds exactly one invoice per Books360 invoice (and one payment)
    found = job(queue, job_id)
    assert (found["status"], found["succeeded"]) == ("succeeded", 4), found["items"]
    written = qb_invoices_by_source(queue, realm)
    assert {i: len(qb_ids) for i, qb_ids in written.items()} == dict.fromkeys(ids, 1)
    assert {i: item["qbId"] for i, item in items(found).items()} == {i: written[i][0] for i in ids}
    assert len(qb_all(queue, realm, "Payment")) == 4
    assert sorted(c["DisplayName"] for c in qb_all(queue, realm, "Customer")) == ["Acme Corp", "Beta LLC"]
    # AND the faults were really met: the three faulted requests came on top of the four creates
    assert calls(queue, realm)["POST invoice"] >= 4 + 3


def test_bulk_invoices_throttled_item_goes_back_to_the_queue_then_succeeds(queue):
    # GIVEN QuickBooks answers the invoice create with a 429
    realm = connect(queue)
    client("c1", "Acme Corp")
    job_id = start(queue, [invoice("i1", "c1")])
    fault(queue, realm, method="POST", entity="invoice", status=429, count=1)
    (message,) = queue.receive()

    # WHEN the worker meets it
    failed = queue.deliver([message])

    # THEN the record is handed back (hidden for a while), the item still pending, no sleeping retry in Lambda
    assert failed == {message["MessageId"]}
    assert queue.visible_and_hidden() == (0, 1)
    assert items(job(queue, job_id))["i1"]["status"] == "pending"
    assert calls(queue, realm)["POST invoice"] == 1

    # WHEN it comes back
    queue.retry_now([message])
    queue.drain()

    # THEN it succeeds with one invoice
    assert job(queue, job_id)["status"] == "succeeded"
    assert list(qb_invoices_by_source(queue, realm)) == ["i1"]


def test_bulk_invoices_message_delivered_again_changes_nothing(queue):
    # GIVEN one item's message, handled
    realm = connect(queue)
    client("c1", "Acme Corp")
    job_id = start(queue, [invoice("i1", "c1")])
    (message,) = queue.receive()
    queue.deliver([message])
    before_job, before_calls = job(queue, job_id), calls(queue, realm)

    # WHEN SQS delivers it again
    failed = queue.deliver([message])

    # THEN the same job, the same counts, and QuickBooks was not called at all
    assert failed == set()
    assert job(queue, job_id) == before_job
    assert before_job["succeeded"] == 1
    assert calls(queue, realm) == before_calls
    assert list(qb_invoices_by_source(queue, realm)) == ["i1"]


def test_bulk_invoices_message_delivered_twice_at_once_writes_once(queue):
    # GIVEN one item's message handed to two workers before either finished (in one batch here)
    realm = connect(queue)
    client("c1", "Acme Corp")
    job_id = start(queue, [invoice("i1", "c1")])
    (message,) = queue.receive()
    twin = {**message, "MessageId": message["MessageId"] + "-twin"}

    # WHEN both copies run
    failed = queue.deliver([message, twin])

    # THEN one invoice, one outcome counted
    assert failed == set()
    found = job(queue, job_id)
    assert (found["status"], found["succeeded"], found["total"]) == ("succeeded", 1, 1)
    assert list(qb_invoices_by_source(queue, realm)) == ["i1"]
    assert calls(queue, realm)["POST invoice"] == 1


def test_bulk_invoices_item_retried_after_syncing_but_before_recording_succeeds_without_a_second_write(queue):
    # GIVEN a delivery that synced the invoice, then died before recording the item's outcome
    realm = connect(queue)
    client("c1", "Acme Corp")
    job_id = start(queue, [invoice("i1", "c1")])
    with wiring.quickbooks_for(TENANT) as qbo:
        lost = invoice_service.sync_invoice(
            qbo, wiring.invoice_stores(), tenant_id=TENANT, invoice_id="i1", now=wiring.now()
        )
    before = writes(queue, realm)

    # WHEN SQS delivers the message again
    queue.drain()

    # THEN the item succeeded with what that delivery wrote, and nothing was written again
    (item,) = job(queue, job_id)["items"]
    assert (item["status"], item["qbId"]) == ("succeeded", lost.qb_invoice_ids[0])
    assert writes(queue, realm) == before


def test_bulk_invoices_item_meeting_another_sync_waits_and_then_succeeds(queue, monkeypatch):
    # GIVEN another sync of the invoice holds its lease (the user clicked "Sync with QB" a moment ago)
    realm = connect(queue)
    client("c1", "Acme Corp")
    job_id = start(queue, [invoice("i1", "c1")])
    leases = wiring.lease_store()
    assert leases.acquire(TENANT, "invoice#i1", "the-other-sync", seconds=60)
    delays: list[int] = []
    original_delay = BulkQueue.delay

    def delay(self: BulkQueue, receipt_handle: str, seconds: int) -> None:
        delays.append(seconds)
        original_delay(self, receipt_handle, seconds)

    monkeypatch.setattr(BulkQueue, "delay", delay)
    (message,) = queue.receive()

    # WHEN the worker meets it
    failed = queue.deliver([message])

    # THEN it is busy, not failed: the message comes back later (half a minute at most), QuickBooks untouched
    assert failed == {message["MessageId"]}
    assert delays == [job_items.SYNC_BUSY_MAX_WAIT]
    assert items(job(queue, job_id))["i1"]["status"] == "pending"
    assert qb_all(queue, realm, "Invoice") == []

    # WHEN the other sync ends and the message comes back
    leases.release(TENANT, "invoice#i1", "the-other-sync")
    queue.retry_now([message])
    queue.drain()

    # THEN the item succeeded
    assert job(queue, job_id)["status"] == "succeeded"
    assert list(qb_invoices_by_source(queue, realm)) == ["i1"]


# -- the runner's rules, one error at a time ----------------------------------------------------------------


def _email_problem() -> InvalidInput:
    return InvalidInput(
        "The invoice cannot be synced as it is.",
        errors=[FieldError("client.email", "The client c1 has no email; add one in Books360.")],
    )


REFUSALS: dict[str, tuple[Exception, str]] = {
    "422 client.email": (
        _email_problem(),
        "The invoice cannot be synced as it is. client.email: The client c1 has no email; add one in Books360.",
    ),
    "404": (NotFound("No invoice i1."), "No invoice i1."),
    "409": (Conflict("The invoice i1 was deleted in QuickBooks."), "The invoice i1 was deleted in QuickBooks."),
    "502": (QuickBooksRejected("6000", "A business validation error."), "QuickBooks error 6000: A business"),
}


class _Realm:
    realm_id = "9130"


def _run_raising(monkeypatch: pytest.MonkeyPatch, error: Exception) -> Any:
    def sync_invoice(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(job_items, "sync_invoice", sync_invoice)
    run = job_items.invoice_runner(wiring.invoice_stores())
    message = BulkItemMessage(tenant_id=TENANT, job_id="j1", kind="invoices", item_id="i1")
    now = wiring.now()
    return run(_Realm(), message, now, now)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", REFUSALS)
def test_invoice_runner_refusal_fails_the_item_with_the_problems_detail(aws, monkeypatch, case):
    error, words = REFUSALS[case]

    outcome = _run_raising(monkeypatch, error)

    assert outcome.status is ItemStatus.FAILED
    assert outcome.error.startswith(words), outcome


def test_invoice_runner_sync_in_progress_is_busy_for_a_few_seconds_when_the_lease_is_gone(aws, monkeypatch):
    # GIVEN the other sync released its lease between our attempt and the look at it
    with pytest.raises(Busy) as busy:
        _run_raising(monkeypatch, invoice_service.SyncInProgress("The invoice i1 is being synced right now."))

    # THEN it comes back soon, not as a failure
    assert busy.value.retry_after == job_items.SYNC_BUSY_MIN_WAIT
    assert "being synced" in busy.value.detail


def test_invoice_runner_throttled_stays_busy(aws, monkeypatch):
    with pytest.raises(QuickBooksThrottled):
        _run_raising(monkeypatch, QuickBooksThrottled("QuickBooks error 003001: ThrottleExceeded", retry_after=60))


def test_bulk_invoices_first_syncs_of_a_company_at_once_look_up_the_item_once(queue):
    # GIVEN four invoices of four clients, none synced before in this company (no Item known yet), each message
    # handed to its own worker at once
    realm = connect(queue)
    ids = []
    for n in range(4):
        client(f"c{n}", f"Client {n}")
        ids.append(invoice(f"i{n}", f"c{n}"))
    job_id = start(queue, ids)
    messages = queue.receive(10)
    assert len(messages) == 4
    worker = wiring.bulk_worker()

    # WHEN the four items run in parallel
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda m: worker.handle(sqs_record(m, queue.queue_arn)), messages))

    # THEN every item succeeded, and one sync found (and created) the lines' Item while the others waited for it:
    # one Item look-up and one create, not one per worker
    found = job(queue, job_id)
    assert (found["status"], found["succeeded"]) == ("succeeded", 4), found
    made = calls(queue, realm)
    assert (made["POST item"], made["POST query"]) == (1, 2), made  # the Item's look-up, its Income account's
    (item,) = [i for i in qb_all(queue, realm, "Item") if i["Name"] == "Books360 Service"]
    refs = {
        line["SalesItemLineDetail"]["ItemRef"]["value"]
        for written in qb_all(queue, realm, "Invoice")
        for line in written["Line"]
        if "SalesItemLineDetail" in line
    }
    assert refs == {item["Id"]}

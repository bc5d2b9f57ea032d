"""Bulk "Create and sync" (issue 5): the bulk_sync handler's routes and its SQS worker, in-process.

The test plays Lambda's SQS event source itself: it receives what the route queued in moto, hands the messages to
the handler as an SQS event, deletes what succeeded and leaves the reported failures in the queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest

from local.sqs import sqs_record
from shared import wiring
from shared.domain.parties import CUSTOMER, PARTY_KINDS, PartyKind
from shared.services.books360_events import apply_event
from shared.services.parties import create_and_link
from tests.conftest import load_function
from tests.support.events import LambdaContext, eventbridge_event, http_event
from tests.support.template import load_template

KINDS = list(PARTY_KINDS.values())


@dataclass
class Bulk:
    stack: Any
    function: Any
    sqs: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str

    def post(self, kind: PartyKind, body: Any, *, tenant: str = "t1") -> tuple[int, Any]:
        event = http_event(
            "POST", f"/quickbooks/{kind.plural}/bulk-sync", body=body, claims={"sub": "u", "tenant_id": tenant}
        )
        answer = self.function.lambda_handler(event, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None

    def start(self, kind: PartyKind, ids: list[str], *, tenant: str = "t1") -> str:
        status, body = self.post(kind, {kind.bulk_ids_field: ids}, tenant=tenant)
        assert status == 202, body
        return str(body["jobId"])

    def job(self, job_id: str, *, tenant: str = "t1") -> tuple[int, Any]:
        return self.stack.api("GET", f"/quickbooks/jobs/{job_id}", tenant=tenant)

    def receive(self, count: int = 10) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=count, AttributeNames=["All"], WaitTimeSeconds=0
        )
        return list(answer.get("Messages", []))

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        """One invocation with these messages, settled as Lambda does; the ids the function reported failed."""
        event = {"Records": [sqs_record(m, self.queue_arn) for m in messages]}
        result = self.function.lambda_handler(event, LambdaContext())
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return failed

    def retry_now(self, messages: list[dict[str, Any]]) -> None:
        """Make failed messages visible at once (the local stack's short retry, instead of waiting a minute)."""
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def drain(self, *, batch_size: int = 5, rounds: int = 60) -> None:
        """Deliver until the queue is empty, failed messages retried at once."""
        for _ in range(rounds):
            messages = self.receive(batch_size)
            if not messages:
                return
            failed = self.deliver(messages)
            self.retry_now([m for m in messages if m["MessageId"] in failed])
        raise AssertionError("the bulk queue did not drain")

    def visible_and_hidden(self) -> tuple[int, int]:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def seed(kind: PartyKind, count: int, *, tenant: str = "t1", prefix: str = "Bulk") -> list[str]:
    """Books360 clients (vendors) as their events would store them; their ids."""
    ids = []
    for i in range(count):
        party_id = f"{kind.key[0]}-{i}"
        detail = {"tenantId": tenant, "version": 1, kind.id_field: party_id, "name": f"{prefix} {kind.key} {i}"}
        apply_event(wiring.books360_store(), kind.upsert_event, detail, event_id=f"e-{party_id}")
        ids.append(party_id)
    return ids


def qb_objects(stack, realm_id: str, kind: PartyKind) -> list[dict[str, Any]]:
    """Every object of the kind in the company, as the company's own user would list them."""
    token = stack.http.post("/_admin/tokens", json={"realmId": realm_id}).json()["access_token"]
    answer = stack.http.get(
        f"/v3/company/{realm_id}/query",
        params={"query": f"SELECT * FROM {kind.qb_entity} MAXRESULTS 1000", "minorversion": 75},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["QueryResponse"].get(kind.qb_entity, []))


def fault(stack, realm_id: str, **rule: Any) -> None:
    answer = stack.http.post("/_admin/faults", json={"realmId": realm_id, **rule})
    assert answer.status_code == 200, answer.text


@pytest.fixture
def bulk(stack, monkeypatch) -> Bulk:
    """The bulk queue and its dead-letter queue in moto, as the template defines them; the bulk_sync function."""
    resources = load_template()["Resources"]
    max_receives = str(load_template()["Parameters"]["BulkMaxReceiveCount"]["Default"])
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="bulk-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    visibility = str(resources["BulkQueue"]["Properties"]["VisibilityTimeout"])
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
    queue_url = sqs.create_queue(
        QueueName="bulk", Attributes={"VisibilityTimeout": visibility, "RedrivePolicy": redrive}
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    monkeypatch.setenv("BULK_QUEUE_URL", queue_url)
    monkeypatch.setenv("BULK_MAX_RECEIVE_COUNT", max_receives)
    monkeypatch.setenv("BULK_DEAD_LETTER_QUEUE_ARN", dlq_arn)
    wiring.reset()
    return Bulk(stack, load_function("bulk_sync"), sqs, queue_url, queue_arn, dlq_url, dlq_arn)


# -- the request --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_bulk_sync_valid_ids_answers_202_and_queues_one_message_per_item(bulk, kind):
    # GIVEN a connected tenant
    bulk.stack.connect()

    # WHEN 12 ids are sent
    status, body = bulk.post(kind, {kind.bulk_ids_field: [f"x-{i}" for i in range(12)]})

    # THEN the job is accepted at once, queued, and every item waits in SQS (two SendMessageBatch calls of 10)
    assert status == 202
    assert body["total"] == 12
    _, job = bulk.job(body["jobId"])
    assert (job["status"], job["kind"], job["total"]) == ("queued", kind.job_kind, 12)
    assert [i["id"] for i in job["items"]] == [f"x-{i}" for i in range(12)]
    assert {i["status"] for i in job["items"]} == {"pending"}
    bodies = [json.loads(m["Body"]) for m in bulk.receive(10) + bulk.receive(10)]
    assert sorted(b["itemId"] for b in bodies) == sorted(f"x-{i}" for i in range(12))
    assert {(b["tenantId"], b["jobId"], b["kind"]) for b in bodies} == {("t1", body["jobId"], kind.job_kind)}


INVALID_BODIES = {
    "no ids": (lambda f: {f: []}, lambda f: f),
    "31 ids": (lambda f: {f: [f"c-{i}" for i in range(31)]}, lambda f: f),
    "duplicates": (lambda f: {f: ["c-1", "c-2", "c-1"]}, lambda f: f),
    "numbers": (lambda f: {f: [1, 2]}, lambda f: f"{f}[0]"),
    "a string": (lambda f: {f: "c-1"}, lambda f: f),
    "missing": (lambda f: {"ids": ["c-1"]}, lambda f: f),
    "empty id": (lambda f: {f: [""]}, lambda f: f"{f}[0]"),
}


@pytest.mark.parametrize("case", INVALID_BODIES)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_bulk_sync_invalid_ids_answers_422_naming_the_field(bulk, kind, case):
    # GIVEN a connected tenant
    bulk.stack.connect()
    body, field = INVALID_BODIES[case]

    # WHEN the ids break a rule
    status, problem = bulk.post(kind, body(kind.bulk_ids_field))

    # THEN 422 names the field, and nothing is queued
    assert status == 422, problem
    assert field(kind.bulk_ids_field) in [e["field"] for e in problem["errors"]]
    assert bulk.receive() == []


def test_bulk_sync_duplicates_answer_names_the_repeated_id(bulk):
    bulk.stack.connect()

    _, problem = bulk.post(CUSTOMER, {"clientIds": ["c-1", "c-2", "c-1"]})

    assert "c-1" in problem["errors"][0]["message"]


def test_bulk_sync_not_connected_answers_409_and_writes_no_job(bulk):
    # GIVEN a tenant that never connected QuickBooks
    # WHEN it asks for a bulk sync
    status, problem = bulk.post(CUSTOMER, {"clientIds": ["c-1"]})

    # THEN 409, and no message was queued
    assert status == 409
    assert problem["type"] == "/problems/not-connected"
    assert bulk.receive() == []


def test_get_job_of_another_tenant_answers_404(bulk):
    # GIVEN a job of tenant t1
    bulk.stack.connect()
    job_id = bulk.start(CUSTOMER, ["c-1"])

    # WHEN tenant t2 asks for it, and t1 for a job that does not exist
    theirs, _ = bulk.job(job_id, tenant="t2")
    unknown, _ = bulk.job("no-such-job")

    # THEN both are unknown
    assert (theirs, unknown) == (404, 404)


# -- the worker ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_bulk_job_of_30_succeeds_with_30_quickbooks_objects(bulk, kind):
    # GIVEN 30 Books360 parties and a connected company
    realm = bulk.stack.connect()
    ids = seed(kind, 30)
    before = len(qb_objects(bulk.stack, realm, kind))

    # WHEN a job of 30 runs to its end
    job_id = bulk.start(kind, ids)
    bulk.drain()

    # THEN every item succeeded, with its own QuickBooks object, and the job finished
    _, job = bulk.job(job_id)
    assert (job["status"], job["succeeded"], job["failed"], job["skipped"]) == ("succeeded", 30, 0, 0)
    assert job["finishedAt"] is not None
    assert len({i["qbId"] for i in job["items"]}) == 30
    assert len(qb_objects(bulk.stack, realm, kind)) == before + 30
    assert bulk.stack.requests(realm)["throttled"] == 0


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_bulk_job_unknown_and_already_linked_ids_fail_and_skip(bulk, kind):
    # GIVEN one party already linked by an earlier job, one unknown id
    bulk.stack.connect()
    ids = seed(kind, 2)
    first = bulk.start(kind, [ids[0]])
    bulk.drain()
    _, done = bulk.job(first)
    linked_qb_id = done["items"][0]["qbId"]

    # WHEN a job names the linked one, a new one and the unknown one
    job_id = bulk.start(kind, [ids[0], ids[1], "nobody"])
    bulk.drain()

    # THEN linked -> skipped (with its QuickBooks id), new -> succeeded, unknown -> failed with a reason
    _, job = bulk.job(job_id)
    by_id = {i["id"]: i for i in job["items"]}
    assert by_id[ids[0]]["status"] == "skipped"
    assert by_id[ids[0]]["qbId"] == linked_qb_id
    assert by_id[ids[1]]["status"] == "succeeded"
    assert by_id["nobody"]["status"] == "failed"
    assert "nobody" in by_id["nobody"]["error"]
    assert (job["status"], job["succeeded"], job["failed"], job["skipped"]) == ("partially_failed", 1, 1, 1)


def test_bulk_job_of_unknown_ids_only_fails(bulk):
    bulk.stack.connect()

    job_id = bulk.start(CUSTOMER, ["ghost-1", "ghost-2"])
    bulk.drain()

    _, job = bulk.job(job_id)
    assert (job["status"], job["failed"]) == ("failed", 2)
    assert job["finishedAt"] is not None


def test_bulk_message_delivered_twice_creates_nothing_twice(bulk):
    # GIVEN one item's message
    realm = bulk.stack.connect()
    ids = seed(CUSTOMER, 1)
    job_id = bulk.start(CUSTOMER, ids)
    message = bulk.receive()[0]

    # WHEN SQS delivers it twice (the second copy after the first was handled)
    bulk.deliver([message])
    posts = bulk.stack.requests(realm)["byEndpoint"].get("POST customer", 0)
    bulk.deliver([message])

    # THEN one QuickBooks customer, counted once, and the second delivery called QuickBooks not at all
    _, job = bulk.job(job_id)
    assert (job["status"], job["succeeded"], job["total"]) == ("succeeded", 1, 1)
    assert len(qb_objects(bulk.stack, realm, CUSTOMER)) == 1
    assert bulk.stack.requests(realm)["byEndpoint"].get("POST customer", 0) == posts == 1


def test_bulk_message_delivered_twice_at_once_creates_one_customer(bulk):
    # GIVEN one item's message handed to two workers before either finished (in one batch here)
    realm = bulk.stack.connect()
    job_id = bulk.start(CUSTOMER, seed(CUSTOMER, 1))
    message = bulk.receive()[0]
    twin = {**message, "MessageId": message["MessageId"] + "-twin"}

    # WHEN both copies run
    failed = bulk.deliver([message, twin])

    # THEN one customer, one outcome counted
    _, job = bulk.job(job_id)
    assert failed == set()
    assert (job["status"], job["succeeded"]) == ("succeeded", 1)
    assert len(qb_objects(bulk.stack, realm, CUSTOMER)) == 1


def test_bulk_item_throttled_goes_back_to_the_queue_for_a_minute(bulk):
    # GIVEN QuickBooks answers the next create with a 429
    realm = bulk.stack.connect()
    job_id = bulk.start(CUSTOMER, seed(CUSTOMER, 1))
    fault(bulk.stack, realm, method="POST", entity="customer", status=429, count=1)
    message = bulk.receive()[0]

    # WHEN the worker meets it
    failed = bulk.deliver([message])

    # THEN the record is reported failed, hidden (about a minute, not the queue's 3), the item still pending
    assert failed == {message["MessageId"]}
    assert bulk.visible_and_hidden() == (0, 1)
    _, job = bulk.job(job_id)
    assert job["items"][0]["status"] == "pending"
    assert bulk.stack.requests(realm)["byEndpoint"].get("POST customer", 0) == 1  # no sleeping retry in Lambda

    # WHEN it comes back
    bulk.retry_now([message])
    bulk.drain()

    # THEN it succeeds
    _, job = bulk.job(job_id)
    assert (job["status"], job["succeeded"]) == ("succeeded", 1)


def test_bulk_item_on_its_last_receive_fails_and_the_job_finishes(bulk):
    # GIVEN QuickBooks throttles every create of the company
    realm = bulk.stack.connect()
    job_id = bulk.start(CUSTOMER, seed(CUSTOMER, 1))
    fault(bulk.stack, realm, method="POST", entity="customer", status=429, count=50)

    # WHEN the message is delivered until the queue's maxReceiveCount
    bulk.drain()

    # THEN the item failed with QuickBooks' words, the job finished, and nothing waits in the dead-letter queue
    _, job = bulk.job(job_id)
    item = job["items"][0]
    assert (job["status"], item["status"]) == ("failed", "failed")
    assert "Gave up after 5 attempts" in item["error"]
    assert "ThrottleExceeded" in item["error"] or "throttl" in item["error"].lower()
    assert job["finishedAt"] is not None
    assert bulk.sqs.receive_message(QueueUrl=bulk.dlq_url).get("Messages", []) == []


def test_bulk_item_whose_message_is_dead_lettered_fails_and_the_job_finishes(bulk):
    # GIVEN a job whose only message ended in the dead-letter queue (its worker was killed on the last try)
    bulk.stack.connect()
    job_id = bulk.start(CUSTOMER, seed(CUSTOMER, 1))
    message = bulk.receive(1)[0]
    bulk.sqs.delete_message(QueueUrl=bulk.queue_url, ReceiptHandle=message["ReceiptHandle"])

    # WHEN the dead-letter queue hands it to the function
    result = bulk.function.lambda_handler({"Records": [sqs_record(message, bulk.dlq_arn)]}, LambdaContext())

    # THEN the item failed, the job finished, and the record was not handed back
    _, job = bulk.job(job_id)
    assert result["batchItemFailures"] == []
    assert (job["status"], job["items"][0]["status"], job["failed"]) == ("failed", "failed", 1)
    assert "could not be processed" in job["items"][0]["error"]


def test_bulk_job_with_faults_at_several_points_ends_with_one_customer_per_item(bulk):
    # GIVEN a company that throttles, fails and drops connections here and there
    realm = bulk.stack.connect()
    ids = seed(CUSTOMER, 12)
    job_id = bulk.start(CUSTOMER, ids)
    fault(bulk.stack, realm, method="POST", entity="customer", status=429, count=3)
    fault(bulk.stack, realm, method="POST", entity="customer", status=0, count=3)
    fault(bulk.stack, realm, method="POST", entity="customer", status=500, count=2)
    fault(bulk.stack, realm, method="POST", entity="customer", status=503, count=1)

    # WHEN the job runs to its end
    bulk.drain()

    # THEN every item succeeded with exactly one QuickBooks customer each (a dropped answer was not a second create)
    _, job = bulk.job(job_id)
    assert (job["status"], job["succeeded"]) == ("succeeded", 12), job
    names = [c["DisplayName"] for c in qb_objects(bulk.stack, realm, CUSTOMER)]
    assert sorted(names) == sorted(f"Bulk customer {i}" for i in range(12))
    assert {i["qbId"] for i in job["items"]} == {c["Id"] for c in qb_objects(bulk.stack, realm, CUSTOMER)}


def test_bulk_message_malformed_is_dropped(bulk):
    # GIVEN a message that is not a job item
    bulk.stack.connect()
    bulk.sqs.send_message(QueueUrl=bulk.queue_url, MessageBody='{"jobId": 7}')
    message = bulk.receive()[0]

    # WHEN it is delivered
    failed = bulk.deliver([message])

    # THEN it is not retried: gone from the queue
    assert failed == set()
    assert bulk.visible_and_hidden() == (0, 0)


def test_bulk_job_after_disconnect_fails_its_items_with_the_reason(bulk):
    # GIVEN a job queued, then QuickBooks switched off
    bulk.stack.connect()
    job_id = bulk.start(CUSTOMER, seed(CUSTOMER, 2))
    status, _ = bulk.stack.api("PUT", "/quickbooks/connection", body={"active": False})
    assert status == 200

    # WHEN the worker runs the items
    bulk.drain()

    # THEN they fail saying why, and the job finishes
    _, job = bulk.job(job_id)
    assert (job["status"], job["failed"]) == ("failed", 2)
    assert "not connected" in job["items"][0]["error"]


def test_bulk_item_retried_after_linking_but_before_recording_succeeds(bulk):
    # GIVEN a delivery that created and linked the customer, then died before recording the item's outcome
    realm = bulk.stack.connect()
    ids = seed(CUSTOMER, 1)
    job_id = bulk.start(CUSTOMER, ids)
    qbo = wiring.quickbooks_for("t1")
    lost = create_and_link(CUSTOMER, qbo, wiring.party_store(), tenant_id="t1", party_id=ids[0], now=wiring.now())
    qbo.close()

    # WHEN SQS delivers the message again
    bulk.drain()

    # THEN the item counts as this job's success (not a skip), with the one customer it made
    _, job = bulk.job(job_id)
    assert (job["status"], job["succeeded"], job["skipped"]) == ("succeeded", 1, 0)
    assert job["items"][0]["qbId"] == lost.qb_id
    assert len(qb_objects(bulk.stack, realm, CUSTOMER)) == 1


def test_bulk_job_whose_messages_were_lost_is_finished_by_the_sweep(bulk, monkeypatch):
    # GIVEN a job whose request died after writing it: none of its messages reached the queue
    realm = bulk.stack.connect()
    job_id = bulk.start(CUSTOMER, seed(CUSTOMER, 3))
    for message in bulk.receive(10):
        bulk.sqs.delete_message(QueueUrl=bulk.queue_url, ReceiptHandle=message["ReceiptHandle"])
    sweep = load_function("auto_sync")
    scheduled = eventbridge_event("Scheduled Event", {}, source="aws.events")

    # WHEN the catch-up sweep runs, first soon after, then an hour later
    soon = sweep.lambda_handler(scheduled, LambdaContext())
    later = wiring.now() + timedelta(hours=1, minutes=1)
    monkeypatch.setattr(wiring, "now", lambda: later)
    late = sweep.lambda_handler(scheduled, LambdaContext())
    bulk.drain()

    # THEN only the late sweep sent the items again, and the job finished with one customer each
    assert (soon["bulkItemsRequeued"], late["bulkItemsRequeued"]) == (0, 3)
    _, job = bulk.job(job_id)
    assert (job["status"], job["succeeded"]) == ("succeeded", 3)
    assert len(qb_objects(bulk.stack, realm, CUSTOMER)) == 3
    # AND a finished job is never swept again
    assert sweep.lambda_handler(scheduled, LambdaContext())["bulkItemsRequeued"] == 0

"""The job store and the bulk queue against moto: outcomes once, counters with them, sends that fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from shared import wiring
from shared.domain.connection import Connection, ConnectionStatus
from shared.domain.jobs import BulkItemMessage, InvoiceDeletionMessage, ItemOutcome, ItemStatus, JobStatus
from shared.services.jobs import requeue_stale_jobs, start_job
from shared.store.bulk_queue import BulkQueue
from shared.store.jobs import JobStore
from shared.store.table import Table
from tests.conftest import TABLE_NAME

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def jobs(aws) -> JobStore:
    return JobStore(Table(TABLE_NAME, aws))


def test_record_same_item_twice_counts_once(jobs):
    # GIVEN a job of two
    jobs.create("t1", "j1", "customers", ["a", "b"], now=NOW)

    # WHEN item a is recorded twice (a repeated delivery), then b
    first = jobs.record("t1", "j1", "a", ItemOutcome.succeeded("58"), now=NOW)
    again = jobs.record("t1", "j1", "a", ItemOutcome.failed("late copy"), now=NOW)
    jobs.record("t1", "j1", "b", ItemOutcome.skipped("already linked", qb_id="7"), now=NOW)

    # THEN only the first outcome of a stands, and each item counted once
    assert (first, again) == (True, False)
    job = jobs.get("t1", "j1")
    assert (job.succeeded, job.failed, job.skipped, job.status) == (1, 0, 1, JobStatus.RUNNING)
    assert [(i.id, i.status, i.qb_id, i.error) for i in job.items] == [
        ("a", ItemStatus.SUCCEEDED, "58", None),
        ("b", ItemStatus.SKIPPED, "7", "already linked"),
    ]


def test_finish_if_done_with_items_left_keeps_running_then_finishes_once(jobs):
    jobs.create("t1", "j1", "vendors", ["a", "b"], now=NOW)
    jobs.record("t1", "j1", "a", ItemOutcome.failed("no"), now=NOW)

    assert jobs.finish_if_done("t1", "j1", now=NOW) is None

    jobs.record("t1", "j1", "b", ItemOutcome.succeeded("9"), now=NOW)
    later = datetime(2026, 11, 25, 12, 5, tzinfo=UTC)
    assert jobs.finish_if_done("t1", "j1", now=NOW) is JobStatus.PARTIALLY_FAILED
    assert jobs.finish_if_done("t1", "j1", now=later) is JobStatus.PARTIALLY_FAILED
    assert jobs.get("t1", "j1").finished_at == NOW


def test_get_job_of_another_tenant_is_none(jobs):
    jobs.create("t1", "j1", "customers", ["a"], now=NOW)

    assert jobs.get("t2", "j1") is None


def test_record_item_of_unknown_job_writes_nothing(jobs, aws):
    assert jobs.record("t1", "nope", "a", ItemOutcome.succeeded("1"), now=NOW) is False
    assert aws.scan(TableName=TABLE_NAME)["Items"] == []


class RefusingSqs:
    """SQS that refuses the given ids once (or always, as sender faults); moto cannot produce either."""

    def __init__(self, transient: set[str], permanent: set[str]) -> None:
        self.transient, self.permanent, self.sent = set(transient), permanent, []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        failed = []
        for entry in Entries:
            item = BulkItemMessage.model_validate_json(entry["MessageBody"]).item_id
            if item in self.permanent:
                failed.append({"Id": entry["Id"], "SenderFault": True, "Code": "InvalidParameterValue"})
            elif item in self.transient:
                self.transient.discard(item)
                failed.append({"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"})
            else:
                self.sent.append(item)
        return {"Failed": failed}


def test_send_retries_transient_refusals_and_reports_sender_faults():
    sqs = RefusingSqs(transient={"c-3", "c-12"}, permanent={"c-5"})
    messages = [BulkItemMessage(tenant_id="t1", job_id="j", kind="customers", item_id=f"c-{i}") for i in range(14)]

    unsent = BulkQueue(sqs, "url").send(messages)

    assert sorted(sqs.sent) == sorted(f"c-{i}" for i in range(14) if i != 5)
    assert [(u.message.item_id, u.reason) for u in unsent] == [
        ("c-5", "the bulk queue refused the message (InvalidParameterValue)")
    ]


def test_start_job_with_an_unqueued_item_fails_it_so_the_job_can_finish(aws, monkeypatch, jobs):
    # GIVEN a connected tenant and a queue that refuses one message for good
    connection = Connection(tenant_id="t1", status=ConnectionStatus.CONNECTED, realm_id="9130")
    monkeypatch.setattr("shared.services.jobs.require_connected", lambda store, tenant: connection)
    sqs = RefusingSqs(transient=set(), permanent={"b"})

    # WHEN a job of two starts
    accepted = start_job(
        jobs,
        BulkQueue(sqs, "url"),
        wiring.connection_store(),
        tenant_id="t1",
        kind="customers",
        item_ids=["a", "b"],
        now=NOW,
        new_id=lambda: "j1",
    )

    # THEN b failed at once saying why; when a ends, the job finishes
    job = jobs.get("t1", accepted.job_id)
    assert [(i.id, i.status) for i in job.items] == [("a", ItemStatus.PENDING), ("b", ItemStatus.FAILED)]
    assert "Could not be queued" in job.items[1].error
    jobs.record("t1", "j1", "a", ItemOutcome.succeeded("1"), now=NOW)
    assert jobs.finish_if_done("t1", "j1", now=NOW) is JobStatus.PARTIALLY_FAILED


def test_every_message_sent_names_its_tenant_as_message_group(aws, monkeypatch, jobs):
    # GIVEN the bulk queue (a standard queue, as in the template) and three tenants with work for it
    connection = Connection(tenant_id="t1", status=ConnectionStatus.CONNECTED, realm_id="9130")
    monkeypatch.setattr("shared.services.jobs.require_connected", lambda store, tenant: connection)
    sqs = boto3.client("sqs")
    queue = BulkQueue(sqs, sqs.create_queue(QueueName="bulk")["QueueUrl"])
    jobs.create("t-stale", "old", "customers", ["s1", "s2"], now=NOW - timedelta(hours=2))

    # WHEN a job starts, a stale job is queued again, and an invoice deletion is queued
    start_job(jobs, queue, wiring.connection_store(), tenant_id="t-job", kind="customers", item_ids=["a", "b"], now=NOW)
    assert requeue_stale_jobs(jobs, queue, now=NOW) == 2
    assert queue.send([InvoiceDeletionMessage(tenant_id="t-del", invoice_id="inv-1")]) == []

    # THEN every message SQS holds carries its tenant as MessageGroupId (SQS fair queues' tenant)
    received: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"]
    ).get("Messages"):
        received += batch
    tenants = [json.loads(m["Body"])["tenantId"] for m in received]
    assert sorted(tenants) == ["t-del", "t-job", "t-job", "t-stale", "t-stale"]
    assert [m["Attributes"]["MessageGroupId"] for m in received] == tenants

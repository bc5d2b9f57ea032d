"""Bulk "Create and sync" through the local front (issue 5): the UI posts a job and polls it, SQS runs the items.

Books360 data arrives as Books360 would publish it (``/_local/events``); QuickBooks faults are injected at the
emulator; outcomes are counted at the emulator, as its company's user would see them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from shared.domain.parties import CUSTOMER, PARTY_KINDS, PartyKind
from tests.e2e.helpers import emulator, publish, qb_names
from tests.e2e.oauth import connect, new_tenant

pytestmark = pytest.mark.e2e

KINDS = list(PARTY_KINDS.values())
JOB_TIMEOUT = 90.0


def start_job(stack, tenant: str, kind: PartyKind, ids: list[str]) -> str:
    with stack.client(tenant) as api:
        answer = api.post(f"/quickbooks/{kind.plural}/bulk-sync", json={kind.bulk_ids_field: ids})
    assert answer.status_code == 202, answer.text
    assert answer.json()["total"] == len(ids)
    return str(answer.json()["jobId"])


def finished_job(stack, tenant: str, job_id: str, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
    """Poll the job as the UI does until it has finished."""
    deadline = time.monotonic() + timeout
    with stack.client(tenant) as api:
        while True:
            answer = api.get(f"/quickbooks/jobs/{job_id}")
            assert answer.status_code == 200, answer.text
            job: dict[str, Any] = answer.json()
            if job["finishedAt"] is not None:
                return job
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} did not finish in {timeout} s: {job}\n{stack.output(80)}")
            time.sleep(0.25)


def fault(stack, realm_id: str, **rule: Any) -> None:
    emulator(stack, "POST", "/_admin/faults", json={"realmId": realm_id, **rule})


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_bulk_job_of_30_through_the_stack_succeeds_with_30_quickbooks_objects(local_stack, kind):
    # GIVEN a connected tenant with 30 Books360 parties
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    ids = publish(local_stack, tenant, kind, 30, f"Thirty {kind.key}")

    # WHEN the UI asks to create and sync them all, then polls the job
    job = finished_job(local_stack, tenant, start_job(local_stack, tenant, kind, ids))

    # THEN every item succeeded, QuickBooks has exactly those 30, and it never throttled us
    assert (job["status"], job["kind"], job["succeeded"], job["failed"]) == ("succeeded", kind.job_kind, 30, 0)
    assert [i["id"] for i in job["items"]] == ids
    assert sorted(qb_names(local_stack, realm, kind)) == sorted(f"Thirty {kind.key} {n}" for n in range(30))
    assert emulator(local_stack, "GET", "/_admin/requests", params={"realmId": realm})["throttled"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lambda f: {f: []}, lambda f: f),
        (lambda f: {f: [f"c-{i}" for i in range(31)]}, lambda f: f),
        (lambda f: {f: ["c-1", "c-1"]}, lambda f: f),
        (lambda f: {f: [1]}, lambda f: f"{f}[0]"),
        (lambda f: {f: None}, lambda f: f),
    ],
    ids=["none", "31", "duplicates", "numbers", "null"],
)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_bulk_sync_invalid_ids_through_the_stack_answers_422(local_stack, kind, body, field):
    tenant = new_tenant()
    connect(local_stack, tenant)

    with local_stack.client(tenant) as api:
        answer = api.post(f"/quickbooks/{kind.plural}/bulk-sync", json=body(kind.bulk_ids_field))

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field(kind.bulk_ids_field) in [e["field"] for e in answer.json()["errors"]]


def test_bulk_sync_not_connected_through_the_stack_answers_409(local_stack):
    with local_stack.client(new_tenant()) as api:
        answer = api.post("/quickbooks/customers/bulk-sync", json={"clientIds": ["c-1"]})

    assert answer.status_code == 409
    assert answer.json()["type"] == "/problems/not-connected"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_bulk_job_unknown_and_linked_ids_through_the_stack_fail_and_skip(local_stack, kind):
    # GIVEN one party linked by an earlier job, one new, one id Books360 never published
    tenant = new_tenant()
    connect(local_stack, tenant)
    linked, fresh = publish(local_stack, tenant, kind, 2, f"Mixed {kind.key}")
    finished_job(local_stack, tenant, start_job(local_stack, tenant, kind, [linked]))

    # WHEN a job names all three
    job = finished_job(local_stack, tenant, start_job(local_stack, tenant, kind, [linked, fresh, "nobody"]))

    # THEN skipped, succeeded, failed with a reason; the job partially failed
    statuses = {i["id"]: i["status"] for i in job["items"]}
    assert statuses == {linked: "skipped", fresh: "succeeded", "nobody": "failed"}
    assert "nobody" in next(i["error"] for i in job["items"] if i["id"] == "nobody")
    assert (job["status"], job["succeeded"], job["failed"], job["skipped"]) == ("partially_failed", 1, 1, 1)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_bulk_job_with_faults_at_several_points_ends_with_one_object_per_item(local_stack, kind):
    # GIVEN a company that throttles in bursts, fails with 500/503 and drops connections after doing the work
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    ids = publish(local_stack, tenant, kind, 10, f"Faulty {kind.key}")
    entity = kind.qb_entity.lower()
    fault(local_stack, realm, method="POST", entity=entity, status=0, count=2)
    fault(local_stack, realm, method="POST", entity=entity, status=429, count=3)
    fault(local_stack, realm, method="POST", entity=entity, status=500, count=2)
    fault(local_stack, realm, method="POST", entity=entity, status=503, count=1)
    fault(local_stack, realm, method="POST", entity=entity, status=0, count=1)

    # WHEN a job of 10 runs through them
    job = finished_job(local_stack, tenant, start_job(local_stack, tenant, kind, ids))

    # THEN every item succeeded with exactly one QuickBooks object each
    assert (job["status"], job["succeeded"]) == ("succeeded", 10), job
    assert sorted(qb_names(local_stack, realm, kind)) == sorted(f"Faulty {kind.key} {n}" for n in range(10))


def test_bulk_message_delivered_twice_through_the_stack_creates_one_customer(local_stack):
    # GIVEN a job of one, finished
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    ids = publish(local_stack, tenant, CUSTOMER, 1, "Twice")
    job_id = start_job(local_stack, tenant, CUSTOMER, ids)
    finished_job(local_stack, tenant, job_id)

    # WHEN SQS delivers its message once more
    sqs = boto3.client(
        "sqs",
        endpoint_url=local_stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = sqs.get_queue_url(QueueName="books360-local-BulkQueue")["QueueUrl"]
    body = {"tenantId": tenant, "jobId": job_id, "kind": "customers", "itemId": ids[0]}
    message_id = sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))["MessageId"]
    deadline = time.monotonic() + 30
    while not [i for i in local_stack.invocations("BulkSyncFunction") if message_id in i.get("messageIds", [])]:
        assert time.monotonic() < deadline, local_stack.output(40)
        time.sleep(0.2)

    # THEN still one customer, one success counted
    assert qb_names(local_stack, realm, CUSTOMER) == ["Twice 0"]
    job = finished_job(local_stack, tenant, job_id)
    assert (job["succeeded"], job["total"]) == (1, 1)


def test_bulk_item_exhausting_its_receives_through_the_stack_fails_and_the_job_finishes(local_stack):
    # GIVEN a company that throttles every create
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    ids = publish(local_stack, tenant, CUSTOMER, 2, "Throttled")
    fault(local_stack, realm, method="POST", entity="customer", status=429, count=100)

    # WHEN a job runs
    job = finished_job(local_stack, tenant, start_job(local_stack, tenant, CUSTOMER, ids))

    # THEN its items failed with QuickBooks' throttling message after the queue's last receive: no hanging job
    assert (job["status"], job["failed"]) == ("failed", 2)
    assert all("Gave up after 5 attempts" in i["error"] for i in job["items"])


def test_bulk_job_of_another_tenant_through_the_stack_answers_404(local_stack):
    tenant = new_tenant()
    connect(local_stack, tenant)
    job_id = start_job(local_stack, tenant, CUSTOMER, ["c-1"])

    with local_stack.client(new_tenant()) as api:
        answer = api.get(f"/quickbooks/jobs/{job_id}")

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")

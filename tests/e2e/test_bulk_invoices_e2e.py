"""Bulk "Sync invoice" through the local front (issue 9, "Bulk"): the UI posts a job and polls it, SQS runs the items.

The Books360 data is the demo's (``local/demo.py``), published as Books360 would (``/_local/events``) for a tenant
of the test's own, connected to a company of its own: the demo tenant's invoices and company are other tests'
business, and these jobs must neither see nor change what they did. Demo invoices used (invoice ``n`` belongs to
client ``(n - 1) % 40 + 1``; client 7 has no email):

* ``inv-001`` and ``inv-041`` (Acme Corp, one client for both), ``inv-002``, ``inv-003``: synced;
* ``inv-007`` (Stark Industries, no email): fails with the ``client.email`` problem.

What QuickBooks holds is looked at as the company's user would (the emulator's admin token); faults are injected
at the emulator.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from local.demo import books360_entries
from tests.e2e.helpers import emulator, qb_user
from tests.e2e.oauth import connect, new_tenant

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 90.0
SYNCED = ["inv-001", "inv-041", "inv-002", "inv-003"]
NO_EMAIL = "inv-007"


def publish_demo(stack, tenant: str, invoice_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Books360 publishes these demo invoices, and their clients first, for ``tenant``; the invoices by id."""
    invoices, clients = {}, {}
    for entry in books360_entries(tenant):
        detail = json.loads(entry["Detail"])
        if entry["DetailType"] == "InvoiceUpserted" and detail["invoiceId"] in invoice_ids:
            invoices[detail["invoiceId"]] = entry
        elif entry["DetailType"] == "ClientUpserted":
            clients[detail["clientId"]] = entry
    needed = {json.loads(e["Detail"])["clientId"] for e in invoices.values()}
    entries = [clients[c] for c in sorted(needed)] + [invoices[i] for i in invoice_ids]
    for start in range(0, len(entries), 10):  # PutEvents takes at most 10 entries
        answer = httpx.post(f"{stack.api_url}/_local/events", json={"Entries": entries[start : start + 10]}, timeout=60)
        assert answer.status_code == 200 and answer.json()["FailedEntryCount"] == 0, answer.text
    return {i: json.loads(e["Detail"]) for i, e in invoices.items()}


def client_names(stack, tenant: str) -> dict[str, str]:
    return {
        json.loads(e["Detail"])["clientId"]: json.loads(e["Detail"])["name"]
        for e in books360_entries(tenant)
        if e["DetailType"] == "ClientUpserted"
    }


def start_job(stack, tenant: str, ids: list[str]) -> str:
    with stack.client(tenant) as api:
        answer = api.post("/quickbooks/invoices/bulk-sync", json={"invoiceIds": ids})
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


def qb_all(stack, realm: str, entity: str) -> list[dict[str, Any]]:
    """Every object of ``entity`` in the company, as its user would list them."""
    found = emulator(
        stack,
        "GET",
        f"/v3/company/{realm}/query",
        params={"query": f"SELECT * FROM {entity} MAXRESULTS 1000", "minorversion": 75},
        headers=qb_user(stack, realm),
    )
    return list(found["QueryResponse"].get(entity, []))


def qb_invoices(stack, realm: str, tenant: str) -> dict[str, list[dict[str, Any]]]:
    """Books360 invoice id -> the QuickBooks invoices written for it (by our PrivateNote marker)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for record in qb_all(stack, realm, "Invoice"):
        found.setdefault(record["PrivateNote"].removeprefix(f"Books360 {tenant} invoice "), []).append(record)
    return found


def test_bulk_invoices_job_through_the_stack_syncs_demo_invoices_and_fails_the_one_without_email(local_stack):
    # GIVEN a connected tenant with five demo invoices: two of one client, two of others, one of a client
    # without email; none of their clients is in the company yet
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    invoices = publish_demo(local_stack, tenant, [*SYNCED, NO_EMAIL])
    names = client_names(local_stack, tenant)

    # WHEN the UI asks to sync them all ("Bulk Change" > "Sync invoice"), then polls the job
    job = finished_job(local_stack, tenant, start_job(local_stack, tenant, [*SYNCED, NO_EMAIL]))

    # THEN the four succeeded, each with its QuickBooks invoice; the fifth failed saying the client has no email
    assert (job["kind"], job["status"], job["succeeded"], job["failed"]) == ("invoices", "partially_failed", 4, 1)
    items = {i["id"]: i for i in job["items"]}
    assert [i["id"] for i in job["items"]] == [*SYNCED, NO_EMAIL]
    written = qb_invoices(local_stack, realm, tenant)
    assert sorted(written) == sorted(SYNCED)
    for invoice_id in SYNCED:
        (record,) = written[invoice_id]
        assert (items[invoice_id]["status"], items[invoice_id]["qbId"]) == ("succeeded", record["Id"])
        assert record["DocNumber"] == invoices[invoice_id]["number"]
    assert items[NO_EMAIL]["status"] == "failed"
    assert "client.email" in items[NO_EMAIL]["error"]
    assert "has no email" in items[NO_EMAIL]["error"]
    # AND one customer per client: the client of inv-001 and inv-041 was created once
    clients = {invoices[i]["clientId"] for i in SYNCED}
    customers = qb_all(local_stack, realm, "Customer")
    assert sorted(c["DisplayName"] for c in customers) == sorted(names[c] for c in clients)
    by_name = {c["DisplayName"]: c["Id"] for c in customers}
    for invoice_id in SYNCED:
        assert written[invoice_id][0]["CustomerRef"]["value"] == by_name[names[invoices[invoice_id]["clientId"]]]
    # AND the tab lists them as the job left them
    with local_stack.client(tenant) as api:
        rows = api.get("/quickbooks/invoices", params={"limit": 50}).json()["items"]
    assert {r["invoiceId"]: r["syncStatus"] for r in rows} == {**dict.fromkeys(SYNCED, "synced"), NO_EMAIL: "unsynced"}


def test_bulk_invoices_job_through_faults_writes_each_demo_invoice_once(local_stack):
    # GIVEN four demo invoices, and a company that throttles and drops the connection (after doing the work) at
    # invoice creates
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    publish_demo(local_stack, tenant, SYNCED)
    for status in (429, 0, 429, 0):
        emulator(
            local_stack,
            "POST",
            "/_admin/faults",
            json={"realmId": realm, "method": "POST", "entity": "invoice", "status": status, "count": 1},
        )

    # WHEN a job of the four runs through them
    job = finished_job(local_stack, tenant, start_job(local_stack, tenant, SYNCED))

    # THEN every item succeeded, with exactly one QuickBooks invoice each
    assert (job["status"], job["succeeded"]) == ("succeeded", 4), job
    written = qb_invoices(local_stack, realm, tenant)
    assert {i: len(records) for i, records in written.items()} == dict.fromkeys(SYNCED, 1)
    assert {i["id"]: i["qbId"] for i in job["items"]} == {i: written[i][0]["Id"] for i in SYNCED}
    report = emulator(local_stack, "GET", "/_admin/requests", params={"realmId": realm})
    assert report["byEndpoint"]["POST invoice"] >= len(SYNCED) + 4


def test_bulk_invoices_of_another_tenant_through_the_stack_answer_404_and_start_nothing(local_stack):
    # GIVEN a tenant with demo invoices, and another, connected, with none
    owner = new_tenant()
    connect(local_stack, owner)
    publish_demo(local_stack, owner, ["inv-001"])
    other = new_tenant()
    connect(local_stack, other)

    # WHEN the other names the first one's invoice
    with local_stack.client(other) as api:
        answer = api.post("/quickbooks/invoices/bulk-sync", json={"invoiceIds": ["inv-001"]})

    # THEN 404 naming it, as a problem
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "inv-001" in answer.json()["detail"]
    assert [e["field"] for e in answer.json()["errors"]] == ["invoiceIds[0]"]


@pytest.mark.parametrize(
    "body",
    [{"invoiceIds": []}, {"invoiceIds": [f"inv-{n:03d}" for n in range(1, 32)]}, {"invoiceIds": ["inv-1", "inv-1"]}],
    ids=["none", "31", "duplicates"],
)
def test_bulk_invoices_invalid_ids_through_the_stack_answers_422(local_stack, body):
    tenant = new_tenant()
    connect(local_stack, tenant)

    with local_stack.client(tenant) as api:
        answer = api.post("/quickbooks/invoices/bulk-sync", json=body)

    assert answer.status_code == 422, answer.text
    assert "invoiceIds" in [e["field"] for e in answer.json()["errors"]]

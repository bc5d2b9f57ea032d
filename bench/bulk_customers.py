"""A bulk job of 30 customers through the real code path, against the emulator with 100 ms per QuickBooks call.

Runs ``python -m emulator`` in a subprocess (its own GIL) with a latency of ``--latency-ms`` on every request of
a fresh company, and everything else in this process: moto for DynamoDB, SQS and Secrets Manager (resources from
template.yaml), the OAuth dance through the api and oauth_callback handlers, the Books360 clients through their
events, ``POST /quickbooks/customers/bulk-sync`` through the bulk_sync handler, and then Lambda's SQS event source
played by ``--workers`` threads (the template's ``MaximumConcurrency``), each receiving up to ``BatchSize``
messages and invoking its own copy of the bulk_sync handler, as separate Lambda containers would.

Prints, per worker count: QuickBooks calls per item, wall time from the POST to the finished job, 429s, and the
ratio of the wall time to the lower bound ``calls / 10 concurrent x latency``.

    .venv/bin/python bench/bulk_customers.py [--items 30] [--latency-ms 100] [--workers 2,8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
import httpx  # noqa: E402
from botocore.client import BaseClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.emulator_throughput import free_port, start_emulator  # noqa: E402
from local.sqs import sqs_record  # noqa: E402
from shared import wiring  # noqa: E402
from shared.services.books360_events import apply_event  # noqa: E402
from tests.conftest import load_function  # noqa: E402
from tests.support.events import LambdaContext, http_event  # noqa: E402
from tests.support.template import load_template, table_definition  # noqa: E402

QBO_CONCURRENCY = 10
aws_calls: Counter[str] = Counter()
aws_seconds = [0.0]
_moto_lock = threading.Lock()
_make_api_call = BaseClient._make_api_call


def serialized_api_call(self: Any, operation: str, params: Any) -> Any:
    """moto in-process is not thread-safe (a transaction deep-copies the table): one AWS call at a time."""
    with _moto_lock:
        started = time.perf_counter()
        try:
            return _make_api_call(self, operation, params)
        finally:
            aws_calls[operation] += 1
            aws_seconds[0] += time.perf_counter() - started


BaseClient._make_api_call = serialized_api_call


APP_SECRET = "books360-qbo/app"


def claims(tenant: str) -> dict[str, str]:
    return {"sub": "bench", "tenant_id": tenant}


def call(function: Any, method: str, path: str, tenant: str | None, **kwargs: Any) -> dict[str, Any]:
    event = http_event(method, path, claims=claims(tenant) if tenant else None, **kwargs)
    answer: dict[str, Any] = function.lambda_handler(event, LambdaContext())
    return answer


def connect(api: Any, callback: Any, emulator: httpx.Client, tenant: str, realm: str) -> None:
    """The OAuth dance: switch on, consent at the emulator as the admin's browser, follow the callback."""
    started = json.loads(call(api, "PUT", "/quickbooks/connection", tenant, body={"active": True})["body"])
    query = {k: v[0] for k, v in parse_qs(urlparse(started["authorizeUrl"]).query).items()}
    consent = emulator.post("/connect/oauth2", data={**query, "realmId": realm, "decision": "approve"})
    back = {k: v[0] for k, v in parse_qs(urlparse(consent.headers["location"]).query).items()}
    landing = call(callback, "GET", "/quickbooks/oauth/callback", None, query=back)["headers"]["Location"]
    assert landing.endswith("result=connected"), landing


def poll_queue(worker: Any, sqs: Any, queue: tuple[str, str], batch_size: int, done: threading.Event) -> None:
    """One Lambda container fed by the event source: receive a batch, invoke, delete what succeeded."""
    url, arn = queue
    while not done.is_set():
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=batch_size, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            time.sleep(0.02)
            continue
        result = worker.lambda_handler({"Records": [sqs_record(m, arn) for m in messages]}, LambdaContext())
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:  # the local stack's short retry instead of the minute a 429 asks for
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=1)


def run(
    emulator: httpx.Client, functions: dict[str, Any], workers: list[Any], sqs: Any, queue: tuple[str, str], args: Any
) -> dict[str, float]:
    tenant = f"bench-{len(workers)}"
    realm = emulator.post("/_admin/companies", json={"companyName": f"Bench {len(workers)}"}).json()["realmId"]
    connect(functions["api"], functions["oauth_callback"], emulator, tenant, realm)
    ids = []
    for n in range(args.items):
        detail = {"tenantId": tenant, "version": 1, "clientId": f"c-{n}", "name": f"Bench client {n}"}
        apply_event(wiring.books360_store(), "ClientUpserted", detail, event_id=f"{tenant}-{n}")
        ids.append(f"c-{n}")
    if args.latency_ms:
        emulator.post("/_admin/faults", json={"realmId": realm, "latencyMs": args.latency_ms}).raise_for_status()
    aws_calls.clear()
    aws_seconds[0] = 0.0
    before = emulator.get("/_admin/requests", params={"realmId": realm}).json()

    batch_size = int(
        load_template()["Resources"]["BulkSyncFunction"]["Properties"]["Events"]["Items"]["Properties"]["BatchSize"]
    )
    done = threading.Event()
    threads = [
        threading.Thread(target=poll_queue, args=(w, sqs, queue, batch_size, done), daemon=True) for w in workers
    ]
    started = time.perf_counter()
    accepted = call(functions["bulk_sync"], "POST", "/quickbooks/customers/bulk-sync", tenant, body={"clientIds": ids})
    job_id = json.loads(accepted["body"])["jobId"]
    for thread in threads:
        thread.start()
    # The job's head alone, often: GET /quickbooks/jobs also queries the items, and moto's Query scans the table
    # under the GIL the workers need (DynamoDB answers it in milliseconds).
    head = ("TENANT#" + tenant, "JOB#" + job_id)
    while not (wiring.table().get(*head) or {}).get("finishedAt"):
        time.sleep(0.02)
    wall = time.perf_counter() - started
    done.set()
    for thread in threads:
        thread.join()
    job = json.loads(call(functions["api"], "GET", f"/quickbooks/jobs/{job_id}", tenant)["body"])
    aws, moto_seconds = dict(aws_calls), aws_seconds[0]
    aws_calls.clear()

    after = emulator.get("/_admin/requests", params={"realmId": realm}).json()
    calls = after["total"] - before["total"]
    bound = calls / QBO_CONCURRENCY * args.latency_ms / 1000
    return {
        "workers": len(workers),
        "status": job["status"],
        "succeeded": job["succeeded"],
        "calls": calls,
        "calls_per_item": calls / args.items,
        "wall": wall,
        "throttled": after["throttled"] - before["throttled"],
        "max_concurrent": after["maxConcurrent"],
        "bound": bound,
        "ratio": wall / bound if bound else float("nan"),
        # In-process moto serializes every AWS call (and a transaction deep-copies the table); deployed, DynamoDB
        # answers in milliseconds and in parallel. Wall time less that emulation time estimates the deployed job.
        "ratio_without_moto": max(wall - moto_seconds, 0.0) / bound if bound else float("nan"),
        "aws": aws,
        "moto_seconds": moto_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--workers", default="2,8", help="concurrent bulk workers to try (MaximumConcurrency)")
    args = parser.parse_args()

    port = free_port()
    process = start_emulator(port)
    url = f"http://127.0.0.1:{port}"
    try:
        with mock_aws(), httpx.Client(base_url=url, timeout=30) as emulator:
            boto3.client("dynamodb").create_table(TableName="bench", **table_definition())
            sqs = boto3.client("sqs")
            queue_url = sqs.create_queue(QueueName="bulk", Attributes={"VisibilityTimeout": "180"})["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            secret = {"clientId": "local-client-id", "clientSecret": "local-client-secret", "webhookVerifier": "v"}
            boto3.client("secretsmanager").create_secret(Name=APP_SECRET, SecretString=json.dumps(secret))
            os.environ.update(
                {
                    "TABLE_NAME": "bench",
                    "BULK_QUEUE_URL": queue_url,
                    "QBO_API_BASE_URL": url,
                    "QBO_DISCOVERY_URL": f"{url}/.well-known/openid_configuration",
                    "PUBLIC_API_URL": "http://127.0.0.1:3999",
                    "UI_BASE_URL": "http://ui.bench",
                    "QBO_APP_SECRET_NAME": APP_SECRET,
                }
            )
            wiring.reset()
            functions = {name: load_function(name) for name in ("api", "oauth_callback", "bulk_sync")}
            print(f"{args.items} customers, {args.latency_ms} ms a QuickBooks call, lower bound = calls / 10 x latency")
            print("workers  status     calls/item  wall s  429s  max in flight  bound s  wall/bound  (wall-moto)/bound")
            for count in (int(w) for w in args.workers.split(",")):
                workers = [load_function("bulk_sync") for _ in range(count)]  # one container each
                r = run(emulator, functions, workers, sqs, (queue_url, arn), args)
                print(
                    f"{r['workers']:>7}  {r['status']:<9}  {r['calls_per_item']:>10.2f}  {r['wall']:>6.2f}"
                    f"  {r['throttled']:>4}  {r['max_concurrent']:>13}  {r['bound']:>7.2f}  {r['ratio']:>10.1f}"
                    f"  {r['ratio_without_moto']:>17.1f}"
                )
                per_item = ", ".join(f"{name} {n / args.items:.2f}" for name, n in sorted(r["aws"].items()))
                print(f"         AWS calls per item (request, workers, job polling): {per_item}")
                print(f"         time inside moto (serialized, in-process): {r['moto_seconds']:.2f} s")
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()

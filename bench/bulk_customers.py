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
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import InProcess, MotoTime, bulk_batch_size, call, load_function, poll_queue, requests_of  # noqa: E402
from shared import wiring  # noqa: E402
from shared.services.books360_events import apply_event  # noqa: E402

QBO_CONCURRENCY = 10


def run(stack: InProcess, workers: list[Any], moto: MotoTime, args: Any) -> dict[str, Any]:
    tenant = f"bench-{len(workers)}"
    realm = stack.company(f"Bench {len(workers)}")
    stack.connect(tenant, realm)
    ids = []
    for n in range(args.items):
        detail = {"tenantId": tenant, "version": 1, "clientId": f"c-{n}", "name": f"Bench client {n}"}
        apply_event(wiring.books360_store(), "ClientUpserted", detail, event_id=f"{tenant}-{n}")
        ids.append(f"c-{n}")
    if args.latency_ms:
        stack.latency(realm, args.latency_ms)
    moto.take()
    before = requests_of(stack.emulator, realm)

    batch_size = bulk_batch_size()
    done = threading.Event()
    threads = [
        threading.Thread(target=poll_queue, args=(w, stack.sqs, stack.queue, batch_size, done), daemon=True)
        for w in workers
    ]
    started = time.perf_counter()
    accepted = call(
        stack.functions["bulk_sync"], "POST", "/quickbooks/customers/bulk-sync", tenant, body={"clientIds": ids}
    )
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
    aws, moto_seconds = moto.take()
    job = json.loads(call(stack.functions["api"], "GET", f"/quickbooks/jobs/{job_id}", tenant)["body"])

    after = requests_of(stack.emulator, realm)
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
        "aws": dict(aws),
        "moto_seconds": moto_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--workers", default="2,8", help="concurrent bulk workers to try (MaximumConcurrency)")
    args = parser.parse_args()

    moto = MotoTime()
    moto.install()
    with InProcess(("api", "oauth_callback", "bulk_sync")) as stack:
        print(f"{args.items} customers, {args.latency_ms} ms a QuickBooks call, lower bound = calls / 10 x latency")
        print("workers  status     calls/item  wall s  429s  max in flight  bound s  wall/bound  (wall-moto)/bound")
        for count in (int(w) for w in args.workers.split(",")):
            workers = [load_function("bulk_sync") for _ in range(count)]  # one container each
            r = run(stack, workers, moto, args)
            print(
                f"{r['workers']:>7}  {r['status']:<9}  {r['calls_per_item']:>10.2f}  {r['wall']:>6.2f}"
                f"  {r['throttled']:>4}  {r['max_concurrent']:>13}  {r['bound']:>7.2f}  {r['ratio']:>10.1f}"
                f"  {r['ratio_without_moto']:>17.1f}"
            )
            per_item = ", ".join(f"{name} {n / args.items:.2f}" for name, n in sorted(r["aws"].items()))
            print(f"         AWS calls per item (request, workers, job polling): {per_item}")
            print(f"         time inside moto (serialized, in-process): {r['moto_seconds']:.2f} s")


if __name__ == "__main__":
    main()

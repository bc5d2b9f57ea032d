"""A bulk job of 30 invoices ("Bulk Change" > "Sync invoice") through the real code path, at 100 ms a QuickBooks call.

Runs ``python -m emulator`` in a subprocess (its own GIL) at QuickBooks' own limits (500 a minute, 10 a second,
10 at once per company) with a latency of ``--latency-ms`` on every request of a fresh company per run, and
everything else in this process (``bench/_harness.py``): moto for DynamoDB, SQS and Secrets Manager, the OAuth
dance, the Books360 clients (with email) and invoices (``--transactions`` transactions and one partial payment
each) through their events, each client linked beforehand (``POST /quickbooks/customers/{id}/sync {"create":
true}``; ``--unlinked`` leaves that to the job, which then creates each customer too). None of that is measured.
Then ``POST /quickbooks/invoices/bulk-sync`` through the bulk_sync handler, and Lambda's SQS event source played by
``--workers`` threads (the template's ``MaximumConcurrency``, 16 at most; 2 and 8 by default), each receiving up to
``BatchSize`` messages and invoking its own copy of the bulk_sync handler, as separate Lambda containers would.

Prints, per worker count: QuickBooks calls per invoice (counted at the emulator), wall time from the POST to the
finished job, 429s, and the wall time against two lower bounds (``bench/qbo_limits.py``): issue 9's
``calls / 10 concurrent x latency``, and the least time QuickBooks' limits allow for those calls (its sliding
minute and second, 10 at once, the latency); then each ratio without the time spent inside moto (in-process,
serialized and far slower than DynamoDB), and that time apart.

Targets (``api-contract.md`` "Limits we keep with QuickBooks", issue 9): every invoice synced, 0 429s, 2 calls per
invoice of a linked client (invoice + payment).

    .venv/bin/python bench/bulk_invoices.py [--invoices 30] [--transactions 5] [--latency-ms 100] [--workers 2,8]
                                            [--unlinked]

A run on a 2-core machine (2026-11-30, main with the company call calendar, the facts lease and one-item workers;
``.venv/bin/python bench/bulk_invoices.py``): no 429 with 2 or 8 workers, 2.00 calls an invoice plus the
company's one-time setup (the Item's look-up, its Income account's, its create: 0.10 an invoice over 30); the wall
time is the calendar's 8 calls a second plus moto (in-process, serialized: 65-91% of the wall time).

    workers  status    synced  calls/inv  wall s  429s  in flight    A s  wall/A  -moto    B s  wall/B  -moto
          2  succeeded  30/30       2.10    9.89     0          2   0.63   15.70   5.55   6.10    1.62   0.57
          8  succeeded  30/30       2.10   11.14     0          2   0.63   17.69   1.65   6.10    1.83   0.17

Before the calendar (main at bb3ef2f plus the emulator's real limits): 2 workers met 2 429s; 8 workers met 64
(every one per second), made 4.13 calls an invoice (a look-up by marker before each retried create, and six
Item look-ups and creates racing) and one item failed after 5 attempts.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._data import client_detail, invoice_detail  # noqa: E402
from bench._harness import InProcess, MotoTime, bulk_batch_size, call, load_function, ok, poll_queue, requests_of  # noqa: E402
from bench.qbo_limits import QBO, earliest_finish  # noqa: E402
from shared import wiring  # noqa: E402
from shared.services.books360_events import apply_event  # noqa: E402

TARGET_CALLS_LINKED = 2.0


def setup(stack: InProcess, tenant: str, args: Any) -> tuple[str, list[str]]:
    """A connected company, ``--invoices`` clients (linked unless ``--unlinked``) with one invoice each."""
    realm = stack.company(f"Bench {tenant}")
    stack.connect(tenant, realm)
    store = wiring.books360_store()
    ids = []
    for n in range(args.invoices):
        client = client_detail(tenant, f"c-{n}", f"Bench client {n}", email=f"billing{n}@example.com")
        apply_event(store, "ClientUpserted", client, event_id=f"{tenant}-client-{n}")
        if not args.unlinked:
            ok(call(stack.functions["api"], "POST", f"/quickbooks/customers/c-{n}/sync", tenant, body={"create": True}))
        detail = invoice_detail(tenant, n, args.transactions)
        apply_event(store, "InvoiceUpserted", detail, event_id=f"{tenant}-inv-{n}")
        ids.append(detail["invoiceId"])
    return realm, ids


def run(stack: InProcess, workers: list[Any], moto: MotoTime, args: Any) -> dict[str, Any]:
    tenant = f"bench-{len(workers)}"
    realm, ids = setup(stack, tenant, args)
    stack.latency(realm, args.latency_ms)
    before = requests_of(stack.emulator, realm)
    moto.take()

    done = threading.Event()
    batch_size = bulk_batch_size()
    threads = [
        threading.Thread(target=poll_queue, args=(w, stack.sqs, stack.queue, batch_size, done), daemon=True)
        for w in workers
    ]
    started = time.perf_counter()
    accepted = ok(
        call(stack.functions["bulk_sync"], "POST", "/quickbooks/invoices/bulk-sync", tenant, body={"invoiceIds": ids}),
        202,
    )
    for thread in threads:
        thread.start()
    # The job's head alone, often: GET /quickbooks/jobs also queries the items, and moto's Query scans the table
    # under the GIL the workers need (DynamoDB answers it in milliseconds).
    head = ("TENANT#" + tenant, "JOB#" + accepted["jobId"])
    deadline = started + args.timeout
    while not (wiring.table().get(*head) or {}).get("finishedAt"):
        if time.perf_counter() > deadline:
            break
        time.sleep(0.02)
    wall = time.perf_counter() - started
    done.set()
    for thread in threads:
        thread.join()
    aws, moto_seconds = moto.take()
    job = ok(call(stack.functions["api"], "GET", f"/quickbooks/jobs/{accepted['jobId']}", tenant))
    after = requests_of(stack.emulator, realm)
    calls = after["total"] - before["total"]
    batches = after["byEndpoint"].get("POST batch", 0) - before["byEndpoint"].get("POST batch", 0)
    latency = args.latency_ms / 1000
    issue_bound = calls / QBO.concurrent * latency
    full_bound = earliest_finish(calls, latency, batches)
    errors = sorted({str(i["error"]) for i in job["items"] if i.get("error")})
    return {
        "workers": len(workers),
        "status": job["status"] if job["finishedAt"] else f"unfinished after {args.timeout:.0f} s",
        "synced": job["succeeded"],
        "calls": calls,
        "by_endpoint": {k: v - before["byEndpoint"].get(k, 0) for k, v in after["byEndpoint"].items()},
        "wall": wall,
        "throttled": after["throttled"] - before["throttled"],
        "throttled_by": {k: v - before["throttledBy"].get(k, 0) for k, v in after["throttledBy"].items()},
        "max_concurrent": after["maxConcurrent"],
        "issue_bound": issue_bound,
        "full_bound": full_bound,
        "moto_seconds": moto_seconds,
        "aws": aws,
        "errors": errors,
    }


def ratio(wall: float, bound: float) -> str:
    return f"{wall / bound:.2f}" if bound else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=30)
    parser.add_argument("--transactions", type=int, default=5, help="transactions per invoice")
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--workers", default="2,8", help="concurrent bulk workers to try (MaximumConcurrency)")
    parser.add_argument("--unlinked", action="store_true", help="clients not linked: the job creates the customers")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for a job")
    args = parser.parse_args()

    moto = MotoTime()
    moto.install()
    with InProcess(("api", "oauth_callback", "bulk_sync")) as stack:
        clients = "unlinked clients (the job creates each customer)" if args.unlinked else "linked clients"
        print(
            f"bulk job of {args.invoices} invoices x {args.transactions} transactions x 1 payment, {clients}, "
            f"{args.latency_ms} ms a QuickBooks call, QuickBooks' limits (500/min, 10/s, 10 at once)"
        )
        print("bound A = calls / 10 concurrent x latency (issue 9); bound B = least time QuickBooks' limits allow")
        print("-moto: the wall time less the time spent inside moto (in-process, serialized)")
        header = (
            f"{'workers':>7}  {'status':<9} {'synced':>6}  {'calls/inv':>9}  {'wall s':>6}  {'429s':>4}  "
            f"{'in flight':>9}  {'A s':>5}  {'wall/A':>6}  {'-moto':>5}  {'B s':>5}  {'wall/B':>6}  {'-moto':>5}"
        )
        print(header)
        print("-" * len(header))
        results = []
        for count in (int(w) for w in args.workers.split(",")):
            workers = [load_function("bulk_sync") for _ in range(count)]  # one container each
            r = run(stack, workers, moto, args)
            results.append(r)
            wall, net, a, b = r["wall"], max(r["wall"] - r["moto_seconds"], 0.0), r["issue_bound"], r["full_bound"]
            print(
                f"{r['workers']:>7}  {r['status']:<9} {r['synced']:>3}/{args.invoices:<2}"
                f"  {r['calls'] / args.invoices:>9.2f}  {wall:>6.2f}  {r['throttled']:>4}  {r['max_concurrent']:>9}"
                f"  {a:>5.2f}  {ratio(wall, a):>6}  {ratio(net, a):>5}"
                f"  {b:>5.2f}  {ratio(wall, b):>6}  {ratio(net, b):>5}"
            )
        for r in results:
            print(f"\n{r['workers']} workers:")
            calls = ", ".join(f"{k} {v / args.invoices:.2f}" for k, v in sorted(r["by_endpoint"].items()) if v)
            print(f"  QuickBooks calls per invoice: {calls or 'none'}")
            throttled = ", ".join(f"{k} {v}" for k, v in r["throttled_by"].items() if v)
            print(f"  429s by the limit exceeded: {throttled or 'none'}")
            aws = ", ".join(f"{k} {v / args.invoices:.2f}" for k, v in sorted(r["aws"].items()))
            print(f"  AWS calls per invoice (request, workers, job polling): {aws}")
            share = r["moto_seconds"] / r["wall"] if r["wall"] else 0.0
            print(
                f"  time inside moto (serialized, in-process): {r['moto_seconds']:.2f} s, {share:.0%} of the wall time"
            )
            for error in r["errors"]:
                print(f"  item error: {error}")
        print()
        worst_calls = max(r["calls"] / args.invoices for r in results)
        throttled = sum(r["throttled"] for r in results)
        all_synced = all(r["synced"] == args.invoices for r in results)
        verdicts = [
            ("every invoice synced", "yes" if all_synced else "no", all_synced),
            ("429s", str(throttled), throttled == 0),
        ]
        if not args.unlinked:
            verdicts.append(
                (
                    f"calls per invoice <= {TARGET_CALLS_LINKED:g}",
                    f"{worst_calls:.2f}",
                    worst_calls <= TARGET_CALLS_LINKED,
                )
            )
        for label, value, met in verdicts:
            print(f"{label:28} {value:>6}   {'MET' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()

"""The month-end burst (issue 9): 300 invoices of one firm synced automatically, beside the naive peer, at QuickBooks'
real limits and 100 ms a call.

On the first of the month an accounting firm's Books360 issues an invoice for every client at once; with
"Automatically create invoices for synced customers" (``autoCreateInvoices``) on, each ``InvoiceUpserted`` of a
linked client with an email queues that invoice's sync. Measured through the real local stack (``python -m local``
on free ports, no demo data, no schedules; ``bench/_stack.py``), the way AWS runs it: EventBridge -> the
books360_events function -> the bulk queue -> the bulk_sync workers (the template's ``BatchSize`` and
``MaximumConcurrency``, worker processes of their own), against the emulator in its own process at QuickBooks' limits
(500 requests a minute, 10 a second, 10 at once, 40 batch requests a minute per company) with ``--latency-ms`` on
every request of the companies measured.

Setup, not measured: companies, the OAuth dance, Books360 clients (with email) published as events, each linked
through bulk "Sync customer" jobs, last month's invoice synced by hand (the company's one-time setup, the lines'
Item, is behind the firm) (the company's limits lifted meanwhile, then given back with ``PUT
/_admin/companies/{realmId}/limits {}``), then ``PUT /quickbooks/settings`` with ``autoCreateInvoices`` on for the
firm only.

1. **The naive peer**, first, on a company of its own (same emulator, same limits and latency): what a user writes
   instead with ``python-quickbooks``, one process, object by object: for each invoice, ``Invoice.save`` then its
   ``Payment.save``; on a 429 (ThrottleExceeded, 3001) it sleeps and tries again, doubling the sleep from 1 s up to
   60 s, as the usual "retry with backoff" loop does. Its customers exist beforehand, like the firm's links.
2. **The product**: a second tenant's bulk job of ``--second-job`` (30) invoices, alone (``POST
   /quickbooks/invoices/bulk-sync``, polled as the UI does, until ``finishedAt``). Then ``--invoices`` (300)
   ``InvoiceUpserted`` events (``--transactions`` 5 transactions and 1 payment each) published at once (PutEvents of
   10 entries, all in parallel). As soon as they are published, during the burst: (a) one "Sync with QB" (``POST
   /quickbooks/invoices/{id}/sync``) of another invoice of the same firm, timed; (b) the second tenant's bulk job
   of another ``--second-job`` invoices, timed as alone. The burst is over when the Invoices list (``GET
   /quickbooks/invoices?syncStatus=synced``) shows every invoice ``synced``; its time runs from the first publish to
   the latest ``syncedAt``.

For each: time until every invoice is synced, QuickBooks calls per invoice (counted at the emulator, ``GET
/_admin/requests``; the product's include the single sync's), 429s received, and the ratio of the time to the least
time QuickBooks' limits allow for the calls made (``bench/qbo_limits.py``: ``earliest_finish``, the sliding minute
and second, 10 at once, the latency, batch requests against 40 a minute; issue 9's formula ``max(calls / 500 per
minute, calls / 10 per second, calls / 10 concurrent x latency)`` is printed beside it).

Targets (the product):

* 0 429s;
* <= 2.0 QuickBooks calls per invoice (invoice + payment; fewer with ``/batch``);
* time until every invoice is synced <= 1.25 x the lower bound for the calls made;
* (a) a single "Sync with QB" by the same tenant during the burst answers within 5 s;
* (b) a second tenant's bulk job of 30 during the burst finishes within 1.25 x its time alone.

A product that does not sync automatically fails fast rather than hangs: when nothing is queued and no QuickBooks
call is made within ``--quiet`` seconds of the publish, or nothing moves for ``--stall`` seconds, the burst is
reported NOT MET with what the Invoices list says (``lastError``), and (a)/(b) are not measured.

    .venv/bin/python bench/month_end.py [--invoices 300] [--transactions 5] [--latency-ms 100] [--second-job 30]
                                        [--no-peer | --peer-only] [--quiet 30] [--stall 90]

A run on a 2-core machine (2026-11-30, main at 9b245e8: automatic sync, the company call calendar, fair queues,
16 workers of one item each, moto served by waitress; ``.venv/bin/python bench/month_end.py``), the whole local
stack (moto, emulator, front, every function's workers) and the bench sharing the two cores:

                                       synced  time s  calls calls/inv  429s bound s time/bound formula s time/formula
    naive peer (python-quickbooks)    300/300    77.4    600      2.00     4    69.1       1.12      72.0         1.07
    product (automatic sync)          300/300    77.4    602      2.00     0    70.1       1.10      72.2         1.07
    second-tenant's job alone          30/30      8.0     60      2.00     0     5.1       1.57       7.2         1.11
    second-tenant's job in the burst   30/30     10.0     60      2.00     0     5.1       1.96       7.2         1.39

    every invoice synced 300/300 MET; 429s 0 MET; calls per invoice 2.00 MET; time / lower bound 1.10 MET;
    (a) Sync with QB during the burst 1.86 s MET; (b) second tenant's job during/alone 10.0/8.0 = 1.25 MET

(b) varies from run to run: 1.15 (9.6/8.4 s) in a run without the peer the same day, 1.25 here; the second
tenant's time alone is its own calendar's (60 calls at 8 a second: 7.5 s), so the burst costs it 1 to 2 s of
slots and CPU. The peer's time is the same as ours, with 4 429s and 15 s slept; ours keeps 0 429s and leaves the
UI its share.

Later the same day (``--no-peer``): main at 3d8395a (issue 10's hardening, and a slow company's calls spaced by
the mean of its recent latency): time/bound 1.08, 2.00 calls an invoice, 0 429s, (a) 2.12 s, (b) 10.3/8.2 = 1.26
NOT MET by a hair; (b) varies from 1.14 to 1.26 between runs on two shared cores. Spacing by the slowest of the
last 8 calls instead of their mean gave (b) 1.58 (one stalled call slowed the company's calendar).

Later still (main at 34a6fe3 + the bench's cheaper polling; a full run with the peer, 2026-11-30 23:52):

                                       synced  time s  calls calls/inv  429s bound s time/bound formula s time/formula
    naive peer (python-quickbooks)    300/300    77.4    600      2.00     4    69.1       1.12      72.0         1.08
    product (automatic sync)          300/300    76.2    602      2.00     0    70.1       1.09      72.2         1.06
    second-tenant's job alone          30/30      8.2     60      2.00     0     5.1       1.62       7.2         1.14
    second-tenant's job in the burst   30/30      9.6     60      2.00     0     5.1       1.88       7.2         1.33

    (a) Sync with QB during the burst 1.82 s MET; (b) second tenant's job during/alone 9.6/8.2 = 1.16 MET
    (``--no-peer`` the same evening: (b) 1.14 and 1.12, time/bound 1.07 and 1.11)

What moved (b) from the edge: py-spy on moto during the burst showed half its time serialising and writing Query
answers, most of them this bench's own poll of the whole Invoices list every 2 s; the bench now watches the end at
the emulator and lists only what is left every 10 s. Also: moto's long poll saw a delayed (deferred) message up to
a second late (``local/moto_server.py``), and a deferral reads nothing (messages carry their company). Booking the
first call at admission instead of peeking was tried and reverted (holes in the calendar: time/bound 1.15-1.20).

2026-12-01 (``--no-peer``, quiet machine): with moto's reads serialised against its writes (``local/moto_server.py``:
a read walking the table raised when another request added a key, a 500 seen in CI): time/bound 1.09, (a) 1.76 s,
(b) 11.1/8.3 = 1.33 NOT MET. moto answered a Query of one partition by walking and sorting the whole table (69 ms
a query at 5,000 items in-process, 2.9 ms reading the partition only); with that fixed (main at 874ebc7), two runs:
time/bound 1.08 and 1.09, 2.00 calls an invoice, 0 429s, (a) 2.23 s and 1.93 s, (b) 9.9/8.3 = 1.20 and
9.7/8.4 = 1.16 MET. With an UpdateItem copying the item before changing it (main at 8eac910): time/bound 1.10,
(a) 1.62 s, (b) 9.9/8.2 = 1.21 MET.

How it got there (each measured with this bench, product side, on the same machine):

    main at 865fbbd (8 workers, moto under Werkzeug)          time/bound 1.47   (b) 2.14
    moto served by waitress, one QuickBooks connection pool   time/bound 1.16   (b) 1.54
      (py-spy on the moto server: its access log was an eighth of its time, a new connection and thread per
      request about as much; py-spy on a bulk worker: an SSL context built per item, a tenth of its CPU)
    fewer DynamoDB requests an invoice (events 7 -> 5, worker 19 -> 13: the invoice, connection and settings in
      one BatchGetItem, nothing read twice)
    16 workers (8 -> 16)                                      time/bound 1.12   (b) 1.31  (31 look-up queries:
      writes deferred before sending were left pending)
    a write deferred before sending is not pending            time/bound 1.10   (b) 1.15 / 1.25

Earlier the same day: moto's whole-table copy per transaction item made the burst 2.1x slower
(``local/moto_server.py`` rolls back only the items a transaction names), and batches of five items made a second
tenant's job 1.3x slower in the burst than one item an invocation (120 invoices: 16.4 s vs 12.6 s).

The burst is CPU-bound here: moto's server (one process, one GIL) ran at about a full core, so every request
saved per invoice shows in the time. On AWS, DynamoDB is not ours to saturate; the calendar's 8 calls a second
(75 s for 600 calls, 1.07 x the bound) is the ceiling either way.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from intuitlib import config as intuit_config  # noqa: E402
from intuitlib.client import AuthClient  # noqa: E402
from quickbooks import QuickBooks  # noqa: E402
from quickbooks.exceptions import QuickbooksException  # noqa: E402
from quickbooks.objects.base import LinkedTxn  # noqa: E402
from quickbooks.objects.customer import Customer  # noqa: E402
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail  # noqa: E402
from quickbooks.objects.invoice import Invoice  # noqa: E402
from quickbooks.objects.item import Item  # noqa: E402
from quickbooks.objects.payment import Payment, PaymentLine  # noqa: E402

from bench._data import client_detail, invoice_detail  # noqa: E402
from bench._stack import LocalStack  # noqa: E402
from bench.qbo_limits import earliest_finish, formula_bound  # noqa: E402

LIFTED = {"ratePerMinute": 100_000, "ratePerSecond": 10_000, "maxConcurrent": 100, "batchPerMinute": 10_000}
FIRM, OTHER = "firm", "second-tenant"
SINGLE = "inv-single"
TARGET_CALLS, TARGET_RATIO, TARGET_SINGLE_S, TARGET_FAIRNESS = 2.0, 1.25, 5.0, 1.25


@dataclass
class Burst:
    """What one side of the comparison did with the company's calls."""

    name: str
    invoices: int
    synced: int = 0
    seconds: float | None = None  # until every invoice was synced; None: never
    calls: int = 0
    batch_calls: int = 0
    throttled: int = 0
    throttled_by: dict[str, int] = field(default_factory=dict)
    by_endpoint: dict[str, int] = field(default_factory=dict)
    note: str = ""
    also_synced: int = 0  # other invoices synced in the same company meanwhile (the single "Sync with QB")

    @property
    def calls_per_invoice(self) -> float:
        """The company's calls over every invoice they wrote (the burst's and ``also_synced``)."""
        return self.calls / max(1, self.invoices + self.also_synced)


@dataclass
class DuringBurst:
    single_seconds: float | None = None
    single_status: str = "not measured"
    job_alone: float | None = None
    job_during: float | None = None
    job_note: str = ""
    jobs: list[Burst] = field(default_factory=list)  # the second tenant's jobs, alone and during the burst


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


SETUP_ENDED: dict[str, float] = {}
"""When each company's setup made its last call: QuickBooks' minute still counts those calls for 60 s."""


def set_up(realm: str) -> None:
    SETUP_ENDED[realm] = time.monotonic()


def wait_quiet(realm: str) -> None:
    """Wait until the company's setup calls have left QuickBooks' sliding minute (they are not the bench's)."""
    remaining = SETUP_ENDED.get(realm, 0.0) + 61.0 - time.monotonic()
    if remaining > 0:
        print(f"  waiting {remaining:.0f} s for the setup's calls to leave the company's minute", flush=True)
        time.sleep(remaining)


def measured(burst: Burst, realm: str, stack: LocalStack, before: dict[str, Any]) -> None:
    after = stack.requests_of(realm)
    burst.calls = after["total"] - before["total"]
    burst.by_endpoint = delta(after["byEndpoint"], before["byEndpoint"])
    burst.batch_calls = burst.by_endpoint.get("POST batch", 0)
    burst.throttled = after["throttled"] - before["throttled"]
    burst.throttled_by = delta(after.get("throttledBy", {}), before.get("throttledBy", {}))


# --- the naive peer ------------------------------------------------------------------------------------------------


@dataclass
class NaivePeer:
    realm: str
    qb: Any
    services: Any
    customers: list[Any]


def naive_setup(stack: LocalStack, args: Any) -> NaivePeer:
    """The peer's company, its python-quickbooks client, the Services item and a customer per invoice."""
    url = stack.emulator_url
    intuit_config.DISCOVERY_URL["sandbox"] = f"{url}/.well-known/openid_sandbox_configuration/"
    QuickBooks.sandbox_api_url_v3 = f"{url}/v3"
    QuickBooks.api_url_v3 = f"{url}/v3"
    realm = stack.company("Naive peer")
    token = stack.emulator.post("/_admin/tokens", json={"realmId": realm, "app": "naive-peer"}).json()["access_token"]
    auth = AuthClient("naive-peer", "secret", "http://127.0.0.1:8765/callback", "sandbox")
    auth.access_token = token
    qb = QuickBooks(auth_client=auth, company_id=realm, minorversion=75)

    stack.limits(realm, LIFTED)
    services = Item.filter(Name="Services", qb=qb)[0]
    customers = []
    for n in range(args.invoices):
        customer = Customer()
        customer.DisplayName = f"Naive client {n}"
        customers.append(customer.save(qb=qb))
    stack.limits(realm, {})
    stack.latency(realm, args.latency_ms)
    set_up(realm)
    return NaivePeer(realm, qb, services, customers)


def naive_peer(stack: LocalStack, peer: NaivePeer, args: Any) -> Burst:
    """python-quickbooks, object by object in one process, retrying 429s with a growing sleep."""
    qb, services, customers, realm = peer.qb, peer.services, peer.customers, peer.realm
    wait_quiet(realm)
    burst = Burst("naive peer (python-quickbooks)", args.invoices)
    before = stack.requests_of(realm)
    sleeps = [0.0]

    def save(obj: Any) -> Any:
        pause = 1.0
        while True:
            try:
                return obj.save(qb=qb)
            except QuickbooksException as error:
                if error.error_code != 3001 and "ThrottleExceeded" not in str(error.message):
                    raise
                time.sleep(pause)
                sleeps[0] += pause
                pause = min(pause * 2, 60.0)

    started = time.perf_counter()
    for n in range(args.invoices):
        detail = invoice_detail("naive", n, args.transactions)
        invoice = Invoice()
        invoice.CustomerRef = customers[n].to_ref()
        invoice.DocNumber = detail["number"]
        invoice.DueDate = detail["dueDate"]
        invoice.TxnDate = detail["dateTo"]
        lines = []
        for transaction in detail["transactions"]:
            line = SalesItemLine()
            line.Amount = Decimal(transaction["amount"])
            line.Description = transaction["description"]
            line.SalesItemLineDetail = SalesItemLineDetail()
            line.SalesItemLineDetail.ItemRef = services.to_ref()
            line.SalesItemLineDetail.ServiceDate = transaction["date"]
            lines.append(line)
        invoice.Line = lines
        invoice = save(invoice)
        paid = Decimal(detail["payments"][0]["amount"])
        payment = Payment()
        payment.CustomerRef = customers[n].to_ref()
        payment.TotalAmt = paid
        payment.TxnDate = detail["payments"][0]["date"]
        applied = PaymentLine()
        applied.Amount = paid
        linked = LinkedTxn()
        linked.TxnId = invoice.Id
        linked.TxnType = "Invoice"
        applied.LinkedTxn = [linked]
        payment.Line = [applied]
        save(payment)
        burst.synced += 1
    burst.seconds = time.perf_counter() - started
    measured(burst, realm, stack, before)
    burst.note = f"slept {sleeps[0]:.0f} s after 429s"
    return burst


# --- the product -----------------------------------------------------------------------------------------------------


def publish(stack: LocalStack, detail_type: str, details: list[dict[str, Any]], parallel: int = 8) -> None:
    entries = [{"Source": "books360.accounting", "DetailType": detail_type, "Detail": json.dumps(d)} for d in details]
    chunks = [entries[i : i + 10] for i in range(0, len(entries), 10)]
    with ThreadPoolExecutor(max(1, min(parallel, len(chunks)))) as pool:
        list(pool.map(stack.put_events, chunks))


def finished_job(stack: LocalStack, tenant: str, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with stack.client(tenant) as api:
        while True:
            job: dict[str, Any] = api.get(f"/quickbooks/jobs/{job_id}").raise_for_status().json()
            if job["finishedAt"] is not None or time.monotonic() > deadline:
                return job
            time.sleep(0.25)


def bulk(stack: LocalStack, tenant: str, kind: str, ids: list[str], timeout: float) -> tuple[float, dict[str, Any]]:
    """A bulk job as the UI runs it: POST, then poll until finished; its seconds and the job."""
    started = time.perf_counter()
    body = {"clientIds": ids} if kind == "customers" else {"invoiceIds": ids}
    with stack.client(tenant) as api:
        answer = api.post(f"/quickbooks/{kind}/bulk-sync", json=body)
    if answer.status_code != 202:
        raise RuntimeError(f"bulk {kind} refused: {answer.status_code} {answer.text[:300]}")
    job = finished_job(stack, tenant, answer.json()["jobId"], timeout)
    return time.perf_counter() - started, job


def link_all(stack: LocalStack, tenant: str, client_ids: list[str]) -> None:
    """Create and link every client's customer (bulk "Sync customer", 30 a job), one job after the other.

    Jobs posted side by side meet moto server's thread-unsafety (a TransactWriteItems deep-copies the table while
    another request writes it: a 500); setup is not measured, so it takes the safe road.
    """
    chunks = [client_ids[i : i + 30] for i in range(0, len(client_ids), 30)]
    jobs = [bulk(stack, tenant, "customers", ids, 600.0)[1] for ids in chunks]
    failed = [i for job in jobs for i in job["items"] if i["status"] not in ("succeeded", "skipped")]
    if failed:
        raise RuntimeError(f"linking {tenant}'s clients failed: {failed[:3]}")


def setup_tenant(stack: LocalStack, tenant: str, clients: int) -> str:
    realm = stack.company(f"Month-end {tenant}")
    stack.connect(tenant, realm)
    stack.limits(realm, LIFTED)
    details = [
        client_detail(tenant, f"c-{n}", f"{tenant} client {n}", email=f"c{n}@{tenant}.example") for n in range(clients)
    ]
    publish(stack, "ClientUpserted", details)
    link_all(stack, tenant, [d["clientId"] for d in details])
    warm_up(stack, tenant)
    return realm


def warm_up(stack: LocalStack, tenant: str) -> None:
    """Last month's invoice, synced by hand: the firm has used the integration before, so the company's one-time
    setup (finding or creating the lines' Item) is behind it and not in the month-end figures."""
    publish(stack, "InvoiceUpserted", [invoice_detail(tenant, 0, 1, invoice_id="last-month", client_id="c-0")])
    with stack.client(tenant) as api:
        api.post("/quickbooks/invoices/last-month/sync").raise_for_status()


def waiting_now(api: Any, ids: set[str]) -> tuple[int, list[str]]:
    """Of ``ids``, how many the Invoices list still shows ``unsynced`` or ``failed``, and a few ``lastError``s.

    Filtered by status, so a poll lists only what is left (asked for seldom: the whole list every 2 s, 300
    invoices with their transactions and payments, was a fifth of moto's time in the burst by py-spy, measurement
    load competing with the product it measures)."""
    waiting, errors = 0, []
    for status in ("unsynced", "failed"):
        for row in listed(api, {"syncStatus": status}):
            if row["invoiceId"] in ids:
                waiting += 1
                if row.get("lastError") and len(errors) < 3:
                    errors.append(f"{row['invoiceId']}: {row['syncStatus']}, {row['lastError']}")
    return waiting, errors


def listed(api: Any, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of the Invoices list with ``filters``, page after page."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **filters, **({"cursor": cursor} if cursor else {})}
        page = api.get("/quickbooks/invoices", params=params).raise_for_status().json()
        rows.extend(page["items"])
        cursor = page.get("nextCursor") or page.get("cursor")
        if not cursor:
            return rows


def synced_now(stack: LocalStack, api: Any, ids: set[str]) -> tuple[int, datetime | None, list[str]]:
    """Of ``ids``, how many the Invoices list shows synced, the latest ``syncedAt``, and a few ``lastError``s."""
    count, latest, errors, cursor = 0, None, [], None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = api.get("/quickbooks/invoices", params=params).raise_for_status().json()
        for row in page["items"]:
            if row["invoiceId"] not in ids:
                continue
            if row["syncStatus"] == "synced":
                count += 1
                at = datetime.fromisoformat(row["syncedAt"].replace("Z", "+00:00"))
                latest = at if latest is None or at > latest else latest
            elif row.get("lastError") and len(errors) < 3:
                errors.append(f"{row['invoiceId']}: {row['syncStatus']}, {row['lastError']}")
        cursor = page.get("nextCursor") or page.get("cursor")
        if not cursor:
            return count, latest, errors


def bulk_depth(stack: LocalStack) -> int:
    """Messages in the bulk queue (visible, in flight or delayed)."""
    for queue in stack.queues()["items"]:
        if queue["logicalId"] == "BulkQueue":
            return int(queue["visible"]) + int(queue["inFlight"]) + int(queue["delayed"])
    return 0


@dataclass
class Product:
    realm: str
    other_realm: str
    alone_ids: list[str]
    during_ids: list[str]


def product_setup(stack: LocalStack, args: Any) -> Product:
    """The firm (linked clients, one invoice for the single sync, automatic sync on) and the second tenant
    (linked clients, two jobs' invoices, automatic sync off)."""
    n, job_size = args.invoices, args.second_job
    realm = setup_tenant(stack, FIRM, n + 1)
    other_realm = setup_tenant(stack, OTHER, 2 * job_size)
    # Invoices published while automatic sync is off: the firm's single one, the second tenant's two jobs.
    publish(stack, "InvoiceUpserted", [invoice_detail(FIRM, n, args.transactions, invoice_id=SINGLE)])
    other = [invoice_detail(OTHER, k, args.transactions) for k in range(2 * job_size)]
    publish(stack, "InvoiceUpserted", other)
    with stack.client(FIRM) as api:
        settings = api.get("/quickbooks/settings").raise_for_status().json()
        api.put("/quickbooks/settings", json={**settings, "autoCreateInvoices": True}).raise_for_status()
    for company in (realm, other_realm):
        stack.limits(company, {})
        stack.latency(company, args.latency_ms)
        set_up(company)
    return Product(
        realm, other_realm, [d["invoiceId"] for d in other[:job_size]], [d["invoiceId"] for d in other[job_size:]]
    )


def product(stack: LocalStack, setup: Product, args: Any) -> tuple[Burst, DuringBurst]:
    n, job_size, realm = args.invoices, args.second_job, setup.realm
    alone_ids, during_ids = setup.alone_ids, setup.during_ids
    during = DuringBurst()
    wait_quiet(setup.other_realm)
    before_alone = stack.requests_of(setup.other_realm)
    during.job_alone, alone_job = bulk(stack, OTHER, "invoices", alone_ids, args.stall * 4)
    alone = Burst(f"{OTHER}'s job alone", job_size, synced=alone_job["succeeded"], seconds=during.job_alone)
    measured(alone, setup.other_realm, stack, before_alone)
    during.jobs.append(alone)
    if alone_job["finishedAt"] is None or alone_job["succeeded"] != job_size:
        during.job_note = f"the job alone ended {alone_job['status']} ({alone_job['succeeded']}/{job_size} synced)"

    burst = Burst("product (automatic sync)", n, also_synced=1)
    wait_quiet(realm)
    details = [invoice_detail(FIRM, k, args.transactions) for k in range(n)]
    ids = {d["invoiceId"] for d in details}
    before, before_other = stack.requests_of(realm), stack.requests_of(setup.other_realm)
    started_at, started = datetime.now(UTC), time.perf_counter()
    publish(stack, "InvoiceUpserted", details, parallel=len(details))
    published = time.perf_counter() - started
    print(f"  {n} InvoiceUpserted published in {published:.1f} s", flush=True)

    results: dict[str, Any] = {}

    def single() -> None:
        with stack.client(FIRM, timeout=120.0) as api:
            t = time.perf_counter()
            answer = api.post(f"/quickbooks/invoices/{SINGLE}/sync")
            results["single"] = (time.perf_counter() - t, answer.status_code, answer.text[:200])

    def second_job() -> None:
        results["job"] = bulk(stack, OTHER, "invoices", during_ids, args.stall * 4)

    helpers: list[threading.Thread] = []
    last_progress, last_state, errors = time.perf_counter(), (-1, -1, -1), []
    count, latest, listed_at = 0, None, time.perf_counter()
    with stack.client(FIRM) as api:
        while True:
            calls, depth = stack.requests_of(realm)["total"] - before["total"], bulk_depth(stack)
            now = time.perf_counter()
            # The Invoices list only once QuickBooks has had every invoice's calls (or every 10 s, to see a
            # stall's reasons): its Query answers cost moto more than anything else the bench asks for.
            if calls >= 2 * n or now - listed_at > 10.0:
                waiting, errors = waiting_now(api, ids)
                count, listed_at = n - waiting, now
                if not waiting:  # the whole list once, at the end: every invoice synced, and when the last was
                    count, latest, errors = synced_now(stack, api, ids)
            if not helpers and (calls or depth):  # the burst is under way: measure (a) and (b) in it
                helpers = [threading.Thread(target=f, daemon=True) for f in (single, second_job)]
                for helper in helpers:
                    helper.start()
            burst.synced = count
            if count == n:
                burst.seconds = ((latest or datetime.now(UTC)) - started_at).total_seconds()
                break
            if (count, calls, depth) != last_state:
                last_state, last_progress = (count, calls, depth), now
            if not calls and not depth and not count and now - started > published + args.quiet:
                burst.note = (
                    f"automatic sync did not start: {args.quiet:.0f} s after the publish nothing is queued, no "
                    "QuickBooks call was made and no invoice is synced (autoCreateInvoices on)"
                )
                break
            if now - last_progress > args.stall:
                burst.note = f"stalled: nothing moved for {args.stall:.0f} s ({depth} messages in the bulk queue)"
                break
            print(f"  {now - started:6.1f} s: {count}/{n} synced, {calls} QuickBooks calls, {depth} queued", flush=True)
            time.sleep(2.0)
    if burst.seconds is None and errors:
        burst.note += "; the Invoices list says " + "; ".join(errors)
    for helper in helpers:
        helper.join(args.stall * 4)
    measured(burst, realm, stack, before)
    if "single" in results:
        seconds, status, text = results["single"]
        during.single_seconds, during.single_status = seconds, f"HTTP {status}" + ("" if status == 200 else f" {text}")
    if "job" in results:
        seconds, job = results["job"]
        busy = Burst(f"{OTHER}'s job in the burst", job_size, synced=job["succeeded"], seconds=seconds)
        measured(busy, setup.other_realm, stack, before_other)
        during.jobs.append(busy)
        during.job_during = seconds if job["finishedAt"] and job["succeeded"] == job_size else None
        if during.job_during is None:
            during.job_note = f"the job during the burst ended {job['status']} ({job['succeeded']}/{job_size})"
    return burst, during


# --- the report ------------------------------------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("MET" if met else "NOT MET")


def report(bursts: list[Burst], during: DuringBurst | None, latency: float) -> None:
    print()
    header = (
        f"{'':32} {'synced':>8} {'time s':>7} {'calls':>6} {'calls/inv':>9} {'429s':>5} "
        f"{'bound s':>7} {'time/bound':>10} {'formula s':>9} {'time/formula':>12}"
    )
    print(header)
    print("-" * len(header))
    for b in [*bursts, *(during.jobs if during else [])]:
        bound = earliest_finish(b.calls, latency, b.batch_calls)
        formula = formula_bound(b.calls, latency, b.batch_calls)
        time_s = f"{b.seconds:7.1f}" if b.seconds is not None else f"{'never':>7}"
        r1 = f"{b.seconds / bound:10.2f}" if b.seconds and bound else f"{'-':>10}"
        r2 = f"{b.seconds / formula:12.2f}" if b.seconds and formula else f"{'-':>12}"
        print(
            f"{b.name:32} {b.synced:>4}/{b.invoices:<3} {time_s} {b.calls:>6} {b.calls_per_invoice:>9.2f}"
            f" {b.throttled:>5} {bound:>7.1f} {r1} {formula:>9.1f} {r2}"
        )
    for b in [*bursts, *(during.jobs if during else [])]:
        calls = ", ".join(f"{k} {v}" for k, v in sorted(b.by_endpoint.items())) or "none"
        throttled = ", ".join(f"{k} {v}" for k, v in b.throttled_by.items()) or "none"
        print(f"\n{b.name}: QuickBooks calls {calls}; 429s by limit: {throttled}")
        if b.note:
            print(f"  {b.note}")
    print(
        "\nbound: the least time QuickBooks' limits allow for those calls (sliding minute and second, 10 at once,"
        " latency)"
    )
    print("formula: issue 9's max(calls / 500 per minute, calls / 10 per second, calls / 10 x latency)")

    ours = next((b for b in bursts if b.name.startswith("product")), None)
    if ours is None:
        return
    print(f"\n{'the product, against its targets':44} {'measured':>12}  {'target':>10}")
    bound = earliest_finish(ours.calls, latency, ours.batch_calls)
    done = ours.seconds is not None
    ratio = ours.seconds / bound if done and ours.seconds and bound else None
    rows: list[tuple[str, str, str, bool | None]] = [
        ("every invoice synced", f"{ours.synced}/{ours.invoices}", "all", ours.synced == ours.invoices),
        ("429s received", str(ours.throttled), "0", ours.throttled == 0 if ours.calls else None),
        (
            "QuickBooks calls per invoice",
            f"{ours.calls_per_invoice:.2f}",
            f"<= {TARGET_CALLS:g}",
            ours.calls_per_invoice <= TARGET_CALLS if done else None,
        ),
        (
            "time / lower bound",
            f"{ratio:.2f}" if ratio else "-",
            f"<= {TARGET_RATIO:g}",
            ratio <= TARGET_RATIO if ratio else (False if not done else None),
        ),
    ]
    if during is not None:
        single = during.single_seconds
        rows.append(
            (
                "(a) Sync with QB during the burst, s",
                f"{single:.2f} {during.single_status}" if single is not None else during.single_status,
                f"<= {TARGET_SINGLE_S:g}",
                None if single is None else (single <= TARGET_SINGLE_S and during.single_status == "HTTP 200"),
            )
        )
        alone, busy = during.job_alone, during.job_during
        fairness = busy / alone if alone and busy else None
        rows.append(
            (
                "(b) second tenant's job: during/alone s",
                f"{busy:.1f}/{alone:.1f}={fairness:.2f}"
                if fairness
                else during.job_note or (f"alone {alone:.1f} s, during: -" if alone else "not measured"),
                f"<= {TARGET_FAIRNESS:g}",
                None
                if fairness is None and not during.job_note
                else (fairness is not None and fairness <= TARGET_FAIRNESS),
            )
        )
    for label, value, target, met in rows:
        print(f"{label:44} {value:>12}  {target:>10}  {verdict(met)}")


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=300)
    parser.add_argument("--transactions", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--second-job", type=int, default=30, help="invoices in the second tenant's bulk job")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--no-peer", action="store_true", help="the product only")
    side.add_argument("--peer-only", action="store_true", help="the naive peer only")
    parser.add_argument("--quiet", type=float, default=30.0, help="seconds without any sync before giving up")
    parser.add_argument("--stall", type=float, default=90.0, help="seconds without progress before giving up")
    args = parser.parse_args()
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the emulator is plain HTTP
    signal.signal(signal.SIGTERM, _interrupted)  # stop the local stack on the way out, also when killed

    latency = args.latency_ms / 1000
    print(
        f"month-end burst: {args.invoices} invoices x {args.transactions} transactions x 1 payment, "
        f"{args.latency_ms} ms a QuickBooks call, QuickBooks' limits (500/min, 10/s, 10 at once, 40 batches/min)"
    )
    bursts: list[Burst] = []
    during = None
    with LocalStack() as stack:
        print(f"local stack up at {stack.api_url} (log {stack.log_path})", flush=True)
        # Every setup first: a company is measured only once its setup's calls have left QuickBooks' minute.
        peer = None if args.no_peer else naive_setup(stack, args)
        ready = None if args.peer_only else product_setup(stack, args)
        print("setup done (not measured)", flush=True)
        if peer is not None:
            print("naive peer ...", flush=True)
            bursts.append(naive_peer(stack, peer, args))
            print(f"  {bursts[-1].seconds:.1f} s", flush=True)
        if ready is not None:
            print("product ...", flush=True)
            ours, during = product(stack, ready, args)
            bursts.append(ours)
    report(bursts, during, latency)


if __name__ == "__main__":
    main()

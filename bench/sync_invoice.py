"""Invoices synced one at a time ("Sync with QB") through the real handler, against the emulator at 100 ms a call.

Runs ``python -m emulator`` in a subprocess with a latency of ``--latency-ms`` on every request of a fresh company
(``POST /_admin/faults {"realmId", "latencyMs"}``), and everything else in this process: moto for DynamoDB and
Secrets Manager (the table from template.yaml), the OAuth dance through the api and oauth_callback handlers,
Sync Custom Fields switched on through ``PUT /quickbooks/settings`` (the company has two invoice custom fields),
the Books360 clients and invoices through their events, and each client created and linked in QuickBooks
beforehand through ``POST /quickbooks/customers/{id}/sync``; none of that is measured. Then ``--invoices``
invoices of ``--transactions`` transactions and one partial payment each go one after the other through
``POST /quickbooks/invoices/{id}/sync`` (functions/sync_invoice, loaded as Lambda would), four times:

* first sync: the QuickBooks invoice and its payment are created;
* unchanged re-sync: the same version again;
* re-sync after a change: a new ``InvoiceUpserted`` version raises one transaction amount (the payment stays
  applied as it was), synced again;
* re-sync, reallocation: a third version lowers the invoice below its payment, which is then applied up to
  the new total only, so the payment is written too.

Prints, per phase: the syncs that succeeded, QuickBooks calls per invoice (reads: GET and queries; writes: every
other POST) beside the target, DynamoDB requests per invoice, the phase's wall time against the lower bound
``calls x latency`` (one call at a time, so no phase can take less), and the same ratio without the time spent
inside moto (in-process and slow; DynamoDB answers in milliseconds); then where each phase's calls and requests
go. QuickBooks calls are counted by the emulator (``GET /_admin/requests``, by endpoint), DynamoDB and Secrets
Manager requests by a ``before-parameter-build`` hook on the wiring's clients (a DynamoDB request is named by
its operation and the kind of item, the sort key up to its first ``#``). The company's one-time setup (the Item
the lines use and the invoice custom field definitions, read once and cached) is what the first invoice's sync
did beyond the others': it is printed apart and left out of the per-invoice figures (not of the wall time and
its bound).

    .venv/bin/python -m bench.sync_invoice [--invoices 30] [--transactions 5] [--latency-ms 100]

A run on a busy 2-core machine (2026-11-30); the wall times vary by up to a quarter from run to run, the counts
do not. Every target is met. An unchanged re-sync makes its one read (are the QuickBooks invoices still there?
a deletion there is then reported as deleted_in_qb); the reallocation writes the payment first (it applies
less), then reads the invoice's SyncToken (the payment changed it) and lowers the invoice (``SyncPlan.in_order``).

    30 invoices x 5 transactions x 1 payment, synced one after the other through POST
    /quickbooks/invoices/{id}/sync; 100 ms a QuickBooks call; lower bound = calls x latency

    one-time setup of the company, in the first invoice's first sync (left out of the per-invoice figures): 4
    QuickBooks calls (GET preferences 1, POST item 1, POST query 2); 2 DynamoDB requests (GetItem QBFACTS 1, PutItem
    QBFACTS 1)

    per invoice            synced    QB reads writes  target                  DynamoDB wall s bound s wall/bound -moto
    ------------------------------------------------------------------------------------------------------------------
    first sync              30/30  2.00  0.00   2.00  <= 2: invoice + payment    11.00  11.18    6.40       1.75  1.22
    unchanged re-sync       30/30  1.00  1.00   0.00  <= 1 read, 0 writes         7.00   5.19    3.00       1.73  1.41
    re-sync after a change  30/30  2.00  1.00   1.00  1 read + 1 write            9.00   9.78    6.00       1.63  1.26
    re-sync, reallocation   30/30  3.00  1.00   2.00  1 read + 2 writes          10.00  13.68    9.00       1.52  1.18
    (-moto: wall/bound less the time spent inside moto, in-process and far slower than DynamoDB)

    first sync, per invoice (median sync 332 ms, 84 ms of it in moto):
      QuickBooks       POST invoice 1, POST payment 1
      DynamoDB         DeleteItem LOCK 1, GetItem CLIENT 1, GetItem CONN 1, GetItem INVOICE 2, GetItem SETTINGS 1,
                       PutItem LOCK 1, TransactWriteItems 4
      Secrets Manager  none

    unchanged re-sync, per invoice (median sync 174 ms, 31 ms of it in moto):
      QuickBooks       POST query 1
      DynamoDB         DeleteItem LOCK 1, GetItem CLIENT 1, GetItem CONN 1, GetItem INVOICE 2, GetItem SETTINGS 1,
                       PutItem LOCK 1
      Secrets Manager  none

    re-sync after a change, per invoice (median sync 319 ms, 66 ms of it in moto):
      QuickBooks       GET invoice 1, POST invoice 1
      DynamoDB         DeleteItem LOCK 1, GetItem CLIENT 1, GetItem CONN 1, GetItem INVOICE 2, GetItem SETTINGS 1,
                       PutItem LOCK 1, TransactWriteItems 2
      Secrets Manager  none

    re-sync, reallocation, per invoice (median sync 435 ms, 77 ms of it in moto):
      QuickBooks       GET invoice 1, POST invoice 1, POST payment 1
      DynamoDB         DeleteItem LOCK 1, GetItem CLIENT 1, GetItem CONN 1, GetItem INVOICE 2, GetItem SETTINGS 1,
                       PutItem LOCK 1, TransactWriteItems 3
      Secrets Manager  none
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._data import client_detail, invoice_detail  # noqa: E402
from bench._harness import InProcess, call, ok  # noqa: E402
from shared import wiring  # noqa: E402
from shared.domain.settings import DEFAULT_DOCUMENT  # noqa: E402
from shared.services.books360_events import apply_event  # noqa: E402

if TYPE_CHECKING:
    import httpx

TENANT = "bench"
CUSTOM_FIELDS = ["Project", "PO Number"]
"""The company's invoice custom fields, and the Books360 invoices' (Sync Custom Fields maps them by name)."""


@dataclass
class Phase:
    """One pass over the invoices: each sync's QuickBooks calls and DynamoDB requests, by endpoint/operation."""

    name: str
    target: str
    calls: list[Counter[str]] = field(default_factory=list)
    dynamodb: list[Counter[str]] = field(default_factory=list)
    secrets: list[Counter[str]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    moto_seconds: list[float] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    setup_calls: Counter[str] = field(default_factory=Counter)
    setup_dynamodb: Counter[str] = field(default_factory=Counter)

    def split_setup(self) -> None:
        """What the first sync did beyond the usual sync of this phase is the company's one-time setup."""
        self.setup_calls = _beyond(self.calls[0], self.calls[1:])
        self.setup_dynamodb = _beyond(self.dynamodb[0], self.dynamodb[1:])

    @staticmethod
    def total(counts: list[Counter[str]], setup: Counter[str] | None = None) -> Counter[str]:
        """Summed over the phase's syncs, less the one-time ``setup``."""
        summed: Counter[str] = Counter()
        for count in counts:
            summed.update(count)
        summed.subtract(setup or Counter())
        return summed


def _beyond(first: Counter[str], others: list[Counter[str]]) -> Counter[str]:
    if not others:
        return Counter()
    usual = Counter(dict(statistics.mode(tuple(sorted(c.items())) for c in others)))
    return Counter({key: n - usual[key] for key, n in first.items() if n > usual[key]})


def is_read(endpoint: str) -> bool:
    """``GET invoice``, ``GET preferences``, ``POST query`` read; every other ``POST`` writes."""
    method, _, entity = endpoint.partition(" ")
    return method == "GET" or entity == "query"


class AwsCount:
    """Every request the wiring's DynamoDB and Secrets Manager clients send, and the time spent in them (moto).

    A DynamoDB request is named by its operation and the kind of item it touches (the sort key up to its first
    ``#``: ``GetItem CLIENT``, ``PutItem LOCK``); a transaction by its operation alone.
    """

    def __init__(self, dynamodb: Any, secrets: Any) -> None:
        self.dynamodb: Counter[str] = Counter()
        self.secrets: Counter[str] = Counter()
        self.seconds = 0.0
        self._started = 0.0
        dynamodb.meta.events.register("before-parameter-build.dynamodb", self._count_dynamodb)
        secrets.meta.events.register("before-parameter-build.secrets-manager", self._count_secrets)
        for client in (dynamodb, secrets):
            client.meta.events.register("before-call", self._start)
            client.meta.events.register("after-call", self._stop)

    def _count_dynamodb(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        key = params.get("Key") or params.get("Item") or {}
        sk = key.get("sk", {}).get("S") if isinstance(key.get("sk"), dict) else None
        self.dynamodb[f"{model.name} {str(sk).split('#')[0]}" if sk else model.name] += 1

    def _count_secrets(self, model: Any, **_: Any) -> None:
        self.secrets[model.name] += 1

    def _start(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _stop(self, **_: Any) -> None:
        self.seconds += time.perf_counter() - self._started

    def take(self) -> tuple[Counter[str], Counter[str], float]:
        taken = self.dynamodb, self.secrets, self.seconds
        self.dynamodb, self.secrets, self.seconds = Counter(), Counter(), 0.0
        return taken


def by_endpoint(emulator: httpx.Client, realm: str) -> Counter[str]:
    return Counter(emulator.get("/_admin/requests", params={"realmId": realm}).json()["byEndpoint"])


def sync_all(sync: Any, emulator: httpx.Client, realm: str, aws: AwsCount, phase: Phase, invoices: int) -> None:
    """One sync per invoice, one after the other; each one's calls and requests counted apart."""
    before = by_endpoint(emulator, realm)
    aws.take()
    for n in range(invoices):
        started = time.perf_counter()
        answer = call(sync, "POST", f"/quickbooks/invoices/inv-{n}/sync", TENANT)
        phase.seconds.append(time.perf_counter() - started)
        if answer["statusCode"] != 200:
            problem = json.loads(answer["body"])
            kind = f"HTTP {answer['statusCode']} {problem.get('type')}"
            phase.refusals[kind] += 1
            phase.examples.setdefault(kind, f"inv-{n}: {problem.get('detail')}")
        dynamodb, secrets, moto_seconds = aws.take()
        phase.dynamodb.append(dynamodb)
        phase.secrets.append(secrets)
        phase.moto_seconds.append(moto_seconds)
        after = by_endpoint(emulator, realm)
        phase.calls.append(Counter({k: v - before[k] for k, v in after.items() if v > before[k]}))
        before = after


def setup(stack: InProcess, args: Any) -> str:
    """A company with two invoice custom fields, connected; the clients linked and the invoices stored."""
    realm = stack.company("Bench", customFields=CUSTOM_FIELDS)
    stack.connect(TENANT, realm)
    api = stack.functions["api"]
    ok(call(api, "PUT", "/quickbooks/settings", TENANT, body={**DEFAULT_DOCUMENT, "syncCustomFields": True}))
    store = wiring.books360_store()
    for n in range(args.invoices):
        client = client_detail(TENANT, f"c-{n}", f"Bench client {n}", email=f"billing{n}@example.com")
        apply_event(store, "ClientUpserted", client, event_id=f"client-{n}")
        ok(call(api, "POST", f"/quickbooks/customers/c-{n}/sync", TENANT, body={"create": True}))
        apply_event(store, "InvoiceUpserted", invoice_event(n, args.transactions, 1), event_id=f"inv-{n}-1")
    return realm


def invoice_event(n: int, transactions: int, version: int) -> dict[str, Any]:
    """Invoice ``n`` of the bench tenant, with its custom fields (``bench/_data.py``)."""
    return invoice_detail(TENANT, n, transactions, version, custom_fields=CUSTOM_FIELDS)


def change(invoices: int, transactions: int, version: int) -> None:
    store = wiring.books360_store()
    for n in range(invoices):
        event = invoice_event(n, transactions, version)
        outcome = apply_event(store, "InvoiceUpserted", event, event_id=f"inv-{n}-{version}")
        assert outcome.status == "applied", outcome


WIDTH = 112
"""Printed lines fit the module docstring's sample (120 columns, indented)."""


def fmt(counts: Counter[str], per: int = 1) -> str:
    shown = [f"{k} {v / per:g}" for k, v in sorted(counts.items()) if v]
    return ", ".join(shown) or "none"


def say(label: str, text: str, indent: int = 0) -> None:
    """``label`` then ``text``, wrapped under itself."""
    lead = " " * indent + label
    print(textwrap.fill(text, WIDTH, initial_indent=lead, subsequent_indent=" " * len(lead)))


def report(phases: list[Phase], invoices: int, latency_ms: int) -> None:
    setup_calls, setup_dynamodb = phases[0].setup_calls, phases[0].setup_dynamodb
    say(
        "",
        f"one-time setup of the company, in the first invoice's first sync (left out of the per-invoice figures): "
        f"{setup_calls.total()} QuickBooks calls ({fmt(setup_calls)}); {setup_dynamodb.total()} DynamoDB requests "
        f"({fmt(setup_dynamodb)})",
    )
    header = (
        f"{'per invoice':22} {'synced':>6} {'QB':>5} {'reads':>5} {'writes':>6}  {'target':23} {'DynamoDB':>8}"
        f" {'wall s':>6} {'bound s':>7} {'wall/bound':>10} {'-moto':>5}"
    )
    print(f"\n{header}\n{'-' * len(header)}")
    for phase in phases:
        calls = Phase.total(phase.calls, phase.setup_calls)
        dynamodb = Phase.total(phase.dynamodb, phase.setup_dynamodb)
        reads = sum(n for k, n in calls.items() if is_read(k))
        writes = calls.total() - reads
        # The whole phase, setup included: the bound counts every call the wall time waited for.
        wall, moto = sum(phase.seconds), sum(phase.moto_seconds)
        bound = sum(c.total() for c in phase.calls) * latency_ms / 1000
        synced = f"{invoices - phase.refusals.total()}/{invoices}"
        ratios = f"{wall / bound:10.2f} {(wall - moto) / bound:5.2f}" if bound else f"{'-':>10} {'-':>5}"
        print(
            f"{phase.name:22} {synced:>6} {calls.total() / invoices:5.2f} {reads / invoices:5.2f}"
            f" {writes / invoices:6.2f}  {phase.target:23} {dynamodb.total() / invoices:8.2f}"
            f" {wall:6.2f} {bound:7.2f} {ratios}"
        )
    print("(-moto: wall/bound less the time spent inside moto, in-process and far slower than DynamoDB)")
    for phase in phases:
        calls = Phase.total(phase.calls, phase.setup_calls)
        dynamodb = Phase.total(phase.dynamodb, phase.setup_dynamodb)
        wall_ms, moto_ms = 1000 * statistics.median(phase.seconds), 1000 * statistics.median(phase.moto_seconds)
        print(f"\n{phase.name}, per invoice (median sync {wall_ms:.0f} ms, {moto_ms:.0f} ms of it in moto):")
        say("QuickBooks       ", fmt(calls, invoices), indent=2)
        say("DynamoDB         ", fmt(dynamodb, invoices), indent=2)
        say("Secrets Manager  ", fmt(Phase.total(phase.secrets), invoices), indent=2)
        for kind, count in phase.refusals.items():
            say("refused          ", f"{count} of {invoices}, {kind}, e.g. {phase.examples[kind]}", indent=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=30)
    parser.add_argument("--transactions", type=int, default=5, help="transactions per invoice (one month)")
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args()

    with InProcess(("api", "oauth_callback", "sync_invoice")) as stack:
        realm = setup(stack, args)
        aws = AwsCount(wiring.dynamodb_client(), wiring.secrets_client())
        stack.latency(realm, args.latency_ms)

        sync = stack.functions["sync_invoice"]
        phases = [
            Phase("first sync", "<= 2: invoice + payment"),
            Phase("unchanged re-sync", "<= 1 read, 0 writes"),
            Phase("re-sync after a change", "1 read + 1 write"),
            Phase("re-sync, reallocation", "1 read + 2 writes"),
        ]
        for number, phase in enumerate(phases):
            if number >= 2:
                change(args.invoices, args.transactions, version=number)
            sync_all(sync, stack.emulator, realm, aws, phase, args.invoices)
        phases[0].split_setup()

        say(
            "",
            f"{args.invoices} invoices x {args.transactions} transactions x 1 payment, synced one after the other "
            f"through POST /quickbooks/invoices/{{id}}/sync; {args.latency_ms} ms a QuickBooks call; "
            "lower bound = calls x latency",
        )
        print()
        report(phases, args.invoices, args.latency_ms)


if __name__ == "__main__":
    main()

"""The Customers tab over a tenant with 20,000 clients: our Query-per-page listing against a naive full Scan.

Loads 20,000 clients of one tenant (500 of them linked, 1 in 100 named "... Acme ...") plus the clients of
other tenants into moto (in-process, the table built from template.yaml), then times one page of 25 through
``shared.services.parties.list_parties``, unfiltered (first page and a page deep in the list, through its
cursor) and filtered, beside the naive way (Scan the whole table, filter and sort in Python, slice the page).
It prints milliseconds per page and the items DynamoDB reads for it (what it bills; moto's own timings are
only indicative), and the ratio naive / ours.

    .venv/bin/python bench/customers_list.py [--clients 20000] [--others 5000] [--repeat 3] [--naive-all]

A run on a busy 2-core machine (2026-11-25; moto sorts and serialises in Python, so its milliseconds are far
above DynamoDB's; the items read are what carries over):

    case                                 ours ms    read  naive ms    read   ratio
    unfiltered, first page                 712.8      26   63193.7   25001   88.7x
    unfiltered, page at the middle         416.6      26         -       -       -
    name contains 'acme' (1%)             3232.8    4210   63531.4   25001   19.7x
    id exact 'c-12345'                    5166.0   10000         -       -       -
    email contains 'acme'                 2695.3    4210         -       -       -
    status synced (2.5%)                  1742.7    2210   55181.9   25001   31.7x
    status unsynced                        732.7     130         -       -       -
    name matches nothing                  4851.2   10000         -       -       -

"id exact" shows c-12345 at once (one GetItem, not counted in 'read') and, like "matches nothing", stops its
search of the names at the 10,000-item read budget, answering with a cursor.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.domain.cursors import cursor_key, sign_cursor  # noqa: E402
from shared.domain.parties import CUSTOMER, LinkStatus, PartyFilters  # noqa: E402
from shared.services.parties import list_parties  # noqa: E402
from shared.store.connection import ConnectionStore  # noqa: E402
from shared.store.parties import PartyStore, _party  # noqa: E402
from shared.store.table import Table  # noqa: E402
from tests.support.template import table_definition  # noqa: E402

TABLE = "books360-bench"
TENANT = "big"
REALM = "9341455000000001"
LIMIT = 25
KEY = cursor_key("bench-secret")


@dataclass
class Reads:
    """What DynamoDB would read (ScannedCount) and how many calls, counted on the client's answers."""

    calls: int = 0
    scanned: int = 0

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        self.scanned += int(parsed.get("ScannedCount", 0))


def client_item(tenant: str, n: int) -> dict[str, Any]:
    name = f"Client {n:05d}" + (" Acme Holdings" if n % 100 == 7 else "")
    email = f"billing{n}@{'acme' if n % 100 == 7 else 'example'}.com" if n % 10 else None
    item: dict[str, Any] = {
        "pk": f"TENANT#{tenant}",
        "sk": f"CLIENT#c-{n:05d}",
        "clientId": f"c-{n:05d}",
        "name": name,
        "nameLower": name.casefold(),
        "email": email,
        "emailLower": email.casefold() if email else None,
        "companyName": name,
        "phone": "555-0100",
        "billingAddress": {"line1": "1 Main St", "city": "Springfield", "region": "CA", "postalCode": "94000"},
        "version": 1,
    }
    if tenant == TENANT and n % 40 == 0:
        item[f"qbLink_{REALM}"] = {
            "qbId": str(n),
            "displayName": name,
            "syncedAt": "2026-11-24T10:00:00Z",
            "status": "synced",
            "created": True,
        }
    return item


def load(client: Any, table: Table, clients: int, others: int) -> None:
    items = [client_item(TENANT, n) for n in range(clients)]
    items += [client_item(f"other-{n % 10}", n) for n in range(others)]
    table.put({"pk": f"TENANT#{TENANT}", "sk": "CONN", "status": "connected", "realmId": REALM})
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": table.to_dynamo(i)}} for i in items[start : start + 25]]
        client.batch_write_item(RequestItems={TABLE: batch})


def ours(store: PartyStore, connections: ConnectionStore, filters: PartyFilters, cursor: str | None) -> int:
    """Items on our page; a page cut short by the read budget (a rare filter) may hold fewer than the naive one."""
    page = list_parties(
        CUSTOMER,
        store,
        connections,
        tenant_id=TENANT,
        filters=filters,
        limit=LIMIT,
        cursor=cursor,
        cursor_key=KEY,
    )
    return len(page.rows)


def naive(client: Any, table: Table, filters: PartyFilters, after: str | None) -> int:
    """Scan every item of the table (all tenants), keep this tenant's clients, filter, sort, slice."""
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"TableName": TABLE}
    while True:
        answer = client.scan(**arguments)
        items += [table.from_dynamo(i) for i in answer.get("Items", [])]
        if "LastEvaluatedKey" not in answer:
            break
        arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    # The store's own mapping, so both sides do the same work once the items are read.
    parties = sorted(
        (
            _party(CUSTOMER, i)
            for i in items
            if i["pk"] == f"TENANT#{TENANT}" and str(i["sk"]).startswith(CUSTOMER.sk_prefix)
        ),
        key=lambda p: p.party_id,
    )
    matching = [p for p in parties if filters.matches(p, REALM) and (after is None or p.party_id > after)]
    return len(matching[:LIMIT])


def timed(run: Any, repeat: int, reads: Reads) -> tuple[float, int, int]:
    reads.calls = reads.scanned = 0
    started = time.perf_counter()
    for _ in range(repeat):
        count = run()
    elapsed = (time.perf_counter() - started) / repeat
    return elapsed * 1000, reads.scanned // repeat, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--others", type=int, default=5_000, help="clients of ten other tenants in the table")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each of our pages (the naive one runs once)")
    parser.add_argument(
        "--naive-all", action="store_true", help="time the naive Scan for every case (moto serialises slowly)"
    )
    options = parser.parse_args()
    os.environ.update(
        {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName=TABLE, **table_definition())
        table = Table(TABLE, client)
        started = time.perf_counter()
        load(client, table, options.clients, options.others)
        print(f"loaded {options.clients} clients of '{TENANT}' and {options.others} of other tenants "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        reads = Reads()
        client.meta.events.register("after-call.dynamodb.Query", lambda parsed, **kw: reads(parsed))
        client.meta.events.register("after-call.dynamodb.Scan", lambda parsed, **kw: reads(parsed))
        store, connections = PartyStore(table), ConnectionStore(table)

        deep_after = f"c-{options.clients // 2:05d}"
        deep_cursor = _cursor_after(deep_after, PartyFilters())
        # (label, filters, our cursor, the same position for the naive way, time the naive way by default)
        cases = [
            ("unfiltered, first page", PartyFilters(), None, None, True),
            ("unfiltered, page at the middle", PartyFilters(), deep_cursor, deep_after, False),
            ("name contains 'acme' (1%)", PartyFilters(text="acme"), None, None, True),
            ("id exact 'c-12345'", PartyFilters(text="c-12345"), None, None, False),
            ("email contains 'acme'", PartyFilters(email="acme"), None, None, False),
            ("status synced (2.5%)", PartyFilters(status=LinkStatus.SYNCED), None, None, True),
            ("status unsynced", PartyFilters(status=LinkStatus.UNSYNCED), None, None, False),
            ("name matches nothing", PartyFilters(text="zzz"), None, None, False),
        ]
        print(f"\none page of {LIMIT}, mean of {options.repeat} runs; 'read' = items DynamoDB reads for the page")
        header = f"{'case':34} {'ours ms':>9} {'read':>7} {'naive ms':>9} {'read':>7} {'ratio':>7}"
        print(header)
        print("-" * len(header))
        for label, filters, cursor, after, compare in cases:
            our_ms, our_read, our_count = timed(
                lambda f=filters, c=cursor: ours(store, connections, f, c), options.repeat, reads
            )
            if not (compare or options.naive_all):
                print(f"{label:34} {our_ms:9.1f} {our_read:7d} {'-':>9} {'-':>7} {'-':>7}", flush=True)
                continue
            naive_ms, naive_read, naive_count = timed(lambda f=filters, a=after: naive(client, table, f, a), 1, reads)
            assert our_count <= naive_count, (label, our_count, naive_count)
            ratio = naive_ms / our_ms
            print(f"{label:34} {our_ms:9.1f} {our_read:7d} {naive_ms:9.1f} {naive_read:7d} {ratio:6.1f}x", flush=True)


def _cursor_after(party_id: str, filters: PartyFilters) -> str:
    return sign_cursor(KEY, {"tenant": TENANT, "list": CUSTOMER.plural, **filters.scope()}, party_id)


if __name__ == "__main__":
    main()

"""What automatic sync has to do, indexed so the 15-minute sweep reads only that (never a Scan, never the
invoices that are synced). This module is the one owner of the index: every write of its keys is made here, or
with the keys it hands out for another store's write (an upsert, a link, a settings write, a connection).

The index
---------
Sparse entries of the table's one GSI (``gsi1pk``/``gsi1sk``), carried by the items they are about; the due
partition is sharded by a stable hash of the tenant (``AUTOSYNC#{0..SHARDS-1}``, ``shard_of``)::

    INVOICE#{id}       gsi1pk AUTOSYNC#{n}       gsi1sk {tenant}#INVOICE#{id}  due: the sweep (re)queues its sync
                                                                               (or, deleted in Books360, its deletion)
                       gsi1pk WAITING#{tenant}   gsi1sk {clientId}#{id}        needs a sync automatic sync cannot
                                                                               make now (client unlinked, no email)
                       autoQueuedAt, autoFailures                              when queued last; failed tries so far
    CLIENT#{id}        gsi1pk AUTOSYNC#{n}       gsi1sk {tenant}#CLIENT#{id}   linked or changed: look at its
                       autoMark, autoAfter                                     waiting invoices
    AUTOSYNC#CATCHUP   gsi1pk AUTOSYNC#{n}       gsi1sk {tenant}#CATCHUP       the setting turned on, or a connection
                       autoMark, autoAfter                                     made: look at every invoice of the tenant
    pk AUTOSYNC, sk SWEEP                                                      the sweep's own state: where each shard
                                                                               stopped, the backfill done

An invoice enters its shard with every new version (the upsert writes the keys itself, so a crash after it loses
nothing), is moved to ``WAITING#`` when its client blocks it, and leaves the index when a sync of its current
version succeeds (``settle``, conditional on that version, so a newer upsert that raced the sync keeps its entry).

Markers carry a fresh token (``autoMark``) each time they are set, and are cleared, or their progress
(``autoAfter``: the last invoice looked at) recorded, only while they still carry the token that was read: a
client linked again, or the setting turned on again, while the sweep worked is never lost.

Who is indexed
--------------
Only what the sweep can act on. A tenant with the setting off, or not connected, has no invoice in the index
(its upserts enter it, and leave it at once, ``invoice_changed``): a tenant that never turns the setting on would
otherwise keep every invoice it has in the index for good, and the sweep would read them every 15 minutes for
nothing. What they missed is caught up by the tenant marker, set in the same write as the setting turned on and
as a connection made (to the same company or another): the sweep then pages through that tenant's own
``INVOICE#`` items (a Query, with a budget per run and the cursor on the marker). The same catch-up is the
backfill of the invoices stored before the index existed: the sweep marks every connected tenant once
(``BACKFILL_GENERATION``, through the index of connected tenants). An invoice deleted in Books360 whose deletion in
QuickBooks failed stays due while the tenant is connected, whatever the setting (deletions do not depend on it).

Shards
------
Every upsert of every tenant writes the due partition (full items: gsi1 projects ALL), so one partition would be
hot; ``SHARDS`` partitions spread the writes and let the sweep page each with its own budget (a tenant with a huge
backlog slows its shard only). A tenant stays in one shard, so its entries come together in a page.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.store.books360 import INVOICE_PREFIX
from shared.store.invoices import InvoiceStore
from shared.store.table import ConditionFailed, tenant_pk

if TYPE_CHECKING:
    from shared.store.invoices import StoredInvoice
    from shared.store.table import Table

SHARDS = 8
"""Due partitions. Few: the sweep reads each one every run (an empty one costs a Query); enough that the writes of
all tenants' upserts are spread well past one partition's 1,000 writes a second."""
DUE_PREFIX = "AUTOSYNC#"
WAITING_PREFIX = "WAITING#"
CLIENT_PREFIX = "CLIENT#"
CATCH_UP_SK = "AUTOSYNC#CATCHUP"
CATCH_UP = "CATCHUP"
QUEUED_AT = "autoQueuedAt"
FAILURES = "autoFailures"
MARK = "autoMark"
AFTER = "autoAfter"
INDEX_ATTRIBUTES = ("gsi1pk", "gsi1sk", QUEUED_AT, FAILURES)
STATE_PK, STATE_SK = "AUTOSYNC", "SWEEP"
LEGACY_PARTITION = "AUTOSYNC"
"""The unsharded due partition of the first release; emptied by the backfill."""
BACKFILL_GENERATION = 1
"""Raise it to have the sweep mark every connected tenant for a catch-up once more (after a change of the index)."""


def shard_of(tenant_id: str) -> int:
    """The tenant's due partition: a stable hash (the same in every process and release), not Python's ``hash``."""
    return int.from_bytes(hashlib.sha256(tenant_id.encode()).digest()[:4], "big") % SHARDS


def due_partition(tenant_id: str) -> str:
    return f"{DUE_PREFIX}{shard_of(tenant_id)}"


def due_keys(tenant_id: str, invoice_id: str) -> dict[str, Any]:
    """The attributes that put an invoice in its due partition, unqueued (an upsert's, in the same write)."""
    return {"gsi1pk": due_partition(tenant_id), "gsi1sk": f"{tenant_id}#{INVOICE_PREFIX}{invoice_id}", QUEUED_AT: None}


def client_marker(tenant_id: str, client_id: str) -> dict[str, Any]:
    """The attributes that tell the sweep to look at a client's waiting invoices (it was linked or changed), with a
    fresh token (a newer marker is told apart from the one the sweep read) and no progress yet."""
    return {
        "gsi1pk": due_partition(tenant_id),
        "gsi1sk": f"{tenant_id}#{CLIENT_PREFIX}{client_id}",
        MARK: uuid.uuid4().hex,
        AFTER: None,
    }


@dataclass(frozen=True)
class DueInvoice:
    """An invoice automatic sync has something to do with: when its sync was queued last, and failed tries."""

    stored: StoredInvoice
    queued_at: datetime | None = None
    failures: int = 0
    waiting: bool = False  # under its client (WAITING#), not due

    @property
    def tenant_id(self) -> str:
        return self.stored.invoice.tenant_id

    @property
    def invoice_id(self) -> str:
        return self.stored.invoice.invoice_id


@dataclass(frozen=True)
class Marker:
    """Something changed that may unblock invoices: a client (``client_id``), or the whole tenant (None: the
    setting turned on, a connection made). ``mark`` is the token it was set with; ``after`` the last invoice
    looked at so far (None: from the start)."""

    tenant_id: str
    client_id: str | None
    mark: str | None
    after: str | None = None


SweepEntry = DueInvoice | Marker


@dataclass(frozen=True)
class SweepPage:
    entries: list[SweepEntry]
    after: dict[str, str] | None  # the key to continue after; None: the end of the shard


@dataclass(frozen=True)
class InvoicePage:
    invoices: list[DueInvoice]
    after: str | None  # the invoice id to continue after; None: the last page
    read: int  # items read (what the page cost)


@dataclass(frozen=True)
class SweepState:
    cursors: dict[int, dict[str, str]]  # shard -> where the last run stopped in it
    backfilled: int  # the BACKFILL_GENERATION done


class AutoSyncStore:
    """Moves items in and out of the index (module docstring) and reads it, as domain objects."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # -- invoices ------------------------------------------------------------------------------------------

    def due(
        self, tenant_id: str, invoice_id: str, *, version: int | None = None, queued_at: datetime | None = None
    ) -> bool:
        """Put the invoice in its due partition, queued at ``queued_at`` (None: to be queued by the sweep); with
        ``version``, only while that is still its version. False: not so (newer, or no such invoice)."""
        values = {**due_keys(tenant_id, invoice_id), QUEUED_AT: queued_at.isoformat() if queued_at else None}
        return self._update(tenant_id, invoice_id, set_values=values, version=version)

    def waiting(self, tenant_id: str, invoice_id: str, client_id: str, *, version: int) -> bool:
        """The client blocks this version of the invoice: kept under its client until that changes."""
        values = {
            "gsi1pk": WAITING_PREFIX + tenant_id,
            "gsi1sk": f"{client_id}#{invoice_id}",
            QUEUED_AT: None,
            FAILURES: None,
        }
        return self._update(tenant_id, invoice_id, set_values=values, version=version)

    def failed(self, tenant_id: str, invoice_id: str, *, version: int) -> int:
        """An automatic try of ``version`` ended without success: counted, and no longer in flight (the next sweep
        queues it again); the failures so far (0: that version is not due any more, a newer one keeps its tries)."""
        try:
            item = self.table.update(
                tenant_pk(tenant_id),
                INVOICE_PREFIX + invoice_id,
                set_values={QUEUED_AT: None},
                add={FAILURES: 1},
                condition="#gsi1pk = :due AND #version = :version",
                values={"due": due_partition(tenant_id), "version": version},
            )
        except ConditionFailed:
            return 0
        return int(item.get(FAILURES, 0))

    def settle(self, tenant_id: str, invoice_id: str, version: int | None) -> bool:
        """Nothing left for automatic sync with ``version`` of the invoice (synced, given up, not indexed while the
        setting is off...; None: whatever its version, it is gone from both sides): out of the index. A newer
        version stored meanwhile keeps its entry (False)."""
        if version is None:
            return self._update(tenant_id, invoice_id, set_values=dict.fromkeys(INDEX_ATTRIBUTES), exists="#pk")
        return self._update(
            tenant_id, invoice_id, set_values=dict.fromkeys(INDEX_ATTRIBUTES), version=version, exists="#gsi1pk"
        )

    # -- markers -------------------------------------------------------------------------------------------

    def mark_tenant_action(self, tenant_id: str) -> dict[str, Any]:
        """The ``Table.transact`` action that asks the sweep for a catch-up of every invoice of the tenant (from
        the start, with a fresh token): made in the same transaction as the write that calls for it."""
        return self.table.put_action(_tenant_marker(tenant_id))

    def mark_tenant(self, tenant_id: str, *, unless_marked: bool = False) -> bool:
        """Ask for a tenant catch-up now (``unless_marked``: leave one already asked for, and its progress, alone);
        False when one was left alone."""
        if unless_marked:
            return self.table.put_new(_tenant_marker(tenant_id))
        self.table.put(_tenant_marker(tenant_id))
        return True

    def progress(self, marker: Marker, after: str) -> bool:
        """The marker's invoices up to ``after`` were looked at; False when it was set again meanwhile (then the
        next sweep starts it over, which is what a newer marker asks for)."""
        try:
            self.table.update(
                tenant_pk(marker.tenant_id), _marker_sk(marker), set_values={AFTER: after}, **_same_mark(marker)
            )
        except ConditionFailed:
            return False
        return True

    def clear(self, marker: Marker) -> bool:
        """The marker was dealt with: gone, unless it was set again since it was read (False: it stays)."""
        pk, sk = tenant_pk(marker.tenant_id), _marker_sk(marker)
        if marker.client_id is None:
            return self.table.delete_if(pk, sk, **_same_mark(marker))
        try:
            self.table.update(pk, sk, set_values={"gsi1pk": None, "gsi1sk": None, AFTER: None}, **_same_mark(marker))
        except ConditionFailed:
            return False
        return True

    # -- reads ---------------------------------------------------------------------------------------------

    def sweep_page(self, shard: int, *, after: dict[str, str] | None, limit: int) -> SweepPage:
        """Up to ``limit`` entries of a due partition after ``after`` (a previous page's), tenant by tenant."""
        items, last = self.table.query_index_page(f"{DUE_PREFIX}{shard}", after=after, limit=limit)
        entries = [entry for entry in map(_sweep_entry, items) if entry is not None]
        return SweepPage(entries, last)

    def waiting_page(self, tenant_id: str, client_id: str, *, after: str | None, limit: int) -> InvoicePage:
        """Up to ``limit`` of the client's invoices waiting for automatic sync, after invoice ``after``."""
        prefix, partition = f"{client_id}#", WAITING_PREFIX + tenant_id
        start = None
        if after is not None:
            start = {"pk": tenant_pk(tenant_id), "sk": INVOICE_PREFIX + after, "gsi1pk": partition}
            start["gsi1sk"] = prefix + after
        items, last = self.table.query_index_page(partition, sk_prefix=prefix, after=start, limit=limit)
        # A client id may hold '#': the prefix may also match another client's entries.
        mine = (_due_invoice(tenant_id, i) for i in items if i.get("clientId") == client_id)
        next_after = str(last["sk"]).removeprefix(INVOICE_PREFIX) if last else None
        return InvoicePage([d for d in mine if d is not None], next_after, len(items))

    def invoice_page(self, tenant_id: str, *, after: str | None, limit: int) -> InvoicePage:
        """Up to ``limit`` of the tenant's invoices (deleted ones too) in id order after ``after``: a catch-up's
        page, one Query of the tenant's own items."""
        items, last = self.table.query_page(
            tenant_pk(tenant_id), INVOICE_PREFIX, after_sk=INVOICE_PREFIX + after if after else None, limit=limit
        )
        invoices = [d for d in (_due_invoice(tenant_id, i) for i in items) if d is not None]
        return InvoicePage(invoices, last.removeprefix(INVOICE_PREFIX) if last else None, len(items))

    # -- the sweep's own state -----------------------------------------------------------------------------

    def sweep_state(self) -> SweepState:
        item = self.table.get(STATE_PK, STATE_SK) or {}
        cursors = {int(shard): dict(key) for shard, key in (item.get("cursors") or {}).items()}
        return SweepState(cursors, int(item.get("backfilled", 0)))

    def save_sweep_state(self, state: SweepState) -> None:
        self.table.put(
            {
                "pk": STATE_PK,
                "sk": STATE_SK,
                "cursors": {str(shard): key for shard, key in state.cursors.items()},
                "backfilled": state.backfilled,
            }
        )

    def move_legacy(self) -> int:
        """Empty the first release's unsharded partition: its invoices into their shards (due, the sweep looks at
        them again), its markers dropped (the tenant's catch-up covers them); how many items it held."""
        items = self.table.query_index(LEGACY_PARTITION)
        for item in items:
            pk, sk = str(item["pk"]), str(item["sk"])
            if sk.startswith(INVOICE_PREFIX) and "number" in item:
                self.due(pk.removeprefix("TENANT#"), sk.removeprefix(INVOICE_PREFIX))
                continue
            try:
                self.table.update(
                    pk,
                    sk,
                    set_values={"gsi1pk": None, "gsi1sk": None},
                    condition="#gsi1pk = :legacy",
                    values={"legacy": LEGACY_PARTITION},
                )
            except ConditionFailed:
                continue
        return len(items)

    def _update(
        self,
        tenant_id: str,
        invoice_id: str,
        *,
        set_values: dict[str, Any],
        version: int | None = None,
        exists: str = "#number",
    ) -> bool:
        condition = f"attribute_exists(#pk) AND attribute_exists({exists})"
        values: dict[str, Any] = {}
        if version is not None:
            condition += " AND #version = :version"
            values["version"] = version
        try:
            self.table.update(
                tenant_pk(tenant_id),
                INVOICE_PREFIX + invoice_id,
                set_values=set_values,
                condition=condition,
                values=values or None,
            )
        except ConditionFailed:
            return False
        return True


def _tenant_marker(tenant_id: str) -> dict[str, Any]:
    return {
        "pk": tenant_pk(tenant_id),
        "sk": CATCH_UP_SK,
        "gsi1pk": due_partition(tenant_id),
        "gsi1sk": f"{tenant_id}#{CATCH_UP}",
        MARK: uuid.uuid4().hex,
    }


def _marker_sk(marker: Marker) -> str:
    return CATCH_UP_SK if marker.client_id is None else CLIENT_PREFIX + marker.client_id


def _same_mark(marker: Marker) -> dict[str, Any]:
    """The condition that the marker still carries the token it was read with (and is still set)."""
    partition = due_partition(marker.tenant_id)
    if marker.mark is None:  # set by the first release, before tokens
        return {"condition": "#gsi1pk = :due AND attribute_not_exists(#autoMark)", "values": {"due": partition}}
    return {"condition": "#gsi1pk = :due AND #autoMark = :mark", "values": {"due": partition, "mark": marker.mark}}


def _due_invoice(tenant_id: str, item: dict[str, Any]) -> DueInvoice | None:
    stored = InvoiceStore.from_item(tenant_id, item)
    if stored is None:
        return None  # a tombstone of an invoice we never had a copy of
    queued_at = item.get(QUEUED_AT)
    return DueInvoice(
        stored,
        datetime.fromisoformat(str(queued_at)) if queued_at else None,
        int(item.get(FAILURES, 0)),
        str(item.get("gsi1pk", "")).startswith(WAITING_PREFIX),
    )


def _sweep_entry(item: dict[str, Any]) -> SweepEntry | None:
    tenant_id = str(item["pk"]).removeprefix("TENANT#")
    what = str(item["gsi1sk"]).removeprefix(f"{tenant_id}#")
    mark = str(item[MARK]) if item.get(MARK) else None
    after = str(item[AFTER]) if item.get(AFTER) else None
    if what.startswith(INVOICE_PREFIX):
        return _due_invoice(tenant_id, item)
    if what.startswith(CLIENT_PREFIX):
        return Marker(tenant_id, what.removeprefix(CLIENT_PREFIX), mark, after)
    if what == CATCH_UP:
        return Marker(tenant_id, None, mark, after)
    return None

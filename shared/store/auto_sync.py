"""What automatic sync has to do, indexed so the 15-minute sweep reads only that (never a Scan, never the
invoices that are synced).

The index
---------
Sparse entries of the table's one GSI (``gsi1pk``/``gsi1sk``), carried by the items they are about::

    INVOICE#{id}  gsi1pk AUTOSYNC            gsi1sk {tenant}#INVOICE#{id}   due: the sweep (re)queues its sync
                                                                            (or, deleted in Books360, its deletion)
                  gsi1pk WAITING#{tenant}    gsi1sk {clientId}#{id}         needs a sync that automatic sync cannot
                                                                            make now (off, client not linked, no email)
                  autoQueuedAt, autoFailures                                when queued last; refused tries so far
    CLIENT#{id}   gsi1pk AUTOSYNC            gsi1sk {tenant}#CLIENT#{id}    linked or changed: look at its waiting
                                                                            invoices
    SETTINGS      gsi1pk AUTOSYNC            gsi1sk {tenant}#SETTINGS       turned on: look at every waiting invoice

An invoice enters ``AUTOSYNC`` with every new version (the upsert writes the keys itself, so a crash after it
loses nothing), is moved to ``WAITING#`` when it cannot be synced automatically, and leaves the index when a sync
of its current version succeeds (``settle``: conditional on that version, so a newer upsert that raced the sync
keeps its entry). The sweep queries the ``AUTOSYNC`` partition: its reads grow with what there is to do, not
with how many invoices or tenants there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.store.books360 import INVOICE_PREFIX
from shared.store.settings import SETTINGS_SK
from shared.store.table import ConditionFailed, tenant_pk

if TYPE_CHECKING:
    from shared.store.table import Table

SWEEP_INDEX = "AUTOSYNC"
WAITING_PREFIX = "WAITING#"
CLIENT_PREFIX = "CLIENT#"
QUEUED_AT = "autoQueuedAt"
FAILURES = "autoFailures"
INDEX_ATTRIBUTES = ("gsi1pk", "gsi1sk", QUEUED_AT, FAILURES)


def due_keys(tenant_id: str, invoice_id: str) -> dict[str, Any]:
    """The attributes that put an invoice in the sweep's partition (unqueued, no failures yet)."""
    return {"gsi1pk": SWEEP_INDEX, "gsi1sk": f"{tenant_id}#{INVOICE_PREFIX}{invoice_id}", QUEUED_AT: None}


def client_marker(tenant_id: str, client_id: str) -> dict[str, Any]:
    """The attributes that tell the sweep to look at a client's waiting invoices (it was linked or changed)."""
    return {"gsi1pk": SWEEP_INDEX, "gsi1sk": f"{tenant_id}#{CLIENT_PREFIX}{client_id}"}


@dataclass(frozen=True)
class Entry:
    """One item of the sweep's partition (or of a tenant's waiting ones): whose, which item, and the item."""

    tenant_id: str
    sk: str
    item: dict[str, Any]

    @property
    def queued_at(self) -> datetime | None:
        value = self.item.get(QUEUED_AT)
        return datetime.fromisoformat(str(value)) if value else None

    @property
    def failures(self) -> int:
        return int(self.item.get(FAILURES, 0))


class AutoSyncStore:
    """Moves items in and out of the index (module docstring) and reads it."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # -- invoices ------------------------------------------------------------------------------------------

    def due(
        self, tenant_id: str, invoice_id: str, *, version: int | None = None, queued_at: datetime | None = None
    ) -> bool:
        """Put the invoice in the sweep's partition, queued at ``queued_at`` (None: to be queued by the sweep);
        with ``version``, only while that is still its version. False: not so (newer, or no such invoice)."""
        values = {**due_keys(tenant_id, invoice_id), QUEUED_AT: queued_at.isoformat() if queued_at else None}
        return self._update(INVOICE_PREFIX + invoice_id, tenant_id, set_values=values, version=version)

    def waiting(self, tenant_id: str, invoice_id: str, client_id: str, *, version: int | None = None) -> bool:
        """The invoice needs a sync that automatic sync cannot make now: kept under its client until that changes."""
        values = {
            "gsi1pk": WAITING_PREFIX + tenant_id,
            "gsi1sk": f"{client_id}#{invoice_id}",
            QUEUED_AT: None,
            FAILURES: None,
        }
        return self._update(INVOICE_PREFIX + invoice_id, tenant_id, set_values=values, version=version)

    def failed(self, tenant_id: str, invoice_id: str) -> int:
        """An automatic try ended without success: counted, and no longer in flight (the next sweep queues it
        again); the failures so far (0: the invoice was not due any more)."""
        try:
            item = self.table.update(
                tenant_pk(tenant_id),
                INVOICE_PREFIX + invoice_id,
                set_values={QUEUED_AT: None},
                add={FAILURES: 1},
                condition="#gsi1pk = :due",
                values={"due": SWEEP_INDEX},
            )
        except ConditionFailed:
            return 0
        return int(item.get(FAILURES, 0))

    def drop(self, tenant_id: str, invoice_id: str) -> None:
        """Nothing for automatic sync to do with this invoice (until it changes, or is unlinked)."""
        self._update(INVOICE_PREFIX + invoice_id, tenant_id, set_values=dict.fromkeys(INDEX_ATTRIBUTES))

    # -- markers -------------------------------------------------------------------------------------------

    def mark_tenant(self, tenant_id: str) -> None:
        """Automatic sync was turned on: the next sweep looks at every invoice waiting for it."""
        self.table.update(
            tenant_pk(tenant_id),
            SETTINGS_SK,
            set_values={"gsi1pk": SWEEP_INDEX, "gsi1sk": f"{tenant_id}#{SETTINGS_SK}"},
        )

    def clear_marker(self, tenant_id: str, sk: str) -> None:
        """A client's or the tenant's marker was looked at (a newer one set meanwhile is lost: harmless, the
        waiting invoices it points at were just read)."""
        try:
            self.table.update(
                tenant_pk(tenant_id),
                sk,
                set_values={"gsi1pk": None, "gsi1sk": None},
                condition="#gsi1pk = :due",
                values={"due": SWEEP_INDEX},
            )
        except ConditionFailed:
            return

    # -- reads ---------------------------------------------------------------------------------------------

    def sweep_entries(self) -> list[Entry]:
        """Everything the sweep has to look at, of every tenant (one Query of the sparse partition, paged)."""
        return [_entry(item) for item in self.table.query_index(SWEEP_INDEX)]

    def waiting_invoices(self, tenant_id: str, client_id: str | None = None) -> list[Entry]:
        """The tenant's invoices waiting for automatic sync (of one client only, given ``client_id``)."""
        prefix = f"{client_id}#" if client_id is not None else None
        items = self.table.query_index(WAITING_PREFIX + tenant_id, prefix)
        # A client id may hold '#': the prefix may also match another client's entries.
        return [_entry(i) for i in items if client_id is None or i.get("clientId") == client_id]

    def _update(self, sk: str, tenant_id: str, *, set_values: dict[str, Any], version: int | None = None) -> bool:
        condition = "attribute_exists(#pk) AND attribute_exists(#number)"
        values: dict[str, Any] = {}
        if version is not None:
            condition += " AND #version = :version"
            values["version"] = version
        try:
            self.table.update(
                tenant_pk(tenant_id), sk, set_values=set_values, condition=condition, values=values or None
            )
        except ConditionFailed:
            return False
        return True


def _entry(item: dict[str, Any]) -> Entry:
    return Entry(str(item["pk"]).removeprefix("TENANT#"), str(item["sk"]), item)

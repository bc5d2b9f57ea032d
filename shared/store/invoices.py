"""Our copies of Books360 invoices (``INVOICE#{id}``) with what each sync wrote to QuickBooks for them.

The link model
--------------
A Books360 invoice becomes one or more QuickBooks invoices (a part per month with Split Invoice) and one
QuickBooks payment per Books360 payment. What was written for one company (realm) lives on the invoice's own
item, in one map attribute ``qbLink_{realmId}`` (as a client's link does)::

    qbLink_9341455000001 = {status, customerId, syncedAt, syncedVersion, lastError,
                            parts:    {"all" | "2026-02": {qbId, syncToken, fp}},
                            payments: {"p-1": {qbId, syncToken, fp}},
                            partNumbers: {"2026-02": 1}, generations: {"part:2026-02": 1}, pending: {...}}

and each QuickBooks object has a guard item (``shared.store.links``: ``LINK#{realm}#Invoice#{qbId}``, indexed
``REALM#{realm}#Invoice#{qbId}``), so a webhook naming a QuickBooks invoice or payment finds its Books360 invoice
in one query. The map and the guards change together, in one transaction, each time QuickBooks answers a write
(``save_link``): a sync that stops half-way resumes from what was recorded. The writer holds the invoice's
lease (``shared.store.leases``), so the map is read, changed and written whole without a lost update.

The Books360 event upserts never touch ``qbLink_`` attributes; a Books360 deletion leaves a tombstone, and the
link stays until QuickBooks' copies are deleted too.

Listing
-------
Query pages of the tenant's ``INVOICE#`` items in id order with the filters as a FilterExpression (client id,
creation date range, sync status in the connected company), with the read budget of ``Table.query_budgeted``:
a page costs a bounded number of reads however many invoices the tenant has. A client filter that is not an
id is resolved to the ids of the clients whose name contains it (at most ``MAX_CLIENT_MATCHES``).

Reading before a sync
---------------------
The invoice, the tenant's connection (``CONN``) and settings (``SETTINGS``) share the tenant's partition: what
automatic sync checks before it queues or runs a sync is one consistent BatchGetItem (``get_in_context``), not
three GetItems. (A sync still reads the invoice again once it holds the lease.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.domain.books360 import Invoice
from shared.domain.invoices import InvoiceLink, SyncStatus, Written
from shared.domain.webhooks import invoice_link_after
from shared.store.books360 import INVOICE_PREFIX
from shared.store.connection import CONNECTION_SK, connection_from
from shared.store.links import LinkGuards, guard_item, guard_sk, release_action
from shared.store.settings import SETTINGS_SK, settings_from
from shared.store.table import tenant_pk

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shared.domain.connection import Connection
    from shared.domain.settings import Settings
    from shared.domain.webhooks import TransactionGone
    from shared.store.leases import LeaseStore
    from shared.store.table import Table

LINK_ATTRIBUTE_PREFIX = "qbLink_"
CLIENT_PREFIX = "CLIENT#"
MAX_CLIENT_MATCHES = 99
"""A name filter resolves to at most this many clients (DynamoDB's IN takes 100 values, the text itself is one
more, as an id); more is a 422."""
MAX_TRANSACTION = 100
QB_INVOICE = "Invoice"
QB_PAYMENT = "Payment"


MARK_LEASE_SECONDS = 20
"""A webhook's mark holds the invoice's lease this long at most (the webhook function times out at 10 s)."""


def invoice_lease(invoice_id: str) -> str:
    """The name of an invoice's lease (``LOCK#invoice#{id}``), held by whoever writes its link."""
    return f"invoice#{invoice_id}"


class TooManyClients(Exception):
    """The client filter's text is part of the names of more than ``MAX_CLIENT_MATCHES`` clients."""


class InvoiceHeld(Exception):
    """Someone (a sync, an unlink, a deletion, another webhook) holds the invoice's lease right now: the mark
    is not made, and should be tried again shortly (``seconds_left``: until the holder's lease lapses)."""

    def __init__(self, invoice_id: str, seconds_left: int | None) -> None:
        super().__init__(f"invoice {invoice_id} is held for {seconds_left} s")
        self.invoice_id = invoice_id
        self.seconds_left = seconds_left


@dataclass(frozen=True)
class StoredInvoice:
    """Our copy of a Books360 invoice, its totals, and its links (one per QuickBooks company ever synced)."""

    invoice: Invoice
    version: int
    amount: Decimal
    paid: Decimal
    links: dict[str, InvoiceLink]
    deleted: bool = False

    def link_in(self, realm_id: str | None) -> InvoiceLink | None:
        return self.links.get(realm_id) if realm_id else None

    def status_in(self, realm_id: str | None) -> SyncStatus:
        link = self.link_in(realm_id)
        return link.status if link else SyncStatus.UNSYNCED


@dataclass(frozen=True)
class InvoiceFilters:
    """The tab's filters: ``client`` is the client id exactly or part of the client's name (any case); the date
    range is on the creation date, both ends included; ``sync_status`` in the connected company."""

    client: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    sync_status: SyncStatus | None = None

    def scope(self) -> dict[str, str]:
        """What a cursor is bound to."""
        return {
            "client": self.client or "",
            "dateFrom": self.date_from.isoformat() if self.date_from else "",
            "dateTo": self.date_to.isoformat() if self.date_to else "",
            "syncStatus": self.sync_status.value if self.sync_status else "",
        }


@dataclass(frozen=True)
class InvoicePage:
    invoices: list[StoredInvoice]
    after: str | None  # the invoice id to continue after; None: the last page


@dataclass(frozen=True)
class InvoiceInContext:
    """An invoice with what decides how it syncs: the tenant's connection and settings (one BatchGetItem)."""

    stored: StoredInvoice | None
    connection: Connection
    settings: Settings


class InvoiceStore:
    """Reads our invoice copies as ``StoredInvoice`` objects and records what syncs wrote (module docstring)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # -- reads ---------------------------------------------------------------------------------------------

    def get(self, tenant_id: str, invoice_id: str, *, with_deleted: bool = False) -> StoredInvoice | None:
        """The invoice; None when unknown, or deleted in Books360 (unless ``with_deleted``)."""
        return _stored_or_none(
            tenant_id, self.table.get(tenant_pk(tenant_id), INVOICE_PREFIX + invoice_id), with_deleted
        )

    def get_in_context(self, tenant_id: str, invoice_id: str) -> InvoiceInContext:
        """The invoice (as ``get``) with the tenant's connection and settings, in one read (module docstring)."""
        sks = (INVOICE_PREFIX + invoice_id, CONNECTION_SK, SETTINGS_SK)
        found = self.table.get_many(tenant_pk(tenant_id), sks)
        return InvoiceInContext(
            stored=_stored_or_none(tenant_id, found.get(sks[0]), with_deleted=False),
            connection=connection_from(tenant_id, found.get(CONNECTION_SK)),
            settings=settings_from(found.get(SETTINGS_SK)),
        )

    def existing_ids(self, tenant_id: str, invoice_ids: Iterable[str]) -> set[str]:
        """The ids among ``invoice_ids`` of the tenant's invoices (deleted ones are not; one BatchGetItem per 100)."""
        found = self.table.get_many(tenant_pk(tenant_id), (INVOICE_PREFIX + i for i in invoice_ids))
        # As ``get``: a tombstone (no ``number``) or an invoice deleted in Books360 is not one.
        known = (sk for sk, item in found.items() if "number" in item and not item.get("deleted"))
        return {sk.removeprefix(INVOICE_PREFIX) for sk in known}

    def client_names(self, tenant_id: str, client_ids: Iterable[str]) -> dict[str, str]:
        """Client id -> name, for the clients among ``client_ids`` that we have (one BatchGetItem per 100)."""
        found = self.table.get_many(tenant_pk(tenant_id), (CLIENT_PREFIX + c for c in client_ids))
        return {sk.removeprefix(CLIENT_PREFIX): str(item.get("name", "")) for sk, item in found.items()}

    def page(
        self, tenant_id: str, *, realm_id: str | None, filters: InvoiceFilters, limit: int, after: str | None
    ) -> InvoicePage:
        """Up to ``limit`` invoices matching ``filters`` in id order after invoice ``after`` (None: the start)."""
        where = self._filter_expression(tenant_id, realm_id, filters)
        if where is None:
            return InvoicePage([], None)
        expression, names, values = where
        pk = tenant_pk(tenant_id)
        items, last = self.table.query_budgeted(
            pk,
            INVOICE_PREFIX,
            want=limit,
            after_sk=INVOICE_PREFIX + after if after else None,
            where=expression,
            names=names,
            values=values,
        )
        invoices = [_stored(tenant_id, item) for item in items]
        return InvoicePage(invoices, last.removeprefix(INVOICE_PREFIX) if last else None)

    def _filter_expression(
        self, tenant_id: str, realm_id: str | None, filters: InvoiceFilters
    ) -> tuple[str, dict[str, str], dict[str, Any]] | None:
        clauses = ["attribute_not_exists(#deleted)", "attribute_exists(#number)"]
        names = {"#deleted": "deleted", "#number": "number"}
        values: dict[str, Any] = {}
        if filters.client:
            client_ids = [filters.client, *self._clients_named(tenant_id, filters.client)]
            placeholders = []
            for index, client_id in enumerate(dict.fromkeys(client_ids)):
                values[f"c{index}"] = client_id
                placeholders.append(f":c{index}")
            clauses.append(f"#clientId IN ({', '.join(placeholders)})")
            names["#clientId"] = "clientId"
        if filters.date_from:
            clauses.append("#createdDate >= :dateFrom")
            names["#createdDate"] = "createdDate"
            values["dateFrom"] = filters.date_from.isoformat()
        if filters.date_to:
            clauses.append("#createdDate <= :dateTo")
            names["#createdDate"] = "createdDate"
            values["dateTo"] = filters.date_to.isoformat()
        status = filters.sync_status
        if status is not None and realm_id is None:
            if status is not SyncStatus.UNSYNCED:
                return None  # not connected: every invoice is unsynced
        elif status is SyncStatus.UNSYNCED:
            clauses.append("(attribute_not_exists(#link) OR #link.#status = :status)")
            names |= {"#link": LINK_ATTRIBUTE_PREFIX + str(realm_id), "#status": "status"}
            values["status"] = status.value
        elif status is not None:
            clauses.append("#link.#status = :status")
            names |= {"#link": LINK_ATTRIBUTE_PREFIX + str(realm_id), "#status": "status"}
            values["status"] = status.value
        return " AND ".join(clauses), names, values

    def _clients_named(self, tenant_id: str, text: str) -> list[str]:
        """Ids of the clients whose name contains ``text`` (any case); ``TooManyClients`` past the limit."""
        pk, needle = tenant_pk(tenant_id), text.casefold()
        found: list[str] = []
        after: str | None = None
        while True:
            items, after = self.table.query_budgeted(
                pk,
                CLIENT_PREFIX,
                want=MAX_CLIENT_MATCHES + 1 - len(found),
                after_sk=after,
                where="attribute_not_exists(#deleted) AND contains(#nameLower, :needle)",
                names={"#deleted": "deleted", "#nameLower": "nameLower"},
                values={"needle": needle},
            )
            found.extend(str(item["sk"]).removeprefix(CLIENT_PREFIX) for item in items)
            if len(found) > MAX_CLIENT_MATCHES:
                raise TooManyClients(text)
            if after is None:
                return found

    # -- writes --------------------------------------------------------------------------------------------

    def save_link(
        self,
        tenant_id: str,
        invoice_id: str,
        link: InvoiceLink,
        previous: InvoiceLink | None,
        *,
        release_at: float | None = None,
    ) -> None:
        """Record ``link`` (replacing ``previous``), with the guards of the QuickBooks objects it gained and lost,
        in one transaction. The caller holds the invoice's lease. With ``release_at`` (the time now), the guards
        lost are released rather than deleted (``links.release_action``: for the webhook, which may not delete)."""
        pk = tenant_pk(tenant_id)
        realm_id = link.realm_id
        before = _objects(previous) if previous else set()
        after = _objects(link)
        update = self.table.update_action(
            pk,
            INVOICE_PREFIX + invoice_id,
            set_values={LINK_ATTRIBUTE_PREFIX + realm_id: _link_item(link)},
            condition="attribute_exists(#pk)",
        )
        actions: list[dict[str, Any]] = [{"Update": update}]
        for entity, qb_id in sorted(after - before):
            guard = guard_item(
                tenant_id,
                realm_id,
                entity,
                qb_id,
                owner_sk=INVOICE_PREFIX + invoice_id,
                invoiceId=invoice_id,
                kind="invoice",
            )
            actions.append(self.table.put_action(guard))
        for entity, qb_id in sorted(before - after):
            if release_at is None:
                actions.append(self.table.delete_action(pk, guard_sk(realm_id, entity, qb_id)))
            else:
                actions.append(release_action(self.table, tenant_id, realm_id, entity, qb_id, now=release_at))
        # DynamoDB takes 100 actions a transaction. A sync records one object at a time; only an unlink or a
        # deletion's adoption moves more, and their guard changes after the first 100 are idempotent, so the
        # map (first) and the rest follow in further transactions.
        for start in range(0, len(actions), MAX_TRANSACTION):
            self.table.transact(actions[start : start + MAX_TRANSACTION])

    # -- what QuickBooks did (webhooks) ----------------------------------------------------------------------

    def invoices_holding(self, tenant_id: str, realm_id: str, qb_entity: str, qb_id: str) -> list[str]:
        """Ids of the tenant's invoices whose link holds QuickBooks ``{qb_entity} {qb_id}`` of ``realm_id`` (its
        guard, found through the index in one query; eventually consistent, so the caller checks the link)."""
        guards = LinkGuards(self.table).holders_by_index(tenant_id, realm_id, qb_entity, qb_id)
        return sorted({str(g["invoiceId"]) for g in guards if g.get("kind") == "invoice" and g.get("invoiceId")})

    def mark_gone_in_qb(
        self, leases: LeaseStore, tenant_id: str, realm_id: str, gone: TransactionGone, *, owner: str
    ) -> list[str]:
        """QuickBooks deleted or voided a QuickBooks invoice or payment: the Books360 invoice linked to it is told
        (``shared.domain.webhooks.invoice_link_after``: ``deleted_in_qb``, a note in ``lastError``, a deleted
        payment dropped with its generation moved on and its guard removed); the ids of the invoices changed.

        The link map is read, changed and written whole, so this holds the invoice's lease as a sync does (the
        same name, ``invoice_lease``): a sync, an unlink or a deletion under way is never clobbered, and never
        waited for either. Raises ``InvoiceHeld`` at once when someone holds it, to be tried again later. A
        repeated call changes nothing (the link already says so, or no longer holds the object).
        """
        changed: list[str] = []
        for invoice_id in self.invoices_holding(tenant_id, realm_id, gone.qb_entity, gone.qb_id):
            lease = invoice_lease(invoice_id)
            if not leases.acquire(tenant_id, lease, owner, seconds=MARK_LEASE_SECONDS):
                raise InvoiceHeld(invoice_id, leases.seconds_left(tenant_id, lease))
            try:
                # Read under the lease: what the last holder recorded (the index may also be behind it).
                stored = self.get(tenant_id, invoice_id, with_deleted=True)
                link = stored.link_in(realm_id) if stored else None
                after = invoice_link_after(link, gone) if link else None
                if link is not None and after is not None:
                    self.save_link(tenant_id, invoice_id, after, link, release_at=leases.clock())
                    changed.append(invoice_id)
            finally:
                leases.release(tenant_id, lease, owner)
        return changed

    def forget(self, tenant_id: str, invoice_id: str, link: InvoiceLink) -> InvoiceLink:
        """The manual unlink: nothing written is tracked any more (guards removed); the invoice is unsynced (the
        caller makes it due for automatic sync again: ``shared.store.auto_sync``)."""
        unlinked = link.unlinked()
        self.save_link(tenant_id, invoice_id, unlinked, link)
        return unlinked

    @staticmethod
    def from_item(tenant_id: str, item: dict[str, Any]) -> StoredInvoice | None:
        """The invoice an item of the table holds (an index read, say); None for a tombstone of an unknown one."""
        return _stored(tenant_id, item) if "number" in item else None


def _objects(link: InvoiceLink) -> set[tuple[str, str]]:
    return {(QB_INVOICE, w.qb_id) for w in link.parts.values()} | {
        (QB_PAYMENT, w.qb_id) for w in link.payments.values()
    }


def _written_item(written: Written) -> dict[str, Any]:
    return {
        "qbId": written.qb_id,
        "syncToken": written.sync_token,
        "fp": written.fingerprint,
        "amounts": dict(written.amounts),
    }


def _written(item: dict[str, Any]) -> Written:
    return Written(
        qb_id=str(item["qbId"]),
        sync_token=str(item.get("syncToken", "0")),
        fingerprint=str(item["fp"]),
        amounts={str(k): Decimal(str(v)) for k, v in (item.get("amounts") or {}).items()},
    )


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _link_item(link: InvoiceLink) -> dict[str, Any]:
    return {
        "status": link.status.value,
        "customerId": link.customer_id,
        "parts": {key: _written_item(w) for key, w in link.parts.items()},
        "payments": {key: _written_item(w) for key, w in link.payments.items()},
        "partNumbers": dict(link.part_numbers),
        "generations": dict(link.generations),
        "pending": dict(link.pending),
        "former": {target: _written_item(w) for target, w in link.former.items()},
        "syncedAt": _time(link.synced_at),
        "syncedVersion": link.synced_version,
        "lastError": link.last_error,
    }


def _link(realm_id: str, item: dict[str, Any]) -> InvoiceLink:
    synced_at = item.get("syncedAt")
    version = item.get("syncedVersion")
    return InvoiceLink(
        realm_id=realm_id,
        status=SyncStatus(item.get("status", SyncStatus.UNSYNCED.value)),
        customer_id=item.get("customerId"),
        parts={str(k): _written(v) for k, v in (item.get("parts") or {}).items()},
        payments={str(k): _written(v) for k, v in (item.get("payments") or {}).items()},
        part_numbers={str(k): int(v) for k, v in (item.get("partNumbers") or {}).items()},
        generations={str(k): int(v) for k, v in (item.get("generations") or {}).items()},
        pending={str(k): str(v) for k, v in (item.get("pending") or {}).items()},
        former={str(k): _written(v) for k, v in (item.get("former") or {}).items()},
        synced_at=datetime.fromisoformat(str(synced_at)) if synced_at else None,
        synced_version=int(version) if version is not None else None,
        last_error=item.get("lastError"),
    )


def _stored_or_none(tenant_id: str, item: dict[str, Any] | None, with_deleted: bool) -> StoredInvoice | None:
    if item is None or "number" not in item:
        return None  # unknown, or a tombstone of an invoice we never had a copy of
    stored = _stored(tenant_id, item)
    if stored.deleted and not with_deleted:
        return None
    return stored


def _stored(tenant_id: str, item: dict[str, Any]) -> StoredInvoice:
    fields = {k: v for k, v in item.items() if not k.startswith(LINK_ATTRIBUTE_PREFIX)}
    invoice = Invoice.model_validate({**fields, "tenantId": tenant_id, "version": int(item.get("version", 0))})
    links = {
        name.removeprefix(LINK_ATTRIBUTE_PREFIX): _link(name.removeprefix(LINK_ATTRIBUTE_PREFIX), value)
        for name, value in item.items()
        if name.startswith(LINK_ATTRIBUTE_PREFIX) and isinstance(value, dict)
    }
    amount = Decimal(str(item.get("amount", sum((t.amount for t in invoice.transactions), Decimal("0")))))
    paid = Decimal(str(item.get("paid", sum((p.amount for p in invoice.payments), Decimal("0")))))
    return StoredInvoice(
        invoice=invoice,
        version=int(item.get("version", 0)),
        amount=amount,
        paid=paid,
        links=links,
        deleted=bool(item.get("deleted")),
    )


def with_error(link: InvoiceLink, error: str) -> InvoiceLink:
    """The link after a refused sync: ``failed`` with QuickBooks' words (what was written stays tracked)."""
    return replace(link, status=SyncStatus.FAILED, last_error=error)

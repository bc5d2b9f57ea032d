"""Automatic sync (guide: "Automatically create invoices for synced customers"; contract: "Automatic sync").

With ``autoCreateInvoices`` on, a changed invoice of a linked client with an email is synced without the user,
by the same sync as "Sync with QB" (its lease, exactly once, status and ``lastError`` on the invoice)::

    InvoiceUpserted (applied) ── the upsert puts it in the index as due (shared.store.auto_sync), in the same write
        └─ invoice_changed: setting on, connected, client linked, email? ─ yes ─▶ InvoiceSyncMessage on the bulk
                                                                                    queue (queued within seconds)
                                                                         ─ no ──▶ waiting under its client; the
                                                                                    tab shows why (lastError)
                                                      (setting off, not connected: out of the index, no note)
    bulk worker ── run: the setting, the connection and the client checked again ─▶ sync_invoice
        synced ......... the index entry goes (settle, by the sync itself: "Sync with QB" settles it too)
        busy ........... back to SQS later (the worker); on the last receive: gave_up, counted as a failure
        refused ........ failed with QuickBooks' words (by the sync); counted; the sweep tries again
    auto-invoice-sync (every 15 minutes) ── sweep: each due shard, a page at a time, within SHARD_BUDGET
        due, not in flight ................ queued again (a lost message, a failure: after MAX_AUTO_FAILURES of the
                                            same version it is left failed until it changes or the user syncs it)
        a client linked or changed ........ its waiting invoices looked at again
        the setting turned on, a connection made (same company or another), the backfill
                                            catch-up: the tenant's own invoices, a Query page at a time; those
                                            unsynced, failed or changed in the connected company are decided
        deleted in Books360, deletion failed  InvoiceDeletionMessage again while something is still linked

Each tenant's part of a page runs on its own: one that fails is logged and counted and the others go on. Work is
kept as it is done: a marker's progress (the last invoice looked at) after each page, the marker cleared once
done (both only if the marker was not set again meanwhile), each shard's cursor when its budget runs out; a huge
backlog moves on run after run instead of starting over.

Off: nothing reaches QuickBooks by events or the schedule, and nothing is noted on the invoices (the user asked
for that); nor is anything kept in the index: turning the setting on catches up every invoice of the tenant.

Not pending: a payment deleted in QuickBooks (webhook) leaves the invoice synced at the same version. The
accountant deleted it on purpose in QuickBooks; automatic sync does not fight them ("Sync with QB" writes it
again). Nor is an invoice ``deleted_in_qb``: the user unlinks it, which makes it due again.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from itertools import groupby
from typing import TYPE_CHECKING

from shared.domain.auto_sync import MAX_AUTO_FAILURES, NOT_AUTOMATIC, needs_sync, verdict
from shared.domain.connection import ConnectionStatus
from shared.domain.invoices import InvoiceLink, SyncStatus
from shared.domain.jobs import InvoiceDeletionMessage, InvoiceSyncMessage
from shared.domain.parties import CUSTOMER
from shared.errors import AppError, Busy, InvalidInput
from shared.observability import logger, metrics
from shared.services.invoices import Known, SyncInProgress, sync_invoice
from shared.services.job_items import busy_while_held
from shared.store.auto_sync import BACKFILL_GENERATION, SHARDS, DueInvoice, Marker, SweepState
from shared.store.invoices import invoice_lease

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from shared.domain.connection import Connection
    from shared.quickbooks.client import QuickBooksClient
    from shared.services.invoices import InvoiceStores
    from shared.store.auto_sync import AutoSyncStore, InvoicePage, SweepEntry
    from shared.store.bulk_queue import BulkQueue
    from shared.store.invoices import StoredInvoice

IN_FLIGHT = timedelta(hours=1)
"""A queued sync not done after this long was lost (a message outlives 5 receives of 6 minutes at most)."""
NOTE_LEASE_SECONDS = 20
PAGE = 200
"""Items read by one Query page of the sweep (a due shard, a client's waiting invoices, a tenant's invoices)."""
SHARD_BUDGET = 1000
"""Items one run reads from a shard and for what its entries name (waiting invoices, a catch-up): with SHARDS
shards at most 8,000 invoices a run, each at most a few writes, well within the function's 300 s. A catch-up of
50,000 invoices takes some runs (the shard's other tenants are served on the way), never one that times out."""


@dataclass(frozen=True)
class SweepReport:
    tenants: int
    queued: int
    deletions: int
    waiting: int
    tenants_failed: int = 0
    unfinished_shards: int = 0  # shards whose budget ran out: the next run goes on where this one stopped


@dataclass
class _Tally:
    tenants: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    queued: int = 0
    deletions: int = 0
    waiting: int = 0
    seen: set[tuple[str, str]] = field(default_factory=set)  # (tenant, invoice) decided in this run

    def unseen(self, invoices: list[DueInvoice]) -> list[DueInvoice]:
        """Those not decided yet in this run (a catch-up and a client's marker may both name one), now seen."""
        fresh = [d for d in invoices if (d.tenant_id, d.invoice_id) not in self.seen]
        self.seen.update((d.tenant_id, d.invoice_id) for d in fresh)
        return fresh

    def decided(self, queued: int, waiting: int) -> None:
        self.queued += queued
        self.waiting += waiting


@dataclass
class _Budget:
    left: int

    def page(self) -> int:
        return min(PAGE, self.left)

    def spend(self, items: int) -> None:
        self.left -= max(items, 1)


@dataclass(frozen=True)
class AutoSync:
    """The use cases of automatic sync, over the invoice stores, the index and the bulk queue."""

    stores: InvoiceStores
    index: AutoSyncStore
    queue: BulkQueue
    clock: Callable[[], datetime]

    # -- InvoiceUpserted -----------------------------------------------------------------------------------

    def invoice_changed(self, tenant_id: str, invoice_id: str, version: int) -> bool:
        """After an applied ``InvoiceUpserted``: queue its sync if automatic sync may make it (True), else keep
        it waiting, with why on the invoice. A newer version stored meanwhile is its own event's business."""
        read = self.stores.invoices.get_in_context(tenant_id, invoice_id)
        stored = read.stored
        if stored is None or stored.version != version:
            return False
        auto_on, realm_id = read.settings.auto_create_invoices, _connected_realm(read.connection)
        queued, _ = self._decide(tenant_id, [DueInvoice(stored)], auto_on=auto_on, realm_id=realm_id)
        return queued > 0

    # -- the bulk worker's InvoiceSyncMessage --------------------------------------------------------------

    def run(self, quickbooks_for: Callable[[Connection], QuickBooksClient], message: InvoiceSyncMessage) -> str:
        """Sync the invoice if automatic sync still may (checked again now: the setting may be off meanwhile);
        what became of it. Raises ``Busy`` (a 429, another sync holding it) for the worker to retry later."""
        tenant_id, invoice_id = message.tenant_id, message.invoice_id
        read = self.stores.invoices.get_in_context(tenant_id, invoice_id)
        stored = read.stored
        if stored is None:
            return "gone"  # unknown, or deleted in Books360 (its deletion has a message of its own)
        auto_on, realm_id = read.settings.auto_create_invoices, _connected_realm(read.connection)
        client = self.stores.parties.get(tenant_id, CUSTOMER, stored.invoice.client_id)
        decided = verdict(auto_on=auto_on, realm_id=realm_id, client=client)
        if not decided.due or realm_id is None:
            self._wait(DueInvoice(stored), realm_id, decided.note)
            return "waiting"
        settled = self._settled(stored, realm_id)
        if settled:
            return settled
        known = Known(client=client, settings=read.settings)
        try:
            with quickbooks_for(read.connection) as qbo:
                sync_invoice(
                    qbo, self.stores, tenant_id=tenant_id, invoice_id=invoice_id, now=self.clock(), known=known
                )
        except SyncInProgress as held:
            raise busy_while_held(self.stores, held, tenant_id=tenant_id, invoice_id=invoice_id) from held
        except Busy:
            raise
        except InvalidInput as refused:
            # Refused before anything was written (no transactions, say): the sync recorded nothing, so we do.
            reasons = " ".join(f"{e.field}: {e.message}" for e in refused.errors)
            self._note(tenant_id, invoice_id, realm_id, f"{NOT_AUTOMATIC}{refused.detail} {reasons}".strip())
            self._failed(stored, refused.detail)
            return "failed"
        except AppError as refused:
            # QuickBooks' refusal (recorded on the invoice by the sync), a conflict, not connected any more.
            self._failed(stored, refused.detail)
            return "failed"
        metrics.add_metric(name="InvoiceAutoSynced", unit="Count", value=1)
        return "synced"

    def gave_up(self, message: InvoiceSyncMessage, error: str) -> None:
        """Still busy on the message's last receive (or dead-lettered): the invoice lists why, as ``failed``,
        and stays due, so the sweep tries it again; never silently lost."""
        tenant_id, invoice_id = message.tenant_id, message.invoice_id
        stored = self.stores.invoices.get(tenant_id, invoice_id)
        if stored is None:
            return  # gone meanwhile: nothing to sync
        realm_id = self._realm(tenant_id)
        link = stored.link_in(realm_id)
        if realm_id is not None and (link is None or link.status is not SyncStatus.FAILED):
            self._note(tenant_id, invoice_id, realm_id, f"{NOT_AUTOMATIC}{error}", failed=True)
        self._failed(stored, error)

    def deletion_failed(self, message: InvoiceDeletionMessage) -> None:
        """The deletion in QuickBooks of an invoice Books360 deleted failed for good this time: due again, so
        the sweep queues it again while something is still linked (a few times, then it is logged and left)."""
        stored = self.stores.invoices.get(message.tenant_id, message.invoice_id, with_deleted=True)
        if stored is None or not stored.deleted:
            return  # brought back by Books360 meanwhile: its upsert made it due
        self.index.due(message.tenant_id, message.invoice_id, version=stored.version)
        self._failed(stored, "deletion in QuickBooks failed")

    # -- the auto-invoice-sync schedule --------------------------------------------------------------------

    def sweep(self) -> SweepReport:
        """Each due shard from where the last run stopped, within SHARD_BUDGET: queue what is due and not in
        flight, follow the markers (module docstring). Reads the index and what it names, never a Scan."""
        state = self.index.sweep_state()
        backfilled = state.backfilled
        if backfilled < BACKFILL_GENERATION and self._backfill():
            backfilled = BACKFILL_GENERATION
        tally = _Tally()
        cursors: dict[int, dict[str, str]] = {}
        for shard in range(SHARDS):
            cursor = self._sweep_shard(shard, state.cursors.get(shard), tally)
            if cursor is not None:
                cursors[shard] = cursor
        after = SweepState(cursors, backfilled)
        if after != state:
            self.index.save_sweep_state(after)
        report = SweepReport(
            len(tally.tenants), tally.queued, tally.deletions, tally.waiting, len(tally.failed), len(cursors)
        )
        if tally.tenants or tally.failed or cursors:
            logger.info("auto sync sweep", **asdict(report))
        return report

    def _sweep_shard(self, shard: int, after: dict[str, str] | None, tally: _Tally) -> dict[str, str] | None:
        """Pages of the shard until its end (None) or the budget's (where to go on next run)."""
        budget = _Budget(SHARD_BUDGET)
        while budget.left > 0:
            page = self.index.sweep_page(shard, after=after, limit=budget.page())
            budget.spend(len(page.entries))
            for tenant_id, entries in groupby(page.entries, key=lambda e: e.tenant_id):
                self._sweep_tenant(tenant_id, list(entries), budget, tally)
            after = page.after
            if after is None:
                return None
        return after

    def _sweep_tenant(self, tenant_id: str, entries: list[SweepEntry], budget: _Budget, tally: _Tally) -> None:
        """One tenant's entries of a page, on their own: a tenant that fails is logged and counted, and left
        as it is (its entries and markers stay) for the next run; the others go on."""
        try:
            auto_on = self.stores.settings.get(tenant_id).auto_create_invoices
            realm_id = self._realm(tenant_id)
            now = self.clock()
            ready = [e for e in entries if isinstance(e, DueInvoice) and not _in_flight(e, now)]
            deleted = [d.stored for d in ready if d.stored.deleted]
            tally.deletions += self._queue_deletions(tenant_id, realm_id, deleted, now=now)
            invoices = tally.unseen([d for d in ready if not d.stored.deleted])
            tally.decided(*self._decide(tenant_id, invoices, auto_on=auto_on, realm_id=realm_id))
            for marker in (e for e in entries if isinstance(e, Marker)):
                self._follow(marker, budget, tally, auto_on=auto_on, realm_id=realm_id)
        except Exception:  # isolation: whatever went wrong with this tenant, the others go on
            logger.exception("auto sync sweep of a tenant failed", tenant_id=tenant_id)
            metrics.add_metric(name="AutoSyncTenantFailed", unit="Count", value=1)
            tally.failed.add(tenant_id)
            return
        tally.tenants.add(tenant_id)

    def _follow(self, marker: Marker, budget: _Budget, tally: _Tally, *, auto_on: bool, realm_id: str | None) -> None:
        """Look at what the marker names (a client's waiting invoices; every invoice of the tenant), a page at a
        time, recording progress after each, and clear it when done. Off or not connected, nothing to look at:
        turning the setting on or connecting asks for a tenant catch-up of everything."""
        after = marker.after
        while auto_on and realm_id is not None:
            if budget.left <= 0:
                return  # the marker stays, with its progress, for the next run
            page = self._marker_page(marker, after, budget.page())
            budget.spend(page.read)
            now = self.clock()
            invoices = [d for d in page.invoices if not d.stored.deleted and not _in_flight(d, now)]
            if marker.client_id is None:  # a catch-up reads every invoice: only those with something to sync
                invoices = [d for d in invoices if needs_sync(d.stored.link_in(realm_id), d.stored.version)]
            invoices = tally.unseen(invoices)
            tally.decided(*self._decide(marker.tenant_id, invoices, auto_on=auto_on, realm_id=realm_id))
            if page.after is None:
                break
            after = page.after
            if not self.index.progress(marker, after):
                return  # set again meanwhile: the next run starts it over, as the newer marker asks
        if not self.index.clear(marker):
            logger.info("auto sync marker set again while followed", tenant_id=marker.tenant_id)

    def _marker_page(self, marker: Marker, after: str | None, limit: int) -> InvoicePage:
        if marker.client_id is None:
            return self.index.invoice_page(marker.tenant_id, after=after, limit=limit)
        return self.index.waiting_page(marker.tenant_id, marker.client_id, after=after, limit=limit)

    def _backfill(self) -> bool:
        """Once per BACKFILL_GENERATION: every connected tenant gets a catch-up (invoices stored before the index,
        or in the first release's unsharded partition, which is emptied); through the index of connected tenants.
        False when it did not get through: the next run does it again (a marker already set is left as it is),
        and this one sweeps the shards all the same."""
        try:
            moved = self.index.move_legacy()
            tenants = self.stores.connections.connected_tenants()
            marked = sum(self.index.mark_tenant(tenant_id, unless_marked=True) for tenant_id in tenants)
        except Exception:  # the shards' own work must not wait on it
            logger.exception("auto sync backfill failed")
            metrics.add_metric(name="AutoSyncBackfillFailed", unit="Count", value=1)
            return False
        logger.info("auto sync backfill", tenants_marked=marked, legacy_entries=moved)
        return True

    def _queue_deletions(
        self, tenant_id: str, realm_id: str | None, deleted: list[StoredInvoice], *, now: datetime
    ) -> int:
        if realm_id is None:
            return 0  # not connected: the deletion waits (its entry stays) until the tenant connects again
        messages = []
        for stored in deleted:
            link = stored.link_in(realm_id)
            invoice_id = stored.invoice.invoice_id
            if link is None or not (link.linked or link.pending or link.former):
                self.index.settle(tenant_id, invoice_id, stored.version)
                continue
            if self.index.due(tenant_id, invoice_id, version=stored.version, queued_at=now):
                messages.append(InvoiceDeletionMessage(tenant_id=tenant_id, invoice_id=invoice_id, realm_id=realm_id))
        unsent = self.queue.send(messages)
        for failure in unsent:
            self.index.due(tenant_id, failure.message.invoice_id)
        if messages:
            logger.warning("invoice deletions queued again", tenant_id=tenant_id, deletions=len(messages))
        return len(messages) - len(unsent)

    # -- deciding and queueing -----------------------------------------------------------------------------

    def _decide(
        self, tenant_id: str, invoices: list[DueInvoice], *, auto_on: bool, realm_id: str | None
    ) -> tuple[int, int]:
        """Queue the sync of those automatic sync may make; the others wait, with why (or, off or not connected,
        leave the index). The numbers queued and left waiting."""
        if not invoices:
            return 0, 0
        client_ids = {d.stored.invoice.client_id for d in invoices}
        clients = self.stores.parties.get_many(tenant_id, CUSTOMER, client_ids) if auto_on and realm_id else {}
        due: list[StoredInvoice] = []
        waiting = 0
        for entry in invoices:
            stored = entry.stored
            decided = verdict(auto_on=auto_on, realm_id=realm_id, client=clients.get(stored.invoice.client_id))
            if not decided.due or realm_id is None:
                self._wait(entry, realm_id, decided.note)
                waiting += 1
            elif not self._settled(stored, realm_id):
                due.append(stored)
        return self._queue(tenant_id, realm_id, due), waiting

    def _queue(self, tenant_id: str, realm_id: str | None, invoices: list[StoredInvoice]) -> int:
        now = self.clock()
        marked = [
            s for s in invoices if self.index.due(tenant_id, s.invoice.invoice_id, version=s.version, queued_at=now)
        ]
        messages = [
            InvoiceSyncMessage(tenant_id=tenant_id, invoice_id=s.invoice.invoice_id, realm_id=realm_id) for s in marked
        ]
        unsent = self.queue.send(messages)
        for failure in unsent:
            # Left due and unqueued: the next sweep sends it.
            self.index.due(tenant_id, failure.message.invoice_id)
            logger.warning("invoice sync not queued", invoice_id=failure.message.invoice_id, reason=failure.reason)
        sent = len(messages) - len(unsent)
        if sent:
            metrics.add_metric(name="InvoiceAutoSyncQueued", unit="Count", value=sent)
            logger.info("invoice syncs queued", tenant_id=tenant_id, invoices=sent)
        return sent

    def _settled(self, stored: StoredInvoice, realm_id: str) -> str | None:
        """Nothing for automatic sync to do after all: this version is synced (a repeated message), or what was
        written was deleted in QuickBooks (the user unlinks it first). Its entry goes."""
        link = stored.link_in(realm_id)
        tenant_id, invoice_id = stored.invoice.tenant_id, stored.invoice.invoice_id
        if link is not None and link.status is SyncStatus.DELETED_IN_QB:
            self.index.settle(tenant_id, invoice_id, stored.version)
            return "deleted_in_qb"
        if not needs_sync(link, stored.version):
            self.index.settle(tenant_id, invoice_id, stored.version)
            return "unchanged"
        return None

    def _wait(self, entry: DueInvoice, realm_id: str | None, note: str | None) -> None:
        """Off or not connected: out of the index (a catch-up brings it back); else waiting under its client."""
        stored = entry.stored
        tenant_id, invoice_id = stored.invoice.tenant_id, stored.invoice.invoice_id
        if note is None or realm_id is None:
            self.index.settle(tenant_id, invoice_id, stored.version)
            return
        if not entry.waiting:
            self.index.waiting(tenant_id, invoice_id, stored.invoice.client_id, version=stored.version)
        link = stored.link_in(realm_id)
        if link is None or link.last_error != note:
            self._note(tenant_id, invoice_id, realm_id, note)

    def _note(self, tenant_id: str, invoice_id: str, realm_id: str, note: str, *, failed: bool = False) -> None:
        """Show why on the invoice (``lastError``; ``failed`` too when asked), under the invoice's lease as every
        writer of its link; a sync holding it right now is left alone (its outcome is what the tab shows)."""
        owner, lease = uuid.uuid4().hex, invoice_lease(invoice_id)
        if not self.stores.leases.acquire(tenant_id, lease, owner, seconds=NOTE_LEASE_SECONDS):
            return
        try:
            stored = self.stores.invoices.get(tenant_id, invoice_id)
            if stored is None:
                return
            link = stored.link_in(realm_id)
            current = link or InvoiceLink(realm_id=realm_id)
            noted = replace(current, last_error=note, status=SyncStatus.FAILED if failed else current.status)
            if noted != current:
                self.stores.invoices.save_link(tenant_id, invoice_id, noted, link)
        finally:
            self.stores.leases.release(tenant_id, lease, owner)

    def _failed(self, stored: StoredInvoice, error: str) -> None:
        """A try of this version failed: counted (a newer version keeps its own tries); given up after
        MAX_AUTO_FAILURES, out of the index until it changes."""
        tenant_id, invoice_id = stored.invoice.tenant_id, stored.invoice.invoice_id
        failures = self.index.failed(tenant_id, invoice_id, version=stored.version)
        metrics.add_metric(name="InvoiceAutoSyncFailed", unit="Count", value=1)
        logger.warning("automatic invoice sync failed", invoice_id=invoice_id, failures=failures, error=error)
        if failures >= MAX_AUTO_FAILURES:
            self.index.settle(tenant_id, invoice_id, stored.version)
            logger.error("automatic invoice sync given up", invoice_id=invoice_id, failures=failures)

    def _realm(self, tenant_id: str) -> str | None:
        return _connected_realm(self.stores.connections.get(tenant_id))


def _connected_realm(connection: Connection) -> str | None:
    """The connected company, or None when the tenant is not connected (or must connect again)."""
    return connection.realm_id if connection.status is ConnectionStatus.CONNECTED else None


def _in_flight(entry: DueInvoice, now: datetime) -> bool:
    """Queued a moment ago: its message is on its way."""
    return entry.queued_at is not None and now - entry.queued_at <= IN_FLIGHT

"""Automatic sync (guide: "Automatically create invoices for synced customers"; contract: "Automatic sync").

With ``autoCreateInvoices`` on, a changed invoice of a linked client with an email is synced without the user,
by the same sync as "Sync with QB" (its lease, exactly once, status and ``lastError`` on the invoice)::

    InvoiceUpserted (applied) ── the upsert puts it in the index as due (shared.store.auto_sync), in the same write
        └─ invoice_changed: setting on, connected, client linked, email? ─ yes ─▶ InvoiceSyncMessage on the bulk
                                                                                    queue (queued within seconds)
                                                                         ─ no ──▶ waiting under its client; the
                                                                                    tab shows why (lastError)
    bulk worker ── run: the setting, the connection and the client checked again ─▶ sync_invoice
        synced ......... the index entry goes (settle, by the sync itself: "Sync with QB" settles it too)
        busy ........... back to SQS later (the worker); on the last receive: gave_up, counted as a failure
        refused ........ failed with QuickBooks' words (by the sync); counted; the sweep tries again
    auto-invoice-sync (every 15 minutes) ── sweep: the index's due partition only
        due, not in flight ................ queued again (a lost message, a failure: after MAX_AUTO_FAILURES of the
                                            same version it is left failed until it changes or the user syncs it)
        a client linked or changed ........ its waiting invoices looked at again
        the setting turned on ............. every waiting invoice of the tenant looked at again
        deleted in Books360, deletion failed  InvoiceDeletionMessage again while something is still linked

Off: nothing reaches QuickBooks by events or the schedule, and nothing is noted on the invoices (the user asked
for that); they wait in the index, so turning the setting on catches them up without reading anything else.

Not pending: a payment deleted in QuickBooks (webhook) leaves the invoice synced at the same version. The
accountant deleted it on purpose in QuickBooks; automatic sync does not fight them ("Sync with QB" writes it
again). Nor is an invoice ``deleted_in_qb``: the user unlinks it, which makes it due again.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.domain.auto_sync import MAX_AUTO_FAILURES, NOT_AUTOMATIC, verdict
from shared.domain.connection import ConnectionStatus
from shared.domain.invoices import InvoiceLink, SyncStatus
from shared.domain.jobs import InvoiceDeletionMessage, InvoiceSyncMessage
from shared.domain.parties import CUSTOMER
from shared.errors import AppError, Busy, InvalidInput
from shared.observability import logger, metrics
from shared.services.invoices import SyncInProgress, sync_invoice
from shared.services.job_items import busy_while_held
from shared.store.auto_sync import CLIENT_PREFIX
from shared.store.books360 import INVOICE_PREFIX
from shared.store.invoices import InvoiceStore, invoice_lease
from shared.store.settings import SETTINGS_SK

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from shared.quickbooks.client import QuickBooksClient
    from shared.services.invoices import InvoiceStores
    from shared.store.auto_sync import AutoSyncStore, Entry
    from shared.store.bulk_queue import BulkQueue
    from shared.store.invoices import StoredInvoice

IN_FLIGHT = timedelta(hours=1)
"""A queued sync not done after this long was lost (a message outlives 5 receives of 6 minutes at most)."""
NOTE_LEASE_SECONDS = 20


@dataclass(frozen=True)
class SweepReport:
    tenants: int
    queued: int
    deletions: int
    waiting: int


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
        stored = self.stores.invoices.get(tenant_id, invoice_id)
        if stored is None or stored.version != version:
            return False
        auto_on = self.stores.settings.get(tenant_id).auto_create_invoices
        return self._decide(tenant_id, [stored], auto_on=auto_on, realm_id=self._realm(tenant_id)) > 0

    # -- the bulk worker's InvoiceSyncMessage --------------------------------------------------------------

    def run(self, quickbooks_for: Callable[[str], QuickBooksClient], message: InvoiceSyncMessage) -> str:
        """Sync the invoice if automatic sync still may (checked again now: the setting may be off meanwhile);
        what became of it. Raises ``Busy`` (a 429, another sync holding it) for the worker to retry later."""
        tenant_id, invoice_id = message.tenant_id, message.invoice_id
        stored = self.stores.invoices.get(tenant_id, invoice_id)
        if stored is None:
            return "gone"  # unknown, or deleted in Books360 (its deletion has a message of its own)
        auto_on = self.stores.settings.get(tenant_id).auto_create_invoices
        realm_id = self._realm(tenant_id)
        client = self.stores.parties.get(tenant_id, CUSTOMER, stored.invoice.client_id)
        decided = verdict(auto_on=auto_on, realm_id=realm_id, client=client)
        if not decided.due or realm_id is None:
            self._wait(stored, realm_id, decided.note)
            return "waiting"
        settled = self._settled(stored, realm_id)
        if settled:
            return settled
        try:
            with quickbooks_for(tenant_id) as qbo:
                sync_invoice(qbo, self.stores, tenant_id=tenant_id, invoice_id=invoice_id, now=self.clock())
        except SyncInProgress as held:
            raise busy_while_held(self.stores, held, tenant_id=tenant_id, invoice_id=invoice_id) from held
        except Busy:
            raise
        except InvalidInput as refused:
            # Refused before anything was written (no transactions, say): the sync recorded nothing, so we do.
            reasons = " ".join(f"{e.field}: {e.message}" for e in refused.errors)
            self._note(tenant_id, invoice_id, realm_id, f"{NOT_AUTOMATIC}{refused.detail} {reasons}".strip())
            self._failed(tenant_id, invoice_id, refused.detail)
            return "failed"
        except AppError as refused:
            # QuickBooks' refusal (recorded on the invoice by the sync), a conflict, not connected any more.
            self._failed(tenant_id, invoice_id, refused.detail)
            return "failed"
        metrics.add_metric(name="InvoiceAutoSynced", unit="Count", value=1)
        return "synced"

    def gave_up(self, message: InvoiceSyncMessage, error: str) -> None:
        """Still busy on the message's last receive (or dead-lettered): the invoice lists why, as ``failed``,
        and stays due, so the sweep tries it again; never silently lost."""
        tenant_id, invoice_id = message.tenant_id, message.invoice_id
        stored = self.stores.invoices.get(tenant_id, invoice_id)
        realm_id = self._realm(tenant_id)
        link = stored.link_in(realm_id) if stored else None
        if realm_id is not None and (link is None or link.status is not SyncStatus.FAILED):
            self._note(tenant_id, invoice_id, realm_id, f"{NOT_AUTOMATIC}{error}", failed=True)
        self._failed(tenant_id, invoice_id, error)

    def deletion_failed(self, message: InvoiceDeletionMessage) -> None:
        """The deletion in QuickBooks of an invoice Books360 deleted failed for good this time: due again, so
        the sweep queues it again while something is still linked (a few times, then it is logged and left)."""
        self.index.due(message.tenant_id, message.invoice_id)
        self._failed(message.tenant_id, message.invoice_id, "deletion in QuickBooks failed")

    # -- the auto-invoice-sync schedule --------------------------------------------------------------------

    def sweep(self) -> SweepReport:
        """Queue what is due and not in flight, and look again at what a linked or changed client, or the
        setting turned on, may have unblocked; reads only the index's due partition and what it names."""
        by_tenant: dict[str, list[Entry]] = defaultdict(list)
        for entry in self.index.sweep_entries():
            by_tenant[entry.tenant_id].append(entry)
        queued = deletions = waiting = 0
        for tenant_id, entries in sorted(by_tenant.items()):
            q, d, w = self._sweep_tenant(tenant_id, entries)
            queued, deletions, waiting = queued + q, deletions + d, waiting + w
        report = SweepReport(len(by_tenant), queued, deletions, waiting)
        if by_tenant:
            logger.info("auto sync sweep", tenants=report.tenants, queued=queued, deletions=deletions, waiting=waiting)
        return report

    def _sweep_tenant(self, tenant_id: str, entries: list[Entry]) -> tuple[int, int, int]:
        now = self.clock()
        auto_on = self.stores.settings.get(tenant_id).auto_create_invoices
        realm_id = self._realm(tenant_id)
        invoices: dict[str, StoredInvoice] = {}
        deleted: list[StoredInvoice] = []
        for entry in entries:
            if not entry.sk.startswith(INVOICE_PREFIX):
                continue
            stored = InvoiceStore.from_item(tenant_id, entry.item)
            if stored is None:
                continue
            if entry.queued_at is not None and now - entry.queued_at <= IN_FLIGHT:
                continue  # queued a moment ago: its message is on its way
            if stored.deleted:
                deleted.append(stored)
            else:
                invoices[stored.invoice.invoice_id] = stored
        markers = [e.sk for e in entries if not e.sk.startswith(INVOICE_PREFIX)]
        if auto_on and realm_id is not None:
            for waiting in self._unblocked(tenant_id, markers):
                invoices.setdefault(waiting.invoice.invoice_id, waiting)
        deletions = self._queue_deletions(tenant_id, realm_id, deleted, now=now)
        queued = self._decide(tenant_id, list(invoices.values()), auto_on=auto_on, realm_id=realm_id)
        for sk in markers:
            self.index.clear_marker(tenant_id, sk)
        return queued, deletions, len(invoices) - queued

    def _unblocked(self, tenant_id: str, markers: Iterable[str]) -> list[StoredInvoice]:
        """The waiting invoices the markers point at: all of the tenant's (setting turned on), or one client's."""
        found: list[Entry] = []
        if SETTINGS_SK in markers:
            found = self.index.waiting_invoices(tenant_id)
        else:
            for sk in markers:
                if sk.startswith(CLIENT_PREFIX):
                    found += self.index.waiting_invoices(tenant_id, sk.removeprefix(CLIENT_PREFIX))
        parsed = (InvoiceStore.from_item(tenant_id, e.item) for e in found)
        return [s for s in parsed if s is not None and not s.deleted]

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
                self.stores.invoices.settle(tenant_id, invoice_id, None)
                continue
            self.index.due(tenant_id, invoice_id, queued_at=now)
            messages.append(InvoiceDeletionMessage(tenant_id=tenant_id, invoice_id=invoice_id))
        unsent = self.queue.send(messages)
        for failure in unsent:
            self.index.due(tenant_id, failure.message.invoice_id)
        if messages:
            logger.warning("invoice deletions queued again", tenant_id=tenant_id, deletions=len(messages))
        return len(messages) - len(unsent)

    # -- deciding and queueing -----------------------------------------------------------------------------

    def _decide(self, tenant_id: str, invoices: list[StoredInvoice], *, auto_on: bool, realm_id: str | None) -> int:
        """Queue the sync of those automatic sync may make; the others wait, with why. The number queued."""
        if not invoices:
            return 0
        client_ids = {s.invoice.client_id for s in invoices}
        clients = self.stores.parties.get_many(tenant_id, CUSTOMER, client_ids) if auto_on and realm_id else {}
        due: list[StoredInvoice] = []
        for stored in invoices:
            decided = verdict(auto_on=auto_on, realm_id=realm_id, client=clients.get(stored.invoice.client_id))
            if not decided.due or realm_id is None:
                self._wait(stored, realm_id, decided.note)
            elif not self._settled(stored, realm_id):
                due.append(stored)
        return self._queue(tenant_id, due)

    def _queue(self, tenant_id: str, invoices: list[StoredInvoice]) -> int:
        now = self.clock()
        marked = [
            s for s in invoices if self.index.due(tenant_id, s.invoice.invoice_id, version=s.version, queued_at=now)
        ]
        messages = [InvoiceSyncMessage(tenant_id=tenant_id, invoice_id=s.invoice.invoice_id) for s in marked]
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
            self.index.drop(tenant_id, invoice_id)
            return "deleted_in_qb"
        if link is not None and link.status is SyncStatus.SYNCED and link.synced_version == stored.version:
            self.stores.invoices.settle(tenant_id, invoice_id, stored.version)
            return "unchanged"
        return None

    def _wait(self, stored: StoredInvoice, realm_id: str | None, note: str | None) -> None:
        tenant_id, invoice_id = stored.invoice.tenant_id, stored.invoice.invoice_id
        self.index.waiting(tenant_id, invoice_id, stored.invoice.client_id, version=stored.version)
        if note is not None and realm_id is not None:
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

    def _failed(self, tenant_id: str, invoice_id: str, error: str) -> None:
        failures = self.index.failed(tenant_id, invoice_id)
        metrics.add_metric(name="InvoiceAutoSyncFailed", unit="Count", value=1)
        logger.warning("automatic invoice sync failed", invoice_id=invoice_id, failures=failures, error=error)
        if failures >= MAX_AUTO_FAILURES:
            self.index.drop(tenant_id, invoice_id)
            logger.error("automatic invoice sync given up", invoice_id=invoice_id, failures=failures)

    def _realm(self, tenant_id: str) -> str | None:
        """The connected company, or None when the tenant is not connected (or must connect again)."""
        connection = self.stores.connections.get(tenant_id)
        return connection.realm_id if connection.status is ConnectionStatus.CONNECTED else None

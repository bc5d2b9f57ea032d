"""What one item of each job kind does: the runners the bulk worker picks by the message's ``kind``.

Customers and vendors are one runner over ``PARTY_KINDS``; invoices have their own (``invoice_runner``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.domain.jobs import ItemOutcome, ItemStatus
from shared.domain.parties import PARTY_KINDS
from shared.errors import AlreadyLinked, Busy, Conflict, InvalidInput, NotFound, QuickBooksRejected
from shared.services.invoices import LEASE_SECONDS, SyncInProgress, sync_invoice
from shared.services.parties import create_and_link

if TYPE_CHECKING:
    from datetime import datetime

    from shared.domain.jobs import BulkItemMessage
    from shared.domain.parties import PartyKind
    from shared.quickbooks.client import QuickBooksClient
    from shared.services.bulk_worker import ItemRunner
    from shared.services.invoices import InvoiceStores
    from shared.store.parties import PartyStore

INVOICES_JOB_KIND = "invoices"
"""The job kind of "Bulk Change" > "Sync invoice" (contract: "Bulk jobs")."""


def party_runner(kind: PartyKind, parties: PartyStore) -> ItemRunner:
    """Create the QuickBooks customer (vendor) of one Books360 client (vendor) and link it ("Create and sync")."""

    def run(qbo: QuickBooksClient, message: BulkItemMessage, job_created_at: datetime, now: datetime) -> ItemOutcome:
        try:
            linked = create_and_link(kind, qbo, parties, tenant_id=message.tenant_id, party_id=message.item_id, now=now)
        except AlreadyLinked as already:
            # Linked to an object we created since the job began: an earlier delivery of this very item did it,
            # then stopped before recording its outcome. That is this item's success, not a skip.
            party = parties.get(message.tenant_id, kind, message.item_id)
            link = party.link_in(qbo.realm_id) if party else None
            if link is not None and link.created and link.synced_at >= job_created_at:
                return ItemOutcome.succeeded(link.qb_id)
            # Linked before the job began: nothing to create, the item is skipped.
            return ItemOutcome.skipped(already.detail, qb_id=already.qb_id)
        return ItemOutcome.succeeded(linked.qb_id)

    return run


def party_runners(parties: PartyStore) -> dict[str, ItemRunner]:
    """One runner per party kind, keyed by its job kind (``customers``, ``vendors``)."""
    return {kind.job_kind: party_runner(kind, parties) for kind in PARTY_KINDS.values()}


SYNC_BUSY_MIN_WAIT = 5
SYNC_BUSY_MAX_WAIT = LEASE_SECONDS // 4
"""An invoice item that meets another sync's lease comes back when that lease lapses, but after 5 s at least (a
live sync takes seconds) and 30 s at most: the queue's 4 retries (5 receives) then outlast even the lease of a
holder that died (120 s), so the item still syncs instead of failing."""


def busy_while_held(stores: InvoiceStores, held: SyncInProgress, *, tenant_id: str, invoice_id: str) -> Busy:
    """A queued sync that met another sync's lease: ``Busy``, back when that lease lapses (5 s to 30 s)."""
    left = stores.leases.seconds_left(tenant_id, f"invoice#{invoice_id}") or 0
    return Busy(held.detail, retry_after=max(SYNC_BUSY_MIN_WAIT, min(left + 1, SYNC_BUSY_MAX_WAIT)))


def invoice_runner(stores: InvoiceStores) -> ItemRunner:
    """Sync one Books360 invoice ("Sync with QB" for one item of the job): creating and linking its client's
    customer first when needed (items of one client race for it; ``ensure_linked`` makes it once).

    Rules of the item: ``succeeded`` with the first QuickBooks invoice id (an invoice already synced is brought up to
    date, never written twice, and succeeds the same); another sync holding the invoice is ``Busy`` (the message
    comes back later), not a failure; a Books360 problem (``client.email``: 422), a conflict (409) or QuickBooks'
    refusal (502) fails the item with the problem's detail, in QuickBooks' words for a refusal. A 429 or what stays
    down after the client's retries is ``Busy`` as it comes (the worker gives up on the queue's last receive).
    """

    def run(qbo: QuickBooksClient, message: BulkItemMessage, job_created_at: datetime, now: datetime) -> ItemOutcome:
        tenant_id, invoice_id = message.tenant_id, message.item_id
        try:
            synced = sync_invoice(qbo, stores, tenant_id=tenant_id, invoice_id=invoice_id, now=now)
        except SyncInProgress as held:
            raise busy_while_held(stores, held, tenant_id=tenant_id, invoice_id=invoice_id) from held
        except InvalidInput as refused:
            return ItemOutcome.failed(_with_fields(refused))
        except (NotFound, Conflict, QuickBooksRejected) as refused:
            return ItemOutcome.failed(refused.detail)
        if not synced.qb_invoice_ids:  # never for an invoice with transactions; kept honest all the same
            return ItemOutcome(ItemStatus.SUCCEEDED)
        return ItemOutcome.succeeded(synced.qb_invoice_ids[0])

    return run


def _with_fields(error: InvalidInput) -> str:
    """The 422's detail with what each field is missing (``client.email``: the client has no email)."""
    reasons = " ".join(f"{e.field}: {e.message}" for e in error.errors)
    return f"{error.detail} {reasons}" if reasons else error.detail

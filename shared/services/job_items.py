"""What one item of each job kind does: the runners the bulk worker picks by the message's ``kind``.

Customers and vendors are one runner over ``PARTY_KINDS``; invoices bring their own when their bulk sync lands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.domain.jobs import ItemOutcome
from shared.domain.parties import PARTY_KINDS
from shared.errors import AlreadyLinked
from shared.services.parties import create_and_link

if TYPE_CHECKING:
    from datetime import datetime

    from shared.domain.jobs import BulkItemMessage
    from shared.domain.parties import PartyKind
    from shared.quickbooks.client import QuickBooksClient
    from shared.services.bulk_worker import ItemRunner
    from shared.store.parties import PartyStore


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

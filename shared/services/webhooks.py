"""Intuit webhooks (contract: "Intuit webhooks"): verify, read either format, apply each event once per tenant.

One delivery::

    signature ... base64 HMAC-SHA256 of the raw body under the verifier token ── else 401, nothing read or stored
    parse ....... the CloudEvents array or the classic eventNotifications ── else 400
    per event ... the tenants connected to its company (none: acknowledged and ignored), then per tenant:
                  seen already? skip ── else apply its effect ── then record its id (``WebhookEventStore``)

Effects (nothing is ever unlinked without the user):

* a linked customer or vendor deleted (made inactive) or merged away: its link shows ``deleted_in_qb``
  (``PartyStore.mark_deleted_in_qb``);
* a linked QuickBooks invoice deleted: the Books360 invoice shows ``deleted_in_qb``; voided: it stays as it was
  (``synced``) with a ``lastError`` saying it was voided; a linked payment deleted or voided: dropped from the link
  with a ``lastError`` saying so, and written again (a new object) by the next sync
  (``InvoiceStore.mark_gone_in_qb``, ``shared.domain.webhooks.invoice_link_after``).

Effect first, record after: a failure in between leaves the event unrecorded, so Intuit's retry applies it
again (every mark is idempotent) rather than ignoring it as a duplicate. A failure while applying answers an
error and records nothing. An invoice held by a sync (its lease) is not waited for: the other events of the
delivery are applied and recorded, and the delivery answers 503 at once (within Intuit's 3 s), so Intuit's retry
brings the held one back; the ones recorded are then skipped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.parties import PARTY_KINDS
from shared.domain.webhooks import (
    UnreadablePayload,
    parse_events,
    removed_object_id,
    signature_matches,
    transaction_gone,
)
from shared.errors import BadRequest, Busy, Unauthorized
from shared.observability import logger, metrics
from shared.store.invoices import InvoiceHeld

if TYPE_CHECKING:
    from datetime import datetime

    from shared.domain.webhooks import ChangeEvent
    from shared.store.connection import ConnectionStore
    from shared.store.invoices import InvoiceStore
    from shared.store.leases import LeaseStore
    from shared.store.parties import PartyStore
    from shared.store.webhook_events import WebhookEventStore

HELD_RETRY_AFTER = 10
"""``Retry-After`` of the 503 a held invoice causes (Intuit retries after 10 s first, whatever we say)."""


@dataclass(frozen=True)
class WebhookStores:
    """What the webhook reads and marks, built once per container (``shared.wiring.webhook_stores``)."""

    connections: ConnectionStore
    events: WebhookEventStore
    parties: PartyStore
    invoices: InvoiceStore
    leases: LeaseStore


@dataclass(frozen=True)
class WebhookReceived:
    events: int
    new: int
    ignored: int


class InvoiceBeingSynced(Busy):
    """An event concerns an invoice someone holds right now (a sync): Intuit's retry applies it."""

    type = "/problems/invoice-being-synced"
    title = "An invoice this webhook concerns is being synced"


def receive_webhook(
    stores: WebhookStores,
    *,
    raw_body: bytes,
    signature: str | None,
    verifier_token: str,
    now: datetime,
) -> WebhookReceived:
    """Nothing is read or stored unless the signature matches the raw body; unknown companies are ignored.

    Raises ``Unauthorized`` (401), ``BadRequest`` (400), ``InvoiceBeingSynced`` (503, the events it names are
    not recorded); any failure while applying an event propagates with that event unrecorded.
    """
    if not signature_matches(raw_body, signature, verifier_token):
        metrics.add_metric(name="WebhookBadSignature", unit="Count", value=1)
        raise Unauthorized("The intuit-signature header does not match the body.")
    try:
        changes = parse_events(raw_body)
    except UnreadablePayload as exc:
        raise BadRequest(f"The webhook body is not an Intuit payload: {exc}.") from exc
    new = ignored = 0
    held: list[InvoiceHeld] = []
    tenants_by_realm: dict[str, list[str]] = {}
    for change in changes:
        if change.realm_id not in tenants_by_realm:
            tenants_by_realm[change.realm_id] = stores.connections.tenants_of_realm(change.realm_id)
        tenants = tenants_by_realm[change.realm_id]
        if not tenants:
            ignored += 1
        for tenant in tenants:
            if has_effect(change):
                if stores.events.seen(tenant, change.event_id):
                    continue
                try:
                    _apply(stores, tenant, change)
                except InvoiceHeld as busy:
                    held.append(busy)
                    continue  # not recorded: Intuit's retry applies it
            if stores.events.record(tenant, change, now):
                new += 1
    # Counts only: webhook bodies name customers and amounts, so they never reach the log.
    logger.info("webhook received", events=len(changes), new=new, ignored=ignored, held=len(held))
    if held:
        metrics.add_metric(name="WebhookInvoiceHeld", unit="Count", value=len(held))
        raise InvoiceBeingSynced(
            f"{len(held)} event(s) concern an invoice being synced right now; deliver them again shortly.",
            retry_after=HELD_RETRY_AFTER,
        )
    return WebhookReceived(len(changes), new, ignored)


def has_effect(change: ChangeEvent) -> bool:
    """Whether the event changes a link (else it is only recorded)."""
    if transaction_gone(change) is not None:
        return True
    return any(removed_object_id(change, kind.qb_entity) is not None for kind in PARTY_KINDS.values())


def _apply(stores: WebhookStores, tenant_id: str, change: ChangeEvent) -> None:
    """The event's effect on the tenant's links (idempotent: applying it twice is applying it once)."""
    for kind in PARTY_KINDS.values():
        qb_id = removed_object_id(change, kind.qb_entity)
        if qb_id is not None and stores.parties.mark_deleted_in_qb(tenant_id, change.realm_id, kind, qb_id):
            metrics.add_metric(name="LinkDeletedInQuickBooks", unit="Count", value=1)
    gone = transaction_gone(change)
    if gone is not None:
        owner = uuid.uuid4().hex
        marked = stores.invoices.mark_gone_in_qb(stores.leases, tenant_id, change.realm_id, gone, owner=owner)
        if marked:
            name = f"{gone.qb_entity}{gone.what.capitalize()}InQuickBooks"  # e.g. PaymentDeletedInQuickBooks
            metrics.add_metric(name=name, unit="Count", value=len(marked))

"""Intuit webhooks (contract: "Intuit webhooks"): verify, read either format, record each event once per tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.parties import PARTY_KINDS
from shared.domain.webhooks import UnreadablePayload, parse_events, removed_object_id, signature_matches
from shared.errors import BadRequest, Unauthorized
from shared.observability import logger, metrics

if TYPE_CHECKING:
    from datetime import datetime

    from shared.domain.webhooks import ChangeEvent
    from shared.store.connection import ConnectionStore
    from shared.store.parties import PartyStore
    from shared.store.webhook_events import WebhookEventStore


@dataclass(frozen=True)
class WebhookReceived:
    events: int
    new: int
    ignored: int


def receive_webhook(
    connections: ConnectionStore,
    events: WebhookEventStore,
    parties: PartyStore,
    *,
    raw_body: bytes,
    signature: str | None,
    verifier_token: str,
    now: datetime,
) -> WebhookReceived:
    """Nothing is read or stored unless the signature matches the raw body; unknown companies are ignored."""
    if not signature_matches(raw_body, signature, verifier_token):
        metrics.add_metric(name="WebhookBadSignature", unit="Count", value=1)
        raise Unauthorized("The intuit-signature header does not match the body.")
    try:
        changes = parse_events(raw_body)
    except UnreadablePayload as exc:
        raise BadRequest(f"The webhook body is not an Intuit payload: {exc}.") from exc
    new = ignored = 0
    tenants_by_realm: dict[str, list[str]] = {}
    for change in changes:
        if change.realm_id not in tenants_by_realm:
            tenants_by_realm[change.realm_id] = connections.tenants_of_realm(change.realm_id)
        tenants = tenants_by_realm[change.realm_id]
        if not tenants:
            ignored += 1
        for tenant in tenants:
            if events.record(tenant, change, now):
                new += 1
                _mark_links(parties, tenant, change)
    # Counts only: webhook bodies name customers and amounts, so they never reach the log.
    logger.info("webhook received", events=len(changes), new=new, ignored=ignored)
    return WebhookReceived(len(changes), new, ignored)


def _mark_links(parties: PartyStore, tenant_id: str, change: ChangeEvent) -> None:
    """A linked customer or vendor deleted or merged away in QuickBooks shows ``deleted_in_qb``; nothing is unlinked."""
    for kind in PARTY_KINDS.values():
        qb_id = removed_object_id(change, kind.qb_entity)
        if qb_id is not None and parties.mark_deleted_in_qb(tenant_id, change.realm_id, kind, qb_id):
            metrics.add_metric(name="LinkDeletedInQuickBooks", unit="Count", value=1)

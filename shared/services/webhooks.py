"""Intuit webhooks (contract: "Intuit webhooks"): verify, read either format, record each event once per tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.webhooks import UnreadablePayload, parse_events, signature_matches
from shared.errors import BadRequest, Unauthorized
from shared.observability import logger, metrics

if TYPE_CHECKING:
    from datetime import datetime

    from shared.store.connection import ConnectionStore
    from shared.store.webhook_events import WebhookEventStore


@dataclass(frozen=True)
class WebhookReceived:
    events: int
    new: int
    ignored: int


def receive_webhook(
    connections: ConnectionStore,
    events: WebhookEventStore,
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
        new += sum(events.record(tenant, change, now) for tenant in tenants)
    # Counts only: webhook bodies name customers and amounts, so they never reach the log.
    logger.info("webhook received", events=len(changes), new=new, ignored=ignored)
    return WebhookReceived(len(changes), new, ignored)

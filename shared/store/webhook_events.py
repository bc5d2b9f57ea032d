"""Intuit webhook events, recorded once per tenant (``sk = QBEVENT#{eventId}``): a repeated delivery is a no-op.

An event is recorded only *after* its effect was applied (``shared.services.webhooks``): a failure in between
leaves it unrecorded, so Intuit's retry applies it again (the marks are idempotent) instead of being ignored as
a duplicate.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from shared.store.table import tenant_pk

if TYPE_CHECKING:
    from datetime import datetime

    from shared.domain.webhooks import ChangeEvent
    from shared.store.table import Table

# Intuit retries for about a day and a half; two weeks of memory covers every redelivery.
KEEP_FOR = timedelta(days=14)


class WebhookEventStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def seen(self, tenant_id: str, event_id: str) -> bool:
        """Whether the event was recorded for the tenant already (its effect applied): a consistent read."""
        return self.table.get(tenant_pk(tenant_id), f"QBEVENT#{event_id}") is not None

    def record(self, tenant_id: str, event: ChangeEvent, now: datetime) -> bool:
        """Store the event (once its effect is applied) unless it was stored before; True when it is new."""
        return self.table.put_new(
            {
                "pk": tenant_pk(tenant_id),
                "sk": f"QBEVENT#{event.event_id}",
                "realmId": event.realm_id,
                "entity": event.entity,
                "entityId": event.entity_id,
                "operation": event.operation,
                "deletedId": event.deleted_id,
                "occurredAt": event.occurred_at,
                "receivedAt": now.isoformat(),
                "status": "received",
                "expiresAt": int((now + KEEP_FOR).timestamp()),
            }
        )

    def recorded(self, tenant_id: str) -> list[dict[str, object]]:
        return self.table.query_prefix(tenant_pk(tenant_id), "QBEVENT#")

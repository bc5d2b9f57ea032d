"""OAuth ``state`` values: random, single use, ten minutes, bound to the tenant that asked.

The callback knows only the ``state`` (Intuit's redirect carries no token of ours), so these items are keyed by
the state itself rather than by tenant; the value is 256 random bits, and the item says whose it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.store.table import Table

STATE_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class PendingState:
    tenant_id: str
    created_at: datetime
    expires_at: datetime
    previous_status: str


def state_digest(state: str) -> str:
    """What we keep of a state: its SHA-256, so the raw value never rests in the table."""
    return hashlib.sha256(state.encode()).hexdigest()


def _key(state: str) -> tuple[str, str]:
    return f"OAUTHSTATE#{state_digest(state)}", "OAUTHSTATE"


class OAuthStateStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def put(self, state: str, tenant_id: str, now: datetime, *, previous_status: str) -> PendingState:
        pending = PendingState(tenant_id, now, now + STATE_LIFETIME, previous_status)
        pk, sk = _key(state)
        self.table.put(
            {
                "pk": pk,
                "sk": sk,
                "tenantId": tenant_id,
                "createdAt": now.isoformat(),
                "stateExpiresAt": pending.expires_at.isoformat(),
                "previousStatus": previous_status,
                "expiresAt": int(pending.expires_at.timestamp()),
            }
        )
        return pending

    def consume(self, state: str) -> PendingState | None:
        """Remove and return the state in one DeleteItem: a second use finds nothing."""
        item = self.table.pop(*_key(state))
        if item is None:
            return None
        return PendingState(
            tenant_id=item["tenantId"],
            created_at=datetime.fromisoformat(item["createdAt"]),
            expires_at=datetime.fromisoformat(item["stateExpiresAt"]),
            previous_status=item["previousStatus"],
        )

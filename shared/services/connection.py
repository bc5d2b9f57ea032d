"""Connection use cases (guide: "How to set up the QuickBooks integration")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.domain.connection import Connection
    from shared.store.connection import ConnectionStore


def get_connection(store: ConnectionStore, tenant_id: str) -> Connection:
    """The tenant's connection as the setup screen shows it; ``not_connected`` for a new tenant."""
    return store.get(tenant_id)

"""A tenant's QuickBooks connection and the states it moves through (guide: "How to set up")."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ConnectionStatus(StrEnum):
    NOT_CONNECTED = "not_connected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    REAUTHORIZATION_REQUIRED = "reauthorization_required"


class Connection(BaseModel):
    """What we know of one tenant's link to a QuickBooks company; tokens are never part of it."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    status: ConnectionStatus = ConnectionStatus.NOT_CONNECTED
    realm_id: str | None = None
    company_name: str | None = None
    connected_at: datetime | None = None
    lists_updated_at: datetime | None = None

    @property
    def active(self) -> bool:
        """The "Active" switch of the setup screen: on from the moment the admin enables it until disconnect."""
        return self.status is not ConnectionStatus.NOT_CONNECTED

    @classmethod
    def new(cls, tenant_id: str) -> Connection:
        """A tenant that never connected."""
        return cls(tenant_id=tenant_id)

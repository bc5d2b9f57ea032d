"""Pure domain: Books360 objects, QuickBooks documents, the mapping rules and statuses. No I/O here."""

from shared.domain.connection import Connection, ConnectionStatus
from shared.domain.types import QbId, TenantId

__all__ = ["Connection", "ConnectionStatus", "QbId", "TenantId"]

"""The tenant's connection record (``sk = CONN``). Tokens live in Secrets Manager, never here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.domain.connection import Connection, ConnectionStatus
from shared.store.table import tenant_pk

if TYPE_CHECKING:
    from shared.store.table import Table

CONNECTION_SK = "CONN"


class ConnectionStore:
    """Reads and writes ``Connection`` records of the one table."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, tenant_id: str) -> Connection:
        """The tenant's connection; a tenant that never connected gets a ``not_connected`` one."""
        item = self.table.get(tenant_pk(tenant_id), CONNECTION_SK)
        if item is None:
            return Connection.new(tenant_id)
        return Connection(
            tenant_id=tenant_id,
            status=ConnectionStatus(item["status"]),
            realm_id=item.get("realmId"),
            company_name=item.get("companyName"),
            connected_at=_parse_time(item.get("connectedAt")),
            lists_updated_at=_parse_time(item.get("listsUpdatedAt")),
        )

    def put(self, connection: Connection) -> None:
        """Store the whole record (the caller read it first; later issues add conditional transitions)."""
        self.table.put(_to_item(connection))


def _to_item(connection: Connection) -> dict[str, Any]:
    return {
        "pk": tenant_pk(connection.tenant_id),
        "sk": CONNECTION_SK,
        "status": connection.status.value,
        "realmId": connection.realm_id,
        "companyName": connection.company_name,
        "connectedAt": _format_time(connection.connected_at),
        "listsUpdatedAt": _format_time(connection.lists_updated_at),
    }


def _format_time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None

"""The tenant's connection record (``sk = CONN``). Tokens live in Secrets Manager, never here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.domain.connection import Connection, ConnectionStatus
from shared.store.table import ConditionFailed, TransactionRefused, tenant_pk

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from shared.store.table import Table

CONNECTION_SK = "CONN"
# Connected tenants carry a sparse index entry so the nightly jobs find them without a scan.
CONNECTED_INDEX = "CONNECTED"


class ConnectionStore:
    """Reads and writes ``Connection`` records of the one table."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, tenant_id: str) -> Connection:
        """The tenant's connection; a tenant that never connected gets a ``not_connected`` one."""
        return connection_from(tenant_id, self.table.get(tenant_pk(tenant_id), CONNECTION_SK))

    def put(self, connection: Connection) -> None:
        """Store the whole record (tests and first writes; transitions use the conditional methods below)."""
        self.table.put(_to_item(connection))

    def start_connecting(self, tenant_id: str, state_digest: str) -> None:
        """The admin switched the integration on: remember which OAuth state may complete it (the latest)."""
        self.table.update(
            tenant_pk(tenant_id),
            CONNECTION_SK,
            set_values={"status": ConnectionStatus.CONNECTING.value, "pendingState": state_digest},
        )

    def awaits(self, tenant_id: str, state_digest: str) -> bool:
        """Whether the tenant is connecting and ``state_digest`` is its latest state (none newer superseded it)."""
        item = self.table.get(tenant_pk(tenant_id), CONNECTION_SK)
        return bool(
            item
            and item.get("status") == ConnectionStatus.CONNECTING.value
            and item.get("pendingState") == state_digest
        )

    def complete(
        self,
        tenant_id: str,
        state_digest: str,
        realm_id: str,
        company_name: str,
        now: datetime,
        *,
        together: Iterable[Mapping[str, Any]] = (),
    ) -> bool:
        """Connected, if ``state_digest`` is still the tenant's pending one (a superseded state is refused).

        The realm pointer (which tenants a webhook of that company concerns) moves in the same transaction: a
        tenant that connects another company stops hearing about the one it left. ``together``: more
        ``Table.transact`` actions of that transaction (automatic sync's catch-up of the tenant).
        """
        previous_realm = self.get(tenant_id).realm_id
        connect = self.table.update_action(
            tenant_pk(tenant_id),
            CONNECTION_SK,
            set_values={
                "status": ConnectionStatus.CONNECTED.value,
                "realmId": realm_id,
                "companyName": company_name,
                "connectedAt": _format_time(now),
                "listsUpdatedAt": None,
                "gsi1pk": CONNECTED_INDEX,
                "gsi1sk": tenant_id,
            },
            remove=["pendingState"],
            condition="#pendingState = :state",
            values={"state": state_digest},
        )
        pointer = {"pk": _realm_pk(realm_id), "sk": tenant_pk(tenant_id), "tenantId": tenant_id}
        actions = [{"Update": connect}, self.table.put_action(pointer)]
        if previous_realm and previous_realm != realm_id:
            actions.append(self.table.delete_action(_realm_pk(previous_realm), tenant_pk(tenant_id)))
        actions.extend(dict(action) for action in together)
        try:
            self.table.transact(actions)
        except TransactionRefused:
            return False
        return True

    def cancel_connecting(self, tenant_id: str, state_digest: str, previous: ConnectionStatus) -> None:
        """The admin cancelled at Intuit: back to where the tenant was before, if nothing newer started."""
        try:
            self.table.update(
                tenant_pk(tenant_id),
                CONNECTION_SK,
                set_values={"status": previous.value},
                remove=["pendingState"],
                condition="#pendingState = :state",
                values={"state": state_digest},
            )
        except ConditionFailed:
            return

    def require_reauthorization(self, tenant_id: str, realm_id: str) -> None:
        """Intuit refused the refresh token (``invalid_grant``): the admin must connect again."""
        try:
            self.table.update(
                tenant_pk(tenant_id),
                CONNECTION_SK,
                set_values={"status": ConnectionStatus.REAUTHORIZATION_REQUIRED.value},
                remove=["gsi1pk", "gsi1sk"],
                condition="#realmId = :realm AND #status = :connected",
                values={"realm": realm_id, "connected": ConnectionStatus.CONNECTED.value},
            )
        except ConditionFailed:
            return

    def disconnect(self, tenant_id: str) -> None:
        """Not connected any more; the links on the Books360 objects keep their own realm and stay."""
        realm_id = self.get(tenant_id).realm_id
        if realm_id:
            self.table.delete(_realm_pk(realm_id), tenant_pk(tenant_id))
        self.table.update(
            tenant_pk(tenant_id),
            CONNECTION_SK,
            set_values={"status": ConnectionStatus.NOT_CONNECTED.value},
            remove=["pendingState", "realmId", "companyName", "connectedAt", "listsUpdatedAt", "gsi1pk", "gsi1sk"],
        )

    def tenants_of_realm(self, realm_id: str) -> list[str]:
        """The tenants connected to QuickBooks company ``realm_id`` (webhooks name only the company)."""
        return [item["tenantId"] for item in self.table.query_prefix(_realm_pk(realm_id), "TENANT#")]

    def others_connected_to(self, realm_id: str, tenant_id: str | None = None) -> list[str]:
        """The tenants other than ``tenant_id`` connected to company ``realm_id`` now (status ``connected``)."""
        return [
            other
            for other in self.tenants_of_realm(realm_id)
            if other != tenant_id
            and (connection := self.get(other)).status is ConnectionStatus.CONNECTED
            and connection.realm_id == realm_id
        ]

    def connected_tenants(self) -> list[str]:
        """Every tenant whose QuickBooks connection is live."""
        return [item["gsi1sk"] for item in self.table.query_index(CONNECTED_INDEX)]

    def lists_updated(self, tenant_id: str, realm_id: str, at: datetime) -> None:
        """Record when Update Lists last finished for the connected company."""
        try:
            self.table.update(
                tenant_pk(tenant_id),
                CONNECTION_SK,
                set_values={"listsUpdatedAt": _format_time(at)},
                condition="#realmId = :realm",
                values={"realm": realm_id},
            )
        except ConditionFailed:
            return


def connection_from(tenant_id: str, item: Mapping[str, Any] | None) -> Connection:
    """The connection an item (``sk = CONN``, or None: never connected) holds."""
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


def _realm_pk(realm_id: str) -> str:
    return f"REALM#{realm_id}"


def _to_item(connection: Connection) -> dict[str, Any]:
    return {
        "pk": tenant_pk(connection.tenant_id),
        "sk": CONNECTION_SK,
        "status": connection.status.value,
        "realmId": connection.realm_id,
        "companyName": connection.company_name,
        "connectedAt": _format_time(connection.connected_at),
        "listsUpdatedAt": _format_time(connection.lists_updated_at),
        "gsi1pk": CONNECTED_INDEX if connection.status is ConnectionStatus.CONNECTED else None,
        "gsi1sk": connection.tenant_id if connection.status is ConnectionStatus.CONNECTED else None,
    }


def _format_time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None

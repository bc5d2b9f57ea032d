"""Account > Settings > CRM Integrations > QuickBooks: the connection."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared import wiring
from shared.services import connection as connection_service
from shared.web import ApiModel, tenant_id_of

if TYPE_CHECKING:
    from shared.domain import Connection

router = Router()


class ConnectionOut(ApiModel):
    active: bool
    status: str
    realm_id: str | None
    company_name: str | None
    connected_at: datetime | None
    lists_updated_at: datetime | None

    @classmethod
    def of(cls, connection: Connection) -> ConnectionOut:
        return cls(
            active=connection.active,
            status=connection.status.value,
            realm_id=connection.realm_id,
            company_name=connection.company_name,
            connected_at=connection.connected_at,
            lists_updated_at=connection.lists_updated_at,
        )


@router.get("/quickbooks/connection", summary="The tenant's QuickBooks connection")
def get_connection() -> ConnectionOut:
    tenant_id = tenant_id_of(router)
    return ConnectionOut.of(connection_service.get_connection(wiring.connection_store(), tenant_id))

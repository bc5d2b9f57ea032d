"""Account > Settings > CRM Integrations > QuickBooks: the connection."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import Field, StrictBool

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
    def of(cls, connection: Connection, **extra: object) -> Self:
        return cls.model_validate(
            {
                "active": connection.active,
                "status": connection.status.value,
                "realm_id": connection.realm_id,
                "company_name": connection.company_name,
                "connected_at": connection.connected_at,
                "lists_updated_at": connection.lists_updated_at,
                **extra,
            }
        )


class ConnectionChanged(ConnectionOut):
    authorize_url: str | None = Field(default=None, description="Where to send the browser to connect")
    revoked: bool | None = Field(default=None, description="On disconnect: whether Intuit confirmed the revoke")
    detail: str | None = None


class ConnectionIn(ApiModel):
    active: Annotated[StrictBool, Field(description="true starts OAuth; false disconnects")]


class ConfirmIn(ApiModel):
    ticket: Annotated[
        str, Field(min_length=1, max_length=128, description="The ticket of the UI's `result=confirm` landing")
    ]


@router.post("/quickbooks/connection/confirm", summary="Finish a connect: the pending tokens become this tenant's")
def confirm_connection(confirm: Annotated[ConfirmIn, Body()]) -> ConnectionOut:
    tenant_id = tenant_id_of(router)
    connection = connection_service.confirm_connect(
        wiring.connection_store(),
        wiring.token_vault(),
        wiring.connect_ticket_store(),
        tenant_id=tenant_id,
        ticket=confirm.ticket,
        now=wiring.now(),
        auto_sync=wiring.auto_sync_store(),
    )
    return ConnectionOut.of(connection)


@router.get("/quickbooks/connection", summary="The tenant's QuickBooks connection")
def get_connection() -> ConnectionOut:
    tenant_id = tenant_id_of(router)
    return ConnectionOut.of(connection_service.get_connection(wiring.connection_store(), tenant_id))


@router.put("/quickbooks/connection", summary="Switch the integration on (start OAuth) or off (disconnect)")
def put_connection(change: Annotated[ConnectionIn, Body()]) -> ConnectionChanged:
    tenant_id = tenant_id_of(router)
    if change.active:
        started = connection_service.start_connect(
            wiring.connection_store(),
            wiring.oauth_state_store(),
            wiring.intuit_oauth(),
            tenant_id=tenant_id,
            redirect_uri=wiring.redirect_uri(),
            now=wiring.now(),
        )
        return ConnectionChanged.of(wiring.connection_store().get(tenant_id), authorize_url=started.authorize_url)
    gone = connection_service.disconnect(
        wiring.connection_store(), wiring.token_vault(), wiring.intuit_oauth(), tenant_id=tenant_id
    )
    return ConnectionChanged.of(wiring.connection_store().get(tenant_id), revoked=gone.revoked, detail=gone.detail)

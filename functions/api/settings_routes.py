"""CRM Integrations > QuickBooks > "Additional Settings": the whole settings document."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import wiring
from shared.domain.settings import Settings  # noqa: TC001 - Powertools reads the route annotations at run time
from shared.services import settings as settings_service
from shared.web import tenant_id_of

router = Router()


@router.get("/quickbooks/settings", summary="The tenant's Additional Settings (defaults for a new tenant)")
def get_settings() -> Settings:
    return settings_service.get_settings(wiring.settings_store(), tenant_id_of(router))


@router.put("/quickbooks/settings", summary="Replace the Additional Settings; 422 names each offending field")
def put_settings(document: Annotated[Settings, Body()]) -> Settings:
    tenant_id = tenant_id_of(router)
    return settings_service.put_settings(
        wiring.settings_store(),
        wiring.lists_store(),
        wiring.connection_store(),
        tenant_id,
        document,
        auto_sync=wiring.auto_sync_store(),
    )

"""Update Lists: accounts and payment methods from QuickBooks, on demand (HTTP) and nightly (schedule)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared import wiring
from shared.observability import logger, metrics
from shared.services.refresh_lists import ListsRefreshed, refresh_all, refresh_lists
from shared.web import ApiModel, http_app, http_handler, tenant_id_of
from shared.web.triggers import is_scheduled_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

router = Router()


class ListsRefreshedOut(ApiModel):
    bank_accounts: int
    payment_methods: int
    updated_at: datetime


def _refresh(tenant_id: str) -> ListsRefreshed:
    with wiring.quickbooks_for(tenant_id) as qbo:
        stores = wiring.connection_store(), wiring.lists_store(), wiring.settings_store()
        return refresh_lists(qbo, *stores, tenant_id=tenant_id, now=wiring.now())


@router.post("/quickbooks/lists/refresh", summary="Update Lists: read accounts and payment methods from QuickBooks")
def post_refresh() -> ListsRefreshedOut:
    done = _refresh(tenant_id_of(router))
    return ListsRefreshedOut(
        bank_accounts=done.bank_accounts, payment_methods=done.payment_methods, updated_at=done.updated_at
    )


@logger.inject_lambda_context
@metrics.log_metrics
def _nightly(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"tenants": refresh_all(wiring.connection_store().connected_tenants(), _refresh)}


app = http_app(router)
_http_handler = http_handler(app)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _nightly(event, context) if is_scheduled_event(event) else _http_handler(event, context)

"""Update Lists: accounts and payment methods from QuickBooks, on demand (HTTP) and nightly (schedule).

The schedule queues one message per connected tenant; each message (SQS, one an invocation) refreshes its tenant
(``shared.services.refresh_lists`` draws the flow)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from shared import deadline as invocation
from shared import wiring
from shared.observability import logger, metrics
from shared.services.refresh_lists import (
    ListRefreshMessage,
    ListsRefreshed,
    queue_refreshes,
    refresh_lists,
    refresh_tenant,
)
from shared.web import ApiModel, http_app, http_handler, tenant_id_of
from shared.web.triggers import is_scheduled_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
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
    return {"queued": queue_refreshes(wiring.connection_store().connected_tenants(), wiring.list_refresh_queue())}


def refresh_item(record: SQSRecord) -> None:
    message = ListRefreshMessage.model_validate_json(record.body)
    outcome = refresh_tenant(message, _refresh)
    logger.info("lists refresh message", tenant_id=message.tenant_id, outcome=outcome)


@logger.inject_lambda_context
@metrics.log_metrics
def _items(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    with invocation.within(context, http=False):  # no retry or wait outlives the Lambda's time
        return dict(
            process_partial_response(event=event, record_handler=refresh_item, processor=processor, context=context)
        )


app = http_app(router)
_http_handler = http_handler(app)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_scheduled_event(event):
        answer: dict[str, Any] = _nightly(event, context)
    elif "Records" in event:
        answer = _items(event, context)
    else:
        answer = _http_handler(event, context)
    return answer

"""Books360 changes arriving from EventBridge (source ``books360.accounting``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from shared import wiring
from shared.observability import logger, metrics, tracer
from shared.services.books360_events import apply_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=EventBridgeModel)
def lambda_handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    outcome = apply_event(
        wiring.books360_store(),
        event.detail_type,
        event.detail,
        event_id=event.id,
        on_invoice_deleted=wiring.queue_invoice_deletion,
        on_invoice_changed=wiring.queue_invoice_sync,
    )
    return {"status": outcome.status, "objectId": outcome.object_id}

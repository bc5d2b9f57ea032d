"""The ``auto-invoice-sync`` schedule (every 15 minutes): the catch-up sweep.

Today it re-queues the items of bulk jobs whose messages were lost; catching up invoices of linked clients joins
it with the invoices feature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from shared import wiring
from shared.observability import logger, metrics, tracer
from shared.services.jobs import requeue_stale_jobs

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=EventBridgeModel)
def lambda_handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    requeued = requeue_stale_jobs(wiring.job_store(), wiring.bulk_queue(), now=wiring.now())
    return {"ranAt": event.time.isoformat(), "bulkItemsRequeued": requeued}

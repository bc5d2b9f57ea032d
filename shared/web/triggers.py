"""Non-HTTP triggers: telling a function's events apart, and the handler every schedule shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from shared import deadline as invocation
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext

    Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def is_http_event(event: dict[str, Any]) -> bool:
    """An API Gateway HTTP API payload 2.0 event."""
    return event.get("version") == "2.0" and "requestContext" in event


def is_scheduled_event(event: dict[str, Any]) -> bool:
    """An EventBridge schedule firing (or ``POST /_local/schedules/{name}/run`` locally)."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def scheduled_handler(run: Callable[[EventBridgeModel], dict[str, Any]]) -> Handler:
    """``lambda_handler`` of a schedule: Logger, Tracer and Metrics around ``run(event)``, the event parsed as
    EventBridge's, within the invocation's deadline (no retry or wait outlives the Lambda's time)."""

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    @event_parser(model=EventBridgeModel)
    def lambda_handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
        with invocation.within(context, http=False):
            return run(event)

    return lambda_handler

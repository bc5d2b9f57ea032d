"""Bulk "Create and sync" and "Sync invoice": HTTP requests become jobs with one SQS message an item; SQS records
run the items."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bulk_routes
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from shared import deadline as invocation
from shared import wiring
from shared.observability import logger, metrics
from shared.services.pacing import call_deadline
from shared.web import http_app, http_handler
from shared.web.triggers import is_http_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http_app(bulk_routes.router)
_http_handler = http_handler(app)


def run_item(record: SQSRecord, lambda_context: LambdaContext) -> None:
    # Pacing never keeps a worker past its timeout: no QuickBooks call starts too close to it.
    deadline = call_deadline(lambda_context.get_remaining_time_in_millis())
    with invocation.within(lambda_context, http=False):  # the clients' retries and waits end with the Lambda's time
        wiring.bulk_worker().handle(record.raw_event, deadline=deadline)


@logger.inject_lambda_context
@metrics.log_metrics
def _items(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # One processor an invocation: it keeps the batch's records and outcomes on itself, so invocations running at
    # once in one process (the tests' workers) must not share one. A batch whose every item waits for a throttled
    # company is reported item by item, not raised as an error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=run_item, processor=processor, context=context))


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _http_handler(event, context) if is_http_event(event) else _items(event, context)

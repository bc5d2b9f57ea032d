"""Books360 changes arriving from EventBridge (source ``books360.accounting``), and replayed dead letters.

::

    EventBridge ──▶ apply (version-guarded upsert) ── fails 3 times ──▶ Books360EventsDeadLetterQueue
                                                                          (Lambda's on-failure destination)
    Books360EventsDeadLetterQueue ──(SQS source ``DeadLetterReplay``, on while ``ReplayBooks360DeadLetters``
                                     is true)──▶ each record's ``requestPayload`` applied as if EventBridge sent
                                     it again; one that fails again stays on the queue (partial batch failure)

Replaying is safe at any time: an event older than what is stored (or repeated) is ``stale`` and changes nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from shared import wiring
from shared.observability import logger, metrics, tracer
from shared.services.books360_events import apply_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _apply(event: EventBridgeModel) -> dict[str, Any]:
    outcome = apply_event(
        wiring.books360_store(),
        event.detail_type,
        event.detail,
        event_id=event.id,
        on_invoice_deleted=wiring.queue_invoice_deletion,
        on_invoice_changed=wiring.queue_invoice_sync,
    )
    return {"status": outcome.status, "objectId": outcome.object_id}


def replay(record: SQSRecord) -> None:
    """One dead letter: Lambda's destination record (its ``requestPayload``), or a bare EventBridge event."""
    body = json.loads(record.body)
    event = body.get("requestPayload", body) if isinstance(body, dict) else body
    outcome = _apply(EventBridgeModel.model_validate(event))
    metrics.add_metric(name="Books360EventReplayed", unit="Count", value=1)
    logger.info("books360 event replayed", status=outcome["status"], message_id=record.message_id)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(process_partial_response(event=event, record_handler=replay, processor=processor, context=context))
    return _apply(EventBridgeModel.model_validate(event))

"""Lambda's SQS event source mapping, locally: long-poll a queue, hand batches to the function, settle the result.

As Lambda does: batches of ``BatchSize`` gathered for up to ``MaximumBatchingWindowInSeconds``, at most
``ScalingConfig.MaximumConcurrency`` batches in flight, the batch deleted when the function succeeds, nothing
deleted when it raises, and with ``ReportBatchItemFailures`` all but the reported messages deleted (a report naming
a message that is not in the batch fails the whole batch). Unlike Lambda, a failed message is made visible again
after ``LOCAL_SQS_RETRY_SECONDS`` (1 s) instead of the queue's own visibility timeout (180 s for BulkQueue), so
retries and the dead-letter queue are reached in seconds; moto itself moves a message to the queue's
dead-letter queue on the receive after ``maxReceiveCount``, exactly as SQS does.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from local.config import REGION

if TYPE_CHECKING:
    from local.runtime import Outcome, Runtime
    from local.template import SqsSource

log = logging.getLogger("local")
RECEIVE_WAIT_SECONDS = 1


def _attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    def b64(raw: Any) -> str:
        return base64.b64encode(raw).decode() if isinstance(raw, (bytes, bytearray)) else str(raw)

    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [b64(v) for v in value.get("BinaryListValues", [])],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = b64(value["BinaryValue"])
    return converted


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of the Lambda SQS event, from a ``ReceiveMessage`` message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {k: _attribute_value(v) for k, v in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(source: SqsSource, outcome: Outcome, batch_ids: list[str]) -> set[str]:
    """The messages of the batch that must stay in the queue, by Lambda's rules."""
    if not outcome.ok:
        return set(batch_ids)
    if not source.report_failures or not isinstance(outcome.result, dict):
        return set()
    reported = outcome.result.get("batchItemFailures")
    if not reported:
        return set()
    if not isinstance(reported, list):
        return set(batch_ids)
    identifiers: set[str] = set()
    for item in reported:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return set(batch_ids)
        identifiers.add(identifier)
    return identifiers


class QueuePoller:
    """Drains one queue into one function, as one SQS event source mapping."""

    def __init__(self, source: SqsSource, runtime: Runtime, client: Any, retry_seconds: int) -> None:
        self.source = source
        self.runtime = runtime
        self.client = client
        self.retry_seconds = retry_seconds
        self._slots = threading.BoundedSemaphore(max(1, source.max_concurrency))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sqs-{source.function}-{source.event}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def signal_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; batches in flight are not waited for (their workers are stopped with the stack)."""
        self._stop.set()
        self._thread.join(timeout)

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        answer = self.client.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=max(1, min(10, count)),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def gather(self) -> list[dict[str, Any]]:
        """One batch: whatever the first long poll brings, topped up until full or the batching window closes."""
        batch = self._receive(self.source.batch_size, RECEIVE_WAIT_SECONDS)
        if not batch:
            return batch
        window_ends = time.monotonic() + self.source.batching_window
        while len(batch) < self.source.batch_size and time.monotonic() < window_ends and not self._stop.is_set():
            more = self._receive(self.source.batch_size - len(batch), 0)
            if more:
                batch.extend(more)
            else:
                self._stop.wait(0.1)
        return batch

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                batch = self.gather()
            except Exception as exc:
                self._slots.release()
                if not self._stop.is_set():
                    log.warning(
                        "sqs poll failed function=%s queue=%s: %s", self.source.function, self.source.event, exc
                    )
                    self._stop.wait(1.0)
                continue
            if not batch:
                self._slots.release()
                continue
            threading.Thread(target=self._run_batch, args=(batch,), daemon=True).start()

    def _run_batch(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.process(batch)
        except Exception:
            if not self._stop.is_set():
                log.exception("sqs batch settlement failed function=%s", self.source.function)
        finally:
            self._slots.release()

    def process(self, batch: list[dict[str, Any]]) -> set[str]:
        """Invoke the function with one batch and settle it; the ids of the messages left in the queue."""
        ids = [m["MessageId"] for m in batch]
        event = {"Records": [sqs_record(m, self.source.queue_arn) for m in batch]}

        def status_of(outcome: Outcome) -> str:
            failures = failed_ids(self.source, outcome, ids)
            if not outcome.ok:
                return "error"
            return f"partial {len(failures)}/{len(ids)} failed" if failures else "ok"

        outcome = self.runtime.invoke(
            self.source.function,
            event,
            f"sqs {self.source.event}",
            status_of=status_of,
            details={"messageIds": ids},
        )
        failures = failed_ids(self.source, outcome, ids)
        done = [m for m in batch if m["MessageId"] not in failures]
        retry = [m for m in batch if m["MessageId"] in failures]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.client.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        for start in range(0, len(retry), 10):
            chunk = retry[start : start + 10]
            self.client.change_message_visibility_batch(
                QueueUrl=self.source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_seconds}
                    for i, m in enumerate(chunk)
                ],
            )
        return failures

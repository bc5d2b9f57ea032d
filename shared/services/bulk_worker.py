"""The bulk worker: one SQS record is one item of one job, run once and recorded once.

What becomes of a record::

    malformed body ............................ logged, counted, dropped (retrying could never help)
    item unknown (job expired) or already final  nothing to do (a repeated delivery)
    run → outcome (succeeded, skipped, failed)   recorded; the job finishes with its last item
    busy (QuickBooks 429, DynamoDB conflict) ... the record fails (partial batch failure) and comes back after
                                                  ``retry_after`` (ChangeMessageVisibility: Intuit asks for a
                                                  minute after a 429) ...
    ... on its last receive (the queue's maxReceiveCount) the item fails with that error instead of going
        silently to the dead-letter queue, so a job never hangs in ``running``.
    a record from the dead-letter queue ......... (a worker killed on the last try) its item fails
    the company's calls booked > 1 s ahead ..... DEFERRED before the item starts (``shared.services.pacing``):
    (or a started item's call would wait > 15 s)  the message is sent again with a DelaySeconds the company's
                                                  deferral calendar spreads, and this delivery is acknowledged:
                                                  our own pacing never spends a receive (maxReceiveCount)

An invoice deletion (``InvoiceDeletionMessage``: Books360 deleted a linked invoice) takes the same road without a
job: deferred like an item, busy comes back later; on its last receive, or refused for good (not connected any
more), it is logged and counted, and what is still linked stays on the invoice: automatic sync's sweep queues
it again.

An automatic sync (``InvoiceSyncMessage``: ``shared.services.auto_sync``) takes that road too: busy comes back
later; on its last receive, or from the dead-letter queue, the invoice is listed failed with why and stays due
for the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import Json, ValidationError

from shared.domain.jobs import (
    BulkItemMessage,
    InvoiceDeletionMessage,
    InvoiceSyncMessage,
    ItemOutcome,
    ItemStatus,
    QueueMessage,
)
from shared.errors import AppError, Busy, CompanyBusy
from shared.observability import logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from shared.quickbooks.client import QuickBooksClient
    from shared.store.bulk_queue import BulkQueue
    from shared.store.jobs import JobStore

    ItemRunner = Callable[[QuickBooksClient, BulkItemMessage, datetime, datetime], ItemOutcome]
    """Runs one item of one job kind (create and link a customer, sync an invoice ...): the outcome, including
    what counts as ``skipped`` for that kind; raises typed errors (busy: retried later; others: the item fails).

    Called with the client, the message, when the job was created (work done since then may be this item's own,
    from a delivery that stopped before recording it) and now."""

    InvoiceDeleter = Callable[[QuickBooksClient, InvoiceDeletionMessage], object]
    """Deletes in QuickBooks what was written for a Books360 invoice that Books360 deleted."""


class AutoSyncRunner(Protocol):
    """Automatic sync as the worker drives it (``shared.services.auto_sync.AutoSync``)."""

    def run(self, quickbooks_for: Callable[[str], QuickBooksClient], message: InvoiceSyncMessage) -> object:
        """Sync the invoice if automatic sync still may; raises ``Busy`` to be retried later."""

    def gave_up(self, message: InvoiceSyncMessage, error: str) -> object:
        """Still busy on the last receive (or dead-lettered): listed failed, left for the sweep."""

    def deletion_failed(self, message: InvoiceDeletionMessage) -> object:
        """A deletion in QuickBooks failed: left for the sweep to queue again."""


class Admission(Protocol):
    def deferral(self, realm_id: str) -> int | None:
        """None when work for the company may start now, else the seconds its message should wait."""
        ...


class Deferred(Exception):
    """The item did not start (or stopped) for our own pacing: its message comes back after ``seconds``."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"deferred {seconds} s")
        self.seconds = seconds


class QueueRecord(SqsRecordModel):
    body: Json[QueueMessage]


UNEXPECTED = "An unexpected error stopped this item; try it again."
DEAD_LETTERED = "This item could not be processed after several attempts; try it again."


@dataclass
class BulkWorker:
    jobs: JobStore
    queue: BulkQueue
    runners: Mapping[str, ItemRunner]
    quickbooks_for: Callable[[str], QuickBooksClient]
    max_receive_count: int
    clock: Callable[[], datetime]
    dead_letter_arn: str = ""
    delete_invoice: InvoiceDeleter | None = None
    auto_sync: AutoSyncRunner | None = None
    admission: Admission | None = None

    def handle(self, raw_record: dict[str, Any]) -> None:
        """Process one SQS record; raising hands it back to SQS for a later delivery."""
        record = self._parse(raw_record)
        if record is None:
            return
        dead_lettered = bool(self.dead_letter_arn) and raw_record.get("eventSourceARN") == self.dead_letter_arn
        receives = int(record.attributes.ApproximateReceiveCount or "1")
        last_try = receives >= self.max_receive_count
        message = record.body
        if isinstance(message, InvoiceDeletionMessage):
            try:
                self._delete_invoice(message, record.receiptHandle, last_try=last_try, dead_lettered=dead_lettered)
            except Deferred as deferred:
                self._defer(message, record.receiptHandle, deferred.seconds)
            return
        if isinstance(message, InvoiceSyncMessage):
            self._auto_sync(message, record.receiptHandle, receives=receives, last_try=last_try, dead=dead_lettered)
            return
        if dead_lettered:
            self._dead_lettered(message)
            return
        try:
            outcome = self._run(message)
        except Deferred as deferred:
            self._defer(message, record.receiptHandle, deferred.seconds)
            return
        except Busy as exc:
            if not last_try:
                logger.info(
                    "bulk item retried later", job_id=message.job_id, item_id=message.item_id, receives=receives
                )
                self.queue.delay(record.receiptHandle, exc.retry_after)
                raise
            outcome = ItemOutcome.failed(f"{exc.detail} Gave up after {receives} attempts.")
        except Exception as exc:
            if not last_try:
                raise
            logger.exception("bulk item failed unexpectedly", job_id=message.job_id, error_type=type(exc).__name__)
            outcome = ItemOutcome.failed(UNEXPECTED)
        if outcome is not None:
            self._record(message, outcome)

    @staticmethod
    def _parse(raw_record: dict[str, Any]) -> QueueRecord | None:
        try:
            return QueueRecord.model_validate(raw_record)
        except ValidationError as exc:
            # Field paths only: the body may hold anything, and logs never carry bodies.
            fields = [".".join(str(part) for part in error["loc"]) for error in exc.errors()]
            logger.error("bulk message dropped: malformed", message_id=raw_record.get("messageId"), fields=fields)
            metrics.add_metric(name="BulkMessageMalformed", unit="Count", value=1)
            return None

    def _delete_invoice(
        self, message: InvoiceDeletionMessage, receipt_handle: str, *, last_try: bool, dead_lettered: bool
    ) -> None:
        if self.delete_invoice is None:
            logger.error("invoice deletion dropped: no deleter", invoice_id=message.invoice_id)
            return
        try:
            with self.quickbooks_for(message.tenant_id) as qbo:
                if not dead_lettered:
                    self._admit(qbo.realm_id)
                self.delete_invoice(qbo, message)
        except CompanyBusy as exc:
            if dead_lettered:
                self._deletion_failed(message, exc.detail)
                return
            raise Deferred(exc.retry_after) from exc
        except Busy as exc:
            if not (last_try or dead_lettered):
                self.queue.delay(receipt_handle, exc.retry_after)
                raise
            self._deletion_failed(message, exc.detail)
        except AppError as exc:
            self._deletion_failed(message, exc.detail)

    def _deletion_failed(self, message: InvoiceDeletionMessage, error: str) -> None:
        metrics.add_metric(name="InvoiceDeletionFailed", unit="Count", value=1)
        logger.error("invoice deletion in quickbooks failed", invoice_id=message.invoice_id, error=error)
        if self.auto_sync is not None:
            self.auto_sync.deletion_failed(message)

    def _auto_sync(
        self, message: InvoiceSyncMessage, receipt_handle: str, *, receives: int, last_try: bool, dead: bool
    ) -> None:
        if self.auto_sync is None:
            logger.error("invoice sync dropped: no automatic sync", invoice_id=message.invoice_id)
            return
        if dead:
            self.auto_sync.gave_up(message, DEAD_LETTERED)
            return
        try:
            self.auto_sync.run(self._admitted, message)
        except CompanyBusy as exc:
            self._defer(message, receipt_handle, exc.retry_after)
        except Deferred as deferred:
            self._defer(message, receipt_handle, deferred.seconds)
        except Busy as exc:
            if not last_try:
                self.queue.delay(receipt_handle, exc.retry_after)
                raise
            self.auto_sync.gave_up(message, f"{exc.detail} Gave up after {receives} attempts.")

    def _dead_lettered(self, message: BulkItemMessage) -> None:
        state = self.jobs.item_state(message.tenant_id, message.job_id, message.item_id)
        if state is not None and state[0] is ItemStatus.PENDING:
            metrics.add_metric(name="BulkItemDeadLettered", unit="Count", value=1)
            self._record(message, ItemOutcome.failed(DEAD_LETTERED))

    def _run(self, message: BulkItemMessage) -> ItemOutcome | None:
        state = self.jobs.item_state(message.tenant_id, message.job_id, message.item_id)
        if state is None:
            logger.warning("bulk message of an unknown job item", job_id=message.job_id, item_id=message.item_id)
            return None
        status, job_created_at = state
        if status is not ItemStatus.PENDING:
            # A repeated delivery; finishing again is harmless and completes a job whose finisher crashed.
            self.jobs.finish_if_done(message.tenant_id, message.job_id, now=self.clock())
            return None
        runner = self.runners.get(message.kind)
        if runner is None:
            return ItemOutcome.failed(f"Bulk jobs of kind {message.kind!r} are not supported.")
        try:
            with self.quickbooks_for(message.tenant_id) as qbo:
                self._admit(qbo.realm_id)
                return runner(qbo, message, job_created_at, self.clock())
        except CompanyBusy as exc:
            raise Deferred(exc.retry_after) from exc
        except Busy:
            raise
        except AppError as exc:
            # Unknown object, name taken, QuickBooks' refusal in its own words, not connected any more.
            return ItemOutcome.failed(exc.detail)

    def _admitted(self, tenant_id: str) -> QuickBooksClient:
        """A client for ``tenant_id`` once its company may take more work now (else ``Deferred``)."""
        qbo = self.quickbooks_for(tenant_id)
        try:
            self._admit(qbo.realm_id)
        except Deferred:
            qbo.close()
            raise
        return qbo

    def _admit(self, realm_id: str) -> None:
        """Raise ``Deferred`` when the company's calls are booked too far ahead to start now."""
        if self.admission is None:
            return
        seconds = self.admission.deferral(realm_id)
        if seconds is not None:
            raise Deferred(seconds)

    def _defer(self, message: QueueMessage, receipt_handle: str, seconds: int) -> None:
        """Send the message again, out of sight for ``seconds``; this delivery is then acknowledged (returns).

        Should the send fail, this delivery itself comes back after ``seconds`` instead (one receive spent).
        """
        if self.queue.send([message], delay_seconds=seconds):
            self.queue.delay(receipt_handle, seconds)
            raise Busy("The bulk queue did not take a deferred message.", retry_after=seconds)
        metrics.add_metric(name="QuickBooksWorkDeferred", unit="Count", value=1)

    def _record(self, message: BulkItemMessage, outcome: ItemOutcome) -> None:
        now = self.clock()
        moved = self.jobs.record(message.tenant_id, message.job_id, message.item_id, outcome, now=now)
        finished = self.jobs.finish_if_done(message.tenant_id, message.job_id, now=now)
        if moved:
            metrics.add_metric(name=f"BulkItem{outcome.status.value.capitalize()}", unit="Count", value=1)
        logger.info(
            "bulk item done",
            job_id=message.job_id,
            item_id=message.item_id,
            kind=message.kind,
            status=outcome.status.value,
            recorded=moved,
            job_status=finished.value if finished else None,
        )

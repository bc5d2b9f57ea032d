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
    the company's calls booked > 0.5 s ahead ... DEFERRED (``shared.services.pacing``), whatever the message:
    (or a started item's call could not start     the message is sent again with a DelaySeconds the company's
    within 3 s, or before the Lambda's time ends) deferral calendar spreads, and this delivery is acknowledged:
                                                  our own pacing never spends a receive (maxReceiveCount);
                                                  ``Deferred`` is handled in one place, ``handle``.
                                                  A message that names its company (``realm_id``, set when
                                                  queued) is paced first, before anything is read

An invoice deletion (``InvoiceDeletionMessage``: Books360 deleted a linked invoice) takes the same road without a
job: deferred like an item, busy comes back later; on its last receive, or refused for good (not connected any
more), it is logged and counted, and what is still linked stays on the invoice: automatic sync's sweep queues
it again.

An automatic sync (``InvoiceSyncMessage``: ``shared.services.auto_sync``) takes that road too: busy comes back
later; on its last receive, or from the dead-letter queue, the invoice is listed failed with why and stays due
for the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
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
from shared.errors import AppError, Busy
from shared.observability import logger, metrics
from shared.services.pacing import Deferred

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from shared.domain.connection import Connection
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

    def run(self, quickbooks_for: Callable[[Connection], QuickBooksClient], message: InvoiceSyncMessage) -> object:
        """Sync the invoice if automatic sync still may (a client for the connection it read); raises ``Busy`` to
        be retried later."""

    def gave_up(self, message: InvoiceSyncMessage, error: str) -> object:
        """Still busy on the last receive (or dead-lettered): listed failed, left for the sweep."""

    def deletion_failed(self, message: InvoiceDeletionMessage) -> object:
        """A deletion in QuickBooks failed: left for the sweep to queue again."""


class Admission(Protocol):
    def deferral(self, realm_id: str) -> int | None:
        """None when work for the company may start now, else the seconds its message should wait."""
        ...


class ClientFor(Protocol):
    def __call__(
        self, tenant_id: str, *, deadline: float | None = None, connection: Connection | None = None
    ) -> QuickBooksClient:
        """A background client of the tenant's company (``connection``: as just read, else read now): paced, its
        calls started by ``deadline`` (else ``Deferred``)."""
        ...


@dataclass(frozen=True)
class Delivery:
    """One SQS delivery of a message, as the worker decides on it."""

    receipt_handle: str
    receives: int
    last_try: bool  # the queue's maxReceiveCount: failing now would dead-letter it
    dead_lettered: bool  # from the dead-letter queue (a worker killed on the last try)
    deadline: float | None  # no QuickBooks call starts after it
    admitted: str | None = None  # the company the pacing let this delivery start for (not asked again)


class QueueRecord(SqsRecordModel):
    body: Json[QueueMessage]


UNEXPECTED = "An unexpected error stopped this item; try it again."
DEAD_LETTERED = "This item could not be processed after several attempts; try it again."


@dataclass
class BulkWorker:
    jobs: JobStore
    queue: BulkQueue
    runners: Mapping[str, ItemRunner]
    quickbooks_for: ClientFor
    max_receive_count: int
    clock: Callable[[], datetime]
    dead_letter_arn: str = ""
    delete_invoice: InvoiceDeleter | None = None
    auto_sync: AutoSyncRunner | None = None
    admission: Admission | None = None

    def handle(self, raw_record: dict[str, Any], *, deadline: float | None = None) -> None:
        """Process one SQS record; raising hands it back to SQS for a later delivery.

        ``deadline``: no QuickBooks call starts after it (epoch seconds: the Lambda's time, less a call's reserve).
        """
        record = self._parse(raw_record)
        if record is None:
            return
        receives = int(record.attributes.ApproximateReceiveCount or "1")
        delivery = Delivery(
            receipt_handle=record.receiptHandle,
            receives=receives,
            last_try=receives >= self.max_receive_count,
            dead_lettered=bool(self.dead_letter_arn) and raw_record.get("eventSourceARN") == self.dead_letter_arn,
            deadline=deadline,
        )
        message = record.body
        try:
            delivery = self._admit(message, delivery)
            if isinstance(message, InvoiceDeletionMessage):
                self._delete_invoice(message, delivery)
            elif isinstance(message, InvoiceSyncMessage):
                self._auto_sync(message, delivery)
            else:
                self._item(message, delivery)
        except Deferred as deferred:
            # Our own pacing, whatever the work: it did not start, or stopped before a call (nothing sent).
            self._defer(message, delivery.receipt_handle, deferred.seconds)

    def _admit(self, message: QueueMessage, delivery: Delivery) -> Delivery:
        """A message that names its company is paced before anything is read (``Deferred``: back later, for the
        price of one calendar read and one send); the delivery then carries the company it was admitted for."""
        if self.admission is None or message.realm_id is None or delivery.dead_lettered:
            return delivery
        seconds = self.admission.deferral(message.realm_id)
        if seconds is not None:
            raise Deferred(seconds)
        return replace(delivery, admitted=message.realm_id)

    def _item(self, message: BulkItemMessage, delivery: Delivery) -> None:
        if delivery.dead_lettered:
            self._dead_lettered(message)
            return
        try:
            outcome = self._run(message, delivery)
        except Deferred:
            raise  # not a failure of the item: ``handle`` defers it
        except Busy as exc:
            if not delivery.last_try:
                logger.info(
                    "bulk item retried later",
                    job_id=message.job_id,
                    item_id=message.item_id,
                    receives=delivery.receives,
                )
                self.queue.delay(delivery.receipt_handle, exc.retry_after)
                raise
            outcome = ItemOutcome.failed(f"{exc.detail} Gave up after {delivery.receives} attempts.")
        except Exception as exc:
            if not delivery.last_try:
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

    def _delete_invoice(self, message: InvoiceDeletionMessage, delivery: Delivery) -> None:
        if self.delete_invoice is None:
            logger.error("invoice deletion dropped: no deleter", invoice_id=message.invoice_id)
            return
        try:
            with self._client(message.tenant_id, delivery) as qbo:
                self.delete_invoice(qbo, message)
        except Busy as exc:
            if not (delivery.last_try or delivery.dead_lettered):
                self.queue.delay(delivery.receipt_handle, exc.retry_after)
                raise
            self._deletion_failed(message, exc.detail)
        except AppError as exc:
            self._deletion_failed(message, exc.detail)

    def _deletion_failed(self, message: InvoiceDeletionMessage, error: str) -> None:
        metrics.add_metric(name="InvoiceDeletionFailed", unit="Count", value=1)
        logger.error("invoice deletion in quickbooks failed", invoice_id=message.invoice_id, error=error)
        if self.auto_sync is not None:
            self.auto_sync.deletion_failed(message)

    def _auto_sync(self, message: InvoiceSyncMessage, delivery: Delivery) -> None:
        if self.auto_sync is None:
            logger.error("invoice sync dropped: no automatic sync", invoice_id=message.invoice_id)
            return
        if delivery.dead_lettered:
            self.auto_sync.gave_up(message, DEAD_LETTERED)
            return
        try:
            self.auto_sync.run(partial(self._client_of, delivery=delivery), message)
        except Busy as exc:
            if not delivery.last_try:
                self.queue.delay(delivery.receipt_handle, exc.retry_after)
                raise
            self.auto_sync.gave_up(message, f"{exc.detail} Gave up after {delivery.receives} attempts.")

    def _dead_lettered(self, message: BulkItemMessage) -> None:
        state = self.jobs.item_state(message.tenant_id, message.job_id, message.item_id)
        if state is not None and state[0] is ItemStatus.PENDING:
            metrics.add_metric(name="BulkItemDeadLettered", unit="Count", value=1)
            self._record(message, ItemOutcome.failed(DEAD_LETTERED))

    def _run(self, message: BulkItemMessage, delivery: Delivery) -> ItemOutcome | None:
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
            with self._client(message.tenant_id, delivery) as qbo:
                return runner(qbo, message, job_created_at, self.clock())
        except Busy:
            raise
        except AppError as exc:
            # Unknown object, name taken, QuickBooks' refusal in its own words, not connected any more.
            return ItemOutcome.failed(exc.detail)

    def _client_of(self, connection: Connection, *, delivery: Delivery) -> QuickBooksClient:
        return self._client(connection.tenant_id, delivery, connection=connection)

    def _client(self, tenant_id: str, delivery: Delivery, *, connection: Connection | None = None) -> QuickBooksClient:
        """A client for ``tenant_id`` once its company may take more work now (else ``Deferred``; not asked again
        for the company the delivery was admitted for); its calls raise ``Deferred`` too when they could not
        start in time."""
        qbo = self.quickbooks_for(tenant_id, deadline=delivery.deadline, connection=connection)
        if self.admission is not None and qbo.realm_id != delivery.admitted:
            seconds = self.admission.deferral(qbo.realm_id)
            if seconds is not None:
                qbo.close()
                raise Deferred(seconds)
        return qbo

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

"""Bulk jobs ("Bulk Change"): a request becomes a job, then one SQS message an item; and the job's progress."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.domain.jobs import BulkItemMessage, ItemOutcome
from shared.errors import NotFound
from shared.observability import logger, metrics
from shared.services.connection import require_connected

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from shared.domain.jobs import Job
    from shared.store.bulk_queue import BulkQueue
    from shared.store.connection import ConnectionStore
    from shared.store.jobs import JobStore


@dataclass(frozen=True)
class JobAccepted:
    job_id: str
    total: int


def start_job(
    jobs: JobStore,
    queue: BulkQueue,
    connections: ConnectionStore,
    *,
    tenant_id: str,
    kind: str,
    item_ids: Sequence[str],
    now: datetime,
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> JobAccepted:
    """Check the connection (409 before anything is written), write the job, then queue one message an item.

    The job is written first so a worker never meets a message of an unknown job. An item whose message SQS
    would not take (after the queue's own retries) fails at once with the reason, so the job still finishes.
    """
    realm_id = require_connected(connections, tenant_id).realm_id
    job = jobs.create(tenant_id, new_id(), kind, item_ids, now=now)
    messages = [
        BulkItemMessage(tenant_id=tenant_id, job_id=job.job_id, kind=kind, item_id=item_id, realm_id=realm_id)
        for item_id in item_ids
    ]
    unsent = queue.send(messages)
    for failure in unsent:
        outcome = ItemOutcome.failed(f"Could not be queued: {failure.reason}. Try this one again.")
        jobs.record(tenant_id, job.job_id, failure.message.item_id, outcome, now=now)
    if unsent:
        metrics.add_metric(name="BulkItemsNotQueued", unit="Count", value=len(unsent))
        jobs.finish_if_done(tenant_id, job.job_id, now=now)
    logger.info("bulk job started", job_id=job.job_id, kind=kind, total=job.total, not_queued=len(unsent))
    return JobAccepted(job.job_id, job.total)


# Longer than an item can legitimately stay in flight (5 receives of up to 6 minutes' visibility each).
STALE_AFTER = timedelta(hours=1)


def requeue_stale_jobs(jobs: JobStore, queue: BulkQueue, *, now: datetime) -> int:
    """Send again the messages of pending items of jobs open for over an hour; the number of items re-sent.

    Covers a request that wrote its job and died before queueing every message. Sending again is safe: the
    worker runs an item once whatever the deliveries, and writes to QuickBooks carry their requestid.
    """
    resent = 0
    for tenant_id, job_id, kind in jobs.open_jobs(created_before=now - STALE_AFTER):
        pending = jobs.pending_items(tenant_id, job_id)
        if not pending:
            jobs.finish_if_done(tenant_id, job_id, now=now)
            continue
        messages = [BulkItemMessage(tenant_id=tenant_id, job_id=job_id, kind=kind, item_id=i) for i in pending]
        unsent = queue.send(messages)
        resent += len(messages) - len(unsent)
        logger.warning("bulk job items queued again", job_id=job_id, items=len(messages), unsent=len(unsent))
    if resent:
        metrics.add_metric(name="BulkItemsRequeued", unit="Count", value=resent)
    return resent


def get_job(jobs: JobStore, tenant_id: str, job_id: str) -> Job:
    """The job with every item's outcome so far; another tenant's job is as unknown as a missing one (404)."""
    job = jobs.get(tenant_id, job_id)
    if job is None:
        raise NotFound(f"No job {job_id}.")
    return job

"""Bulk jobs: live progress and per-item results of a "Bulk Change" request."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import Field

from shared import wiring
from shared.domain.jobs import ItemStatus, JobStatus
from shared.domain.types import MAX_ID_LENGTH
from shared.services import jobs as jobs_service
from shared.web import ApiModel, tenant_id_of

if TYPE_CHECKING:
    from shared.domain.jobs import Job, JobItem

router = Router()

# Ids go into DynamoDB keys: at most MAX_ID_LENGTH characters, as every Books360 id (a longer one is a 422).
JobId = Annotated[str, Path(alias="jobId", min_length=1, max_length=MAX_ID_LENGTH)]


class JobItemOut(ApiModel):
    id: str
    status: ItemStatus
    qb_id: str | None = Field(description="The QuickBooks object created or linked")
    error: str | None = Field(description="Why the item failed (QuickBooks' own words) or was skipped")

    @classmethod
    def of(cls, item: JobItem) -> JobItemOut:
        return cls(id=item.id, status=item.status, qb_id=item.qb_id, error=item.error)


class JobOut(ApiModel):
    job_id: str
    kind: str = Field(description="customers, vendors or invoices")
    status: JobStatus
    total: int
    succeeded: int
    failed: int
    skipped: int
    items: list[JobItemOut]
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            job_id=job.job_id,
            kind=job.kind,
            status=job.status,
            total=job.total,
            succeeded=job.succeeded,
            failed=job.failed,
            skipped=job.skipped,
            items=[JobItemOut.of(item) for item in job.items],
            created_at=job.created_at,
            finished_at=job.finished_at,
        )


@router.get("/quickbooks/jobs/<jobId>", summary="A bulk job's progress and each item's outcome")
def get_job(job_id: JobId) -> JobOut:
    return JobOut.of(jobs_service.get_job(wiring.job_store(), tenant_id_of(router), job_id))

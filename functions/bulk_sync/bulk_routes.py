"""``POST /quickbooks/{customers,vendors}/bulk-sync``: "Bulk Change" > "Create and sync" as a job.

Each tab names its ids in the body after itself (``clientIds``, ``vendorIds``), so each has its own body model,
declared below; both routes start the job the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Self

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import ConfigDict, Field

from shared import wiring
from shared.domain.jobs import MAX_BULK_ITEMS, BulkIds
from shared.domain.parties import CUSTOMER, VENDOR
from shared.services import jobs as jobs_service
from shared.web import ApiModel, tenant_id_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.domain.parties import PartyKind

router = Router()


class BulkRequest(ApiModel):
    """The ids to create and sync; each tab's subclass puts them under its own field name."""

    # Only the tab's own field name is accepted (``ids`` is Python's name for it, not the contract's).
    model_config = ConfigDict(populate_by_name=False)

    ids: BulkIds


class BulkCustomersRequest(BulkRequest):
    ids: BulkIds = Field(alias="clientIds")


class BulkVendorsRequest(BulkRequest):
    ids: BulkIds = Field(alias="vendorIds")


class JobAcceptedOut(ApiModel):
    job_id: str
    total: int

    @classmethod
    def of(cls, accepted: jobs_service.JobAccepted) -> Self:
        return cls(job_id=accepted.job_id, total=accepted.total)


def start_job(kind: PartyKind, ids: Sequence[str]) -> jobs_service.JobAccepted:
    return jobs_service.start_job(
        wiring.job_store(),
        wiring.bulk_queue(),
        wiring.connection_store(),
        tenant_id=tenant_id_of(router),
        kind=kind.job_kind,
        item_ids=ids,
        now=wiring.now(),
    )


# The explicit operation ids are the ones these routes have always had in openapi.json.


@router.post(
    "/quickbooks/customers/bulk-sync",
    summary=f"Create and sync 1 to {MAX_BULK_ITEMS} clients in QuickBooks as a job",
    status_code=202,
    operation_id="post_bulk_sync_quickbooks_customers_bulk_sync_post",
)
def bulk_sync_customers(request: Annotated[BulkCustomersRequest, Body()]) -> JobAcceptedOut:
    return JobAcceptedOut.of(start_job(CUSTOMER, request.ids))


@router.post(
    "/quickbooks/vendors/bulk-sync",
    summary=f"Create and sync 1 to {MAX_BULK_ITEMS} vendors in QuickBooks as a job",
    status_code=202,
    operation_id="post_bulk_sync_quickbooks_vendors_bulk_sync_post",
)
def bulk_sync_vendors(request: Annotated[BulkVendorsRequest, Body()]) -> JobAcceptedOut:
    return JobAcceptedOut.of(start_job(VENDOR, request.ids))

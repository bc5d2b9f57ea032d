"""``POST /quickbooks/{customers,vendors,invoices}/bulk-sync``: "Bulk Change" > "Create and sync" (customers,
vendors) and "Sync invoice" (invoices) as a job.

Each tab names its ids in the body after itself (``clientIds``, ``vendorIds``, ``invoiceIds``), so each has its
own body model, declared below; every route starts the job the same way. The invoices' route first checks that
every id is one of the tenant's invoices (one BatchGetItem): another tenant's or an unknown id is a 404 naming
it, and no job is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Self

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import ConfigDict, Field

from shared import wiring
from shared.domain.jobs import MAX_BULK_ITEMS, BulkIds
from shared.domain.parties import CUSTOMER, VENDOR
from shared.errors import FieldError, NotFound
from shared.services import jobs as jobs_service
from shared.services.job_items import INVOICES_JOB_KIND
from shared.web import ApiModel, tenant_id_of

if TYPE_CHECKING:
    from collections.abc import Sequence

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


class BulkInvoicesRequest(BulkRequest):
    ids: BulkIds = Field(alias="invoiceIds")


class JobAcceptedOut(ApiModel):
    job_id: str
    total: int

    @classmethod
    def of(cls, accepted: jobs_service.JobAccepted) -> Self:
        return cls(job_id=accepted.job_id, total=accepted.total)


def start_job(kind: str, ids: Sequence[str], *, tenant_id: str) -> jobs_service.JobAccepted:
    return jobs_service.start_job(
        wiring.job_store(),
        wiring.bulk_queue(),
        wiring.connection_store(),
        tenant_id=tenant_id,
        kind=kind,
        item_ids=ids,
        now=wiring.now(),
    )


def require_invoices(tenant_id: str, ids: Sequence[str]) -> None:
    """404 naming every id that is not one of the tenant's invoices (another tenant's is as unknown as none)."""
    known = wiring.invoice_store().existing_ids(tenant_id, ids)
    unknown = [(index, invoice_id) for index, invoice_id in enumerate(ids) if invoice_id not in known]
    if unknown:
        names = ", ".join(invoice_id for _, invoice_id in unknown)
        raise NotFound(
            f"No invoice {names}." if len(unknown) == 1 else f"No invoices {names}.",
            errors=[FieldError(f"invoiceIds[{index}]", f"No invoice {invoice_id}.") for index, invoice_id in unknown],
        )


# The explicit operation ids are the ones these routes have always had in openapi.json.


@router.post(
    "/quickbooks/customers/bulk-sync",
    summary=f"Create and sync 1 to {MAX_BULK_ITEMS} clients in QuickBooks as a job",
    status_code=202,
    operation_id="post_bulk_sync_quickbooks_customers_bulk_sync_post",
)
def bulk_sync_customers(request: Annotated[BulkCustomersRequest, Body()]) -> JobAcceptedOut:
    return JobAcceptedOut.of(start_job(CUSTOMER.job_kind, request.ids, tenant_id=tenant_id_of(router)))


@router.post(
    "/quickbooks/vendors/bulk-sync",
    summary=f"Create and sync 1 to {MAX_BULK_ITEMS} vendors in QuickBooks as a job",
    status_code=202,
    operation_id="post_bulk_sync_quickbooks_vendors_bulk_sync_post",
)
def bulk_sync_vendors(request: Annotated[BulkVendorsRequest, Body()]) -> JobAcceptedOut:
    return JobAcceptedOut.of(start_job(VENDOR.job_kind, request.ids, tenant_id=tenant_id_of(router)))


@router.post(
    "/quickbooks/invoices/bulk-sync",
    summary=f"Sync 1 to {MAX_BULK_ITEMS} invoices to QuickBooks as a job (404 naming ids the tenant has not)",
    status_code=202,
    operation_id="post_bulk_sync_quickbooks_invoices_bulk_sync_post",
)
def bulk_sync_invoices(request: Annotated[BulkInvoicesRequest, Body()]) -> JobAcceptedOut:
    tenant_id = tenant_id_of(router)
    require_invoices(tenant_id, request.ids)
    return JobAcceptedOut.of(start_job(INVOICES_JOB_KIND, request.ids, tenant_id=tenant_id))

"""``POST /quickbooks/{customers,vendors}/bulk-sync``: one router factory over the party kinds table.

Each kind names its ids in the body after itself (``clientIds``, ``vendorIds``), so each gets its own body model,
made from the kind's row; the route is the same for both.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import ConfigDict, Field, create_model

from shared import wiring
from shared.domain.jobs import MAX_BULK_ITEMS, BulkIds
from shared.domain.parties import PartyKind  # noqa: TC001 - the factory's argument, read at run time
from shared.services import jobs as jobs_service
from shared.web import ApiModel, tenant_id_of


class BulkRequest(ApiModel):
    """The ids to create and sync; each kind's subclass puts them under its own field name."""

    # Only the kind's own field name is accepted (``ids`` is Python's name for it, not the contract's).
    model_config = ConfigDict(populate_by_name=False)

    ids: BulkIds


class JobAcceptedOut(ApiModel):
    job_id: str
    total: int


def bulk_request_model(kind: PartyKind) -> type[BulkRequest]:
    """``{"clientIds": [...]}`` for customers, ``{"vendorIds": [...]}`` for vendors."""
    return create_model(
        f"Bulk{kind.plural.capitalize()}Request",
        __base__=BulkRequest,
        ids=(BulkIds, Field(alias=kind.bulk_ids_field)),
    )


def bulk_router(kind: PartyKind) -> Router:
    router = Router()

    def post_bulk_sync(request: BulkRequest) -> JobAcceptedOut:
        accepted = jobs_service.start_job(
            wiring.job_store(),
            wiring.bulk_queue(),
            wiring.connection_store(),
            tenant_id=tenant_id_of(router),
            kind=kind.job_kind,
            item_ids=request.ids,
            now=wiring.now(),
        )
        return JobAcceptedOut(job_id=accepted.job_id, total=accepted.total)

    # Powertools validates the body against the annotation: this kind's model, not the base class.
    post_bulk_sync.__annotations__ = {"request": Annotated[bulk_request_model(kind), Body()], "return": JobAcceptedOut}
    router.post(
        f"/quickbooks/{kind.plural}/bulk-sync",
        summary=f"Create and sync 1 to {MAX_BULK_ITEMS} {kind.books360_name}s in QuickBooks as a job",
        status_code=202,
    )(post_bulk_sync)
    return router

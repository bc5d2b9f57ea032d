"""CRM Integrations > QuickBooks > "Invoices" tab: the list, the Sync pop-up's preview, View QB Info and the
manual unlink. "Sync with QB" itself is ``functions/sync_invoice``; "Bulk Change" is ``functions/bulk_sync``."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import Field

from shared import wiring
from shared.domain.invoices import Action, InvoiceStatus, SyncStatus, created_date
from shared.domain.types import MAX_ID_LENGTH
from shared.errors import FieldError, InvalidInput
from shared.services import invoices as service
from shared.store.invoices import InvoiceFilters
from shared.web import ApiModel, IsoDate, MoneyOut, QuickBooksObject, tenant_id_of

if TYPE_CHECKING:
    from shared.domain.invoices import PartPlan, PaymentPlan

router = Router()

# Ids go into DynamoDB keys: at most MAX_ID_LENGTH characters, as every Books360 id (a longer one is a 422).
InvoiceId = Annotated[str, Path(alias="invoiceId", min_length=1, max_length=MAX_ID_LENGTH)]
ClientFilter = Annotated[
    str | None,
    Query(max_length=MAX_ID_LENGTH, description="The client's id exactly, or part of its name (any case)"),
]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page, 1 to 100")]
Cursor = Annotated[str | None, Query(description="nextCursor of the previous page")]


class InvoiceRowOut(ApiModel):
    invoice_id: str
    client_id: str
    client_name: str | None
    number: str
    created_on: date = Field(alias="date", description="Creation date (UTC)")
    status: InvoiceStatus
    amount: MoneyOut
    paid: MoneyOut
    due: MoneyOut
    qb_invoice_ids: list[str]
    sync_status: SyncStatus
    synced_at: datetime | None
    last_error: str | None = Field(description="Why the last sync failed, in QuickBooks' own words")

    @classmethod
    def of(cls, row: service.InvoiceRow) -> InvoiceRowOut:
        invoice, link = row.invoice, row.link
        return cls(
            invoice_id=invoice.invoice_id,
            client_id=invoice.client_id,
            client_name=row.client_name,
            number=invoice.number,
            created_on=created_date(invoice),
            status=row.status,
            amount=row.stored.amount,
            paid=row.stored.paid,
            due=row.due,
            qb_invoice_ids=link.qb_invoice_ids if link else [],
            sync_status=row.sync_status,
            synced_at=link.synced_at if link else None,
            last_error=link.last_error if link else None,
        )


class InvoicePageOut(ApiModel):
    items: list[InvoiceRowOut]
    next_cursor: str | None

    @classmethod
    def of(cls, found: service.InvoiceList) -> InvoicePageOut:
        return cls(items=[InvoiceRowOut.of(r) for r in found.rows], next_cursor=found.next_cursor)


class CustomerPreviewOut(ApiModel):
    client_id: str
    display_name: str
    qb_customer_id: str | None
    action: Literal["linked", "create"]


class LineOut(ApiModel):
    description: str
    amount: MoneyOut
    service_date: date | None


class CustomFieldOut(ApiModel):
    name: str
    value: str


class DocumentOut(ApiModel):
    doc_number: str | None
    txn_date: date | None
    due_date: date | None
    amount: MoneyOut | None
    lines: list[LineOut]
    custom_fields: list[CustomFieldOut]
    qb_invoice_id: str | None
    action: Action

    @classmethod
    def of(cls, part: PartPlan) -> DocumentOut:
        document = part.document
        if document is None:  # a part no longer in Books360: deleted in QuickBooks
            return cls(
                doc_number=None,
                txn_date=None,
                due_date=None,
                amount=None,
                lines=[],
                custom_fields=[],
                qb_invoice_id=part.qb_id,
                action=part.action,
            )
        return cls(
            doc_number=document.doc_number,
            txn_date=document.txn_date,
            due_date=document.due_date,
            amount=document.amount,
            lines=[
                LineOut(description=x.description, amount=x.amount, service_date=x.service_date) for x in document.lines
            ],
            custom_fields=[CustomFieldOut(name=f.name, value=f.value) for f in document.custom_fields],
            qb_invoice_id=part.qb_id,
            action=part.action,
        )


class PaymentOut(ApiModel):
    payment_id: str
    amount: MoneyOut | None
    bank_account_id: str | None
    payment_method_id: str | None
    qb_payment_id: str | None
    action: Action

    @classmethod
    def of(cls, payment: PaymentPlan) -> PaymentOut:
        document = payment.document
        return cls(
            payment_id=payment.payment_id,
            amount=document.amount if document else None,
            bank_account_id=document.bank_account_id if document else None,
            payment_method_id=document.payment_method_id if document else None,
            qb_payment_id=payment.qb_id,
            action=payment.action,
        )


class ProblemOut(ApiModel):
    field: str
    message: str


class SyncPreviewOut(ApiModel):
    invoice_id: str
    customer: CustomerPreviewOut
    documents: list[DocumentOut]
    payments: list[PaymentOut]
    unmapped_custom_fields: list[str]
    problems: list[ProblemOut] = Field(description="Why Sync would be refused (client.email: the client has none)")

    @classmethod
    def of(cls, preview: service.SyncPreview) -> SyncPreviewOut:
        customer = preview.customer
        return cls(
            invoice_id=preview.invoice_id,
            customer=CustomerPreviewOut(
                client_id=customer.client_id,
                display_name=customer.display_name,
                qb_customer_id=customer.qb_customer_id,
                action="linked" if customer.qb_customer_id else "create",
            ),
            documents=[DocumentOut.of(part) for part in preview.plan.parts],
            payments=[PaymentOut.of(payment) for payment in preview.plan.payments],
            unmapped_custom_fields=list(preview.plan.unmapped_custom_fields),
            problems=[ProblemOut(field=p.field, message=p.message) for p in preview.problems],
        )


class QuickBooksViewOut(ApiModel):
    invoices: list[QuickBooksObject] = Field(description="As QuickBooks returns them; a deleted one is {id, deleted}")
    payments: list[QuickBooksObject]

    @classmethod
    def of(cls, seen: service.QuickBooksView) -> QuickBooksViewOut:
        return cls(invoices=seen.invoices, payments=seen.payments)


@router.get("/quickbooks/invoices", summary="Books360 invoices with their QuickBooks sync state, filtered, paged")
def list_invoices(
    client: ClientFilter = None,
    dateFrom: Annotated[IsoDate | None, Query(description="Created on or after")] = None,  # noqa: N803 - contract name
    dateTo: Annotated[IsoDate | None, Query(description="Created on or before")] = None,  # noqa: N803
    syncStatus: Annotated[SyncStatus | None, Query()] = None,  # noqa: N803
    limit: Limit = 25,
    cursor: Cursor = None,
) -> InvoicePageOut:
    if dateFrom and dateTo and dateFrom > dateTo:
        message = "dateTo is before dateFrom."
        raise InvalidInput(message, errors=[FieldError("dateTo", message)])
    filters = InvoiceFilters(client=client, date_from=dateFrom, date_to=dateTo, sync_status=syncStatus)
    found = service.list_invoices(
        wiring.invoice_stores(),
        tenant_id=tenant_id_of(router),
        filters=filters,
        limit=limit,
        cursor=cursor,
        cursor_key=wiring.cursor_key(),
        today=wiring.now().date(),
    )
    return InvoicePageOut.of(found)


@router.get("/quickbooks/invoices/<invoiceId>/sync-preview", summary="What Sync with QB would write; writes nothing")
def sync_preview(invoice_id: InvoiceId) -> SyncPreviewOut:
    tenant_id = tenant_id_of(router)
    quickbooks = partial(wiring.quickbooks_for, tenant_id)
    preview = service.preview_sync(
        quickbooks, wiring.invoice_stores(), tenant_id=tenant_id, invoice_id=invoice_id, now=wiring.now()
    )
    return SyncPreviewOut.of(preview)


@router.get("/quickbooks/invoices/<invoiceId>/qb", summary="View QB Info: the linked QuickBooks objects, read live")
def view_in_quickbooks(invoice_id: InvoiceId) -> QuickBooksViewOut:
    tenant_id = tenant_id_of(router)
    quickbooks = partial(wiring.quickbooks_for, tenant_id)
    seen = service.view_in_quickbooks(quickbooks, wiring.invoice_stores(), tenant_id=tenant_id, invoice_id=invoice_id)
    return QuickBooksViewOut.of(seen)


@router.delete("/quickbooks/invoices/<invoiceId>/qb-link", summary="Unlink; nothing changes in QuickBooks")
def unlink(invoice_id: InvoiceId) -> Response[None]:
    service.unlink(wiring.invoice_stores(), tenant_id=tenant_id_of(router), invoice_id=invoice_id)
    return Response(status_code=204)

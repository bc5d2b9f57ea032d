"""Sync one invoice with QuickBooks now ("Sync with QB" on the Invoices tab)."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - pydantic reads the model's annotations at run time
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from shared import wiring
from shared.domain.types import MAX_ID_LENGTH
from shared.services import invoices as service
from shared.web import ApiModel, http_app, http_handler, tenant_id_of

router = Router()

# Ids go into DynamoDB keys: at most MAX_ID_LENGTH characters, as every Books360 id (a longer one is a 422).
InvoiceId = Annotated[str, Path(alias="invoiceId", min_length=1, max_length=MAX_ID_LENGTH)]


class InvoiceSyncedOut(ApiModel):
    invoice_id: str
    qb_invoice_ids: list[str]
    qb_payment_ids: list[str]
    customer_created: bool
    synced_at: datetime | None

    @classmethod
    def of(cls, synced: service.InvoiceSynced) -> InvoiceSyncedOut:
        return cls(
            invoice_id=synced.invoice_id,
            qb_invoice_ids=synced.qb_invoice_ids,
            qb_payment_ids=synced.qb_payment_ids,
            customer_created=synced.customer_created,
            synced_at=synced.synced_at,
        )


@router.post("/quickbooks/invoices/<invoiceId>/sync", summary="Write the invoice and its payments to QuickBooks")
def sync(invoice_id: InvoiceId) -> InvoiceSyncedOut:
    tenant_id = tenant_id_of(router)
    with wiring.quickbooks_for(tenant_id) as qbo:
        synced = service.sync_invoice(
            qbo, wiring.invoice_stores(), tenant_id=tenant_id, invoice_id=invoice_id, now=wiring.now()
        )
    return InvoiceSyncedOut.of(synced)


app = http_app(router)
lambda_handler = http_handler(app)

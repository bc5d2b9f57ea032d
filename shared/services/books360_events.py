"""Books360's changes (contract: "Books360 events"): version-guarded upserts of our copies."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.domain.books360 import Client, Invoice, InvoiceDeleted, Vendor
from shared.domain.invoices import created_date
from shared.domain.parties import CUSTOMER, VENDOR
from shared.observability import logger, metrics
from shared.store.auto_sync import FAILURES, INDEX_ATTRIBUTES, client_marker, due_keys
from shared.store.books360 import INVOICE_PREFIX

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.domain.books360 import Versioned
    from shared.store.books360 import Books360Store


@dataclass(frozen=True)
class EventOutcome:
    """``applied``: stored; ``stale``: an older or repeated version, ignored; ``rejected``: malformed."""

    status: str
    detail_type: str
    object_id: str | None = None


def _client_fields(client: Client) -> dict[str, Any]:
    return {
        "clientId": client.client_id,
        "name": client.name,
        "nameLower": client.name.casefold(),
        "email": client.email,
        "emailLower": client.email.casefold() if client.email else None,
        "companyName": client.company_name,
        "phone": client.phone,
        "billingAddress": client.billing_address.model_dump(by_alias=True) if client.billing_address else None,
        # A changed client (an email added, say) is news for its invoices waiting for automatic sync.
        **client_marker(client.tenant_id, client.client_id),
    }


def _vendor_fields(vendor: Vendor) -> dict[str, Any]:
    return {
        "vendorId": vendor.vendor_id,
        "name": vendor.name,
        "nameLower": vendor.name.casefold(),
        "email": vendor.email,
        "emailLower": vendor.email.casefold() if vendor.email else None,
        "companyName": vendor.company_name,
        "phone": vendor.phone,
    }


def _invoice_fields(invoice: Invoice) -> dict[str, Any]:
    document = invoice.model_dump(by_alias=True, mode="json", exclude={"tenant_id", "version"})
    # Amounts stay exact: DynamoDB numbers from Decimal, never from the float JSON would give.
    amounts = {
        "transactions": [t.amount for t in invoice.transactions],
        "payments": [p.amount for p in invoice.payments],
    }
    for key, exact in amounts.items():
        for stored, amount in zip(document[key], exact, strict=True):
            stored["amount"] = amount
    document["amount"] = sum((t.amount for t in invoice.transactions), Decimal("0"))
    document["paid"] = sum((p.amount for p in invoice.payments), Decimal("0"))
    document["numberLower"] = invoice.number.casefold()
    # The tab's date filter compares UTC creation dates as ISO strings.
    document["createdDate"] = created_date(invoice).isoformat()
    # Every new version is due for automatic sync, in the same write: a crash before the sync is queued leaves
    # it for the sweep (``shared.store.auto_sync``). A new version earns fresh tries.
    return {**document, **due_keys(invoice.tenant_id, invoice.invoice_id), FAILURES: None}


def _upsert(
    fields: Callable[[Any], dict[str, Any]], sk_prefix: str, id_of: Callable[[Any], str]
) -> Callable[[Books360Store, Any], tuple[bool, str]]:
    def apply(store: Books360Store, model: Any) -> tuple[bool, str]:
        object_id = id_of(model)
        return store.upsert(model.tenant_id, sk_prefix + object_id, fields(model), model.version), object_id

    return apply


def _delete_invoice(store: Books360Store, deleted: InvoiceDeleted) -> tuple[bool, str]:
    # Nothing to sync any more; a deletion in QuickBooks that fails puts it back (``auto_sync.deletion_failed``).
    sk = INVOICE_PREFIX + deleted.invoice_id
    return store.tombstone(deleted.tenant_id, sk, deleted.version, remove=INDEX_ATTRIBUTES), deleted.invoice_id


HANDLERS: dict[str, tuple[type[Versioned], Callable[[Books360Store, Any], tuple[bool, str]]]] = {
    CUSTOMER.upsert_event: (Client, _upsert(_client_fields, CUSTOMER.sk_prefix, lambda c: c.client_id)),
    VENDOR.upsert_event: (Vendor, _upsert(_vendor_fields, VENDOR.sk_prefix, lambda v: v.vendor_id)),
    "InvoiceUpserted": (Invoice, _upsert(_invoice_fields, INVOICE_PREFIX, lambda i: i.invoice_id)),
    "InvoiceDeleted": (InvoiceDeleted, _delete_invoice),
}


def apply_event(
    store: Books360Store,
    detail_type: str,
    detail: Any,
    *,
    event_id: str,
    on_invoice_deleted: Callable[[str, str], object] | None = None,
    on_invoice_changed: Callable[[str, str, int], object] | None = None,
) -> EventOutcome:
    """Store one Books360 change unless a newer version is already stored.

    A malformed event is rejected (logged with the fields at fault, never their values, and counted), not
    raised: retrying it could never succeed, and the events around it must go on. After an ``InvoiceDeleted``
    (applied or repeated), ``on_invoice_deleted(tenant_id, invoice_id)`` queues its deletion in QuickBooks;
    after an applied ``InvoiceUpserted`` (never a stale or repeated one),
    ``on_invoice_changed(tenant_id, invoice_id, version)`` queues its automatic sync.
    """
    handler = HANDLERS.get(detail_type)
    if handler is None:
        return _rejected(detail_type, event_id, ["detail-type"])
    model_type, apply = handler
    try:
        model = model_type.model_validate(detail)
    except ValidationError as exc:
        return _rejected(detail_type, event_id, [".".join(str(p) for p in e["loc"]) or "detail" for e in exc.errors()])
    applied, object_id = apply(store, model)
    metrics.add_metric(name="Books360EventApplied" if applied else "Books360EventStale", unit="Count", value=1)
    logger.info("books360 event", detail_type=detail_type, event_id=event_id, object_id=object_id, applied=applied)
    if on_invoice_deleted is not None and isinstance(model, InvoiceDeleted):
        on_invoice_deleted(model.tenant_id, model.invoice_id)
    if applied and on_invoice_changed is not None and isinstance(model, Invoice):
        on_invoice_changed(model.tenant_id, model.invoice_id, model.version)
    return EventOutcome("applied" if applied else "stale", detail_type, object_id)


def _rejected(detail_type: str, event_id: str, fields: list[str]) -> EventOutcome:
    metrics.add_metric(name="Books360EventRejected", unit="Count", value=1)
    logger.warning("books360 event rejected", detail_type=detail_type, event_id=event_id, fields=fields)
    return EventOutcome("rejected", detail_type)

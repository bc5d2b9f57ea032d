"""Books360 objects as Books360 publishes them (contract: "Books360 events"); our copies are these, versioned."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.domain.types import BooksId, Money, TenantId  # noqa: TC001 - pydantic needs them at run time

Id = BooksId
CustomValue = Annotated[str, BeforeValidator(lambda v: v if isinstance(v, str) else str(v))]
"""QuickBooks custom fields are strings; Books360 may send a number."""


class Books360Model(BaseModel):
    """camelCase on the wire (as Books360 sends it), snake_case here; unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class Versioned(Books360Model):
    # Checked as the token's tenant id is (``shared.web.context``): every key is built from it, so an event with a
    # malformed one (``t1#CLIENT#x``, a space, 129 characters) is rejected before anything is written.
    tenant_id: TenantId
    version: Annotated[int, Field(ge=0)]


class Address(Books360Model):
    line1: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Client(Versioned):
    client_id: Id
    name: Annotated[str, Field(min_length=1, max_length=500)]
    email: str | None = None
    company_name: str | None = None
    phone: str | None = None
    billing_address: Address | None = None


class Vendor(Versioned):
    vendor_id: Id
    name: Annotated[str, Field(min_length=1, max_length=500)]
    email: str | None = None
    company_name: str | None = None
    phone: str | None = None


class Transaction(Books360Model):
    id: Id
    date: date
    description: str = ""
    amount: Money


class Payment(Books360Model):
    id: Id
    date: date
    amount: Money
    payment_system: str | None = None
    broker_id: str | None = None


class Invoice(Versioned):
    invoice_id: Id
    client_id: Id
    number: Annotated[str, Field(min_length=1, max_length=200)]
    created_at: AwareDatetime | date
    date_from: date | None = None
    date_to: date | None = None
    due_date: date | None = None
    currency: str = "USD"
    custom_fields: dict[str, CustomValue | None] = Field(default_factory=dict)
    transactions: list[Transaction] = Field(default_factory=list)
    payments: list[Payment] = Field(default_factory=list)


class InvoiceDeleted(Versioned):
    invoice_id: Id

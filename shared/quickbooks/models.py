"""QuickBooks documents as typed models, in Intuit's PascalCase (python-quickbooks keeps Intuit's names too).

Only this package speaks PascalCase: services get these models (or domain objects made from them), never raw
dicts. What we write is declared field by field; what QuickBooks answers carries more than we declare, and the
extra fields are kept (``extra="allow"``) so View QB Info can show the object as QuickBooks returned it.
Amounts are ``Decimal`` (``shared.quickbooks._json`` writes them as JSON numbers); dates are QuickBooks'
plain ``YYYY-MM-DD`` strings.
"""

from __future__ import annotations

from decimal import Decimal  # noqa: TC003 - pydantic needs it at run time
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field


class QbModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def body(self) -> dict[str, Any]:
        """The request body: only the fields that have a value (QuickBooks reads absent as empty)."""
        return self.model_dump(exclude_none=True, by_alias=True)

    @classmethod
    def of(cls, document: dict[str, Any]) -> Self:
        return cls.model_validate(document)


class Ref(QbModel):
    value: str
    name: str | None = None


class EmailAddress(QbModel):
    Address: str


class SalesItemDetail(QbModel):
    ItemRef: Ref
    ServiceDate: str | None = None


class InvoiceLine(QbModel):
    Amount: Decimal
    Description: str | None = None
    DetailType: Literal["SalesItemLineDetail"] = "SalesItemLineDetail"
    SalesItemLineDetail: SalesItemDetail


class StringCustomField(QbModel):
    DefinitionId: str
    Name: str | None = None
    Type: Literal["StringType"] = "StringType"
    StringValue: str


class Invoice(QbModel):
    """An Invoice as we write it (create, or a sparse update with ``Id`` and ``SyncToken``)."""

    Id: str | None = None
    SyncToken: str | None = None
    CustomerRef: Ref
    DocNumber: str
    TxnDate: str
    DueDate: str | None = None
    PrivateNote: str
    BillEmail: EmailAddress | None = None
    Line: list[InvoiceLine]
    CustomField: list[StringCustomField] = Field(default_factory=list)


class TxnLink(QbModel):
    TxnId: str
    TxnType: str = "Invoice"


class PaymentLine(QbModel):
    Amount: Decimal
    LinkedTxn: list[TxnLink]


class Payment(QbModel):
    Id: str | None = None
    SyncToken: str | None = None
    CustomerRef: Ref
    TotalAmt: Decimal
    TxnDate: str
    DepositToAccountRef: Ref | None = None
    PaymentMethodRef: Ref | None = None
    PrivateNote: str
    Line: list[PaymentLine] = Field(default_factory=list)


class Saved(QbModel):
    """Any entity as QuickBooks answers it: its id and SyncToken, and everything else kept as sent."""

    Id: str
    SyncToken: str = "0"
    PrivateNote: str | None = None
    DocNumber: str | None = None
    Active: bool = True
    CustomerRef: Ref | None = None

    # Our names for what services read (PascalCase stays in this package).
    @property
    def qb_id(self) -> str:
        return self.Id

    @property
    def sync_token(self) -> str:
        return self.SyncToken

    @property
    def customer_id(self) -> str | None:
        return self.CustomerRef.value if self.CustomerRef else None

    @property
    def note(self) -> str:
        return self.PrivateNote or ""

    @property
    def active(self) -> bool:
        return self.Active

    def versioned(self, body: QbModel) -> dict[str, Any]:
        """``body`` as a sparse update of this object (its ``Id`` and current ``SyncToken``)."""
        return {**body.body(), "Id": self.Id, "SyncToken": self.SyncToken}


class NameListEntry(Saved):
    """A Customer or Vendor as QuickBooks answers it (the fields the Customers and Vendors tabs read)."""

    DisplayName: str = ""
    PrimaryEmailAddr: EmailAddress | None = None

    @property
    def display_name(self) -> str:
        return self.DisplayName

    @property
    def email(self) -> str | None:
        return self.PrimaryEmailAddr.Address if self.PrimaryEmailAddr else None

    def text(self, field: str) -> str | None:
        """A field we write our marker into (Customer ``Notes``, Vendor ``AcctNum``)."""
        value = (self.model_extra or {}).get(field)
        return value if isinstance(value, str) else None


class Item(QbModel):
    """The Item every line uses (``Books360 Service``, Type ``Service``; ``Books360 Product``, ``NonInventory``)."""

    Name: str
    Type: Literal["Service", "NonInventory"]
    IncomeAccountRef: Ref
    Description: str | None = None

    @classmethod
    def for_lines(cls, name: str, item_type: Literal["Service", "NonInventory"], income_account_id: str) -> Item:
        return cls(Name=name, Type=item_type, IncomeAccountRef=Ref(value=income_account_id))


class Activation(QbModel):
    """A sparse update making a name-list object (an Item) active again."""

    Active: bool = True

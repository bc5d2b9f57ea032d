"""A tenant's "Additional Settings" (guide: "Additional Settings"; contract: "Settings").

The models carry the contract's camelCase names as aliases (``to_camel``), so the API takes and gives this very
document; Python code uses the snake_case names. Validation against the stored lists is a pure function
returning ``Violation``s with the path of the offending field in the request body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic.alias_generators import to_camel

from shared.domain.types import QbId

if TYPE_CHECKING:
    from shared.domain.lists import CompanyLists

PLACEHOLDERS = ("{invoiceNumber}", "{invoiceDate}", "{client}")
"""What "One Transaction Description" may contain (guide: "Invoice: {invoiceNumber} / {invoiceDate} / {client}")."""

MAX_MAPPINGS = 200
"""Rows of "Payment methods syncing" one document may hold: far beyond any UI use, far below DynamoDB's item size."""

_PLACEHOLDER_OR_BRACE = re.compile(r"\{([^{}]*)\}|[{}]")


class InvoiceDate(StrEnum):
    """Which date the QuickBooks invoice gets (guide: "Invoice Date To / Creation Date / Date of sync with QB")."""

    DATE_TO = "dateTo"
    CREATION_DATE = "creationDate"
    SYNC_DATE = "syncDate"


class ItemType(StrEnum):
    """The kind of QuickBooks Item the lines use (guide: "Service/Product")."""

    SERVICE = "service"
    PRODUCT = "product"


class _Document(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are ignored (contract: "Conventions")."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class PaymentMethodMapping(_Document):
    """One row of "Payment methods syncing": a payment system (and broker) to a bank account and payment method."""

    payment_system: Annotated[str, Field(min_length=1, max_length=100, description="Books360 payment system")]
    broker_id: Annotated[
        str | None, Field(min_length=1, max_length=100, description="null: every broker of the system")
    ] = None
    bank_account_id: Annotated[QbId | None, Field(description="null: the default bank account")] = None
    payment_method_id: Annotated[QbId | None, Field(description="null: the default payment method")] = None


class PaymentDefaults(_Document):
    """The "Default" section: used when no row matches or a row leaves a field empty."""

    bank_account_id: QbId | None = None
    payment_method_id: QbId | None = None


class Settings(_Document):
    """The whole "Additional Settings" document; a PUT replaces it, so every field is required."""

    one_transaction_invoice: StrictBool
    one_transaction_description: Annotated[str, Field(max_length=4000)]
    split_invoice: StrictBool
    sync_custom_fields: StrictBool
    auto_create_invoices: StrictBool
    invoice_date: InvoiceDate
    item_type: ItemType
    payment_method_mappings: Annotated[list[PaymentMethodMapping], Field(max_length=MAX_MAPPINGS)]
    defaults: PaymentDefaults

    @classmethod
    def new(cls) -> Settings:
        """A new tenant's settings: the contract's example with no mappings and empty defaults."""
        return cls.model_validate(DEFAULT_DOCUMENT)


DEFAULT_DOCUMENT: dict[str, Any] = {
    "oneTransactionInvoice": False,
    "oneTransactionDescription": "Invoice: {invoiceNumber} / {invoiceDate} / {client}",
    "splitInvoice": False,
    "syncCustomFields": False,
    "autoCreateInvoices": False,
    "invoiceDate": "dateTo",
    "itemType": "service",
    "paymentMethodMappings": [],
    "defaults": {"bankAccountId": None, "paymentMethodId": None},
}
"""Contract, "Settings": what a tenant that never saved its settings gets."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``field`` is the path in the request body (``paymentMethodMappings[2].bankAccountId``)."""

    field: str
    message: str


class PaymentTarget(NamedTuple):
    """Where a payment goes in QuickBooks; None leaves the field out (QuickBooks then uses Undeposited Funds)."""

    bank_account_id: str | None
    payment_method_id: str | None


def description_violations(description: str) -> list[Violation]:
    """Guide, "One Transaction Description": only ``{invoiceNumber}``, ``{invoiceDate}`` and ``{client}``.

    Any other placeholder, and any brace that opens or closes no placeholder, names ``oneTransactionDescription``.
    """
    field = "oneTransactionDescription"
    allowed = ", ".join(PLACEHOLDERS)
    violations = []
    for match in _PLACEHOLDER_OR_BRACE.finditer(description):
        token = match.group(0)
        if match.group(1) is None:
            message = f"Unbalanced brace {token!r} at position {match.start()}; placeholders are {allowed}."
        elif token not in PLACEHOLDERS:
            message = f"Unknown placeholder {token}; the allowed ones are {allowed}."
        else:
            continue
        violations.append(Violation(field, message))
    return violations


def duplicate_mapping_violations(settings: Settings) -> list[Violation]:
    """Contract: two rows with the same ``(paymentSystem, brokerId)`` are an error naming the second row.

    The field is the row itself (``paymentMethodMappings[1]``): the pair of system and broker is what repeats.
    """
    first_row: dict[tuple[str, str | None], int] = {}
    violations = []
    for index, row in enumerate(settings.payment_method_mappings):
        key = (row.payment_system, row.broker_id)
        if key in first_row:
            broker = f"broker {row.broker_id!r}" if row.broker_id is not None else "no broker"
            message = (
                f"Row {first_row[key]} already maps payment system {row.payment_system!r} with {broker}; "
                "each (paymentSystem, brokerId) may appear once."
            )
            violations.append(Violation(f"paymentMethodMappings[{index}]", message))
        else:
            first_row[key] = index
    return violations


def reference_violations(settings: Settings, lists: CompanyLists | None) -> list[Violation]:
    """Contract: a bank account must be in the stored lists, linkable and active; a payment method in the lists
    and active (guide: "Update Lists" first, then "Additional Settings")."""
    targets: list[tuple[str, PaymentMethodMapping | PaymentDefaults]] = [
        (f"paymentMethodMappings[{i}]", row) for i, row in enumerate(settings.payment_method_mappings)
    ]
    targets.append(("defaults", settings.defaults))
    violations = []
    for path, target in targets:
        if target.bank_account_id is not None:
            problem = _bank_account_problem(target.bank_account_id, lists)
            if problem:
                violations.append(Violation(f"{path}.bankAccountId", problem))
        if target.payment_method_id is not None:
            problem = _payment_method_problem(target.payment_method_id, lists)
            if problem:
                violations.append(Violation(f"{path}.paymentMethodId", problem))
    return violations


def settings_violations(settings: Settings, lists: CompanyLists | None) -> list[Violation]:
    """Every rule of the contract's "Settings" section a document breaks, in the order of the document."""
    return (
        description_violations(settings.one_transaction_description)
        + duplicate_mapping_violations(settings)
        + reference_violations(settings, lists)
    )


def referenced_ids(settings: Settings) -> tuple[frozenset[str], frozenset[str]]:
    """The bank account ids and payment method ids the settings point at (kept by "Update Lists" while used)."""
    targets: list[PaymentMethodMapping | PaymentDefaults] = [*settings.payment_method_mappings, settings.defaults]
    accounts = frozenset(t.bank_account_id for t in targets if t.bank_account_id is not None)
    methods = frozenset(t.payment_method_id for t in targets if t.payment_method_id is not None)
    return accounts, methods


def resolve_payment_target(settings: Settings, payment_system: str, broker_id: str | None) -> PaymentTarget:
    """Contract, "Settings": the bank account and payment method of one Books360 payment.

    The row of ``(paymentSystem, brokerId)``, else the row of ``paymentSystem`` with ``brokerId: null`` (a payment
    with no brokerId goes straight to it), else ``defaults``; a row lacking one field takes it from ``defaults``.
    """
    rows = {(row.payment_system, row.broker_id): row for row in reversed(settings.payment_method_mappings)}
    row = rows.get((payment_system, broker_id))
    if row is None:
        row = rows.get((payment_system, None))
    defaults = settings.defaults
    if row is None:
        return PaymentTarget(defaults.bank_account_id, defaults.payment_method_id)
    return PaymentTarget(
        row.bank_account_id if row.bank_account_id is not None else defaults.bank_account_id,
        row.payment_method_id if row.payment_method_id is not None else defaults.payment_method_id,
    )


def _bank_account_problem(account_id: str, lists: CompanyLists | None) -> str | None:
    account = lists.bank_account(account_id) if lists is not None else None
    if account is None:
        return f"Bank account {account_id} is not in the QuickBooks lists; update the lists or pick another."
    if not account.linkable:
        return (
            f"Account {account_id} ({account.name}) is of type {account.account_type}; "
            "only Bank and Other Current Asset accounts can take payments."
        )
    if not account.active:
        return f"Bank account {account_id} ({account.name}) is inactive or was deleted in QuickBooks."
    return None


def _payment_method_problem(method_id: str, lists: CompanyLists | None) -> str | None:
    method = lists.payment_method(method_id) if lists is not None else None
    if method is None:
        return f"Payment method {method_id} is not in the QuickBooks lists; update the lists or pick another."
    if not method.active:
        return f"Payment method {method_id} ({method.name}) is inactive or was deleted in QuickBooks."
    return None

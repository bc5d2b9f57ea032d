"""The entities of one QuickBooks company and the rules QuickBooks applies when they are written.

Entity differences live in the ``SPECS`` table (name field and its namespace, required fields,
references, read-only fields, defaults, whether it is a transaction); the few rules that belong to
one entity (invoice lines, payment links, account types) are functions named in its row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from emulator import errors, wire
from emulator.errors import QboFault

if TYPE_CHECKING:
    from emulator.faults import Limits
    from emulator.state import Operation

Record = dict[str, Any]

SYSTEM_KEYS = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status", "time"})
# Numbers that python-quickbooks may send as strings (its DecimalEncoder writes Decimal as "12.50").
NUMERIC_KEYS = frozenset(
    {
        "Amount",
        "TotalAmt",
        "UnitPrice",
        "Qty",
        "DiscountPercent",
        "PurchaseCost",
        "QtyOnHand",
        "BillRate",
        "ExchangeRate",
        "TaxInclusiveAmt",
        "Deposit",
    }
)
CENT = Decimal("0.01")
ZERO = Decimal(0)
USD = {"value": "USD", "name": "United States Dollar"}
EMAIL = re.compile(r"^[^@\s,;<>()\[\]\"]+@[^@\s,;<>()\[\]\"]+\.[^@\s,;<>()\[\]\"]+$")
PARTY_NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")

ACCOUNT_CLASSIFICATION = {
    "Bank": "Asset",
    "Accounts Receivable": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Other Current Liability": "Liability",
    "Long Term Liability": "Liability",
    "Equity": "Equity",
    "Income": "Revenue",
    "Other Income": "Revenue",
    "Cost of Goods Sold": "Expense",
    "Expense": "Expense",
    "Other Expense": "Expense",
    "Non-Posting": "Asset",
}
# The subtype QuickBooks picks when only the type is given, and the type implied by a lone subtype.
DEFAULT_SUBTYPE = {
    "Bank": "Checking",
    "Accounts Receivable": "AccountsReceivable",
    "Other Current Asset": "OtherCurrentAssets",
    "Fixed Asset": "MachineryAndEquipment",
    "Other Asset": "OtherLongTermAssets",
    "Accounts Payable": "AccountsPayable",
    "Credit Card": "CreditCard",
    "Other Current Liability": "OtherCurrentLiabilities",
    "Long Term Liability": "OtherLongTermLiabilities",
    "Equity": "OpeningBalanceEquity",
    "Income": "ServiceFeeIncome",
    "Other Income": "OtherMiscellaneousIncome",
    "Cost of Goods Sold": "SuppliesMaterialsCogs",
    "Expense": "OtherMiscellaneousServiceCost",
    "Other Expense": "OtherMiscellaneousExpense",
    "Non-Posting": "Estimates",
}
TYPE_OF_SUBTYPE = {
    **{subtype: account_type for account_type, subtype in DEFAULT_SUBTYPE.items()},
    "Savings": "Bank",
    "MoneyMarket": "Bank",
    "CashOnHand": "Bank",
    "UndepositedFunds": "Other Current Asset",
    "Inventory": "Other Current Asset",
    "PrepaidExpenses": "Other Current Asset",
    "SalesOfProductIncome": "Income",
    "OtherPrimaryIncome": "Income",
    "DiscountsRefundsGiven": "Income",
    "AdvertisingPromotional": "Expense",
    "BankCharges": "Expense",
    "OfficeGeneralAdministrativeExpenses": "Expense",
    "Travel": "Expense",
}
ITEM_TYPES_NEEDING_INCOME = frozenset({"Service", "NonInventory", "Inventory"})
ITEM_TYPES_WRITABLE = ITEM_TYPES_NEEDING_INCOME | {"Category", "Group"}
INVENTORY_FIELDS = ("QtyOnHand", "InvStartDate", "AssetAccountRef", "ExpenseAccountRef")
PAYMENT_METHOD_TYPES = frozenset({"CREDIT_CARD", "NON_CREDIT_CARD"})
MAX_TEXT = 4000  # line Description, PrivateNote
MAX_DOC_NUMBER = 21


@dataclass
class Change:
    """What a successful write did: the entity as answered, and the webhook operation it raises."""

    entity: str
    record: Record
    operation: Operation


Hook = Callable[["Company", Record, Record | None], None]


def _no_defaults(company: Company) -> Record:
    return {}


def _no_hook(company: Company, record: Record, previous: Record | None) -> None:
    return None


@dataclass(frozen=True)
class EntitySpec:
    name: str
    transaction: bool
    name_field: str | None = None
    name_scope: str | None = None  # entities sharing a scope share one namespace of names
    duplicate_text: str = ""
    name_max: int = 100
    # Colons separate parent and child (Parent:Child), so no name may hold one.
    forbidden_name_chars: str = ":"
    required: tuple[str, ...] = ()
    refs: tuple[tuple[str, str], ...] = ()  # (field, referenced entity)
    read_only: frozenset[str] = frozenset()
    defaults: Callable[[Company], Record] = _no_defaults
    prepare: Hook = _no_hook  # entity rules run after the common ones; may derive fields
    after_save: Hook = _no_hook
    before_remove: Hook = _no_hook  # may refuse a delete
    after_remove: Hook = _no_hook
    before_void: Hook = _no_hook  # may refuse a void
    void: Hook | None = None  # zeroes a stored copy in place; None: the entity cannot be voided
    filterable: frozenset[str] = frozenset()  # queryable in WHERE / ORDERBY besides Id and MetaData times

    @property
    def path(self) -> str:
        return self.name.lower()

    def writable(self, record: Record) -> Record:
        return {k: v for k, v in record.items() if k not in SYSTEM_KEYS and k not in self.read_only}


# --- input normalisation -------------------------------------------------------------------------


def _number(key: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise errors.bad_request(f"Property Name:{key} specified is unsupported or invalid", key)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise errors.bad_request(f"Property Name:{key} specified is unsupported or invalid", key) from exc
    if not parsed.is_finite():
        raise errors.bad_request(f"Property Name:{key} specified is unsupported or invalid", key)
    return parsed


def clean(value: Any, key: str = "") -> Any:
    """Drop empty values (QuickBooks treats ``""``, ``null``, ``[]`` and ``{}`` as absent); numbers to Decimal."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            cleaned = clean(v, k)
            if cleaned is not None:
                out[k] = cleaned
        return out or None
    if isinstance(value, list):
        items = [c for c in (clean(v, key) for v in value) if c is not None]
        return items or None
    if value is None or value == "":
        return None
    if key in NUMERIC_KEYS:
        return _number(key, value)
    return value


def _ref_value(ref: Any, field_name: str) -> str | None:
    if ref is None:
        return None
    if not isinstance(ref, dict):
        raise errors.bad_request(f"Property Name:{field_name} specified is unsupported or invalid", field_name)
    value = ref.get("value")
    return None if value is None or value == "" else str(value)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# --- the company --------------------------------------------------------------------------------


@dataclass
class Company:
    """One QuickBooks company (realm): its entities, derived balances and remembered ``requestid`` answers."""

    realm_id: str
    name: str
    clock: Callable[[], float]
    custom_fields: list[str] = field(default_factory=lambda: ["CampaignId", "Invoice Number", "Region"])
    limits: Limits | None = None
    records: dict[str, dict[str, Record]] = field(default_factory=dict)
    # entity -> id -> the stub CDC reports for a deleted transaction
    deleted: dict[str, dict[str, Record]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    replies: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    # invoice id -> payment id -> amount of that payment applied to it
    applied: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    voided: set[str] = field(default_factory=set)
    next_doc_number: int = 1001
    # name scope -> case-folded name -> (entity, id): names are unique per scope, inactive ones included
    names: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    company_info: Record = field(default_factory=dict)
    preferences: Record = field(default_factory=dict)
    # customer id -> ids of its invoices, for the customer's Balance
    invoices_of: dict[str, set[str]] = field(default_factory=dict)
    # While a batch runs, what its own items created: later items of that batch cannot see it.
    batch_created: set[tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        for name in SPECS:
            self.records.setdefault(name, {})
            self.deleted.setdefault(name, {})
        _seed(self)

    # reads

    def get(self, entity: str, entity_id: str) -> Record | None:
        if self.batch_created and (entity, entity_id) in self.batch_created:
            return None
        return self.records[entity].get(entity_id)

    def read(self, spec: EntitySpec, entity_id: str) -> Record:
        record = self.get(spec.name, entity_id)
        if record is None:
            raise errors.not_found(spec.name, entity_id)
        return record

    def all(self, entity: str) -> Iterable[Record]:
        if self.batch_created:
            hidden = self.batch_created
            return [r for r in self.records[entity].values() if (entity, r["Id"]) not in hidden]
        return self.records[entity].values()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run the items of one batch: each sees the company as it was before the batch's own creates."""
        self.batch_created = set()
        try:
            yield
        finally:
            self.batch_created = None

    def undeposited_funds(self) -> str:
        for account in self.all("Account"):
            if account.get("AccountSubType") == "UndepositedFunds":
                return str(account["Id"])
        raise errors.business("The company has no Undeposited Funds account")

    # writes

    def create(self, spec: EntitySpec, body: Record) -> Change:
        data = self._input(spec, body)
        record = {**spec.defaults(self), **data}
        self._validate(spec, record, None)
        self.counters[spec.name] = self.counters.get(spec.name, 0) + 1
        entity_id = str(self.counters[spec.name])
        stamp = wire.stamp(self.clock())
        record.update(
            Id=entity_id,
            SyncToken="0",
            domain="QBO",
            sparse=False,
            MetaData={"CreateTime": stamp, "LastUpdatedTime": stamp},
        )
        self.records[spec.name][entity_id] = record
        self._index_name(spec, record, None)
        spec.after_save(self, record, None)
        if self.batch_created is not None:
            self.batch_created.add((spec.name, entity_id))
        return Change(spec.name, record, "Create")

    def update(self, spec: EntitySpec, body: Record) -> Change:
        previous = self._current(spec, body)
        data = self._input(spec, body)
        if body.get("sparse") in (True, "true"):
            record = spec.writable(previous)
            for key in body:
                if key in SYSTEM_KEYS or key in spec.read_only:
                    continue
                if key in data:
                    record[key] = data[key]
                else:
                    record.pop(key, None)
        else:
            record = {**spec.defaults(self), **data}
        self._validate(spec, record, previous)
        record.update(
            Id=previous["Id"],
            SyncToken=str(int(previous["SyncToken"]) + 1),
            domain="QBO",
            sparse=False,
            MetaData={
                "CreateTime": previous["MetaData"]["CreateTime"],
                "LastUpdatedTime": wire.stamp(self.clock()),
            },
        )
        self.records[spec.name][previous["Id"]] = record
        self._index_name(spec, record, previous)
        spec.after_save(self, record, previous)
        made_inactive = not spec.transaction and previous.get("Active", True) and not record.get("Active", True)
        return Change(spec.name, record, "Delete" if made_inactive else "Update")

    def delete(self, spec: EntitySpec, body: Record) -> Change:
        if not spec.transaction:
            raise errors.bad_request(
                f"Operation Delete is not supported for {spec.name}. Make it inactive instead (Active:false)."
            )
        previous = self._current(spec, body)
        spec.before_remove(self, previous, None)
        del self.records[spec.name][previous["Id"]]
        stub = {"Id": previous["Id"], "status": "Deleted", "domain": "QBO"}
        self.deleted[spec.name][previous["Id"]] = {**stub, "MetaData": {"LastUpdatedTime": wire.stamp(self.clock())}}
        spec.after_remove(self, previous, None)
        return Change(spec.name, stub, "Delete")

    def void(self, spec: EntitySpec, body: Record) -> Change:
        if spec.void is None:
            raise errors.bad_request(f"Operation Void is not supported for {spec.name}")
        previous = self._current(spec, body)
        spec.before_void(self, previous, None)
        record = dict(previous)
        note = previous.get("PrivateNote")
        record["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        record["SyncToken"] = str(int(previous["SyncToken"]) + 1)
        record["MetaData"] = {**previous["MetaData"], "LastUpdatedTime": wire.stamp(self.clock())}
        self.records[spec.name][previous["Id"]] = record
        spec.void(self, record, previous)
        return Change(spec.name, record, "Void")

    def send_invoice(self, invoice_id: str, send_to: str | None) -> Change:
        """``POST /invoice/{id}/send``: e-mail the invoice to ``sendTo`` or its BillEmail."""
        previous = self.read(SPECS["Invoice"], invoice_id)
        if send_to is not None and not EMAIL.match(send_to):
            raise _bad_email("sendTo", send_to)
        address = send_to or (previous.get("BillEmail") or {}).get("Address")
        if not address:
            raise errors.business("The invoice has no BillEmail and no sendTo address was given.")
        stamp = wire.stamp(self.clock())
        record = dict(previous)
        record.update(
            BillEmail={"Address": address},
            EmailStatus="EmailSent",
            DeliveryInfo={"DeliveryType": "Email", "DeliveryTime": stamp},
            SyncToken=str(int(previous["SyncToken"]) + 1),
            MetaData={**previous["MetaData"], "LastUpdatedTime": stamp},
        )
        self.records["Invoice"][invoice_id] = record
        return Change("Invoice", record, "Emailed")

    # helpers

    def _index_name(self, spec: EntitySpec, record: Record, previous: Record | None) -> None:
        if spec.name_field is None or spec.name_scope is None:
            return
        index = self.names.setdefault(spec.name_scope, {})
        if previous is not None:
            index.pop(str(previous[spec.name_field]).casefold(), None)
        index[str(record[spec.name_field]).casefold()] = (spec.name, record["Id"])

    def _input(self, spec: EntitySpec, body: Record) -> Record:
        data = clean({k: v for k, v in body.items() if k not in SYSTEM_KEYS and k not in spec.read_only}) or {}
        return dict(data)

    def _current(self, spec: EntitySpec, body: Record) -> Record:
        entity_id = body.get("Id")
        if entity_id is None or entity_id == "":
            raise errors.required("Id")
        previous = self.get(spec.name, str(entity_id))
        if previous is None:
            raise errors.not_found(spec.name, str(entity_id))
        token = body.get("SyncToken")
        if token is None or token == "":
            raise errors.required("SyncToken")
        if str(token) != previous["SyncToken"]:
            raise QboFault(
                "5010",
                "Stale Object Error",
                "Stale Object Error : You and Books360 Emulator were working on this at the same time. "
                "Books360 Emulator finished before you did, so your work was not saved.",
            )
        return previous

    def _validate(self, spec: EntitySpec, record: Record, previous: Record | None) -> None:
        if spec.name_field:
            _check_name(self, spec, record, previous)
        for name in spec.required:
            if name not in record:
                raise errors.required(name)
        for holder in ("PrimaryEmailAddr", "BillEmail", "BillEmailCc", "BillEmailBcc"):
            address = record.get(holder, {}).get("Address") if isinstance(record.get(holder), dict) else None
            if address is not None and not EMAIL.match(str(address)):
                raise _bad_email(f"{holder}.Address", str(address))
        for ref_field, target in spec.refs:
            if ref_field in record:
                check_ref(self, ref_field, record[ref_field], target)
        # The 4000-character memo limit is believed, not confirmed (qbo-api-facts 2.3).
        if spec.transaction and len(str(record.get("PrivateNote", ""))) > MAX_TEXT:
            raise errors.length("PrivateNote", MAX_TEXT, len(str(record["PrivateNote"])))
        spec.prepare(self, record, previous)


def _bad_email(element: str, address: str) -> QboFault:
    return QboFault(
        "2210",
        "Email Address does not conform to the syntax rules of RFC 822",
        f"Email Address does not conform to the syntax rules of RFC 822. Supplied value:{address}",
        element=element,
    )


def check_ref(company: Company, field_name: str, ref: Any, target: str) -> Record:
    """A reference must name an existing entity, and name-list entities must be active (610)."""
    value = _ref_value(ref, field_name)
    if value is None:
        raise errors.required(f"{field_name}.value")
    found = company.get(target, value)
    if found is None:
        raise errors.invalid_reference(field_name, value)
    if not SPECS[target].transaction and not found.get("Active", True):
        raise errors.inactive_reference(field_name)
    name_field = SPECS[target].name_field
    if name_field and name_field in found:
        ref["name"] = found[name_field]
    ref["value"] = value
    return found


def _check_name(company: Company, spec: EntitySpec, record: Record, previous: Record | None) -> None:
    name_field = spec.name_field
    assert name_field is not None
    name = record.get(name_field)
    if name is None and spec.name_scope == "party":
        parts = [str(record[p]).strip() for p in PARTY_NAME_PARTS if p in record]
        if not any(parts):
            raise QboFault("6080", "No Name Provided", "Please provide at least one name field.", element="DisplayName")
        name = " ".join(p for p in parts if p)
    if name is None:
        raise errors.required(name_field)
    name = str(name).strip()
    if not name:
        raise errors.required(name_field)
    if any(char in name for char in spec.forbidden_name_chars):
        raise errors.invalid_characters(name_field, name)
    if len(name) > spec.name_max:
        raise errors.length(name_field, spec.name_max, len(name))
    holder = company.names.get(spec.name_scope or "", {}).get(name.casefold())
    if holder is not None and not (previous is not None and holder == (spec.name, previous["Id"])):
        raise QboFault(
            "6240",
            "Duplicate Name Exists Error",
            f"The name supplied already exists. : {spec.duplicate_text} : Id={holder[1]}",
            element=name_field,
        )
    record[name_field] = name
    record["FullyQualifiedName"] = name
    if spec.name_scope == "party":
        record.setdefault("PrintOnCheckName", name)


# --- customers and vendors -------------------------------------------------------------------------


def _party_defaults(company: Company) -> Record:
    return {"Active": True, "CurrencyRef": dict(USD)}


def _customer_defaults(company: Company) -> Record:
    return {
        **_party_defaults(company),
        "Taxable": False,
        "Job": False,
        "BillWithParent": False,
        "PreferredDeliveryMethod": "Print",
    }


def _prepare_customer(company: Company, record: Record, previous: Record | None) -> None:
    balance = previous.get("Balance", ZERO) if previous else ZERO
    record["Balance"] = balance
    record["BalanceWithJobs"] = balance


def _prepare_vendor(company: Company, record: Record, previous: Record | None) -> None:
    record["Balance"] = previous.get("Balance", ZERO) if previous else ZERO


def _refresh_customer(company: Company, customer_id: str | None) -> None:
    customer = company.get("Customer", customer_id) if customer_id else None
    if customer is None:
        return
    invoices = company.records["Invoice"]
    balance = sum((invoices[i]["Balance"] for i in company.invoices_of.get(customer["Id"], ())), ZERO)
    customer["Balance"] = balance
    customer["BalanceWithJobs"] = balance


# --- items, accounts, payment methods --------------------------------------------------------------


def _item_defaults(company: Company) -> Record:
    return {"Active": True, "Type": "Service", "Taxable": False, "UnitPrice": ZERO, "TrackQtyOnHand": False}


def _prepare_item(company: Company, record: Record, previous: Record | None) -> None:
    item_type = record.get("Type")
    if item_type not in ITEM_TYPES_WRITABLE and not (previous and previous.get("Type") == item_type):
        raise QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration: {item_type}", element="Type")
    if item_type in ITEM_TYPES_NEEDING_INCOME and "IncomeAccountRef" not in record:
        raise errors.required("IncomeAccountRef")
    if item_type == "Inventory":
        missing = [f for f in INVENTORY_FIELDS if f not in record]
        if missing or not record.get("TrackQtyOnHand"):
            raise QboFault(
                "2020",
                "Required Param Missing",
                f"Required parameter {(missing or ['TrackQtyOnHand'])[0]} is missing in the request "
                "(for inventory items)",
            )
    record.setdefault("SubItem", False)


def _account_defaults(company: Company) -> Record:
    return {"Active": True, "SubAccount": False, "CurrencyRef": dict(USD)}


def _prepare_account(company: Company, record: Record, previous: Record | None) -> None:
    account_type = record.get("AccountType")
    subtype = record.get("AccountSubType")
    if account_type is None and subtype is not None:
        account_type = TYPE_OF_SUBTYPE.get(str(subtype))
    if account_type not in ACCOUNT_CLASSIFICATION:
        raise QboFault(
            "6010",
            "Invalid Account.AccountType && Account.SubType",
            f"Invalid Account.AccountType && Account.SubType : AccountType={account_type} AccountSubType={subtype}",
            element="AccountType",
        )
    record["AccountType"] = account_type
    record.setdefault("AccountSubType", DEFAULT_SUBTYPE[account_type])
    record["Classification"] = ACCOUNT_CLASSIFICATION[account_type]
    balance = previous.get("CurrentBalance", ZERO) if previous else ZERO
    record["CurrentBalance"] = balance
    record["CurrentBalanceWithSubAccounts"] = balance


def _payment_method_defaults(company: Company) -> Record:
    return {"Active": True, "Type": "NON_CREDIT_CARD"}


def _prepare_payment_method(company: Company, record: Record, previous: Record | None) -> None:
    if record.get("Type") not in PAYMENT_METHOD_TYPES:
        raise QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration: {record.get('Type')}", element="Type")


# --- invoices --------------------------------------------------------------------------------------


def _txn_defaults(company: Company) -> Record:
    return {"TxnDate": wire.today(company.clock()), "CurrencyRef": dict(USD)}


def _invoice_defaults(company: Company) -> Record:
    return {
        **_txn_defaults(company),
        "PrintStatus": "NotSet",
        "EmailStatus": "NotSet",
        "Deposit": ZERO,
        "ApplyTaxAfterDiscount": False,
        "AllowOnlineCreditCardPayment": False,
        "AllowOnlineACHPayment": False,
    }


def _line_type(line: Record) -> str:
    declared = line.get("DetailType")
    if declared:
        return str(declared)
    for candidate in ("SalesItemLineDetail", "DiscountLineDetail", "DescriptionLineDetail", "SubTotalLineDetail"):
        if candidate in line:
            return "DescriptionOnly" if candidate == "DescriptionLineDetail" else candidate
    return ""


def _sales_line(company: Company, line: Record) -> Decimal:
    detail = line.get("SalesItemLineDetail") or {}
    if not isinstance(detail, dict):
        raise errors.bad_request("Property Name:SalesItemLineDetail specified is unsupported or invalid")
    amount = line.get("Amount")
    if amount is None:
        raise errors.required("Line.Amount")
    qty, price = detail.get("Qty"), detail.get("UnitPrice")
    # python-quickbooks sends Qty 0 and UnitPrice 0 when they were never set: only real values are checked.
    if qty and price and _cents(qty * price) != _cents(amount):
        raise QboFault(
            "6070",
            "Amount calculation incorrect in the request",
            f"Amount is not equal to Qty * UnitPrice. Supplied value:{wire.decimal_text(amount)}",
            element="Line.Amount",
        )
    if amount < 0:
        raise errors.business("Negative amounts are not allowed on sales item lines. Use a discount line instead.")
    detail.setdefault("ItemRef", {"value": "1"})
    check_ref(company, "Line.SalesItemLineDetail.ItemRef", detail["ItemRef"], "Item")
    tax_code = _ref_value(detail.get("TaxCodeRef"), "TaxCodeRef")
    if tax_code is not None and tax_code not in ("TAX", "NON"):
        raise QboFault("6100", "Invalid Line TaxCode in the request", f"Invalid TaxCode: {tax_code}")
    line["SalesItemLineDetail"] = detail
    return Decimal(amount)


def _prepare_invoice(company: Company, record: Record, previous: Record | None) -> None:
    """Lines, totals, DocNumber and custom fields of an invoice being created or updated.

    An update may not bring the total below what payments already apply to the invoice: QuickBooks' behaviour
    here is not documented (guess); the emulator refuses with 6000, so a client lowering an invoice must first
    re-point or delete the payments (or lower their amounts) and then update the invoice.
    """
    raw_lines = record.get("Line") or []
    if not isinstance(raw_lines, list):
        raise errors.bad_request("Property Name:Line specified is unsupported or invalid", "Line")
    lines: list[Record] = []
    subtotal = ZERO
    discounts: list[Record] = []
    for raw in raw_lines:
        if not isinstance(raw, dict):
            raise errors.bad_request("Property Name:Line specified is unsupported or invalid", "Line")
        line = dict(raw)
        line_type = _line_type(line)
        # A subtotal line is what QuickBooks itself adds; clients often echo it back on update.
        if line_type == "SubTotalLineDetail":
            continue
        line["DetailType"] = line_type
        description = line.get("Description")
        if description is not None and len(str(description)) > MAX_TEXT:
            raise errors.length("Line.Description", MAX_TEXT, len(str(description)))
        if line_type == "SalesItemLineDetail":
            subtotal += _sales_line(company, line)
        elif line_type == "DescriptionOnly":
            line.pop("Amount", None)
        elif line_type == "DiscountLineDetail":
            discounts.append(line)
        else:
            raise QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration: {line_type}", element="DetailType")
        lines.append(line)
    if not any(line["DetailType"] == "SalesItemLineDetail" for line in lines):
        raise errors.required("Line")
    discount_total = ZERO
    for line in discounts:
        detail = line.get("DiscountLineDetail") or {}
        if detail.get("PercentBased") and detail.get("DiscountPercent") is not None:
            line["Amount"] = _cents(subtotal * _number("DiscountPercent", detail["DiscountPercent"]) / 100)
        if "Amount" not in line:
            raise errors.required("Line.Amount")
        discount_total += line["Amount"]
    _number_lines(lines, previous)
    lines.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    record["Line"] = lines
    total = subtotal - discount_total
    if total < 0:
        raise errors.business("The invoice total cannot be negative.")
    doc_number = record.get("DocNumber")
    if doc_number is None or doc_number == "AUTO_GENERATE":
        doc_number = str(company.next_doc_number)
        company.next_doc_number += 1
    if len(str(doc_number)) > MAX_DOC_NUMBER:
        raise errors.length("DocNumber", MAX_DOC_NUMBER, len(str(doc_number)))
    record["DocNumber"] = str(doc_number)
    record.setdefault("DueDate", record["TxnDate"])
    if "CustomField" in record:
        record["CustomField"] = _custom_fields(company, record["CustomField"])
    invoice_id = previous["Id"] if previous else ""
    applied = sum(company.applied.get(invoice_id, {}).values(), ZERO)
    if total < applied:
        raise errors.business(
            f"The invoice total {wire.decimal_text(total)} is less than the {wire.decimal_text(applied)} "
            "that payments already apply to it. Unlink or reduce the payments first."
        )
    record["TotalAmt"] = total
    record["Balance"] = total - applied
    record["HomeBalance"] = total - applied
    record["LinkedTxn"] = [{"TxnId": pid, "TxnType": "Payment"} for pid in company.applied.get(invoice_id, {})]


def _number_lines(lines: list[Record], previous: Record | None) -> None:
    """Lines keep an Id the client sent back; new lines get the next free one."""
    taken = {str(line["Id"]) for line in lines if str(line.get("Id", "")).isdigit()}
    next_id = max((int(i) for i in taken), default=0)
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        line_id = str(line.get("Id", ""))
        if not line_id.isdigit() or line_id in seen:
            next_id += 1
            line_id = str(next_id)
        seen.add(line_id)
        line["Id"] = line_id
        line["LineNum"] = number


def _custom_fields(company: Company, raw: Any) -> list[Record]:
    if not isinstance(raw, list):
        raise errors.bad_request("Property Name:CustomField specified is unsupported or invalid", "CustomField")
    fields: list[Record] = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        definition = str(entry.get("DefinitionId", ""))
        if not definition.isdigit() or not 1 <= int(definition) <= len(company.custom_fields[:3]):
            continue  # QuickBooks ignores definitions that are not enabled on sales forms
        value = entry.get("StringValue")
        field_entry: Record = {
            "DefinitionId": definition,
            "Name": company.custom_fields[int(definition) - 1],
            "Type": "StringType",
        }
        if value is not None:
            field_entry["StringValue"] = str(value)
        fields.append(field_entry)
    return fields


def _after_invoice(company: Company, record: Record, previous: Record | None) -> None:
    customer = _ref_value(record.get("CustomerRef"), "CustomerRef")
    old_customer = _ref_value(previous.get("CustomerRef"), "CustomerRef") if previous else None
    if old_customer and old_customer != customer:
        company.invoices_of.get(old_customer, set()).discard(record["Id"])
        _refresh_customer(company, old_customer)
    if customer:
        company.invoices_of.setdefault(customer, set()).add(record["Id"])
    _refresh_customer(company, customer)


def _refuse_if_paid(company: Company, record: Record, previous: Record | None) -> None:
    """A void of an invoice that payments are applied to is refused (6000).

    Guess, kept from before and matching what an integrator reported from production ("QuickBooks will not void
    an invoice that has a payment applied"); a delete, unlike a void, is allowed (see ``_after_invoice_removed``).
    """
    if company.applied.get(record["Id"]):
        raise errors.business("This invoice has payments applied to it. Delete or unlink the payments first.")


def _void_invoice(company: Company, record: Record, previous: Record | None) -> None:
    record["Line"] = [{**line, "Amount": ZERO} if "Amount" in line else line for line in record["Line"]]
    record["TotalAmt"] = ZERO
    record["Balance"] = ZERO
    record["HomeBalance"] = ZERO
    company.voided.add(record["Id"])
    _refresh_customer(company, _ref_value(record.get("CustomerRef"), "CustomerRef"))


def _after_invoice_removed(company: Company, record: Record, previous: Record | None) -> None:
    """A deleted invoice lets go of the payments applied to it: each keeps its money, now unapplied.

    Intuit's help ("What happens if I delete an invoice that has a payment?"): the payment stays on the books, in
    the bank or Undeposited Funds, but no longer has an offsetting invoice. So the delete is allowed; the lines of
    each payment that linked the invoice disappear (a line keeps its other links), its ``UnappliedAmt`` grows,
    and, as for any change, its SyncToken goes up (guess). No webhook is raised for the payment (unconfirmed).
    """
    invoice_id = record["Id"]
    for payment_id in company.applied.pop(invoice_id, {}):
        payment = company.records["Payment"].get(payment_id)
        if payment is not None:
            _drop_links(company, payment, invoice_id)
    company.voided.discard(invoice_id)
    customer = _ref_value(record.get("CustomerRef"), "CustomerRef")
    if customer:
        company.invoices_of.get(customer, set()).discard(invoice_id)
    _refresh_customer(company, customer)


def _drop_links(company: Company, payment: Record, invoice_id: str) -> None:
    lines = []
    for line in payment.get("Line") or []:
        links = [
            link
            for link in line.get("LinkedTxn") or []
            if not (link.get("TxnType") == "Invoice" and str(link.get("TxnId")) == invoice_id)
        ]
        if links:
            lines.append({**line, "LinkedTxn": links})
    if lines:
        payment["Line"] = lines
    else:
        payment.pop("Line", None)
    payment["UnappliedAmt"] = payment["TotalAmt"] - sum((line["Amount"] for line in lines), ZERO)
    _touch(company, payment)


def _touch(company: Company, record: Record) -> None:
    """A transaction changed as the side effect of another write: a new SyncToken and LastUpdatedTime.

    Integrators report that QuickBooks bumps an invoice's SyncToken when a payment is applied to it (a client
    updating the invoice with the token it had gets 5010), so the emulator does the same for every derived change
    (observed by third parties, not in Intuit's reference). CDC reports the touched record; no webhook is sent.
    """
    record["SyncToken"] = str(int(record["SyncToken"]) + 1)
    record["MetaData"] = {**record["MetaData"], "LastUpdatedTime": wire.stamp(company.clock())}


# --- payments --------------------------------------------------------------------------------------


def _payment_defaults(company: Company) -> Record:
    return {**_txn_defaults(company), "ProcessPayment": False}


def _allocations(record: Record) -> dict[str, Decimal]:
    allocation: dict[str, Decimal] = {}
    for line in record.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            if link.get("TxnType") == "Invoice":
                invoice_id = str(link.get("TxnId"))
                allocation[invoice_id] = allocation.get(invoice_id, ZERO) + line["Amount"]
    return allocation


def _prepare_payment(company: Company, record: Record, previous: Record | None) -> None:
    """Validate a payment's links to invoices (its lines are replaced whole on every update).

    Each linked invoice must exist (2500) and belong to the payment's customer (620). What a payment applies to
    one invoice may not exceed the invoice's open balance counting every *other* payment (so a payment re-pointed
    or re-amounted by an update may use what it applied before), and the lines together may not exceed TotalAmt:
    both are a 6000 business validation error (facts say the limits exist but give no code; 6000 is a guess).
    A TotalAmt above the lines is allowed and stays on the payment as ``UnappliedAmt``.
    """
    total = record["TotalAmt"]
    if total < 0:
        raise errors.business("The payment amount cannot be negative.")
    customer_id = record["CustomerRef"]["value"]
    payment_id = previous["Id"] if previous else None
    lines = record.get("Line") or []
    if not isinstance(lines, list):
        raise errors.bad_request("Property Name:Line specified is unsupported or invalid", "Line")
    applied_total = ZERO
    for line in lines:
        if not isinstance(line, dict) or line.get("Amount") is None:
            raise errors.required("Line.Amount")
        links = line.get("LinkedTxn") or []
        if not links:
            raise errors.required("Line.LinkedTxn")
        for link in links:
            link["TxnId"] = str(link.get("TxnId", ""))
            if link.get("TxnType") != "Invoice":
                raise QboFault(
                    "2170", "Invalid Enumeration", f"Invalid Enumeration: {link.get('TxnType')}", element="TxnType"
                )
            invoice = company.get("Invoice", link["TxnId"])
            if invoice is None:
                raise errors.invalid_reference("Line.LinkedTxn.TxnId", link["TxnId"])
            if invoice["CustomerRef"]["value"] != customer_id:
                raise QboFault(
                    "620",
                    "TxnID Cannot Be Linked",
                    f"The transaction {link['TxnId']} belongs to a different customer and cannot be linked.",
                    element="Line.LinkedTxn",
                )
            link.pop("TxnLineId", None)
        applied_total += line["Amount"]
    for invoice_id, amount in _allocations(record).items():
        invoice = company.records["Invoice"][invoice_id]
        others = sum((a for p, a in company.applied.get(invoice_id, {}).items() if p != payment_id), ZERO)
        if invoice_id in company.voided or amount > invoice["TotalAmt"] - others:
            raise errors.business(
                f"The payment amount applied to invoice {invoice['DocNumber']} is more than its open balance "
                f"of {wire.decimal_text(invoice['TotalAmt'] - others)}."
            )
    if applied_total > total:
        raise errors.business("The amounts applied to transactions are more than the payment amount.")
    record["UnappliedAmt"] = total - applied_total
    record.setdefault("DepositToAccountRef", {"value": company.undeposited_funds()})
    check_ref(company, "DepositToAccountRef", record["DepositToAccountRef"], "Account")


def _unlink_payment(company: Company, payment_id: str) -> set[str]:
    touched = set()
    for invoice_id, payments in company.applied.items():
        if payments.pop(payment_id, None) is not None:
            touched.add(invoice_id)
    return touched


def _refresh_invoice(company: Company, invoice_id: str, changed: bool) -> None:
    """Balance and LinkedTxn from the payments applied; ``changed``: what is applied to it moved (new SyncToken)."""
    invoice = company.records["Invoice"].get(invoice_id)
    if invoice is None:
        return
    payments = company.applied.get(invoice_id, {})
    balance = invoice["TotalAmt"] - sum(payments.values(), ZERO)
    invoice["Balance"] = balance
    invoice["HomeBalance"] = balance
    invoice["LinkedTxn"] = [{"TxnId": pid, "TxnType": "Payment"} for pid in payments]
    if changed:
        _touch(company, invoice)
    _refresh_customer(company, invoice["CustomerRef"]["value"])


def _after_payment(company: Company, record: Record, previous: Record | None) -> None:
    payment_id = record["Id"]
    before = {invoice_id: paid[payment_id] for invoice_id, paid in company.applied.items() if payment_id in paid}
    _unlink_payment(company, payment_id)
    after = _allocations(record)
    for invoice_id, amount in after.items():
        company.applied.setdefault(invoice_id, {})[payment_id] = amount
    for invoice_id in before.keys() | after.keys():
        _refresh_invoice(company, invoice_id, changed=before.get(invoice_id) != after.get(invoice_id))


def _after_payment_removed(company: Company, record: Record, previous: Record | None) -> None:
    for invoice_id in _unlink_payment(company, record["Id"]):
        _refresh_invoice(company, invoice_id, changed=True)


def _void_payment(company: Company, record: Record, previous: Record | None) -> None:
    _after_payment_removed(company, record, previous)
    record["TotalAmt"] = ZERO
    record["UnappliedAmt"] = ZERO
    record.pop("Line", None)


# --- the table -------------------------------------------------------------------------------------

_PARTY_FILTERABLE = frozenset(
    {
        "DisplayName",
        "GivenName",
        "MiddleName",
        "FamilyName",
        "CompanyName",
        "FullyQualifiedName",
        "PrimaryEmailAddr",
        "PrimaryPhone",
        "Active",
        "Balance",
    }
)
_PARTY_READ_ONLY = frozenset({"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level", "OpenBalanceDate"})
_ACCOUNT_DUPLICATE = "Another account is already using this name. Please use a different name."

SPECS: Mapping[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec(
            "Customer",
            filterable=_PARTY_FILTERABLE | {"Job", "ParentRef"},
            transaction=False,
            name_field="DisplayName",
            name_scope="party",
            duplicate_text=errors.DUPLICATE_PARTY,
            name_max=500,
            refs=(("PaymentMethodRef", "PaymentMethod"), ("ParentRef", "Customer"), ("ARAccountRef", "Account")),
            read_only=_PARTY_READ_ONLY,
            defaults=_customer_defaults,
            prepare=_prepare_customer,
        ),
        EntitySpec(
            "Vendor",
            filterable=_PARTY_FILTERABLE,
            transaction=False,
            name_field="DisplayName",
            name_scope="party",
            duplicate_text=errors.DUPLICATE_PARTY,
            name_max=500,
            refs=(("APAccountRef", "Account"),),
            read_only=_PARTY_READ_ONLY,
            defaults=_party_defaults,
            prepare=_prepare_vendor,
        ),
        EntitySpec(
            "Item",
            filterable=frozenset({"Name", "Active", "Type", "Sku", "FullyQualifiedName", "ParentRef", "UnitPrice"}),
            transaction=False,
            name_field="Name",
            name_scope="item",
            duplicate_text="Another product or service is already using this name. Please use a different name.",
            refs=(
                ("IncomeAccountRef", "Account"),
                ("ExpenseAccountRef", "Account"),
                ("AssetAccountRef", "Account"),
                ("ParentRef", "Item"),
            ),
            read_only=frozenset({"FullyQualifiedName", "Level"}),
            defaults=_item_defaults,
            prepare=_prepare_item,
        ),
        EntitySpec(
            "Account",
            filterable=frozenset(
                {
                    "Name",
                    "AccountType",
                    "AccountSubType",
                    "Active",
                    "Classification",
                    "CurrentBalance",
                    "FullyQualifiedName",
                    "SubAccount",
                    "ParentRef",
                    "AcctNum",
                }
            ),
            transaction=False,
            name_field="Name",
            name_scope="account",
            duplicate_text=_ACCOUNT_DUPLICATE,
            forbidden_name_chars=':"',
            refs=(("ParentRef", "Account"),),
            read_only=frozenset(
                {"FullyQualifiedName", "Classification", "CurrentBalance", "CurrentBalanceWithSubAccounts"}
            ),
            defaults=_account_defaults,
            prepare=_prepare_account,
        ),
        EntitySpec(
            "PaymentMethod",
            filterable=frozenset({"Name", "Active", "Type"}),
            transaction=False,
            name_field="Name",
            name_scope="paymentmethod",
            duplicate_text="Another payment method is already using this name. Please use a different name.",
            name_max=31,
            read_only=frozenset({"FullyQualifiedName"}),
            defaults=_payment_method_defaults,
            prepare=_prepare_payment_method,
        ),
        EntitySpec(
            "Invoice",
            filterable=frozenset(
                {"DocNumber", "TxnDate", "DueDate", "CustomerRef", "TotalAmt", "Balance", "EmailStatus", "PrintStatus"}
            ),
            transaction=True,
            required=("CustomerRef", "Line"),
            refs=(("CustomerRef", "Customer"),),
            read_only=frozenset({"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "LinkedTxn"}),
            defaults=_invoice_defaults,
            prepare=_prepare_invoice,
            after_save=_after_invoice,
            after_remove=_after_invoice_removed,
            before_void=_refuse_if_paid,
            void=_void_invoice,
        ),
        EntitySpec(
            "Payment",
            filterable=frozenset({"TxnDate", "CustomerRef", "TotalAmt", "PaymentRefNum"}),
            transaction=True,
            required=("TotalAmt", "CustomerRef"),
            refs=(
                ("CustomerRef", "Customer"),
                ("PaymentMethodRef", "PaymentMethod"),
                ("ARAccountRef", "Account"),
            ),
            read_only=frozenset({"UnappliedAmt", "LinkedTxn"}),
            defaults=_payment_defaults,
            prepare=_prepare_payment,
            after_save=_after_payment,
            after_remove=_after_payment_removed,
            void=_void_payment,
        ),
    )
}
SPEC_BY_PATH: Mapping[str, EntitySpec] = {spec.path: spec for spec in SPECS.values()}


# --- a new company ---------------------------------------------------------------------------------

_CHART_OF_ACCOUNTS = (
    ("Checking", "Bank", "Checking"),
    ("Savings", "Bank", "Savings"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("Inventory Asset", "Other Current Asset", "Inventory"),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
    ("Services", "Income", "ServiceFeeIncome"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("Advertising", "Expense", "AdvertisingPromotional"),
    ("Bank Charges", "Expense", "BankCharges"),
    ("Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses"),
    ("Travel", "Expense", "Travel"),
)
_PAYMENT_METHODS = (
    ("Cash", "NON_CREDIT_CARD"),
    ("Check", "NON_CREDIT_CARD"),
    ("Visa", "CREDIT_CARD"),
    ("MasterCard", "CREDIT_CARD"),
    ("American Express", "CREDIT_CARD"),
    ("Discover", "CREDIT_CARD"),
    ("Diners Club", "CREDIT_CARD"),
)


def _seed(company: Company) -> None:
    accounts = {}
    for name, account_type, subtype in _CHART_OF_ACCOUNTS:
        change = company.create(
            SPECS["Account"], {"Name": name, "AccountType": account_type, "AccountSubType": subtype}
        )
        accounts[name] = change.record["Id"]
    for name, method_type in _PAYMENT_METHODS:
        company.create(SPECS["PaymentMethod"], {"Name": name, "Type": method_type})
    for name, price in (("Services", Decimal(0)), ("Hours", Decimal(0))):
        company.create(
            SPECS["Item"],
            {"Name": name, "Type": "Service", "UnitPrice": price, "IncomeAccountRef": {"value": accounts["Services"]}},
        )
    stamp = wire.stamp(company.clock())
    meta = {"CreateTime": stamp, "LastUpdatedTime": stamp}
    address = {"Id": "1", "Line1": "2600 Marine Way", "City": "Mountain View", "CountrySubDivisionCode": "CA"}
    address |= {"PostalCode": "94043", "Country": "USA"}
    company.company_info = {
        "CompanyName": company.name,
        "LegalName": company.name,
        "CompanyAddr": address,
        "CustomerCommunicationAddr": dict(address),
        "LegalAddr": dict(address),
        "PrimaryPhone": {"FreeFormNumber": "(650) 555-0100"},
        "CompanyStartDate": wire.today(company.clock()),
        "FiscalYearStartMonth": "January",
        "Country": "US",
        "Email": {"Address": "owner@example.com"},
        "SupportedLanguages": "en",
        "NameValue": [{"Name": "NeoEnabled", "Value": "true"}, {"Name": "IndustryType", "Value": "Services"}],
        "domain": "QBO",
        "sparse": False,
        "Id": company.realm_id,
        "SyncToken": "0",
        "MetaData": meta,
    }
    names = company.custom_fields[:3]
    use = [
        {"Name": f"SalesFormsPrefs.UseSalesCustom{n}", "Type": "BooleanType", "BooleanValue": n <= len(names)}
        for n in (1, 2, 3)
    ]
    labels = [
        {"Name": f"SalesFormsPrefs.SalesCustomName{n}", "Type": "StringType", "StringValue": label}
        for n, label in enumerate(names, start=1)
    ]
    company.preferences = {
        "AccountingInfoPrefs": {
            "TrackDepartments": False,
            "ClassTrackingPerTxn": False,
            "CustomerTerminology": "Customers",
        },
        "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True, "QuantityWithPriceAndRate": True},
        "SalesFormsPrefs": {
            "CustomField": [{"CustomField": use}, {"CustomField": labels}],
            "CustomTxnNumbers": False,
            "AllowServiceDate": True,
            "AllowDiscount": True,
            "AllowDeposit": False,
            "AllowShipping": False,
            "ETransactionEnabledStatus": "NotApplicable",
        },
        "EmailMessagesPrefs": {"InvoiceMessage": {"Subject": "Invoice from " + company.name}},
        "VendorAndPurchasesPrefs": {"TrackingByCustomer": False, "BillableExpenseTracking": False},
        "TimeTrackingPrefs": {"UseServices": True, "WorkWeekStartDate": "Monday"},
        "TaxPrefs": {"UsingSalesTax": False},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": "Thank you"}]},
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": "0",
        "MetaData": meta,
    }

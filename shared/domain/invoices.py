"""The invoice mapping (contract: "How Books360 objects become QuickBooks objects"; guide: "The Invoices tab" and
"Additional Settings"): pure functions from a Books360 invoice, the tenant's settings, what we know of the
QuickBooks company and what an earlier sync wrote, to exactly what a sync writes now. No I/O; ``today`` is passed.

::

    Books360 invoice ──▶ parts ───────────── "all", or one per calendar month with splitInvoice
                          │                   (numbers {number}-1..n given once, kept for good)
    settings ─────────────┤  lines (one per transaction, or one with the sum), TxnDate, DueDate,
    company facts ────────┤  DocNumber (last 21 characters), custom fields by name, our marker
                          ▼
                     InvoiceDocument per part ──fingerprint vs. what was written──▶ create / update / unchanged
                     what was written, no longer a part ─────────────────────────▶ delete
    payments ──▶ applied to the parts oldest first, each up to its balance; bank account and payment method
                 from the mappings ──▶ PaymentDocument per payment ──▶ create / update / unchanged / delete

Every write of a plan carries a ``requestid`` derived from tenant, company, invoice, part or payment and the
object's *generation* (how many times we deleted or unlinked that part or payment before), never from the
content, so a retry after a lost answer gets the first object back; an update's also names the SyncToken and
the content it writes, so two different updates are two requests, and a repeated one is replayed.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from shared.domain.settings import InvoiceDate, resolve_payment_target

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from shared.domain.books360 import Invoice, Payment, Transaction
    from shared.domain.settings import Settings

WHOLE = "all"
"""The key of the one QuickBooks invoice of an invoice that is not split (a split part's key is its month)."""
MAX_DOC_NUMBER = 21
"""QuickBooks allows 21 characters in ``DocNumber`` (code 2050 beyond)."""
MAX_DESCRIPTION = 4000
"""QuickBooks keeps 4000 characters in a line's ``Description`` (2050 beyond)."""
CENT = Decimal("0.01")
ZERO = Decimal("0")


def request_id_for(*parts: str) -> str:
    """A stable ``requestid`` (UUIDv5, 36 characters: fits QuickBooks' 50, and 36 inside a batch)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "books360-qbo:" + "/".join(parts)))


class SyncStatus(StrEnum):
    """The Sync Status column: ``synced``; ``unsynced`` (never written to the connected company, or unlinked);
    ``deleted_in_qb`` (QuickBooks deleted what we wrote; the user unlinks it); ``failed`` (the last sync was
    refused, ``lastError`` says why in QuickBooks' words)."""

    SYNCED = "synced"
    UNSYNCED = "unsynced"
    DELETED_IN_QB = "deleted_in_qb"
    FAILED = "failed"


class InvoiceStatus(StrEnum):
    """The Status column (guide): Paid, Not paid, Overdue, from the Books360 invoice."""

    PAID = "paid"
    NOT_PAID = "not_paid"
    OVERDUE = "overdue"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"


def invoice_status(amount: Decimal, paid: Decimal, due_date: date | None, today: date) -> InvoiceStatus:
    """Contract, "Invoices tab": paid when its payments cover the amount; overdue when not paid and the due date
    has passed; a partly paid invoice is not paid (and is written so, with its payments)."""
    if paid >= amount:
        return InvoiceStatus.PAID
    if due_date is not None and due_date < today:
        return InvoiceStatus.OVERDUE
    return InvoiceStatus.NOT_PAID


def cents(amount: Decimal) -> Decimal:
    """Rounded to cents, as QuickBooks keeps USD amounts (only where a document is written)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# -- what the sync works from -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompanyFacts:
    """What a sync needs to know of the QuickBooks company, read once and cached: the Item the lines use, and
    the enabled invoice custom fields by name (Preferences ``SalesFormsPrefs``: name -> ``DefinitionId``)."""

    item_id: str
    custom_fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Written:
    """One QuickBooks object a sync wrote: its id, the SyncToken QuickBooks answered, and the fingerprint of
    the document written (an unchanged re-sync compares fingerprints and writes nothing)."""

    qb_id: str
    sync_token: str
    fingerprint: str
    # What it weighs in QuickBooks' balance rules: a part's ``total``; a payment's amount applied to each part.
    amounts: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class InvoiceLink:
    """A Books360 invoice tied to the QuickBooks objects written for it in one company (realm).

    ``parts``: part key -> QuickBooks invoice; ``payments``: Books360 payment id -> QuickBooks payment;
    ``part_numbers``: month -> its number, for good; ``generations``: ``part:{key}``/``payment:{id}`` -> how
    many times that object was deleted, unlinked or refused by QuickBooks (its next write is a new ``requestid``,
    never the replay of a refusal); ``pending``: the objects whose create was sent but whose answer was not
    recorded (a crash; looked up by marker before creating again); ``former``: what an unlink stopped tracking
    (``unlinked``).
    """

    realm_id: str
    status: SyncStatus = SyncStatus.UNSYNCED
    customer_id: str | None = None
    parts: Mapping[str, Written] = field(default_factory=dict)
    payments: Mapping[str, Written] = field(default_factory=dict)
    part_numbers: Mapping[str, int] = field(default_factory=dict)
    generations: Mapping[str, int] = field(default_factory=dict)
    pending: Mapping[str, str] = field(default_factory=dict)
    former: Mapping[str, Written] = field(default_factory=dict)
    synced_at: datetime | None = None
    synced_version: int | None = None
    last_error: str | None = None

    @property
    def qb_invoice_ids(self) -> list[str]:
        """The QuickBooks invoices, oldest part first."""
        return [self.parts[key].qb_id for key in sorted(self.parts)]

    @property
    def qb_payment_ids(self) -> list[str]:
        return [self.payments[key].qb_id for key in sorted(self.payments)]

    @property
    def linked(self) -> bool:
        return bool(self.parts or self.payments)

    def generation(self, target: str) -> int:
        return self.generations.get(target, 0)

    def unlinked(self) -> InvoiceLink:
        """The manual unlink: nothing written is tracked any more, and each object's next create is a new request;
        the part numbers stay (a part keeps its number for good). What was written is kept as ``former``: the
        next sync adopts a former object QuickBooks still has (of the same customer) instead of making a second
        one (an invoice deleted in QuickBooks leaves its payments there, unapplied)."""
        former = {f"part:{key}": w for key, w in self.parts.items()}
        former |= {f"payment:{key}": w for key, w in self.payments.items()}
        generations = dict(self.generations)
        for target in [*former, *self.pending]:
            generations[target] = generations.get(target, 0) + 1
        return InvoiceLink(
            realm_id=self.realm_id,
            customer_id=self.customer_id,
            part_numbers=self.part_numbers,
            generations=generations,
            former={**self.former, **former},
        )


# -- the QuickBooks documents, in our words (shared.quickbooks.documents writes them in Intuit's) -------------


@dataclass(frozen=True)
class Line:
    description: str
    amount: Decimal
    service_date: date | None


@dataclass(frozen=True)
class CustomFieldValue:
    definition_id: str
    name: str
    value: str


@dataclass(frozen=True)
class InvoiceDocument:
    """One QuickBooks invoice written for a Books360 invoice (the whole of it, or one month's part)."""

    key: str
    doc_number: str
    full_number: str
    private_note: str
    txn_date: date
    due_date: date | None
    customer_id: str | None
    item_id: str
    bill_email: str | None
    lines: tuple[Line, ...]
    custom_fields: tuple[CustomFieldValue, ...]

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True)
class Application:
    """The share of a payment applied to one part (QuickBooks: a Payment line with a LinkedTxn)."""

    part_key: str
    amount: Decimal


@dataclass(frozen=True)
class PaymentDocument:
    payment_id: str
    customer_id: str | None
    txn_date: date
    amount: Decimal
    bank_account_id: str | None
    payment_method_id: str | None
    private_note: str
    applications: tuple[Application, ...]


@dataclass(frozen=True)
class PartPlan:
    """What a sync does with one QuickBooks invoice: ``document`` is None for a delete."""

    key: str
    action: Action
    document: InvoiceDocument | None
    written: Written | None
    fingerprint: str
    request_id: str | None

    @property
    def qb_id(self) -> str | None:
        return self.written.qb_id if self.written else None


@dataclass(frozen=True)
class PaymentPlan:
    payment_id: str
    action: Action
    document: PaymentDocument | None
    written: Written | None
    fingerprint: str
    request_id: str | None

    @property
    def qb_id(self) -> str | None:
        return self.written.qb_id if self.written else None


@dataclass(frozen=True)
class Problem:
    """Why the invoice cannot be synced as it is: ``field`` names the Books360 input (``client.email``)."""

    field: str
    message: str


@dataclass(frozen=True)
class SyncPlan:
    """Everything one sync writes, in the order it writes it (see ``plan_sync``)."""

    parts: tuple[PartPlan, ...]
    payments: tuple[PaymentPlan, ...]
    part_numbers: Mapping[str, int]
    unmapped_custom_fields: tuple[str, ...]

    @property
    def writes(self) -> int:
        changed = [p.action for p in self.parts] + [p.action for p in self.payments]
        return sum(1 for action in changed if action is not Action.UNCHANGED)

    def in_order(self) -> list[PartPlan | PaymentPlan]:
        """The writes in an order where each one meets QuickBooks' balance rules (a payment applies no more
        than its invoice's open balance; an invoice's total never drops below what payments apply to it)::

            1 payments Books360 removed ............ deleted (frees balance)
            2 payments that only apply less ........ updated
            3 parts new, growing or of unknown size  created / updated
            4 the other payments ................... created / updated (parts are at their largest now)
            5 parts that shrink .................... updated (every payment applies its final amount now)
            6 parts no longer there ................ deleted
        """
        payments = [p for p in self.payments if p.action is not Action.UNCHANGED]
        parts = [p for p in self.parts if p.action is not Action.UNCHANGED]
        gone = [p for p in payments if p.action is Action.DELETE]
        less = [p for p in payments if p.action is Action.UPDATE and _applies_less(p)]
        # A payment that moves between parts (applies less to one, more to another) first applies the lesser of
        # before and after to each: two payments swapping parts never wait on each other.
        interim = [step for p in payments if p.action is Action.UPDATE and p not in less for step in _interim(p)]
        shrinking = [p for p in parts if p.action is Action.UPDATE and _shrinks(p)]
        first_parts = [p for p in parts if p.action is not Action.DELETE and p not in shrinking]
        other_payments = [p for p in payments if p not in gone and p not in less]
        gone_parts = [p for p in parts if p.action is Action.DELETE]
        return [*gone, *less, *interim, *first_parts, *other_payments, *shrinking, *gone_parts]


def written_amounts(document: InvoiceDocument | PaymentDocument) -> dict[str, Decimal]:
    """What a written document weighs in QuickBooks' balance rules (``Written.amounts``)."""
    if isinstance(document, InvoiceDocument):
        return {"total": document.amount}
    return {a.part_key: a.amount for a in document.applications}


def _applies_less(payment: PaymentPlan) -> bool:
    """A payment update that applies no more than before to every part it applied to (and to no new part)."""
    before = payment.written.amounts if payment.written else {}
    if not before or payment.document is None:
        return False
    return all(a.amount <= before.get(a.part_key, ZERO) for a in payment.document.applications)


INTERIM = "interim"
"""The fingerprint recorded after an interim payment write: never a final one, so the next sync writes it."""


def _interim(payment: PaymentPlan) -> list[PaymentPlan]:
    before = payment.written.amounts if payment.written else {}
    document = payment.document
    if not before or document is None:
        return []
    after = {a.part_key: a.amount for a in document.applications}
    if all(after.get(key, ZERO) >= amount for key, amount in before.items()):
        return []  # applies more everywhere: written once, after the parts grew
    lesser = tuple(
        Application(key, min(amount, before.get(key, ZERO)))
        for key, amount in after.items()
        if min(amount, before.get(key, ZERO)) > 0
    )
    step = replace(document, applications=lesser)
    return [PaymentPlan(payment.payment_id, Action.UPDATE, step, payment.written, INTERIM, payment.request_id)]


def _shrinks(part: PartPlan) -> bool:
    before = part.written.amounts.get("total") if part.written else None
    return before is not None and part.document is not None and part.document.amount < before


@dataclass(frozen=True)
class SyncInput:
    """The Books360 side of a sync: the invoice, and the client's name and email (BillEmail)."""

    invoice: Invoice
    client_name: str
    client_email: str | None


# -- the rules ------------------------------------------------------------------------------------------------


def sync_problems(source: SyncInput) -> list[Problem]:
    """Guide: "The customer email field must be filled ... to enable invoice synchronization"; QuickBooks needs
    at least one line."""
    problems = []
    if not (source.client_email or "").strip():
        problems.append(
            Problem("client.email", f"The client {source.invoice.client_id} has no email; add one in Books360.")
        )
    invoice = source.invoice
    if not invoice.transactions:
        problems.append(Problem("transactions", "The invoice has no transactions; QuickBooks needs at least one line."))
    for index, transaction in enumerate(invoice.transactions):
        if transaction.amount < 0:
            problems.append(
                Problem(f"transactions[{index}].amount", "QuickBooks takes no negative line; credit it in Books360.")
            )
        if len(transaction.description) > MAX_DESCRIPTION:
            problems.append(
                Problem(f"transactions[{index}].description", f"QuickBooks keeps {MAX_DESCRIPTION} characters.")
            )
    for index, payment in enumerate(invoice.payments):
        if payment.amount <= 0:
            problems.append(Problem(f"payments[{index}].amount", "A payment to QuickBooks must be above zero."))
    return problems


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def group_transactions(invoice: Invoice, *, split: bool) -> dict[str, list[Transaction]]:
    """Split Invoice: transactions grouped by the calendar month of their date, oldest month first; without it
    one group, ``all``. Every transaction lands in exactly one group, in its Books360 order."""
    if not split:
        return {WHOLE: list(invoice.transactions)} if invoice.transactions else {}
    groups: dict[str, list[Transaction]] = {}
    for transaction in invoice.transactions:
        groups.setdefault(month_key(transaction.date), []).append(transaction)
    return dict(sorted(groups.items()))


def number_parts(months: Sequence[str], earlier: Mapping[str, int]) -> dict[str, int]:
    """Split Invoice's part numbers: given in month order once an invoice has more than one month; a month that
    appears later takes the next unused number; a part keeps its number for good, even as the only one left."""
    numbers = dict(earlier)
    if len(months) > 1 or numbers:
        following = max(numbers.values(), default=0) + 1
        for month in sorted(months):
            if month not in numbers:
                numbers[month] = following
                following += 1
    return numbers


def doc_number(full_number: str) -> str:
    """QuickBooks keeps 21 characters in ``DocNumber``: a longer number keeps its last 21 (the distinctive end;
    the full number goes to ``PrivateNote``)."""
    return full_number[-MAX_DOC_NUMBER:]


def created_date(invoice: Invoice) -> date:
    created = invoice.created_at
    return created.astimezone(UTC).date() if isinstance(created, datetime) else created


def txn_date(invoice: Invoice, choice: InvoiceDate, *, month: str | None, today: date) -> date:
    """Invoice Date: ``dateTo`` (with a split, the month's last day or ``dateTo``, whichever is earlier),
    ``creationDate``, or ``syncDate`` (today in UTC)."""
    if choice is InvoiceDate.SYNC_DATE:
        return today
    if choice is InvoiceDate.CREATION_DATE:
        return created_date(invoice)
    if month is None:
        return invoice.date_to or created_date(invoice)
    year, number = (int(part) for part in month.split("-"))
    last_day = date(year, number, calendar.monthrange(year, number)[1])
    return min(last_day, invoice.date_to) if invoice.date_to else last_day


def qb_date_text(day: date) -> str:
    """``{invoiceDate}`` as the guide writes it: ``Feb 7, 2023``."""
    return f"{calendar.month_abbr[day.month]} {day.day}, {day.year}"


def render_description(template: str, *, invoice_number: str, invoice_date: date, client: str) -> str:
    """One Transaction Description with its three placeholders filled in (the settings allow no other)."""
    return (
        template.replace("{invoiceNumber}", invoice_number)
        .replace("{invoiceDate}", qb_date_text(invoice_date))
        .replace("{client}", client)
    )


def map_custom_fields(
    values: Mapping[str, str | None], definitions: Mapping[str, str]
) -> tuple[tuple[CustomFieldValue, ...], tuple[str, ...]]:
    """Sync Custom Fields: each Books360 custom field whose name equals one of the company's invoice custom
    fields is written there as a string; the others are reported as unmapped, never dropped silently."""
    mapped, unmapped = [], []
    for name, value in values.items():
        if value is None:
            continue
        definition = definitions.get(name)
        if definition is None:
            unmapped.append(name)
        else:
            mapped.append(CustomFieldValue(definition, name, value))
    mapped.sort(key=lambda f: f.definition_id)
    return tuple(mapped), tuple(sorted(unmapped))


def invoice_marker(tenant_id: str, invoice_id: str, key: str) -> str:
    """Our marker in ``PrivateNote``, naming the Books360 account, invoice and part (``requestid`` alone is not
    trusted; two accounts connected to one company never take each other's objects for their own)."""
    return f"Books360 {tenant_id} invoice {invoice_id}" + ("" if key == WHOLE else f" part {key}")


def payment_marker(tenant_id: str, invoice_id: str, payment_id: str) -> str:
    return f"Books360 {tenant_id} payment {payment_id} of invoice {invoice_id}"


def invoice_documents(
    source: SyncInput,
    settings: Settings,
    facts: CompanyFacts,
    *,
    customer_id: str | None,
    part_numbers: Mapping[str, int],
    today: date,
) -> tuple[list[InvoiceDocument], dict[str, int], tuple[str, ...]]:
    """The QuickBooks invoices for a Books360 invoice, oldest part first, the part numbers after this sync, and
    the unmapped custom fields."""
    invoice = source.invoice
    groups = group_transactions(invoice, split=settings.split_invoice)
    numbers = number_parts([k for k in groups if k != WHOLE], part_numbers) if settings.split_invoice else {}
    custom_fields: tuple[CustomFieldValue, ...] = ()
    unmapped: tuple[str, ...] = ()
    if settings.sync_custom_fields:
        custom_fields, unmapped = map_custom_fields(invoice.custom_fields, facts.custom_fields)
    documents = []
    for key, transactions in groups.items():
        number = numbers.get(key)
        full_number = invoice.number if number is None else f"{invoice.number}-{number}"
        day = txn_date(invoice, settings.invoice_date, month=None if key == WHOLE else key, today=today)
        if settings.one_transaction_invoice:
            description = render_description(
                settings.one_transaction_description,
                invoice_number=full_number,
                invoice_date=day,
                client=source.client_name,
            )
            lines: tuple[Line, ...] = (Line(description, cents(sum((t.amount for t in transactions), ZERO)), None),)
        else:
            lines = tuple(Line(t.description, cents(t.amount), t.date) for t in transactions)
        note = invoice_marker(invoice.tenant_id, invoice.invoice_id, key)
        number_written = doc_number(full_number)
        if number_written != full_number:
            note += f"; number {full_number}"
        documents.append(
            InvoiceDocument(
                key=key,
                doc_number=number_written,
                full_number=full_number,
                private_note=note,
                txn_date=day,
                due_date=invoice.due_date,
                customer_id=customer_id,
                item_id=facts.item_id,
                bill_email=(source.client_email or "").strip() or None,
                lines=lines,
                custom_fields=custom_fields,
            )
        )
    return documents, numbers, unmapped


def allocate_payments(
    payments: Sequence[Payment], parts: Sequence[tuple[str, Decimal]]
) -> dict[str, tuple[Application, ...]]:
    """Payments go to the parts oldest first, each up to its balance; payments in date order (then id). What
    exceeds every part's balance stays unapplied (QuickBooks keeps it as a credit on the customer)."""
    balances = {key: cents(amount) for key, amount in parts}
    applied: dict[str, tuple[Application, ...]] = {}
    for payment in sorted(payments, key=lambda p: (p.date, p.id)):
        remaining = cents(payment.amount)
        applications = []
        for key, _ in parts:
            if remaining <= 0:
                break
            share = min(balances[key], remaining)
            if share > 0:
                applications.append(Application(key, share))
                balances[key] -= share
                remaining -= share
        applied[payment.id] = tuple(applications)
    return applied


def payment_documents(
    source: SyncInput, settings: Settings, parts: Sequence[InvoiceDocument], *, customer_id: str | None
) -> list[PaymentDocument]:
    """One QuickBooks Payment per Books360 payment, applied to the parts, with its deposit account and payment
    method from "Payment methods syncing" (``resolve_payment_target``)."""
    invoice = source.invoice
    applications = allocate_payments(invoice.payments, [(p.key, p.amount) for p in parts])
    documents = []
    for payment in sorted(invoice.payments, key=lambda p: (p.date, p.id)):
        target = resolve_payment_target(settings, payment.payment_system or "", payment.broker_id)
        documents.append(
            PaymentDocument(
                payment_id=payment.id,
                customer_id=customer_id,
                txn_date=payment.date,
                amount=cents(payment.amount),
                bank_account_id=target.bank_account_id,
                payment_method_id=target.payment_method_id,
                private_note=payment_marker(invoice.tenant_id, invoice.invoice_id, payment.id),
                applications=applications[payment.id],
            )
        )
    return documents


def fingerprint(document: InvoiceDocument | PaymentDocument) -> str:
    """A digest of what a document writes: equal digests, nothing to write."""
    canonical = json.dumps(asdict(document), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Scope:
    """Whose write it is: what every ``requestid`` of a plan is derived from, with the object and generation."""

    tenant_id: str
    realm_id: str
    invoice_id: str

    def create_id(self, target: str, generation: int) -> str:
        return request_id_for(
            self.tenant_id, self.realm_id, "invoice", self.invoice_id, target, "create", str(generation)
        )

    def update_id(self, target: str, written: Written, new_fingerprint: str, generation: int) -> str:
        return request_id_for(
            self.tenant_id,
            self.realm_id,
            "invoice",
            self.invoice_id,
            target,
            "update",
            str(generation),
            written.qb_id,
            written.sync_token,
            new_fingerprint,
        )

    def delete_id(self, target: str, written: Written, generation: int) -> str:
        return request_id_for(
            self.tenant_id,
            self.realm_id,
            "invoice",
            self.invoice_id,
            target,
            "delete",
            str(generation),
            written.qb_id,
            written.sync_token,
        )


def plan_sync(
    source: SyncInput,
    settings: Settings,
    facts: CompanyFacts,
    *,
    scope: Scope,
    customer_id: str | None,
    link: InvoiceLink | None,
    today: date,
) -> SyncPlan:
    """Exactly what a sync writes, compared with what the earlier syncs wrote (``link``); the writes are sent in
    ``SyncPlan.in_order()``. A payment applied to a part that is new in QuickBooks is updated even when its own
    content is unchanged (its line must name the new invoice).
    """
    link = link or InvoiceLink(realm_id=scope.realm_id)
    documents, numbers, unmapped = invoice_documents(
        source, settings, facts, customer_id=customer_id, part_numbers=link.part_numbers, today=today
    )
    parts = [_part_plan(scope, document, link) for document in documents]
    new_parts = {p.key for p in parts if p.action is Action.CREATE}
    payments = [
        _payment_plan(scope, payment, link, new_parts)
        for payment in payment_documents(source, settings, documents, customer_id=customer_id)
    ]
    kept_parts = {d.key for d in documents}
    kept_payments = {p.payment_id for p in payments}
    gone_payments = [
        PaymentPlan(
            pid, Action.DELETE, None, w, "", scope.delete_id(f"payment:{pid}", w, link.generation(f"payment:{pid}"))
        )
        for pid, w in sorted(link.payments.items())
        if pid not in kept_payments
    ]
    gone_parts = [
        PartPlan(key, Action.DELETE, None, w, "", scope.delete_id(f"part:{key}", w, link.generation(f"part:{key}")))
        for key, w in sorted(link.parts.items())
        if key not in kept_parts
    ]
    return SyncPlan(
        parts=(*parts, *gone_parts),
        payments=(*gone_payments, *payments),
        part_numbers=numbers or dict(link.part_numbers),
        unmapped_custom_fields=unmapped,
    )


def _action(
    scope: Scope, target: str, written: Written | None, digest: str, link: InvoiceLink
) -> tuple[Action, str | None]:
    if written is None:
        return Action.CREATE, scope.create_id(target, link.generation(target))
    if written.fingerprint == digest:
        return Action.UNCHANGED, None
    return Action.UPDATE, scope.update_id(target, written, digest, link.generation(target))


def _part_plan(scope: Scope, document: InvoiceDocument, link: InvoiceLink) -> PartPlan:
    written = link.parts.get(document.key)
    digest = fingerprint(document)
    action, request_id = _action(scope, f"part:{document.key}", written, digest, link)
    return PartPlan(document.key, action, document, written, digest, request_id)


def _payment_plan(scope: Scope, document: PaymentDocument, link: InvoiceLink, new_parts: set[str]) -> PaymentPlan:
    target = f"payment:{document.payment_id}"
    written = link.payments.get(document.payment_id)
    digest = fingerprint(document)
    action, request_id = _action(scope, target, written, digest, link)
    if (
        written is not None
        and action is Action.UNCHANGED
        and any(a.part_key in new_parts for a in document.applications)
    ):
        # Applied to a part QuickBooks has not seen yet: the new invoice's id must go into the payment's line.
        action, request_id = Action.UPDATE, scope.update_id(target, written, digest, link.generation(target))
    return PaymentPlan(document.payment_id, action, document, written, digest, request_id)

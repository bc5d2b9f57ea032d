"""The invoice mapping: status, split parts and their numbers, dates, lines, custom fields, payments and the plan."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from shared.domain.books360 import Invoice, Payment, Transaction
from shared.domain.invoices import (
    INTERIM,
    MAX_DOC_NUMBER,
    WHOLE,
    Action,
    Application,
    CompanyFacts,
    CustomFieldValue,
    InvoiceDocument,
    InvoiceLink,
    InvoiceStatus,
    Line,
    Problem,
    Scope,
    SyncInput,
    SyncPlan,
    SyncStatus,
    Written,
    allocate_payments,
    doc_number,
    group_transactions,
    invoice_documents,
    invoice_marker,
    invoice_status,
    map_custom_fields,
    month_key,
    number_parts,
    payment_documents,
    payment_marker,
    plan_sync,
    qb_date_text,
    render_description,
    sync_problems,
    txn_date,
    written_amounts,
)
from shared.domain.settings import DEFAULT_DOCUMENT, InvoiceDate, Settings

TODAY = date(2023, 3, 15)
SCOPE = Scope(tenant_id="t1", realm_id="9341", invoice_id="inv-1")
FACTS = CompanyFacts(item_id="21", custom_fields={"PO Number": "1", "Project": "2", "Region": "10"})
PROPERTY = hypothesis_settings(max_examples=150, deadline=None)


def txn(day: str, amount: str = "100.00", description: str | None = None) -> Transaction:
    return Transaction(
        id=f"t-{day}-{amount}",
        date=date.fromisoformat(day),
        description=f"Work on {day}" if description is None else description,
        amount=Decimal(amount),
    )


def pay(payment_id: str, day: str, amount: str, system: str | None = "stripe", broker: str | None = None) -> Payment:
    return Payment(
        id=payment_id, date=date.fromisoformat(day), amount=Decimal(amount), payment_system=system, broker_id=broker
    )


# Jan: 100 + 50 = 150, Feb: 80; p1 120 -> Jan 120; p2 150 -> Jan 30, Feb 80 (40 stays unapplied)
JAN_FEB = (txn("2023-01-05", "100.00"), txn("2023-01-20", "50.00"), txn("2023-02-14", "80.00"))
PAYMENTS = (pay("p1", "2023-02-10", "120.00"), pay("p2", "2023-03-01", "150.00"))


def invoice(transactions=JAN_FEB, payments=PAYMENTS, **fields) -> Invoice:
    document = {
        "tenant_id": "t1",
        "version": 1,
        "invoice_id": "inv-1",
        "client_id": "c-17",
        "number": "INV-7",
        "created_at": date(2023, 1, 2),
        "date_from": date(2023, 1, 1),
        "date_to": date(2023, 2, 28),
        "due_date": date(2023, 3, 30),
        **fields,
    }
    return Invoice(**document, transactions=list(transactions), payments=list(payments))


def source(subject: Invoice | None = None, email: str | None = "ap@acme.example", name="Acme Corp") -> SyncInput:
    return SyncInput(invoice=subject or invoice(), client_name=name, client_email=email)


def settings(mappings=(), defaults=None, **fields) -> Settings:
    document = {
        **DEFAULT_DOCUMENT,
        **fields,
        "paymentMethodMappings": list(mappings),
        "defaults": defaults or {"bankAccountId": None, "paymentMethodId": None},
    }
    return Settings.model_validate(document)


def row(system="stripe", broker=None, bank=None, method=None) -> dict:
    return {"paymentSystem": system, "brokerId": broker, "bankAccountId": bank, "paymentMethodId": method}


SPLIT = settings(splitInvoice=True)


def plan(subject: SyncInput | None = None, config: Settings = SPLIT, link=None, today=TODAY) -> SyncPlan:
    return plan_sync(subject or source(), config, FACTS, scope=SCOPE, customer_id="58", link=link, today=today)


def documents(subject: SyncInput | None = None, config: Settings = SPLIT, numbers=None) -> list[InvoiceDocument]:
    found, _, _ = invoice_documents(
        subject or source(), config, FACTS, customer_id="58", part_numbers=numbers or {}, today=TODAY
    )
    return found


def link_from(done: SyncPlan, earlier: InvoiceLink | None = None) -> InvoiceLink:
    """The link a service records after every write of ``done`` succeeded (ids ``qb-{key}``, tokens counted up)."""

    def written(entry, key: str) -> Written:
        amounts = written_amounts(entry.document)
        if entry.written is None:
            return Written(f"qb-{key}", "0", entry.fingerprint, amounts)
        if entry.action is Action.UPDATE:
            return Written(entry.written.qb_id, str(int(entry.written.sync_token) + 1), entry.fingerprint, amounts)
        return entry.written

    return InvoiceLink(
        SCOPE.realm_id,
        status=SyncStatus.SYNCED,
        parts={p.key: written(p, p.key) for p in done.parts if p.action is not Action.DELETE},
        payments={p.payment_id: written(p, p.payment_id) for p in done.payments if p.action is not Action.DELETE},
        part_numbers=done.part_numbers,
        generations=earlier.generations if earlier else {},
    )


def by_key(done: SyncPlan) -> dict[str, tuple[Action, str | None]]:
    return {p.key: (p.action, p.request_id) for p in done.parts}


def by_payment(done: SyncPlan) -> dict[str, tuple[Action, str | None]]:
    return {p.payment_id: (p.action, p.request_id) for p in done.payments}


def request_ids(done: SyncPlan) -> list[str]:
    return [p.request_id for p in (*done.parts, *done.payments) if p.request_id is not None]


# --- status ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "paid", "due", "expected"),
    [
        ("100.00", "100.00", "2023-03-01", InvoiceStatus.PAID),  # paid, even past its due date
        ("100.00", "150.00", None, InvoiceStatus.PAID),  # overpaid
        ("0.00", "0.00", "2023-03-01", InvoiceStatus.PAID),  # nothing to pay
        ("100.00", "0.00", "2023-03-14", InvoiceStatus.OVERDUE),  # due yesterday
        ("100.00", "99.99", "2023-03-14", InvoiceStatus.OVERDUE),  # partly paid and past due
        ("100.00", "40.00", "2023-03-16", InvoiceStatus.NOT_PAID),  # partly paid, not due yet
        ("100.00", "0.00", "2023-03-15", InvoiceStatus.NOT_PAID),  # due today has not passed
        ("100.00", "0.00", None, InvoiceStatus.NOT_PAID),  # no due date is never overdue
    ],
)
def test_invoice_status_amount_paid_and_due_date_give_the_column(amount, paid, due, expected):
    due_date = date.fromisoformat(due) if due else None

    assert invoice_status(Decimal(amount), Decimal(paid), due_date, TODAY) is expected


@given(
    amount=st.integers(0, 10**6),
    paid=st.integers(0, 10**6),
    due=st.one_of(st.none(), st.dates(date(2023, 1, 1), date(2023, 6, 1))),
)
def test_invoice_status_property_paid_iff_covered_overdue_only_past_due(amount, paid, due):
    status = invoice_status(Decimal(amount).scaleb(-2), Decimal(paid).scaleb(-2), due, TODAY)

    assert (status is InvoiceStatus.PAID) == (paid >= amount)
    assert (status is InvoiceStatus.OVERDUE) == (paid < amount and due is not None and due < TODAY)


# --- parts: grouping and numbers -----------------------------------------------------------------------------


def test_group_transactions_without_split_is_one_group_in_books360_order():
    # GIVEN transactions across months, out of date order
    subject = invoice([txn("2023-02-14"), txn("2023-01-05"), txn("2023-01-20")])

    # WHEN grouped without splitInvoice
    groups = group_transactions(subject, split=False)

    # THEN one group "all", in the Books360 order
    assert list(groups) == [WHOLE]
    assert groups[WHOLE] == subject.transactions


def test_group_transactions_with_split_groups_by_calendar_month_oldest_first():
    # GIVEN transactions on month edges, out of order
    late_feb, first_jan, last_jan, dec = (
        txn("2023-02-28"),
        txn("2023-01-01"),
        txn("2023-01-31"),
        txn("2022-12-31"),
    )
    subject = invoice([late_feb, last_jan, dec, first_jan])

    # WHEN grouped with splitInvoice
    groups = group_transactions(subject, split=True)

    # THEN one group per calendar month, oldest month first, each keeping the Books360 order
    assert groups == {"2022-12": [dec], "2023-01": [last_jan, first_jan], "2023-02": [late_feb]}
    assert list(groups) == ["2022-12", "2023-01", "2023-02"]


@pytest.mark.parametrize("split", [False, True])
def test_group_transactions_no_transactions_is_no_group(split):
    assert group_transactions(invoice([]), split=split) == {}


@pytest.mark.parametrize(
    ("day", "key"), [(date(2023, 2, 7), "2023-02"), (date(2023, 12, 31), "2023-12"), (date(999, 1, 1), "0999-01")]
)
def test_month_key_is_year_and_month_zero_padded(day, key):
    assert month_key(day) == key


@given(st.lists(st.dates(date(2022, 11, 1), date(2023, 4, 30)), min_size=1, max_size=12), st.booleans())
def test_group_transactions_property_each_transaction_in_exactly_one_group(days, split):
    # GIVEN any transactions
    subject = invoice([txn(d.isoformat(), f"{i + 1}.00") for i, d in enumerate(days)])

    # WHEN grouped
    groups = group_transactions(subject, split=split)

    # THEN every transaction lands in exactly one group, of its month when split, in Books360 order
    grouped = [t for group in groups.values() for t in group]
    assert sorted(t.id for t in grouped) == sorted(t.id for t in subject.transactions)
    assert list(groups) == sorted(groups)
    for key, group in groups.items():
        assert all(month_key(t.date) == key for t in group) if split else key == WHOLE
        positions = [subject.transactions.index(t) for t in group]
        assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("months", "earlier", "expected"),
    [
        # the first sync with more than one month: numbers in month order
        (["2023-01", "2023-02", "2023-03"], {}, {"2023-01": 1, "2023-02": 2, "2023-03": 3}),
        (["2023-03", "2022-12"], {}, {"2022-12": 1, "2023-03": 2}),
        # one month and no numbers yet: no number (DocNumber is the Books360 number)
        (["2023-01"], {}, {}),
        ([], {}, {}),
        # a month that appears later takes the next unused number, even an older month
        (["2023-01", "2023-02", "2023-04"], {"2023-01": 1, "2023-02": 2}, {"2023-01": 1, "2023-02": 2, "2023-04": 3}),
        (["2022-12", "2023-01", "2023-02"], {"2023-01": 1, "2023-02": 2}, {"2022-12": 3, "2023-01": 1, "2023-02": 2}),
        # a part keeps its number for good, even as the only one left
        (["2023-02"], {"2023-01": 1, "2023-02": 2}, {"2023-01": 1, "2023-02": 2}),
        # a number is never reused: a gone month keeps its number, a new one takes the next
        (["2023-03"], {"2023-01": 1, "2023-02": 2}, {"2023-01": 1, "2023-02": 2, "2023-03": 3}),
        (["2023-05", "2023-06"], {"2023-01": 1}, {"2023-01": 1, "2023-05": 2, "2023-06": 3}),
    ],
)
def test_number_parts_given_once_in_month_order_and_kept(months, earlier, expected):
    given_before = dict(earlier)

    assert number_parts(months, earlier) == expected
    assert earlier == given_before  # the earlier numbers are not changed in place


month_keys = st.sampled_from([f"2023-{m:02d}" for m in range(1, 13)])


@given(st.lists(st.sets(month_keys, max_size=5), min_size=1, max_size=6))
def test_number_parts_property_numbers_never_change_nor_repeat(syncs):
    # GIVEN any sequence of syncs, each with its months
    numbers: dict[str, int] = {}
    for months in syncs:
        # WHEN each sync numbers its parts after the earlier ones
        after = number_parts(sorted(months), numbers)

        # THEN earlier numbers stay, numbers are distinct, new ones follow every earlier one in month order
        assert {k: after[k] for k in numbers} == numbers
        assert len(set(after.values())) == len(after)
        added = sorted(set(after) - set(numbers))
        assert [after[k] for k in added] == list(range(max(numbers.values(), default=0) + 1, len(after) + 1))
        assert set(months) <= set(after) if (len(months) > 1 or numbers) else after == {}
        numbers = after


def test_invoice_documents_split_single_month_has_no_number():
    # GIVEN a split invoice whose transactions all fall in January
    subject = source(invoice([txn("2023-01-05"), txn("2023-01-20")]))

    # WHEN its documents are made
    found, numbers, _ = invoice_documents(subject, SPLIT, FACTS, customer_id="58", part_numbers={}, today=TODAY)

    # THEN one part, keyed by its month, with the Books360 number and no part number
    assert [(d.key, d.doc_number, d.full_number) for d in found] == [("2023-01", "INV-7", "INV-7")]
    assert numbers == {}


def test_invoice_documents_split_numbers_parts_oldest_first():
    found, numbers, _ = invoice_documents(source(), SPLIT, FACTS, customer_id="58", part_numbers={}, today=TODAY)

    assert [(d.key, d.doc_number) for d in found] == [("2023-01", "INV-7-1"), ("2023-02", "INV-7-2")]
    assert numbers == {"2023-01": 1, "2023-02": 2}


def test_invoice_documents_split_only_part_left_keeps_its_number():
    # GIVEN a split invoice numbered Jan 1, Feb 2, now with February only
    subject = source(invoice([txn("2023-02-14")]))

    # WHEN its documents are made
    found = documents(subject, numbers={"2023-01": 1, "2023-02": 2})

    # THEN February is still part 2
    assert [(d.key, d.doc_number) for d in found] == [("2023-02", "INV-7-2")]


# --- DocNumber, marker --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("full", "written"),
    [
        ("INV-7", "INV-7"),
        ("A" * 21, "A" * 21),
        ("X" + "B" * 21, "B" * 21),
        ("2023-ACME-CORPORATION-000123-12", "CORPORATION-000123-12"),
        ("ACME-CORPORATION-2023-000123-12", "RATION-2023-000123-12"),
    ],
)
def test_doc_number_longer_than_21_keeps_the_last_21(full, written):
    assert doc_number(full) == written
    assert len(doc_number(full)) <= MAX_DOC_NUMBER


def test_invoice_documents_long_number_keeps_the_full_number_in_private_note():
    # GIVEN a split invoice whose number is 26 characters long
    number = "ACME-CORPORATION-2023-0001"
    subject = source(invoice(number=number))

    # WHEN its documents are made
    found = documents(subject)

    # THEN DocNumber keeps the last 21 characters, and PrivateNote names the part and its full number
    assert [d.doc_number for d in found] == ["RPORATION-2023-0001-1", "RPORATION-2023-0001-2"]
    assert [d.full_number for d in found] == [f"{number}-1", f"{number}-2"]
    assert [d.private_note for d in found] == [
        f"Books360 t1 invoice inv-1 part 2023-01; number {number}-1",
        f"Books360 t1 invoice inv-1 part 2023-02; number {number}-2",
    ]


def test_invoice_documents_number_of_21_characters_has_only_the_marker():
    number = "N" * 21
    found = documents(source(invoice(number=number)), settings())

    assert [(d.doc_number, d.private_note) for d in found] == [(number, "Books360 t1 invoice inv-1")]


def test_invoice_documents_part_number_that_makes_it_22_characters_is_cut():
    # GIVEN a 20-character number, whose parts "-1", "-2" are 22 characters
    number = "N" * 20
    found = documents(source(invoice(number=number)))

    # THEN the written number loses the first character, the note keeps the whole
    assert [d.doc_number for d in found] == ["N" * 19 + "-1", "N" * 19 + "-2"]
    assert found[0].private_note.endswith(f"; number {number}-1")


def test_markers_name_the_books360_invoice_part_and_payment():
    assert invoice_marker("t1", "inv-1", WHOLE) == "Books360 t1 invoice inv-1"
    assert invoice_marker("t1", "inv-1", "2023-02") == "Books360 t1 invoice inv-1 part 2023-02"
    assert payment_marker("t1", "inv-1", "p1") == "Books360 t1 payment p1 of invoice inv-1"


# --- TxnDate, description -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "month", "date_to", "expected"),
    [
        (InvoiceDate.DATE_TO, None, "2023-02-20", "2023-02-20"),
        # with a split: the month's last day, or dateTo when earlier
        (InvoiceDate.DATE_TO, "2023-01", "2023-02-20", "2023-01-31"),
        (InvoiceDate.DATE_TO, "2023-02", "2023-02-20", "2023-02-20"),
        (InvoiceDate.DATE_TO, "2023-02", "2023-03-31", "2023-02-28"),
        (InvoiceDate.DATE_TO, "2024-02", "2024-12-31", "2024-02-29"),
        # a month after dateTo: dateTo is earlier, as documented (the part is dated before its month)
        (InvoiceDate.DATE_TO, "2023-03", "2023-02-20", "2023-02-20"),
        # no dateTo: the month's last day with a split, the creation date without
        (InvoiceDate.DATE_TO, "2024-02", None, "2024-02-29"),
        (InvoiceDate.DATE_TO, None, None, "2023-01-02"),
        # creation date and sync date ignore the month and dateTo
        (InvoiceDate.CREATION_DATE, None, "2023-02-20", "2023-01-02"),
        (InvoiceDate.CREATION_DATE, "2023-02", "2023-02-20", "2023-01-02"),
        (InvoiceDate.SYNC_DATE, None, "2023-02-20", "2023-03-15"),
        (InvoiceDate.SYNC_DATE, "2023-02", "2023-02-20", "2023-03-15"),
    ],
)
def test_txn_date_follows_the_invoice_date_setting(choice, month, date_to, expected):
    subject = invoice(date_to=date.fromisoformat(date_to) if date_to else None)

    assert txn_date(subject, choice, month=month, today=TODAY) == date.fromisoformat(expected)


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        # 22:30 in New York on Jan 31 is Feb 1 in UTC
        (datetime(2023, 1, 31, 22, 30, tzinfo=timezone(timedelta(hours=-5))), date(2023, 2, 1)),
        # 08:00 in Tokyo on Feb 1 is Jan 31 in UTC
        (datetime(2023, 2, 1, 8, 0, tzinfo=timezone(timedelta(hours=9))), date(2023, 1, 31)),
        (datetime(2023, 2, 1, 0, 0, tzinfo=UTC), date(2023, 2, 1)),
        (date(2023, 2, 1), date(2023, 2, 1)),
    ],
)
def test_txn_date_creation_date_is_the_utc_date(created_at, expected):
    subject = invoice(created_at=created_at, date_to=None)

    assert txn_date(subject, InvoiceDate.CREATION_DATE, month=None, today=TODAY) == expected
    assert txn_date(subject, InvoiceDate.DATE_TO, month=None, today=TODAY) == expected  # no dateTo: created


def test_txn_date_creation_date_from_the_wire_is_converted_to_utc():
    # GIVEN an invoice as Books360 sends it, created late in the evening at UTC-5
    wire = invoice().model_dump(mode="json", by_alias=True) | {"createdAt": "2023-01-31T22:30:00-05:00"}

    # WHEN it is read and dated by its creation
    subject = Invoice.model_validate(wire)

    # THEN the QuickBooks date is the UTC date
    assert txn_date(subject, InvoiceDate.CREATION_DATE, month=None, today=TODAY) == date(2023, 2, 1)


@pytest.mark.parametrize(
    ("day", "text"),
    [(date(2023, 2, 7), "Feb 7, 2023"), (date(2023, 2, 27), "Feb 27, 2023"), (date(2024, 12, 1), "Dec 1, 2024")],
)
def test_qb_date_text_is_month_abbreviation_day_and_year(day, text):
    assert qb_date_text(day) == text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Invoice: {invoiceNumber} / {invoiceDate} / {client}", "Invoice: INV-7-2 / Feb 7, 2023 / Acme Corp"),
        ("{client}: {client} ({invoiceNumber})", "Acme Corp: Acme Corp (INV-7-2)"),
        ("Consulting services", "Consulting services"),
        ("", ""),
    ],
)
def test_render_description_fills_the_three_placeholders(template, expected):
    rendered = render_description(template, invoice_number="INV-7-2", invoice_date=date(2023, 2, 7), client="Acme Corp")

    assert rendered == expected


def test_invoice_documents_one_transaction_split_describes_each_part_with_its_full_number_and_date():
    # GIVEN one-line parts, a long number and the default description
    number = "ACME-CORPORATION-2023-0001"
    config = settings(splitInvoice=True, oneTransactionInvoice=True)

    # WHEN the documents are made
    found = documents(source(invoice(number=number)), config)

    # THEN each part has one line with its sum, its full (uncut) number and its own TxnDate
    assert [d.lines for d in found] == [
        (Line(f"Invoice: {number}-1 / Jan 31, 2023 / Acme Corp", Decimal("150.00"), None),),
        (Line(f"Invoice: {number}-2 / Feb 28, 2023 / Acme Corp", Decimal("80.00"), None),),
    ]


def test_invoice_documents_one_transaction_without_split_uses_the_books360_number():
    config = settings(oneTransactionInvoice=True, oneTransactionDescription="{invoiceNumber} on {invoiceDate}")

    found = documents(source(), config)

    assert [(d.key, d.lines) for d in found] == [(WHOLE, (Line("INV-7 on Feb 28, 2023", Decimal("230.00"), None),))]


def test_invoice_documents_without_split_writes_every_field_from_books360():
    # GIVEN a multi-month invoice and the default settings
    subject = source(invoice(), email="  ap@acme.example ")

    # WHEN its documents are made
    found, numbers, unmapped = invoice_documents(
        subject, settings(), FACTS, customer_id="58", part_numbers={}, today=TODAY
    )

    # THEN one QuickBooks invoice, a line per transaction with its date
    assert found == [
        InvoiceDocument(
            key=WHOLE,
            doc_number="INV-7",
            full_number="INV-7",
            private_note="Books360 t1 invoice inv-1",
            txn_date=date(2023, 2, 28),
            due_date=date(2023, 3, 30),
            customer_id="58",
            item_id="21",
            bill_email="ap@acme.example",
            lines=(
                Line("Work on 2023-01-05", Decimal("100.00"), date(2023, 1, 5)),
                Line("Work on 2023-01-20", Decimal("50.00"), date(2023, 1, 20)),
                Line("Work on 2023-02-14", Decimal("80.00"), date(2023, 2, 14)),
            ),
            custom_fields=(),
        )
    ]
    assert (numbers, unmapped) == ({}, ())
    assert found[0].amount == Decimal("230.00")


# --- custom fields ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "mapped", "unmapped"),
    [
        ({"PO Number": "PO-9"}, [("1", "PO Number", "PO-9")], []),
        # the name must match exactly
        ({"po number": "PO-9", "PO Number ": "x"}, [], ["PO Number ", "po number"]),
        # no value: nothing written and nothing reported
        ({"PO Number": None, "Cost center": None}, [], []),
        ({"PO Number": ""}, [("1", "PO Number", "")], []),
        # the unmapped ones are reported sorted; the mapped ones come by definition id
        (
            {"Zone": "z", "Project": "Apollo", "Alpha": "a", "PO Number": "PO-9", "Region": "West"},
            [("1", "PO Number", "PO-9"), ("10", "Region", "West"), ("2", "Project", "Apollo")],
            ["Alpha", "Zone"],
        ),
        ({}, [], []),
    ],
)
def test_map_custom_fields_by_exact_name_reports_the_rest(values, mapped, unmapped):
    fields, missing = map_custom_fields(values, FACTS.custom_fields)

    assert fields == tuple(CustomFieldValue(*f) for f in mapped)
    assert missing == tuple(unmapped)


def test_invoice_documents_custom_fields_on_every_part_and_numbers_as_strings():
    # GIVEN a split invoice with a number-valued field, an unknown field and an empty one
    subject = source(invoice(custom_fields={"PO Number": 4411, "Cost center": "CC-1", "Project": None}))

    # WHEN its documents are made with syncCustomFields
    found, _, unmapped = invoice_documents(
        subject,
        settings(splitInvoice=True, syncCustomFields=True),
        FACTS,
        customer_id="58",
        part_numbers={},
        today=TODAY,
    )

    # THEN each part carries the mapped field as a string, and the unknown one is reported
    assert [d.custom_fields for d in found] == [(CustomFieldValue("1", "PO Number", "4411"),)] * 2
    assert unmapped == ("Cost center",)


def test_invoice_documents_custom_fields_sync_off_writes_and_reports_none():
    subject = source(invoice(custom_fields={"PO Number": "PO-9", "Cost center": "CC-1"}))

    found, _, unmapped = invoice_documents(
        subject, settings(syncCustomFields=False), FACTS, customer_id="58", part_numbers={}, today=TODAY
    )

    assert [d.custom_fields for d in found] == [()]
    assert unmapped == ()


def test_plan_sync_reports_unmapped_custom_fields():
    subject = source(invoice(custom_fields={"Cost center": "CC-1", "Alpha": "a"}))

    assert plan(subject, settings(syncCustomFields=True)).unmapped_custom_fields == ("Alpha", "Cost center")


# --- payments: mapping and allocation ---------------------------------------------------------------------------

MAPPED = settings(
    [
        row("stripe", "brk-1", "35", "3"),
        row("stripe", None, "36", None),
        row("paypal", "brk-2", None, "4"),
    ],
    {"bankAccountId": "90", "paymentMethodId": "1"},
    splitInvoice=True,
)


@pytest.mark.parametrize(
    ("system", "broker", "target"),
    [
        ("stripe", "brk-1", ("35", "3")),  # the (paymentSystem, brokerId) row
        ("stripe", "brk-9", ("36", "1")),  # the (paymentSystem, null) row; its missing method from defaults
        ("stripe", None, ("36", "1")),  # no brokerId: straight to the null-broker row
        ("paypal", "brk-2", ("90", "4")),  # the row's missing bank account from defaults
        ("paypal", None, ("90", "1")),  # no null-broker row for paypal: defaults
        ("cash", "brk-1", ("90", "1")),  # a broker only matches within its own system
        (None, None, ("90", "1")),  # no payment system: defaults
    ],
)
def test_payment_documents_map_bank_account_and_method(system, broker, target):
    # GIVEN one payment of that system and broker
    subject = source(invoice(payments=[pay("p1", "2023-02-10", "120.00", system, broker)]))

    # WHEN its QuickBooks payment is made
    [document] = payment_documents(subject, MAPPED, documents(subject), customer_id="58")

    # THEN the bank account and payment method follow the contract's order
    assert (document.bank_account_id, document.payment_method_id) == target


def test_payment_documents_nothing_mapped_leaves_both_out():
    subject = source(invoice(payments=[pay("p1", "2023-02-10", "120.00", "stripe", "brk-1")]))

    [document] = payment_documents(subject, SPLIT, documents(subject), customer_id="58")

    assert (document.bank_account_id, document.payment_method_id) == (None, None)


def test_payment_documents_one_per_payment_in_date_order_with_marker():
    # GIVEN payments listed out of date order, two on one day
    subject = source(
        invoice(
            payments=[
                pay("p3", "2023-03-01", "10.5"),
                pay("p2", "2023-02-10", "20.00"),
                pay("p1", "2023-02-10", "30.00"),
            ]
        )
    )

    # WHEN their QuickBooks payments are made
    found = payment_documents(subject, SPLIT, documents(subject), customer_id="58")

    # THEN by date, then id, each with its amount in cents, its date, the customer and our marker
    assert [(d.payment_id, d.txn_date, d.amount, d.customer_id) for d in found] == [
        ("p1", date(2023, 2, 10), Decimal("30.00"), "58"),
        ("p2", date(2023, 2, 10), Decimal("20.00"), "58"),
        ("p3", date(2023, 3, 1), Decimal("10.50"), "58"),
    ]
    assert [d.private_note for d in found] == [f"Books360 t1 payment {p} of invoice inv-1" for p in ("p1", "p2", "p3")]
    assert str(found[2].amount) == "10.50"


PARTS = [("2023-01", Decimal("100.00")), ("2023-02", Decimal("50.00"))]


@pytest.mark.parametrize(
    ("payments", "expected"),
    [
        # one payment over the oldest part's balance goes on to the next
        ([pay("p1", "2023-02-10", "120.00")], {"p1": [("2023-01", "100.00"), ("2023-02", "20.00")]}),
        # the second payment finds the balances the first one left
        (
            [pay("p1", "2023-02-10", "120.00"), pay("p2", "2023-03-01", "20.00")],
            {"p1": [("2023-01", "100.00"), ("2023-02", "20.00")], "p2": [("2023-02", "20.00")]},
        ),
        # payments go in date order, whatever the Books360 order
        (
            [pay("late", "2023-03-01", "120.00"), pay("early", "2023-02-10", "30.00")],
            {"early": [("2023-01", "30.00")], "late": [("2023-01", "70.00"), ("2023-02", "50.00")]},
        ),
        # on one day, by id
        (
            [pay("b", "2023-02-10", "120.00"), pay("a", "2023-02-10", "30.00")],
            {"a": [("2023-01", "30.00")], "b": [("2023-01", "70.00"), ("2023-02", "50.00")]},
        ),
        # an overpayment leaves the rest unapplied, and a later payment finds nothing to pay
        (
            [pay("p1", "2023-02-10", "200.00"), pay("p2", "2023-03-01", "20.00")],
            {"p1": [("2023-01", "100.00"), ("2023-02", "50.00")], "p2": []},
        ),
        # an exact payment
        ([pay("p1", "2023-02-10", "150.00")], {"p1": [("2023-01", "100.00"), ("2023-02", "50.00")]}),
        ([pay("p1", "2023-02-10", "0.01")], {"p1": [("2023-01", "0.01")]}),
        ([pay("p1", "2023-02-10", "0.00")], {"p1": []}),
        ([], {}),
    ],
)
def test_allocate_payments_oldest_part_first_each_up_to_its_balance(payments, expected):
    applied = allocate_payments(payments, PARTS)

    assert applied == {
        pid: tuple(Application(key, Decimal(amount)) for key, amount in shares) for pid, shares in expected.items()
    }


def test_allocate_payments_no_parts_applies_nothing():
    assert allocate_payments([pay("p1", "2023-02-10", "50.00")], []) == {"p1": ()}


money = st.integers(1, 100_000_00).map(lambda c: Decimal(c).scaleb(-2))


@given(
    parts=st.lists(money, max_size=6),
    payments=st.lists(st.tuples(st.dates(date(2023, 1, 1), date(2023, 1, 10)), money), max_size=5),
)
def test_allocate_payments_property_within_balances_and_oldest_first(parts, payments):
    # GIVEN any parts and any payments
    keyed = [(f"2023-{i + 1:02d}", amount) for i, amount in enumerate(parts)]
    books360 = [Payment(id=f"p{i}", date=day, amount=amount) for i, (day, amount) in enumerate(payments)]

    # WHEN the payments are applied
    applied = allocate_payments(books360, keyed)

    # THEN no part gets more than its amount, no payment more than it has, and all that can be applied is
    per_part = Counter[str]()
    for payment in books360:
        shares = applied[payment.id]
        assert all(share.amount > 0 for share in shares)
        assert sum((s.amount for s in shares), Decimal(0)) <= payment.amount
        for share in shares:
            per_part[share.part_key] += share.amount
    assert all(per_part[key] <= amount for key, amount in keyed)
    total_applied = sum(per_part.values(), Decimal(0))
    assert total_applied == min(sum(parts, Decimal(0)), sum((p.amount for p in books360), Decimal(0)))
    # AND the parts are paid oldest first: a part with a balance left means nothing went to a later one
    open_parts = [i for i, (key, amount) in enumerate(keyed) if per_part[key] < amount]
    if open_parts:
        assert all(per_part[key] == 0 for key, _ in keyed[open_parts[0] + 1 :])


# --- problems ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "transactions", "fields"),
    [
        ("ap@acme.example", JAN_FEB, []),
        (None, JAN_FEB, ["client.email"]),
        ("", JAN_FEB, ["client.email"]),
        ("   ", JAN_FEB, ["client.email"]),
        ("ap@acme.example", (), ["transactions"]),
        (None, (), ["client.email", "transactions"]),
    ],
)
def test_sync_problems_missing_email_and_no_transactions_name_the_field(email, transactions, fields):
    problems = sync_problems(source(invoice(transactions), email=email))

    assert [p.field for p in problems] == fields
    assert all(isinstance(p, Problem) and p.message for p in problems)


def test_sync_problems_missing_email_message_names_the_client():
    [problem] = sync_problems(source(email=None))

    assert "c-17" in problem.message


# --- the plan ----------------------------------------------------------------------------------------------------


def test_plan_sync_first_sync_creates_everything_with_request_ids():
    # GIVEN a split invoice with two months and two payments, never synced
    # WHEN the sync is planned
    first = plan()

    # THEN each part and payment is created with the requestid of its first generation
    assert by_key(first) == {
        "2023-01": (Action.CREATE, SCOPE.create_id("part:2023-01", 0)),
        "2023-02": (Action.CREATE, SCOPE.create_id("part:2023-02", 0)),
    }
    assert by_payment(first) == {
        "p1": (Action.CREATE, SCOPE.create_id("payment:p1", 0)),
        "p2": (Action.CREATE, SCOPE.create_id("payment:p2", 0)),
    }
    assert first.writes == 4
    assert first.part_numbers == {"2023-01": 1, "2023-02": 2}
    assert all(p.written is None and p.qb_id is None for p in (*first.parts, *first.payments))
    assert len(set(request_ids(first))) == 4
    # AND the payments are applied oldest part first
    assert [p.document.applications for p in first.payments] == [
        (Application("2023-01", Decimal("120.00")),),
        (Application("2023-01", Decimal("30.00")), Application("2023-02", Decimal("80.00"))),
    ]


def test_plan_sync_without_link_is_as_with_an_empty_link():
    assert plan(link=None) == plan(link=InvoiceLink(SCOPE.realm_id))


def test_plan_sync_same_input_after_sync_writes_nothing():
    # GIVEN the link recorded after the first sync
    first = plan()
    link = InvoiceLink(
        SCOPE.realm_id,
        status=SyncStatus.SYNCED,
        parts={p.key: Written(f"qb-{p.key}", "0", p.fingerprint) for p in first.parts},
        payments={p.payment_id: Written(f"qb-{p.payment_id}", "0", p.fingerprint) for p in first.payments},
        part_numbers=first.part_numbers,
    )

    # WHEN the same invoice is synced again
    again = plan(link=link)

    # THEN everything is unchanged, without a requestid, and the numbers stay
    assert {p.action for p in (*again.parts, *again.payments)} == {Action.UNCHANGED}
    assert again.writes == 0
    assert request_ids(again) == []
    assert again.part_numbers == first.part_numbers
    assert [p.qb_id for p in again.parts] == ["qb-2023-01", "qb-2023-02"]


def test_plan_sync_changed_amount_updates_that_part_with_a_new_request_id():
    # GIVEN a synced invoice
    first = plan()
    link = link_from(first)

    # WHEN February's transaction changes from 80.00 to 90.00
    changed = source(invoice([*JAN_FEB[:2], txn("2023-02-14", "90.00")]))
    second = plan(changed, link=link)

    # THEN February is updated (with a requestid of its own), January is left alone
    feb = second.parts[1]
    assert by_key(second)["2023-01"] == (Action.UNCHANGED, None)
    assert feb.action is Action.UPDATE
    assert feb.written == link.parts["2023-02"]
    assert feb.request_id == SCOPE.update_id("part:2023-02", link.parts["2023-02"], feb.fingerprint, 0)
    assert feb.request_id not in request_ids(first)
    assert feb.document.amount == Decimal("90.00")
    # AND p2, which pays February, is updated for its new share; p1 is not
    assert by_payment(second)["p1"] == (Action.UNCHANGED, None)
    assert by_payment(second)["p2"][0] is Action.UPDATE
    # AND the same update planned again is the same request, another content another one
    assert plan(changed, link=link) == second
    other = plan(source(invoice([*JAN_FEB[:2], txn("2023-02-14", "95.00")])), link=link)
    assert other.parts[1].request_id != feb.request_id


def test_plan_sync_update_after_an_update_is_a_new_request():
    # GIVEN February updated once (its SyncToken went to 1)
    link = link_from(plan())
    changed = source(invoice([*JAN_FEB[:2], txn("2023-02-14", "90.00")]))
    updated = plan(changed, link=link)
    link = link_from(updated, link)

    # WHEN it goes back to the first content
    back = plan(link=link)

    # THEN that update is a request of its own, not a replay of anything before
    assert back.parts[1].action is Action.UPDATE
    assert back.parts[1].request_id not in request_ids(updated)


def test_plan_sync_removed_payment_is_deleted_first():
    # GIVEN a synced invoice
    link = link_from(plan())

    # WHEN p1 is removed in Books360
    second = plan(source(invoice(payments=PAYMENTS[1:])), link=link)

    # THEN its QuickBooks payment is deleted, listed before the payments written
    deleted = second.payments[0]
    assert (deleted.payment_id, deleted.action, deleted.document) == ("p1", Action.DELETE, None)
    assert deleted.written == link.payments["p1"]
    assert deleted.qb_id == "qb-p1"
    assert deleted.request_id == SCOPE.delete_id("payment:p1", link.payments["p1"], 0)
    # AND p2 now takes January first
    assert second.payments[1].action is Action.UPDATE
    assert second.payments[1].document.applications == (Application("2023-01", Decimal("150.00")),)
    assert by_key(second) == {"2023-01": (Action.UNCHANGED, None), "2023-02": (Action.UNCHANGED, None)}


def test_plan_sync_month_without_transactions_is_deleted_last_and_keeps_its_number():
    # GIVEN a synced split invoice (Jan part 1, Feb part 2)
    link = link_from(plan())

    # WHEN February's transaction and payment p2 are removed
    second = plan(source(invoice(JAN_FEB[:2], PAYMENTS[:1])), link=link)

    # THEN January stays part 1 unchanged, February is deleted, after every other part
    assert [(p.key, p.action) for p in second.parts] == [("2023-01", Action.UNCHANGED), ("2023-02", Action.DELETE)]
    gone = second.parts[-1]
    assert (gone.document, gone.written, gone.qb_id) == (None, link.parts["2023-02"], "qb-2023-02")
    assert gone.request_id == SCOPE.delete_id("part:2023-02", link.parts["2023-02"], 0)
    assert second.parts[0].document.doc_number == "INV-7-1"
    assert second.part_numbers == {"2023-01": 1, "2023-02": 2}
    # AND the payments list their deletes first, even a later payment's
    assert [(p.payment_id, p.action) for p in second.payments] == [("p2", Action.DELETE), ("p1", Action.UNCHANGED)]
    assert second.writes == 2


def test_plan_sync_new_month_creates_a_part_and_updates_the_payment_applied_to_it():
    # GIVEN a synced split invoice whose p2 overpays by 40.00
    first = plan()
    link = link_from(first)

    # WHEN a March transaction of 40.00 is added
    second = plan(source(invoice([*JAN_FEB, txn("2023-03-03", "40.00")])), link=link)

    # THEN March is created as part 3, the others are unchanged
    assert [(p.key, p.action) for p in second.parts] == [
        ("2023-01", Action.UNCHANGED),
        ("2023-02", Action.UNCHANGED),
        ("2023-03", Action.CREATE),
    ]
    march = second.parts[2]
    assert march.document.doc_number == "INV-7-3"
    assert march.request_id == SCOPE.create_id("part:2023-03", 0)
    assert second.part_numbers == {"2023-01": 1, "2023-02": 2, "2023-03": 3}
    # AND p2 is updated to pay March too
    p2 = second.payments[1]
    assert (p2.payment_id, p2.action) == ("p2", Action.UPDATE)
    assert p2.document.applications[-1] == Application("2023-03", Decimal("40.00"))
    assert p2.request_id == SCOPE.update_id("payment:p2", link.payments["p2"], p2.fingerprint, 0)
    assert by_payment(second)["p1"] == (Action.UNCHANGED, None)


def test_plan_sync_new_older_month_takes_the_next_number_and_the_oldest_payments():
    # GIVEN a synced split invoice (Jan part 1, Feb part 2)
    link = link_from(plan())

    # WHEN a December transaction is added
    second = plan(source(invoice([txn("2022-12-20", "60.00"), *JAN_FEB])), link=link)

    # THEN December is part 3, first in the plan, and p1 now pays it first
    assert [(p.key, p.action, p.document.doc_number) for p in second.parts] == [
        ("2022-12", Action.CREATE, "INV-7-3"),
        ("2023-01", Action.UNCHANGED, "INV-7-1"),
        ("2023-02", Action.UNCHANGED, "INV-7-2"),
    ]
    assert second.payments[0].document.applications == (
        Application("2022-12", Decimal("60.00")),
        Application("2023-01", Decimal("60.00")),
    )
    assert by_payment(second)["p1"][0] is Action.UPDATE


def test_plan_sync_payment_unchanged_but_applied_to_a_new_part_is_updated():
    # GIVEN a link that knows the payments as they will be written, but not February's part
    first = plan()
    full = link_from(first)
    link = InvoiceLink(
        SCOPE.realm_id,
        status=SyncStatus.SYNCED,
        parts={"2023-01": full.parts["2023-01"]},
        payments=full.payments,
        part_numbers=full.part_numbers,
    )

    # WHEN the sync is planned
    second = plan(link=link)

    # THEN February is created, and p2, which pays it, is updated to name it though its content is the same
    assert by_key(second)["2023-02"] == (Action.CREATE, SCOPE.create_id("part:2023-02", 0))
    p2 = second.payments[1]
    assert p2.fingerprint == full.payments["p2"].fingerprint
    assert (p2.action, p2.request_id) == (
        Action.UPDATE,
        SCOPE.update_id("payment:p2", full.payments["p2"], p2.fingerprint, 0),
    )
    assert by_payment(second)["p1"] == (Action.UNCHANGED, None)


def test_plan_sync_single_month_gets_numbers_when_a_second_month_appears():
    # GIVEN a split invoice synced with January only (no part number)
    first = plan(source(invoice(JAN_FEB[:2], ())))
    assert [p.document.doc_number for p in first.parts] == ["INV-7"]
    link = link_from(first)

    # WHEN February appears
    second = plan(source(invoice(JAN_FEB, ())), link=link)

    # THEN the numbers are given in month order, January's number is updated
    assert [(p.key, p.action, p.document.doc_number) for p in second.parts] == [
        ("2023-01", Action.UPDATE, "INV-7-1"),
        ("2023-02", Action.CREATE, "INV-7-2"),
    ]


def test_plan_sync_split_turned_off_replaces_the_parts_and_keeps_the_numbers():
    # GIVEN a synced split invoice
    link = link_from(plan())

    # WHEN splitInvoice is turned off
    second = plan(config=settings(), link=link)

    # THEN one whole invoice is created, the parts deleted last, and the numbers are remembered
    assert [(p.key, p.action) for p in second.parts] == [
        (WHOLE, Action.CREATE),
        ("2023-01", Action.DELETE),
        ("2023-02", Action.DELETE),
    ]
    assert second.parts[0].document.doc_number == "INV-7"
    assert second.part_numbers == {"2023-01": 1, "2023-02": 2}


def test_plan_sync_after_unlink_creates_everything_again_with_new_request_ids():
    # GIVEN a synced invoice, then the manual unlink
    first = plan()
    link = link_from(first).unlinked()
    assert (link.status, link.linked, link.part_numbers) == (SyncStatus.UNSYNCED, False, first.part_numbers)

    # WHEN it is synced again
    second = plan(link=link)

    # THEN every object is created again, as new requests (not replays of the first creates)
    assert {p.action for p in (*second.parts, *second.payments)} == {Action.CREATE}
    assert set(request_ids(second)).isdisjoint(request_ids(first))
    assert by_key(second)["2023-01"][1] == SCOPE.create_id("part:2023-01", 1)
    assert by_payment(second)["p2"][1] == SCOPE.create_id("payment:p2", 1)
    assert [p.document.doc_number for p in second.parts] == ["INV-7-1", "INV-7-2"]
    # AND a second unlink makes yet other requests
    third = plan(link=link_from(second, link).unlinked())
    assert set(request_ids(third)).isdisjoint(request_ids(first) + request_ids(second))


def test_plan_sync_request_ids_depend_on_tenant_company_and_invoice():
    first = plan()
    others = [
        plan_sync(source(), SPLIT, FACTS, scope=scope, customer_id="58", link=None, today=TODAY)
        for scope in (Scope("t2", "9341", "inv-1"), Scope("t1", "9999", "inv-1"), Scope("t1", "9341", "inv-2"))
    ]

    for other in others:
        assert set(request_ids(other)).isdisjoint(request_ids(first))


def test_invoice_link_lists_its_objects_oldest_part_first():
    link = InvoiceLink(
        "9341",
        parts={"2023-02": Written("12", "0", "f"), "2023-01": Written("11", "3", "f")},
        payments={"p2": Written("31", "0", "f"), "p1": Written("30", "0", "f")},
        generations={"part:2023-01": 2},
    )

    assert (link.qb_invoice_ids, link.qb_payment_ids, link.linked) == (["11", "12"], ["30", "31"], True)
    assert (link.generation("part:2023-01"), link.generation("part:2023-02")) == (2, 0)
    assert link.unlinked().generations == {"part:2023-01": 3, "part:2023-02": 1, "payment:p1": 1, "payment:p2": 1}
    assert InvoiceLink("9341").linked is False


# --- properties ----------------------------------------------------------------------------------------------------

days = st.dates(date(2022, 12, 1), date(2023, 3, 31))
zones = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))])


@st.composite
def invoices(draw) -> Invoice:
    transactions = [
        Transaction(
            id=f"t{i}",
            date=draw(days),
            description=draw(st.sampled_from(["", "Work", "Café {client}"])),
            amount=draw(money),
        )
        for i in range(draw(st.integers(1, 12)))
    ]
    payments = [
        Payment(
            id=f"p{i}",
            date=draw(days),
            amount=draw(money),
            payment_system=draw(st.sampled_from([None, "stripe", "paypal"])),
            broker_id=draw(st.sampled_from([None, "brk-1", "brk-2"])),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    return invoice(
        transactions,
        payments,
        number=draw(st.text(alphabet="ACME-0123456789/", min_size=1, max_size=30)),
        created_at=draw(st.one_of(days, st.datetimes(datetime(2022, 12, 1), datetime(2023, 3, 31), timezones=zones))),
        date_to=draw(st.one_of(st.none(), days)),
        due_date=draw(st.one_of(st.none(), days)),
        custom_fields=draw(st.dictionaries(st.sampled_from(["PO Number", "Project", "Other"]), st.none() | st.text())),
    )


@st.composite
def configs(draw) -> Settings:
    return settings(
        MAPPED.model_dump(by_alias=True)["paymentMethodMappings"],
        {"bankAccountId": "90", "paymentMethodId": "1"},
        splitInvoice=draw(st.booleans()),
        oneTransactionInvoice=draw(st.booleans()),
        invoiceDate=draw(st.sampled_from(list(InvoiceDate))),
        syncCustomFields=draw(st.booleans()),
    )


@PROPERTY
@given(invoices(), configs())
def test_plan_sync_property_documents_total_the_transactions(subject, config):
    done = plan(source(subject), config)

    total = sum((p.document.amount for p in done.parts), Decimal(0))
    assert total == sum((t.amount for t in subject.transactions), Decimal(0))


@PROPERTY
@given(invoices(), configs())
def test_plan_sync_property_each_transaction_in_exactly_one_line(subject, config):
    # GIVEN any invoice and settings
    # WHEN the sync is planned
    done = plan(source(subject), config)

    # THEN the parts are the groups, and their lines the transactions (or one line with the group's sum)
    groups = group_transactions(subject, split=config.split_invoice)
    assert [p.key for p in done.parts] == list(groups)
    for part in done.parts:
        group = groups[part.key]
        if config.one_transaction_invoice:
            [line] = part.document.lines
            assert line.amount == sum((t.amount for t in group), Decimal(0))
            assert line.service_date is None
        else:
            assert part.document.lines == tuple(Line(t.description, t.amount, t.date) for t in group)
    lines = [line for p in done.parts for line in p.document.lines]
    assert len(lines) == (len(groups) if config.one_transaction_invoice else len(subject.transactions))


@PROPERTY
@given(invoices(), configs())
def test_plan_sync_property_payments_never_exceed_balances_or_themselves(subject, config):
    done = plan(source(subject), config)

    # THEN replayed in the order they are applied, no share exceeds the part's balance left
    balances = {p.key: p.document.amount for p in done.parts}
    for payment in (p.document for p in done.payments):
        assert sum((a.amount for a in payment.applications), Decimal(0)) <= payment.amount
        for application in payment.applications:
            assert Decimal(0) < application.amount <= balances[application.part_key]
            balances[application.part_key] -= application.amount
    # AND all payments together never exceed any part's amount
    for part in done.parts:
        applied = [a.amount for p in done.payments for a in p.document.applications if a.part_key == part.key]
        assert sum(applied, Decimal(0)) <= part.document.amount


@PROPERTY
@given(invoices(), configs())
def test_plan_sync_property_same_input_same_plan(subject, config):
    # GIVEN the same invoice twice, the second read back from its wire form
    copy = Invoice.model_validate(subject.model_dump(mode="json", by_alias=True))

    # WHEN planned twice
    first, second = plan(source(subject), config), plan(source(copy), config)

    # THEN documents, fingerprints and request ids are the same
    assert first == second
    assert [p.fingerprint for p in first.parts] == [p.fingerprint for p in second.parts]
    assert request_ids(first) == request_ids(second)


@PROPERTY
@given(invoices(), configs())
def test_plan_sync_property_resync_of_the_same_input_writes_nothing(subject, config):
    first = plan(source(subject), config)

    again = plan(source(subject), config, link=link_from(first))

    assert again.writes == 0
    assert again.part_numbers == first.part_numbers


@PROPERTY
@given(invoices(), invoices(), configs(), configs())
def test_plan_sync_property_request_ids_distinct_short_and_every_object_once(before, after, config, later_config):
    # GIVEN an invoice synced once, then changed in any way (settings too)
    first = plan(source(before), config)
    link = link_from(first)

    # WHEN it is synced again
    second = plan(source(after), later_config, link=link)

    # THEN within each plan, request ids are distinct and fit 36 characters, and only unchanged objects lack one
    for done in (first, second):
        ids = request_ids(done)
        assert len(ids) == len(set(ids))
        assert all(len(i) <= 36 for i in ids)
        assert all((p.request_id is None) == (p.action is Action.UNCHANGED) for p in (*done.parts, *done.payments))
    # AND every object written before appears once: kept, updated or deleted, never created twice
    assert Counter(p.key for p in second.parts if p.key in link.parts) == Counter(list(link.parts))
    assert Counter(p.payment_id for p in second.payments if p.payment_id in link.payments) == Counter(
        list(link.payments)
    )
    assert all((p.action is Action.CREATE) == (p.key not in link.parts) for p in second.parts)
    assert all((p.action is Action.CREATE) == (p.payment_id not in link.payments) for p in second.payments)
    # AND no number is ever reused: every earlier number stays with its month
    assert {k: second.part_numbers[k] for k in first.part_numbers} == dict(first.part_numbers)
    assert len(set(second.part_numbers.values())) == len(second.part_numbers)


@PROPERTY
@given(invoices(), configs())
def test_plan_sync_property_doc_numbers_fit_21_characters(subject, config):
    done = plan(source(subject), config)

    for document in (p.document for p in done.parts):
        assert len(document.doc_number) <= MAX_DOC_NUMBER
        assert document.doc_number == document.full_number[-MAX_DOC_NUMBER:]
        assert document.full_number.startswith(subject.number)
        if len(document.full_number) > MAX_DOC_NUMBER:
            assert document.private_note.endswith(f"; number {document.full_number}")
        else:
            assert "; number " not in document.private_note


# --- the order of the writes ----------------------------------------------------------------------------------


class Books:
    """QuickBooks' balance rules, as the emulator keeps them: a payment applies no more than an invoice's open
    balance, and an invoice's total never drops below what payments apply to it."""

    def __init__(self, link: InvoiceLink | None) -> None:
        self.totals = {k: w.amounts["total"] for k, w in (link.parts if link else {}).items()}
        self.applied = {p: dict(w.amounts) for p, w in (link.payments if link else {}).items()}

    def on(self, part: str) -> Decimal:
        return sum((apps.get(part, Decimal(0)) for apps in self.applied.values()), Decimal(0))

    def write(self, step) -> None:
        if step.action is Action.DELETE and hasattr(step, "payment_id"):
            del self.applied[step.payment_id]
        elif hasattr(step, "payment_id"):
            self.applied[step.payment_id] = written_amounts(step.document)
            for part in self.applied[step.payment_id]:
                assert part in self.totals, f"payment {step.payment_id} applied to {part} before it exists"
                assert self.on(part) <= self.totals[part], f"payment {step.payment_id} exceeds {part}'s balance"
        elif step.action is Action.DELETE:
            assert self.on(step.key) == 0, f"part {step.key} deleted while payments apply to it"
            del self.totals[step.key]
        else:
            self.totals[step.key] = step.document.amount
            assert self.on(step.key) <= self.totals[step.key], f"part {step.key} below what payments apply"


def test_in_order_invoice_lowered_below_its_payment_writes_the_payment_first():
    # GIVEN one invoice of 230.00 with a payment of 200.00 applied, synced
    first = plan(source(invoice(payments=(pay("p1", "2023-02-10", "200.00"),))), config=settings())
    link = link_from(first)
    # WHEN Books360 lowers the invoice to 50.00
    lowered = source(invoice(transactions=(txn("2023-01-05", "50.00"),), payments=(pay("p1", "2023-02-10", "200.00"),)))
    second = plan(lowered, config=settings(), link=link)
    # THEN the payment shrinks to 50.00 before the invoice does, and QuickBooks' rules hold at every step
    order = [(type(step).__name__, step.action) for step in second.in_order()]
    assert order == [("PaymentPlan", Action.UPDATE), ("PartPlan", Action.UPDATE)]
    books = Books(link)
    for step in second.in_order():
        books.write(step)


def test_in_order_new_month_is_created_before_the_payment_applied_to_it():
    # GIVEN January only, paid in part; WHEN February is added and a second payment covers it
    first = plan(source(invoice(transactions=JAN_FEB[:2], payments=PAYMENTS[:1])))
    second = plan(source(invoice()), link=link_from(first))
    steps = second.in_order()
    # THEN the February part exists before any payment names it
    created = next(i for i, s in enumerate(steps) if getattr(s, "key", None) == "2023-02")
    assert all(i > created for i, s in enumerate(steps) if hasattr(s, "payment_id") and s.action is not Action.DELETE)


@PROPERTY
@given(invoices(), invoices(), configs(), configs())
def test_in_order_property_every_write_meets_the_balance_rules(before, after, config_before, config_after):
    # GIVEN any invoice synced with any settings, then changed in any way, settings changed too
    first = plan(source(before), config=config_before)
    link = link_from(first)
    books = Books(None)
    for step in first.in_order():
        books.write(step)
    # WHEN the change is synced
    second = plan(source(after.model_copy(update={"invoice_id": "inv-1"})), config=config_after, link=link)
    # THEN no write of either sync breaks QuickBooks' balance rules, in the order they are sent
    books = Books(link)
    for step in second.in_order():
        books.write(step)
    assert len([step for step in second.in_order() if step.fingerprint != INTERIM]) == second.writes


def test_in_order_payments_swapping_parts_first_apply_the_lesser_of_before_and_after():
    # GIVEN Sep 100 and Oct 100, split; p1 (Oct 20) pays Sep, p2 (Oct 27) pays Oct
    months = (txn("2022-09-05", "100.00"), txn("2022-10-05", "100.00"))
    first = plan(source(invoice(months, (pay("p1", "2022-10-20", "100.00"), pay("p2", "2022-10-27", "100.00")))))
    link = link_from(first)
    # WHEN Books360 corrects p2's date to Oct 10: p2 now pays Sep, p1 pays Oct
    swapped = source(invoice(months, (pay("p1", "2022-10-20", "100.00"), pay("p2", "2022-10-10", "100.00"))))
    second = plan(swapped, link=link)
    # THEN both first let go of what they held (applied to nothing in between), then take their new part
    steps = [
        (s.payment_id, s.fingerprint == INTERIM, [a.part_key for a in s.document.applications])
        for s in second.in_order()
    ]
    assert steps == [("p2", True, []), ("p1", True, []), ("p2", False, ["2022-09"]), ("p1", False, ["2022-10"])]
    books = Books(link)
    for step in second.in_order():
        books.write(step)

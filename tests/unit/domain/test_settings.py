"""The "Additional Settings" rules: the document, its validation against the lists, and payment resolution."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.lists import BankAccount, CompanyLists, PaymentMethod
from shared.domain.settings import (
    DEFAULT_DOCUMENT,
    PLACEHOLDERS,
    InvoiceDate,
    ItemType,
    PaymentTarget,
    Settings,
    Violation,
    description_violations,
    duplicate_mapping_violations,
    reference_violations,
    referenced_ids,
    resolve_payment_target,
    settings_violations,
)

LISTS = CompanyLists(
    realm_id="9341",
    updated_at=datetime(2026, 11, 24, tzinfo=UTC),
    bank_accounts=[
        BankAccount(id="35", name="Checking", account_type="Bank", account_sub_type="Checking"),
        BankAccount(id="36", name="Undeposited", account_type="Other Current Asset"),
        BankAccount(id="79", name="Sales", account_type="Income", account_sub_type="SalesOfProductIncome"),
        BankAccount(id="40", name="Closed savings", account_type="Bank", active=False),
    ],
    payment_methods=[
        PaymentMethod(id="1", name="Cash", type="NON_CREDIT_CARD"),
        PaymentMethod(id="3", name="Visa", type="CREDIT_CARD"),
        PaymentMethod(id="9", name="Old", type="NON_CREDIT_CARD", active=False),
    ],
)


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


# --- the document -----------------------------------------------------------------------------------------------


def test_settings_new_is_the_contract_default():
    # GIVEN a tenant that never saved settings
    # WHEN it gets its settings
    new = Settings.new()

    # THEN they are the contract's example with no mappings and empty defaults
    assert new.model_dump(mode="json", by_alias=True) == {
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
    assert (new.invoice_date, new.item_type) == (InvoiceDate.DATE_TO, ItemType.SERVICE)


def test_settings_contract_example_round_trips_in_camel_case():
    # GIVEN the contract's example document
    document = {
        **DEFAULT_DOCUMENT,
        "paymentMethodMappings": [row("stripe", "brk-1", "35", "3")],
        "defaults": {"bankAccountId": "35", "paymentMethodId": "1"},
    }

    # WHEN it is read and written again
    model = Settings.model_validate(document)

    # THEN nothing changes, and Python sees snake_case
    assert model.model_dump(mode="json", by_alias=True) == document
    assert model.payment_method_mappings[0].broker_id == "brk-1"


def test_settings_unknown_fields_are_ignored():
    # GIVEN a document with a field the contract does not know (and a tenant id, which is never taken from a body)
    document = {**DEFAULT_DOCUMENT, "tenantId": "other", "colour": "blue"}

    # WHEN it is read
    model = Settings.model_validate(document)

    # THEN the extra fields are dropped
    assert "tenantId" not in model.model_dump(by_alias=True)


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"invoiceDate": "tomorrow"}, ("invoiceDate",)),
        ({"itemType": "inventory"}, ("itemType",)),
        ({"splitInvoice": "yes"}, ("splitInvoice",)),
        ({"oneTransactionInvoice": 1}, ("oneTransactionInvoice",)),
        ({"oneTransactionDescription": 5}, ("oneTransactionDescription",)),
        ({"paymentMethodMappings": [row(bank=35)]}, ("paymentMethodMappings", 0, "bankAccountId")),
        ({"paymentMethodMappings": [{"brokerId": "b"}]}, ("paymentMethodMappings", 0, "paymentSystem")),
        ({"paymentMethodMappings": [row(system="")]}, ("paymentMethodMappings", 0, "paymentSystem")),
        ({"defaults": {"bankAccountId": "3 5"}}, ("defaults", "bankAccountId")),
        ({"paymentMethodMappings": [row()] * 201}, ("paymentMethodMappings",)),
    ],
)
def test_settings_wrong_value_is_rejected_naming_the_field(change, loc):
    # GIVEN a document with one wrong value
    document = {**DEFAULT_DOCUMENT, **change}

    # WHEN it is read
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate(document)

    # THEN the error names the field by its camelCase path
    assert [e["loc"] for e in raised.value.errors()] == [loc]


def test_settings_missing_field_is_rejected():
    # GIVEN a document without splitInvoice (a PUT replaces the whole document)
    document = {k: v for k, v in DEFAULT_DOCUMENT.items() if k != "splitInvoice"}

    # WHEN it is read
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate(document)

    # THEN the missing field is named
    assert [(e["type"], e["loc"]) for e in raised.value.errors()] == [("missing", ("splitInvoice",))]


def test_settings_row_optional_fields_default_to_null():
    # GIVEN a row with only its payment system
    model = settings([{"paymentSystem": "paypal"}])

    # THEN broker, bank account and payment method are null
    assert model.payment_method_mappings[0].model_dump() == {
        "payment_system": "paypal",
        "broker_id": None,
        "bank_account_id": None,
        "payment_method_id": None,
    }


# --- description placeholders -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    [
        "Invoice: {invoiceNumber} / {invoiceDate} / {client}",
        "",
        "No placeholder at all",
        "{client}{client}",
    ],
)
def test_description_violations_allowed_text_has_none(description):
    assert description_violations(description) == []


@pytest.mark.parametrize(
    ("description", "needle"),
    [
        ("Invoice {invoiceNo}", "Unknown placeholder {invoiceNo}"),
        ("Invoice {}", "Unknown placeholder {}"),
        ("Invoice {Client}", "Unknown placeholder {Client}"),
        ("Invoice {client", "Unbalanced brace '{'"),
        ("Invoice client}", "Unbalanced brace '}'"),
        ("Invoice {{client}}", "Unbalanced brace '{'"),
    ],
)
def test_description_violations_bad_placeholder_names_one_transaction_description(description, needle):
    # GIVEN a description with an unknown placeholder or a stray brace
    # WHEN it is checked
    violations = description_violations(description)

    # THEN the violation names oneTransactionDescription and says what is wrong
    assert violations
    assert {v.field for v in violations} == {"oneTransactionDescription"}
    assert needle in violations[0].message


@given(st.lists(st.one_of(st.sampled_from(PLACEHOLDERS), st.text().filter(lambda t: "{" not in t and "}" not in t))))
def test_description_violations_property_allowed_pieces_never_violate(pieces):
    # GIVEN any text made of brace-free pieces and allowed placeholders
    # WHEN it is checked
    # THEN it is accepted
    assert description_violations("".join(pieces)) == []


# --- duplicate rows ---------------------------------------------------------------------------------------------


def test_duplicate_mapping_violations_same_system_and_broker_names_second_row():
    # GIVEN two rows for stripe/brk-1 (rows 1 and 2)
    model = settings([row("paypal"), row("stripe", "brk-1"), row("stripe", "brk-1", "35")])

    # WHEN checked
    violations = duplicate_mapping_violations(model)

    # THEN the second of them is named
    assert [v.field for v in violations] == ["paymentMethodMappings[2]"]
    assert "Row 1" in violations[0].message


def test_duplicate_mapping_violations_two_null_brokers_of_one_system_names_second_row():
    model = settings([row("stripe"), row("stripe")])

    violations = duplicate_mapping_violations(model)

    assert [v.field for v in violations] == ["paymentMethodMappings[1]"]
    assert "no broker" in violations[0].message


def test_duplicate_mapping_violations_three_copies_names_each_repeat():
    model = settings([row("stripe", "b"), row("stripe", "b"), row("stripe", "b")])

    assert [v.field for v in duplicate_mapping_violations(model)] == [
        "paymentMethodMappings[1]",
        "paymentMethodMappings[2]",
    ]


def test_duplicate_mapping_violations_different_broker_or_system_are_distinct():
    # GIVEN rows that differ by broker (null is a broker of its own) or by system
    model = settings([row("stripe"), row("stripe", "b1"), row("stripe", "b2"), row("paypal", "b1")])

    # THEN nothing repeats
    assert duplicate_mapping_violations(model) == []


# --- references to the lists ------------------------------------------------------------------------------------


def test_reference_violations_known_linkable_active_entries_pass():
    model = settings(
        [row("stripe", "b", "35", "3"), row("paypal", None, "36", None)],
        {"bankAccountId": "35", "paymentMethodId": "1"},
    )

    assert reference_violations(model, LISTS) == []


def test_reference_violations_all_null_pass_without_lists():
    # GIVEN settings pointing at nothing and a tenant that never updated its lists
    model = settings([row("stripe")])

    # THEN there is nothing to check
    assert reference_violations(model, None) == []


@pytest.mark.parametrize(
    ("mappings", "defaults", "field", "needle"),
    [
        ([row(bank="999")], None, "paymentMethodMappings[0].bankAccountId", "not in the QuickBooks lists"),
        ([row(bank="79")], None, "paymentMethodMappings[0].bankAccountId", "only Bank and Other Current Asset"),
        ([row(bank="40")], None, "paymentMethodMappings[0].bankAccountId", "inactive"),
        ([row(method="999")], None, "paymentMethodMappings[0].paymentMethodId", "not in the QuickBooks lists"),
        ([row(method="9")], None, "paymentMethodMappings[0].paymentMethodId", "inactive"),
        ([], {"bankAccountId": "999"}, "defaults.bankAccountId", "not in the QuickBooks lists"),
        ([], {"bankAccountId": "79"}, "defaults.bankAccountId", "only Bank and Other Current Asset"),
        ([], {"bankAccountId": "40"}, "defaults.bankAccountId", "inactive"),
        ([], {"paymentMethodId": "999"}, "defaults.paymentMethodId", "not in the QuickBooks lists"),
        ([], {"paymentMethodId": "9"}, "defaults.paymentMethodId", "inactive"),
        (
            [row("a", None, "35", "1"), row("b", None, "35", "1"), row("c", None, "999", "1")],
            None,
            "paymentMethodMappings[2].bankAccountId",
            "999",
        ),
    ],
)
def test_reference_violations_bad_reference_names_its_path(mappings, defaults, field, needle):
    # GIVEN settings pointing at an unknown, non-linkable or inactive entry
    model = settings(mappings, defaults)

    # WHEN checked against the stored lists
    violations = reference_violations(model, LISTS)

    # THEN exactly that field is named, saying why
    assert [v.field for v in violations] == [field]
    assert needle in violations[0].message


def test_reference_violations_no_lists_names_every_reference():
    # GIVEN a tenant that never updated its lists
    model = settings([row(bank="35", method="3")], {"bankAccountId": "35", "paymentMethodId": None})

    # WHEN its settings point at entries
    violations = reference_violations(model, None)

    # THEN each one is unknown
    assert [v.field for v in violations] == [
        "paymentMethodMappings[0].bankAccountId",
        "paymentMethodMappings[0].paymentMethodId",
        "defaults.bankAccountId",
    ]


def test_settings_violations_collects_every_rule_in_document_order():
    # GIVEN a document breaking every rule once
    model = settings(
        [row("stripe", "b"), row("stripe", "b", "79")],
        {"bankAccountId": None, "paymentMethodId": "999"},
        oneTransactionDescription="{nope}",
    )

    # WHEN checked
    violations = settings_violations(model, LISTS)

    # THEN all are reported
    assert [v.field for v in violations] == [
        "oneTransactionDescription",
        "paymentMethodMappings[1]",
        "paymentMethodMappings[1].bankAccountId",
        "defaults.paymentMethodId",
    ]
    assert all(isinstance(v, Violation) for v in violations)


def test_referenced_ids_collects_rows_and_defaults_without_nulls():
    model = settings(
        [row("a", None, "35", None), row("b", None, None, "3")], {"bankAccountId": "36", "paymentMethodId": "1"}
    )

    assert referenced_ids(model) == (frozenset({"35", "36"}), frozenset({"3", "1"}))


# --- resolution of a payment ------------------------------------------------------------------------------------

MAPPED = settings(
    [
        row("stripe", "brk-1", "35", "3"),
        row("stripe", None, "36", "1"),
        row("stripe", "brk-2", "37", None),
        row("stripe", "brk-3", None, "4"),
        row("stripe", "brk-4", None, None),
        row("paypal", "brk-1", "38", "5"),
    ],
    {"bankAccountId": "90", "paymentMethodId": "91"},
)


@pytest.mark.parametrize(
    ("system", "broker", "target"),
    [
        # the row of (system, broker)
        ("stripe", "brk-1", ("35", "3")),
        # no brokerId: straight to the system's null-broker row
        ("stripe", None, ("36", "1")),
        # an unknown broker falls back to the system's null-broker row
        ("stripe", "brk-unknown", ("36", "1")),
        # a row lacking paymentMethodId takes it from defaults
        ("stripe", "brk-2", ("37", "91")),
        # a row lacking bankAccountId takes it from defaults
        ("stripe", "brk-3", ("90", "4")),
        # a row lacking both takes both from defaults
        ("stripe", "brk-4", ("90", "91")),
        # a system without a null-broker row and an unknown broker: defaults
        ("paypal", "brk-9", ("90", "91")),
        ("paypal", None, ("90", "91")),
        # an unknown system: defaults
        ("cash", None, ("90", "91")),
        # a broker id is only matched within its own system
        ("square", "brk-1", ("90", "91")),
    ],
)
def test_resolve_payment_target_each_branch(system, broker, target):
    # GIVEN rows by broker, by system, partial rows and defaults
    # WHEN a payment of that system and broker is resolved
    # THEN it goes where the contract's order says
    assert resolve_payment_target(MAPPED, system, broker) == PaymentTarget(*target)


def test_resolve_payment_target_nothing_configured_returns_none_for_undeposited_funds():
    # GIVEN a new tenant's settings
    # WHEN a payment is resolved
    target = resolve_payment_target(Settings.new(), "stripe", "brk-1")

    # THEN nothing is set: QuickBooks deposits to Undeposited Funds
    assert target == (None, None)
    assert (target.bank_account_id, target.payment_method_id) == (None, None)


def test_resolve_payment_target_partial_row_with_empty_defaults_leaves_none():
    model = settings([row("stripe", None, "35", None)])

    assert resolve_payment_target(model, "stripe", "any") == ("35", None)


def test_resolve_payment_target_duplicate_rows_first_wins():
    # GIVEN (unsaved, invalid) duplicate rows
    model = settings([row("stripe", "b", "35", "1"), row("stripe", "b", "36", "3")])

    # THEN the first row is used, deterministically
    assert resolve_payment_target(model, "stripe", "b") == ("35", "1")


@given(
    system=st.sampled_from(["stripe", "paypal", "cash"]),
    broker=st.one_of(st.none(), st.sampled_from(["brk-1", "brk-2", "brk-3", "brk-4", "x"])),
)
def test_resolve_payment_target_property_answer_comes_from_a_row_or_defaults(system, broker):
    # GIVEN the mapped settings and any payment
    bank, method = resolve_payment_target(MAPPED, system, broker)

    # THEN each field is a value some matching row or the defaults hold
    rows = [r for r in MAPPED.payment_method_mappings if r.payment_system == system]
    assert bank in {r.bank_account_id for r in rows} | {MAPPED.defaults.bank_account_id}
    assert method in {r.payment_method_id for r in rows} | {MAPPED.defaults.payment_method_id}

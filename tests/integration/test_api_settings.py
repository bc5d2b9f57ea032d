"""GET/PUT /quickbooks/settings through the API handler, with DynamoDB in moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared import wiring
from shared.domain.lists import BankAccount, CompanyLists, PaymentMethod
from shared.domain.settings import DEFAULT_DOCUMENT
from tests.conftest import load_function
from tests.support.events import http_event

api = load_function("api")

TENANT = "t-settings"
PROBLEM = "application/problem+json"

LISTS = CompanyLists(
    realm_id="9341",
    updated_at=datetime(2026, 11, 24, 10, tzinfo=UTC),
    bank_accounts=[
        BankAccount(id="35", name="Checking", account_type="Bank", account_sub_type="Checking"),
        BankAccount(id="36", name="Undeposited Funds", account_type="Other Current Asset"),
        BankAccount(id="79", name="Sales", account_type="Income", account_sub_type="SalesOfProductIncome"),
        BankAccount(id="40", name="Closed savings", account_type="Bank", active=False),
    ],
    payment_methods=[
        PaymentMethod(id="1", name="Cash", type="NON_CREDIT_CARD"),
        PaymentMethod(id="3", name="Visa", type="CREDIT_CARD"),
        PaymentMethod(id="9", name="Old", type="NON_CREDIT_CARD", active=False),
    ],
)

VALID = {
    **DEFAULT_DOCUMENT,
    "oneTransactionInvoice": True,
    "oneTransactionDescription": "{client}: invoice {invoiceNumber} of {invoiceDate}",
    "splitInvoice": True,
    "syncCustomFields": True,
    "autoCreateInvoices": True,
    "invoiceDate": "creationDate",
    "itemType": "product",
    "paymentMethodMappings": [
        {"paymentSystem": "stripe", "brokerId": "brk-1", "bankAccountId": "35", "paymentMethodId": "3"},
        {"paymentSystem": "stripe", "brokerId": None, "bankAccountId": "36", "paymentMethodId": None},
        {"paymentSystem": "paypal", "brokerId": None, "bankAccountId": None, "paymentMethodId": "1"},
    ],
    "defaults": {"bankAccountId": "35", "paymentMethodId": "1"},
}


def call(method: str, tenant: str = TENANT, body=None, lambda_context=None):
    event = http_event(method, "/quickbooks/settings", body=body, claims={"sub": "u", "tenant_id": tenant})
    answer = api.lambda_handler(event, lambda_context)
    return answer, json.loads(answer["body"]) if answer.get("body") else None


@pytest.fixture
def lists_of(aws):
    """Stores a tenant's lists as "Update Lists" would; moto is discarded after the test."""

    def store(tenant: str = TENANT, lists: CompanyLists = LISTS) -> CompanyLists:
        wiring.lists_store().put(tenant, lists)
        return lists

    return store


def with_(**changes) -> dict:
    return {**VALID, **changes}


def mappings(*rows) -> list[dict]:
    return [
        {"paymentSystem": "stripe", "brokerId": None, "bankAccountId": None, "paymentMethodId": None} | r for r in rows
    ]


def test_get_settings_new_tenant_returns_contract_defaults(aws, lambda_context):
    # GIVEN a tenant that never saved settings
    # WHEN the UI opens Additional Settings
    answer, body = call("GET", lambda_context=lambda_context)

    # THEN it gets the contract's defaults
    assert answer["statusCode"] == 200
    assert body == {
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


def test_put_settings_valid_document_round_trips(lists_of, lambda_context):
    # GIVEN a tenant whose lists were updated
    lists_of()

    # WHEN it saves a document using every field
    answer, body = call("PUT", body=VALID, lambda_context=lambda_context)

    # THEN the answer is 200 with the stored document, and a later GET returns the same
    assert answer["statusCode"] == 200
    assert body == VALID
    assert call("GET", lambda_context=lambda_context)[1] == VALID


def test_put_settings_twice_replaces_the_whole_document(lists_of, lambda_context):
    # GIVEN saved settings with three mappings
    lists_of()
    call("PUT", body=VALID, lambda_context=lambda_context)

    # WHEN a document with no mappings is saved
    answer, body = call("PUT", body=with_(paymentMethodMappings=[]), lambda_context=lambda_context)

    # THEN the mappings are gone
    assert answer["statusCode"] == 200
    assert call("GET", lambda_context=lambda_context)[1]["paymentMethodMappings"] == []


def test_put_settings_unknown_fields_are_ignored(lists_of, lambda_context):
    # GIVEN a document with fields the contract does not know, a tenant id among them
    lists_of()
    document = with_(tenantId="t-other", colour="blue")
    document["paymentMethodMappings"] = [{**VALID["paymentMethodMappings"][0], "note": "x"}]

    # WHEN it is saved
    answer, body = call("PUT", body=document, lambda_context=lambda_context)

    # THEN they are dropped, and the document is stored for the caller's tenant
    assert answer["statusCode"] == 200
    assert "tenantId" not in body and "colour" not in body and "note" not in body["paymentMethodMappings"][0]
    assert call("GET", tenant="t-other", lambda_context=lambda_context)[1] == DEFAULT_DOCUMENT


def test_put_settings_row_without_optional_fields_stores_nulls(aws, lambda_context):
    # GIVEN a row with only its payment system (nothing to check against lists)
    document = with_(paymentMethodMappings=[{"paymentSystem": "cash"}], defaults={})

    # WHEN it is saved
    answer, body = call("PUT", body=document, lambda_context=lambda_context)

    # THEN the missing fields are stored as null
    assert answer["statusCode"] == 200
    assert body["paymentMethodMappings"] == [
        {"paymentSystem": "cash", "brokerId": None, "bankAccountId": None, "paymentMethodId": None}
    ]
    assert body["defaults"] == {"bankAccountId": None, "paymentMethodId": None}


@pytest.mark.parametrize(
    ("document", "fields"),
    [
        pytest.param(
            with_(oneTransactionDescription="Invoice {invoiceNo} / {client}"),
            ["oneTransactionDescription"],
            id="unknown placeholder",
        ),
        pytest.param(
            with_(oneTransactionDescription="Invoice {client"),
            ["oneTransactionDescription"],
            id="unbalanced brace",
        ),
        pytest.param(
            with_(paymentMethodMappings=mappings({"brokerId": "a"}, {"brokerId": "b"}, {"bankAccountId": "999"})),
            ["paymentMethodMappings[2].bankAccountId"],
            id="bank account not in the lists",
        ),
        pytest.param(
            with_(paymentMethodMappings=mappings({"bankAccountId": "79"})),
            ["paymentMethodMappings[0].bankAccountId"],
            id="bank account not linkable in a row",
        ),
        pytest.param(
            with_(defaults={"bankAccountId": "79", "paymentMethodId": "1"}),
            ["defaults.bankAccountId"],
            id="bank account not linkable in defaults",
        ),
        pytest.param(
            with_(defaults={"bankAccountId": "999", "paymentMethodId": "1"}),
            ["defaults.bankAccountId"],
            id="default bank account not in the lists",
        ),
        pytest.param(
            with_(paymentMethodMappings=mappings({"bankAccountId": "40"})),
            ["paymentMethodMappings[0].bankAccountId"],
            id="bank account inactive",
        ),
        pytest.param(
            with_(paymentMethodMappings=mappings({"brokerId": "a"}, {"paymentMethodId": "999"})),
            ["paymentMethodMappings[1].paymentMethodId"],
            id="payment method not in the lists",
        ),
        pytest.param(
            with_(defaults={"bankAccountId": "35", "paymentMethodId": "999"}),
            ["defaults.paymentMethodId"],
            id="default payment method not in the lists",
        ),
        pytest.param(
            with_(defaults={"bankAccountId": "35", "paymentMethodId": "9"}),
            ["defaults.paymentMethodId"],
            id="payment method inactive",
        ),
        pytest.param(
            with_(paymentMethodMappings=mappings({"brokerId": "b"}, {"brokerId": "b", "bankAccountId": "35"})),
            ["paymentMethodMappings[1]"],
            id="duplicate system and broker",
        ),
        pytest.param(
            with_(paymentMethodMappings=mappings({}, {"brokerId": "x"}, {})),
            ["paymentMethodMappings[2]"],
            id="duplicate system with null broker",
        ),
        pytest.param(
            with_(
                oneTransactionDescription="{x}",
                paymentMethodMappings=mappings(
                    {}, {"brokerId": "a", "bankAccountId": "79"}, {"paymentMethodId": "999"}
                ),
            ),
            [
                "oneTransactionDescription",
                "paymentMethodMappings[2]",
                "paymentMethodMappings[1].bankAccountId",
                "paymentMethodMappings[2].paymentMethodId",
            ],
            id="several rules at once",
        ),
    ],
)
def test_put_settings_breaking_a_rule_returns_422_naming_the_field(lists_of, lambda_context, document, fields):
    # GIVEN a tenant with lists and saved settings
    lists_of()
    call("PUT", body=VALID, lambda_context=lambda_context)

    # WHEN it saves a document breaking a rule
    answer, body = call("PUT", body=document, lambda_context=lambda_context)

    # THEN it is a 422 problem naming exactly the offending fields
    assert answer["statusCode"] == 422
    assert answer["headers"]["Content-Type"] == PROBLEM
    assert body["status"] == 422
    assert [e["field"] for e in body["errors"]] == fields
    assert all(e["message"] for e in body["errors"])
    # AND nothing was saved
    assert call("GET", lambda_context=lambda_context)[1] == VALID


def test_put_settings_inactive_account_message_says_inactive(lists_of, lambda_context):
    lists_of()

    answer, body = call("PUT", body=with_(defaults={"bankAccountId": "40"}), lambda_context=lambda_context)

    assert answer["statusCode"] == 422
    assert "inactive" in body["errors"][0]["message"]


def test_put_settings_lists_never_updated_rejects_any_reference(aws, lambda_context):
    # GIVEN a tenant that never ran Update Lists
    # WHEN it points the defaults at an account
    answer, body = call("PUT", body=with_(paymentMethodMappings=[]), lambda_context=lambda_context)

    # THEN both defaults are unknown
    assert answer["statusCode"] == 422
    assert [e["field"] for e in body["errors"]] == ["defaults.bankAccountId", "defaults.paymentMethodId"]


@pytest.mark.parametrize(
    ("document", "fields"),
    [
        pytest.param(with_(invoiceDate="tomorrow"), ["invoiceDate"], id="unknown invoiceDate"),
        pytest.param(with_(itemType="inventory"), ["itemType"], id="unknown itemType"),
        pytest.param(with_(splitInvoice="yes"), ["splitInvoice"], id="string for a boolean"),
        pytest.param(with_(autoCreateInvoices=1), ["autoCreateInvoices"], id="number for a boolean"),
        pytest.param(with_(oneTransactionDescription=None), ["oneTransactionDescription"], id="null description"),
        pytest.param(with_(paymentMethodMappings={}), ["paymentMethodMappings"], id="object for a list"),
        pytest.param(
            with_(paymentMethodMappings=mappings({}, {}, {"bankAccountId": 35})),
            ["paymentMethodMappings[2].bankAccountId"],
            id="number for an id in a row",
        ),
        pytest.param(
            with_(defaults={"bankAccountId": ["35"]}), ["defaults.bankAccountId"], id="list for an id in defaults"
        ),
        pytest.param(
            with_(paymentMethodMappings=[{"brokerId": "b"}]),
            ["paymentMethodMappings[0].paymentSystem"],
            id="row without paymentSystem",
        ),
        pytest.param(
            {k: v for k, v in VALID.items() if k not in ("defaults", "itemType")},
            ["itemType", "defaults"],
            id="missing required fields",
        ),
    ],
)
def test_put_settings_wrong_shape_returns_422_naming_the_field(aws, lambda_context, document, fields):
    # GIVEN a document of the wrong shape
    # WHEN it is saved
    answer, body = call("PUT", body=document, lambda_context=lambda_context)

    # THEN it is a 422 problem naming the field by its path in the body
    assert answer["statusCode"] == 422
    assert answer["headers"]["Content-Type"] == PROBLEM
    assert [e["field"] for e in body["errors"]] == fields


@pytest.mark.parametrize("raw", ['{"oneTransactionInvoice": tru', "{", "not json"])
def test_put_settings_unreadable_json_returns_400(aws, lambda_context, raw):
    # GIVEN a body that is not JSON
    # WHEN it is sent
    answer, body = call("PUT", body=raw, lambda_context=lambda_context)

    # THEN it is a 400 problem
    assert answer["statusCode"] == 400
    assert answer["headers"]["Content-Type"] == PROBLEM
    assert body["status"] == 400


def test_put_settings_body_not_an_object_returns_422(aws, lambda_context):
    answer, body = call("PUT", body=[VALID], lambda_context=lambda_context)

    assert answer["statusCode"] == 422
    assert answer["headers"]["Content-Type"] == PROBLEM


def test_settings_other_tenant_never_sees_or_uses_anothers(lists_of, lambda_context):
    # GIVEN tenant A with lists and saved settings
    lists_of("t-a")
    assert call("PUT", tenant="t-a", body=VALID, lambda_context=lambda_context)[0]["statusCode"] == 200

    # WHEN tenant B reads its settings
    _, seen_by_b = call("GET", tenant="t-b", lambda_context=lambda_context)

    # THEN B sees its own defaults
    assert seen_by_b == DEFAULT_DOCUMENT
    # AND B cannot point at A's accounts: B's lists are empty
    answer, body = call("PUT", tenant="t-b", body=VALID, lambda_context=lambda_context)
    assert answer["statusCode"] == 422
    assert "defaults.bankAccountId" in [e["field"] for e in body["errors"]]
    # AND A's settings are untouched
    assert call("GET", tenant="t-a", lambda_context=lambda_context)[1] == VALID


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_settings_without_tenant_claim_returns_401(aws, lambda_context, method):
    event = http_event(method, "/quickbooks/settings", body=DEFAULT_DOCUMENT, claims={"sub": "u"})

    answer = api.lambda_handler(event, lambda_context)

    assert answer["statusCode"] == 401
    assert answer["headers"]["Content-Type"] == PROBLEM

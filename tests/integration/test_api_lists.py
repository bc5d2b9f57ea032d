"""GET /quickbooks/lists and the storing of a refresh (store_refreshed_lists), with DynamoDB in moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared import wiring
from shared.domain.lists import BankAccount, PaymentMethod
from shared.domain.settings import DEFAULT_DOCUMENT, Settings
from shared.services.lists import store_refreshed_lists
from tests.conftest import load_function
from tests.support.events import http_event

api = load_function("api")

TENANT = "t-lists"
REALM = "9341"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

CHART = [
    BankAccount(id="35", name="Checking", account_type="Bank", account_sub_type="Checking"),
    BankAccount(id="36", name="Undeposited Funds", account_type="Other Current Asset", account_sub_type="Undeposited"),
    BankAccount(id="79", name="Sales", account_type="Income", account_sub_type="SalesOfProductIncome"),
    BankAccount(id="84", name="Accounts Receivable", account_type="Accounts Receivable"),
    BankAccount(id="40", name="Closed savings", account_type="Bank", account_sub_type="Savings", active=False),
]
METHODS = [
    PaymentMethod(id="1", name="Cash", type="NON_CREDIT_CARD"),
    PaymentMethod(id="3", name="Visa", type="CREDIT_CARD"),
]


def get_lists(lambda_context, tenant: str = TENANT) -> dict:
    event = http_event("GET", "/quickbooks/lists", claims={"sub": "u", "tenant_id": tenant})
    answer = api.lambda_handler(event, lambda_context)
    assert answer["statusCode"] == 200
    return json.loads(answer["body"])


@pytest.fixture
def refresh(aws):
    """Stores a refresh as the lead's refresh service does after reading QuickBooks."""

    def run(accounts=CHART, methods=METHODS, *, tenant=TENANT, realm=REALM, now=NOW):
        return store_refreshed_lists(
            wiring.lists_store(), wiring.settings_store(), tenant, realm, accounts, methods, now
        )

    return run


def save_settings(tenant: str = TENANT, **changes) -> None:
    wiring.settings_store().put(tenant, Settings.model_validate({**DEFAULT_DOCUMENT, **changes}))


def test_get_lists_never_refreshed_returns_empty_lists(aws, lambda_context):
    # GIVEN a tenant that never ran Update Lists
    # WHEN the UI reads the lists
    body = get_lists(lambda_context)

    # THEN they are empty and were never updated
    assert body == {"bankAccounts": [], "paymentMethods": [], "updatedAt": None}


def test_get_lists_after_refresh_returns_every_account_with_linkable(refresh, lambda_context):
    # GIVEN a refresh of a company with linkable, non-linkable and inactive accounts
    refresh()

    # WHEN the UI reads the lists
    body = get_lists(lambda_context)

    # THEN every account is there, linkable only for Bank and Other Current Asset
    assert {a["id"]: (a["accountType"], a["active"], a["linkable"]) for a in body["bankAccounts"]} == {
        "35": ("Bank", True, True),
        "36": ("Other Current Asset", True, True),
        "79": ("Income", True, False),
        "84": ("Accounts Receivable", True, False),
        "40": ("Bank", False, True),
    }
    assert body["bankAccounts"][0] == {
        "id": "84",
        "name": "Accounts Receivable",
        "accountType": "Accounts Receivable",
        "accountSubType": None,
        "active": True,
        "linkable": False,
    }
    assert body["paymentMethods"] == [
        {"id": "1", "name": "Cash", "type": "NON_CREDIT_CARD", "active": True},
        {"id": "3", "name": "Visa", "type": "CREDIT_CARD", "active": True},
    ]
    assert body["updatedAt"] == "2026-11-24T10:00:00Z"


def test_refresh_vanished_account_still_referenced_stays_inactive(refresh, lambda_context):
    # GIVEN lists with account 35 and method 3, and settings pointing at both
    refresh()
    save_settings(
        paymentMethodMappings=[{"paymentSystem": "stripe", "bankAccountId": "35"}],
        defaults={"paymentMethodId": "3"},
    )

    # WHEN they are deleted in QuickBooks and the lists are refreshed
    refresh([a for a in CHART if a.id != "35"], [m for m in METHODS if m.id != "3"], now=NOW + timedelta(hours=1))

    # THEN both are still shown, inactive
    body = get_lists(lambda_context)
    assert {a["id"]: a["active"] for a in body["bankAccounts"]}["35"] is False
    assert {m["id"]: m["active"] for m in body["paymentMethods"]} == {"1": True, "3": False}
    assert body["updatedAt"] == "2026-11-24T11:00:00Z"


def test_refresh_vanished_account_not_referenced_is_dropped(refresh, lambda_context):
    # GIVEN lists with account 36 and method 1 that no setting uses
    refresh()
    save_settings(defaults={"bankAccountId": "35", "paymentMethodId": "3"})

    # WHEN they vanish from QuickBooks and the lists are refreshed
    refresh([a for a in CHART if a.id != "36"], [m for m in METHODS if m.id != "1"])

    # THEN they are gone
    body = get_lists(lambda_context)
    assert "36" not in {a["id"] for a in body["bankAccounts"]}
    assert [m["id"] for m in body["paymentMethods"]] == ["3"]


def test_refresh_of_another_company_starts_fresh(refresh, lambda_context):
    # GIVEN lists of company 9341 whose account 35 the settings use
    refresh()
    save_settings(defaults={"bankAccountId": "35"})

    # WHEN the tenant connected company 7777 and its lists are refreshed
    lists = refresh([BankAccount(id="1", name="Other bank", account_type="Bank")], [], realm="7777")

    # THEN nothing of the old company remains
    assert lists.realm_id == "7777"
    body = get_lists(lambda_context)
    assert [a["id"] for a in body["bankAccounts"]] == ["1"]
    assert body["paymentMethods"] == []


def test_refresh_returns_what_it_stored(refresh):
    # GIVEN a refresh
    lists = refresh()

    # THEN its answer is what a later read returns (the refresh route answers counts from it)
    assert wiring.lists_store().get(TENANT) == lists
    assert (len(lists.bank_accounts), len(lists.payment_methods), lists.updated_at) == (5, 2, NOW)


def test_settings_pointing_at_a_vanished_account_cannot_be_saved_again(refresh, lambda_context):
    # GIVEN saved settings using account 35, which then vanished from QuickBooks
    refresh()
    save_settings(defaults={"bankAccountId": "35"})
    refresh([a for a in CHART if a.id != "35"])

    # WHEN the same settings are saved again
    event = http_event(
        "PUT",
        "/quickbooks/settings",
        body={**DEFAULT_DOCUMENT, "defaults": {"bankAccountId": "35"}},
        claims={"tenant_id": TENANT},
    )
    answer = api.lambda_handler(event, lambda_context)

    # THEN the account is named as inactive
    assert answer["statusCode"] == 422
    error = json.loads(answer["body"])["errors"][0]
    assert error["field"] == "defaults.bankAccountId"
    assert "inactive" in error["message"]


def test_lists_other_tenant_never_sees_anothers(refresh, lambda_context):
    # GIVEN tenant A's lists
    refresh(tenant="t-a")

    # WHEN tenant B reads its lists, even naming A in the query string
    event = http_event("GET", "/quickbooks/lists", query={"tenant_id": "t-a"}, claims={"tenant_id": "t-b"})
    body = json.loads(api.lambda_handler(event, lambda_context)["body"])

    # THEN B sees none
    assert body == {"bankAccounts": [], "paymentMethods": [], "updatedAt": None}
    assert len(get_lists(lambda_context, tenant="t-a")["bankAccounts"]) == 5


def test_refresh_uses_only_the_tenants_own_settings(refresh, lambda_context):
    # GIVEN two tenants with the same lists, and only tenant B's settings using account 35
    refresh(tenant="t-a")
    refresh(tenant="t-b")
    save_settings("t-b", defaults={"bankAccountId": "35"})

    # WHEN account 35 vanishes for both
    remaining = [a for a in CHART if a.id != "35"]
    refresh(remaining, tenant="t-a")
    refresh(remaining, tenant="t-b")

    # THEN only B keeps it
    assert "35" not in {a["id"] for a in get_lists(lambda_context, "t-a")["bankAccounts"]}
    assert "35" in {a["id"] for a in get_lists(lambda_context, "t-b")["bankAccounts"]}


def test_get_lists_without_tenant_claim_returns_401(aws, lambda_context):
    answer = api.lambda_handler(http_event("GET", "/quickbooks/lists", claims={"sub": "u"}), lambda_context)

    assert answer["statusCode"] == 401
    assert answer["headers"]["Content-Type"] == "application/problem+json"


def test_get_lists_with_3000_accounts_returns_them_all(refresh, lambda_context):
    # GIVEN a company with 3000 accounts
    accounts = [BankAccount(id=str(i), name=f"Account {i:04d}", account_type="Bank") for i in range(3000)]
    refresh(accounts)

    # WHEN the UI reads the lists
    body = get_lists(lambda_context)

    # THEN all are there
    assert len(body["bankAccounts"]) == 3000
    assert body["bankAccounts"][0]["name"] == "Account 0000"

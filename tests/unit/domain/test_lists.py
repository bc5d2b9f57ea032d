"""The lists rules of "Update Lists": linkable accounts and the merge of a refresh into what was stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.lists import BankAccount, CompanyLists, PaymentMethod, merge_lists

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(days=3)


def account(id: str, name: str | None = None, account_type: str = "Bank", active: bool = True) -> BankAccount:
    return BankAccount(id=id, name=name or f"Account {id}", account_type=account_type, active=active)


def method(id: str, name: str | None = None, active: bool = True) -> PaymentMethod:
    return PaymentMethod(id=id, name=name or f"Method {id}", type="NON_CREDIT_CARD", active=active)


def stored(realm_id: str = "9341", accounts=(), methods=()) -> CompanyLists:
    return CompanyLists(
        realm_id=realm_id, updated_at=EARLIER, bank_accounts=list(accounts), payment_methods=list(methods)
    )


def merge(previous, accounts=(), methods=(), *, accounts_used=frozenset(), methods_used=frozenset(), realm="9341"):
    return merge_lists(
        previous,
        accounts,
        methods,
        referenced_account_ids=accounts_used,
        referenced_method_ids=methods_used,
        realm_id=realm,
        now=NOW,
    )


@pytest.mark.parametrize(
    ("account_type", "linkable"),
    [
        ("Bank", True),
        ("Other Current Asset", True),
        ("Income", False),
        ("Accounts Receivable", False),
        ("Credit Card", False),
        ("Expense", False),
        ("bank", False),
    ],
)
def test_bank_account_linkable_only_for_bank_and_other_current_asset(account_type, linkable):
    # GIVEN an account of some QuickBooks AccountType
    # WHEN asked whether a payment may go there
    # THEN only Bank and Other Current Asset (QuickBooks' exact spelling) are linkable
    assert account("1", account_type=account_type).linkable is linkable


def test_bank_account_dump_includes_linkable():
    # GIVEN an Income account
    # WHEN it is dumped
    dumped = account("7", account_type="Income").model_dump()

    # THEN linkable travels with it
    assert dumped["linkable"] is False


def test_company_lists_naive_time_is_rejected():
    # GIVEN a time without a zone
    # WHEN lists are built with it
    # THEN they are refused: times are UTC
    with pytest.raises(ValidationError):
        CompanyLists(realm_id="1", updated_at=datetime(2026, 1, 1))


def test_company_lists_time_in_other_zone_is_stored_in_utc():
    # GIVEN a time at UTC+2
    # WHEN lists are built with it
    lists = CompanyLists(realm_id="1", updated_at=datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))

    # THEN it is the same instant in UTC
    assert lists.updated_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert lists.updated_at.utcoffset() == timedelta(0)


def test_company_lists_lookup_unknown_id_returns_none():
    # GIVEN lists with one account and one method
    lists = stored(accounts=[account("35")], methods=[method("1")])

    # WHEN looking up ids QuickBooks never returned
    # THEN there is nothing
    assert lists.bank_account("36") is None
    assert lists.payment_method("2") is None
    assert lists.bank_account("35") == account("35")
    assert lists.payment_method("1") == method("1")


def test_merge_lists_first_refresh_stores_everything_fetched():
    # GIVEN nothing stored yet and QuickBooks answering linkable, non-linkable and inactive entries
    fetched = [account("1", "Checking"), account("2", "Sales", "Income"), account("3", "Old", active=False)]
    methods = [method("1", "Cash"), method("2", "Old check", active=False)]

    # WHEN the refresh is merged
    lists = merge(None, fetched, methods)

    # THEN every entry is stored as QuickBooks says, with the realm and the time
    assert {a.id: (a.active, a.linkable) for a in lists.bank_accounts} == {
        "1": (True, True),
        "2": (True, False),
        "3": (False, True),
    }
    assert {m.id: m.active for m in lists.payment_methods} == {"1": True, "2": False}
    assert (lists.realm_id, lists.updated_at) == ("9341", NOW)


def test_merge_lists_vanished_account_still_referenced_stays_inactive():
    # GIVEN an account stored before, used by a setting, that QuickBooks no longer returns
    previous = stored(accounts=[account("35", "Savings"), account("1")])

    # WHEN the refresh is merged
    lists = merge(previous, [account("1")], accounts_used={"35"})

    # THEN it is kept, shown inactive
    assert lists.bank_account("35") == account("35", "Savings", active=False)
    assert lists.bank_account("1") == account("1")


def test_merge_lists_vanished_account_not_referenced_is_dropped():
    # GIVEN an account stored before that no setting uses and QuickBooks no longer returns
    previous = stored(accounts=[account("35"), account("1")])

    # WHEN the refresh is merged
    lists = merge(previous, [account("1")], accounts_used={"99"})

    # THEN it is gone
    assert [a.id for a in lists.bank_accounts] == ["1"]


def test_merge_lists_vanished_method_still_referenced_stays_inactive():
    # GIVEN a payment method used by a setting that QuickBooks no longer returns
    previous = stored(methods=[method("3", "Visa"), method("4", "Amex")])

    # WHEN the refresh is merged
    lists = merge(previous, methods=[], methods_used={"3"})

    # THEN the used one stays inactive and the unused one is dropped
    assert lists.payment_methods == [method("3", "Visa", active=False)]


def test_merge_lists_account_inactive_in_quickbooks_is_stored_inactive():
    # GIVEN an account QuickBooks now answers as inactive
    previous = stored(accounts=[account("35")])

    # WHEN the refresh is merged, referenced or not
    lists = merge(previous, [account("35", active=False)])

    # THEN it is stored inactive (QuickBooks' word wins)
    assert lists.bank_account("35") == account("35", active=False)


def test_merge_lists_reactivated_account_is_active_again():
    # GIVEN an account kept inactive after it vanished, that QuickBooks returns again
    previous = stored(accounts=[account("35", active=False)])

    # WHEN the refresh is merged
    lists = merge(previous, [account("35", "Renamed")], accounts_used={"35"})

    # THEN QuickBooks' fresh copy replaces it
    assert lists.bank_account("35") == account("35", "Renamed")


def test_merge_lists_other_realm_starts_fresh():
    # GIVEN lists of company 1111 with an account the settings still point at
    previous = stored(realm_id="1111", accounts=[account("35")], methods=[method("3")])

    # WHEN company 2222 is refreshed
    lists = merge(previous, [account("1")], [method("1")], accounts_used={"35"}, methods_used={"3"}, realm="2222")

    # THEN nothing of the other company is carried over
    assert lists.realm_id == "2222"
    assert [a.id for a in lists.bank_accounts] == ["1"]
    assert [m.id for m in lists.payment_methods] == ["1"]


def test_merge_lists_repeated_id_keeps_last_read():
    # GIVEN paging that returned one account twice (it changed between pages)
    fetched = [account("5", "Before"), account("5", "After")]

    # WHEN the refresh is merged
    lists = merge(None, fetched)

    # THEN it is stored once, as last read
    assert lists.bank_accounts == [account("5", "After")]


def test_merge_lists_sorts_by_name_then_id():
    # GIVEN entries in QuickBooks' order
    fetched = [account("3", "beta"), account("2", "Alpha"), account("1", "alpha")]

    # WHEN merged
    lists = merge(None, fetched)

    # THEN the UI gets them by name, case-insensitively, ties by id
    assert [a.id for a in lists.bank_accounts] == ["1", "2", "3"]


ids = st.text(alphabet="0123456789", min_size=1, max_size=3)


@given(
    previous_ids=st.sets(ids, max_size=15),
    fetched_ids=st.sets(ids, max_size=15),
    referenced=st.sets(ids, max_size=15),
    same_realm=st.booleans(),
)
def test_merge_lists_property_keeps_fetched_and_referenced_vanished_only(
    previous_ids, fetched_ids, referenced, same_realm
):
    # GIVEN any stored lists, any refresh and any referenced ids
    previous = stored(realm_id="9341" if same_realm else "1111", accounts=[account(i) for i in previous_ids])

    # WHEN merged
    lists = merge(previous, [account(i) for i in fetched_ids], accounts_used=referenced)

    # THEN everything fetched is there as fetched, and the rest are exactly the referenced vanished ones, inactive
    kept = (previous_ids - fetched_ids) & referenced if same_realm else set()
    assert {a.id for a in lists.bank_accounts} == fetched_ids | kept
    assert all(a.active == (a.id in fetched_ids) for a in lists.bank_accounts)

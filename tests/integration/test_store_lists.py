"""ListsStore and SettingsStore against moto: chunked, compressed lists and the settings document."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import pytest

from shared import wiring
from shared.domain.lists import BankAccount, CompanyLists, PaymentMethod
from shared.domain.settings import DEFAULT_DOCUMENT, Settings
from shared.store.lists import LISTS_SK, ListsReadConflict, ListsStore, ListsTooLarge
from shared.store.settings import SETTINGS_SK
from shared.store.table import tenant_pk

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TENANT = "t-store"


def company(accounts: int, realm: str = "9341") -> CompanyLists:
    return CompanyLists(
        realm_id=realm,
        updated_at=NOW,
        bank_accounts=[
            BankAccount(
                id=str(i),
                name=f"Account {i:05d} of a company with a long chart",
                account_type=("Bank", "Income", "Other Current Asset", "Expense")[i % 4],
                account_sub_type="Checking",
                active=i % 7 != 0,
            )
            for i in range(accounts)
        ],
        payment_methods=[PaymentMethod(id=str(i), name=f"Method {i}", type="CREDIT_CARD") for i in range(40)],
    )


def stored_items(tenant: str = TENANT) -> list[dict]:
    return wiring.table().query_prefix(tenant_pk(tenant), LISTS_SK)


def test_lists_store_never_refreshed_returns_none(aws):
    assert wiring.lists_store().get(TENANT) is None


def test_lists_store_3000_accounts_round_trip_in_several_chunks(aws):
    # GIVEN 3000 accounts and a store cutting chunks small enough to need several
    lists = company(3000)
    store = ListsStore(wiring.table(), chunk_bytes=8_000)

    # WHEN they are stored and read back
    store.put(TENANT, lists)
    read = store.get(TENANT)

    # THEN every account comes back as it was, from a head and several chunks
    assert read == lists
    items = stored_items()
    assert items[0]["sk"] == "LISTS"
    assert len(items) - 1 == items[0]["chunks"] > 2
    assert [i["sk"] for i in items[1:3]] == ["LISTS#0000", "LISTS#0001"]
    assert (items[0]["bankAccounts"], items[0]["paymentMethods"], items[0]["realmId"]) == (3000, 40, "9341")


def test_lists_store_default_chunks_hold_thousands_of_accounts_within_item_limit(aws):
    # GIVEN 20000 accounts (far beyond QuickBooks' usual charts) and the default chunk size
    lists = company(20_000)

    # WHEN they are stored
    wiring.lists_store().put(TENANT, lists)

    # THEN each item stays well under DynamoDB's 400 KB, and they read back whole
    assert all(len(bytes(i.get("data", b""))) <= 350_000 for i in stored_items())
    assert wiring.lists_store().get(TENANT) == lists


def test_lists_store_shorter_lists_delete_surplus_chunks(aws):
    # GIVEN long lists stored in many chunks
    store = ListsStore(wiring.table(), chunk_bytes=4_000)
    store.put(TENANT, company(3000))
    assert len(stored_items()) > 3

    # WHEN short lists replace them
    short = company(2)
    store.put(TENANT, short)

    # THEN only the head and one chunk remain, and they read back
    assert [i["sk"] for i in stored_items()] == ["LISTS", "LISTS#0000"]
    assert store.get(TENANT) == short


def test_lists_store_chunk_of_another_revision_is_read_again(aws):
    # GIVEN stored lists whose second chunk is from another refresh (a read racing a write)
    store = ListsStore(wiring.table(), chunk_bytes=4_000)
    lists = company(3000)
    store.put(TENANT, lists)
    table = wiring.table()
    stale = {**table.get(tenant_pk(TENANT), "LISTS#0001"), "revision": "older"}
    calls = []
    real_query = table.query_prefix

    def racing_query(pk, prefix, **kwargs):
        items = real_query(pk, prefix, **kwargs)
        calls.append(1)
        return [stale if i["sk"] == "LISTS#0001" and len(calls) == 1 else i for i in items]

    table.query_prefix = racing_query

    # WHEN the lists are read
    read = store.get(TENANT)

    # THEN the mixed read is discarded and the second read answers
    assert read == lists
    assert len(calls) == 2


def test_lists_store_missing_chunk_every_time_raises_read_conflict(aws):
    # GIVEN a head pointing at a chunk that is not there
    store = ListsStore(wiring.table(), chunk_bytes=4_000)
    store.put(TENANT, company(3000))
    wiring.dynamodb_client().delete_item(
        TableName=wiring.table().name, Key={"pk": {"S": tenant_pk(TENANT)}, "sk": {"S": "LISTS#0001"}}
    )

    # WHEN read
    # THEN it is a conflict, never half the lists
    with pytest.raises(ListsReadConflict):
        store.get(TENANT)


def test_lists_store_chunks_past_the_heads_count_are_ignored(aws):
    # GIVEN a leftover chunk beyond the head's count (two refreshes racing)
    store = ListsStore(wiring.table(), chunk_bytes=4_000)
    lists = company(2)
    store.put(TENANT, lists)
    wiring.table().put({"pk": tenant_pk(TENANT), "sk": "LISTS#0007", "revision": "old", "index": 7, "data": b"x"})

    # WHEN read
    # THEN the lists are whole
    assert store.get(TENANT) == lists


def test_lists_store_too_large_raises_before_writing(aws, monkeypatch):
    # GIVEN a transaction budget smaller than the compressed lists
    monkeypatch.setattr("shared.store.lists.MAX_TRANSACTION_BYTES", 1_000)
    lists = company(3000)
    assert len(zlib.compress(lists.model_dump_json().encode(), 9)) > 1_000

    # WHEN they are stored
    # THEN nothing is written
    with pytest.raises(ListsTooLarge):
        wiring.lists_store().put(TENANT, lists)
    assert stored_items() == []


def test_lists_store_tenants_are_apart(aws):
    wiring.lists_store().put("t-a", company(3))

    assert wiring.lists_store().get("t-b") is None
    assert stored_items("t-b") == []


def test_settings_store_new_tenant_gets_defaults(aws):
    assert wiring.settings_store().get(TENANT) == Settings.new()


def test_settings_store_round_trips_and_fills_fields_added_later(aws):
    # GIVEN a document saved before syncCustomFields existed
    settings = Settings.model_validate(
        {
            **DEFAULT_DOCUMENT,
            "paymentMethodMappings": [{"paymentSystem": "stripe", "brokerId": None, "bankAccountId": "35"}],
        }
    )
    wiring.settings_store().put(TENANT, settings)
    assert wiring.settings_store().get(TENANT) == settings
    item = wiring.table().get(tenant_pk(TENANT), SETTINGS_SK)
    del item["syncCustomFields"]
    wiring.table().put(item)

    # WHEN it is read
    read = wiring.settings_store().get(TENANT)

    # THEN the missing field takes its default
    assert read.sync_custom_fields is False
    assert read.payment_method_mappings == settings.payment_method_mappings

"""Link guards keyed by QuickBooks entity, against moto: the keys parties always wrote, one owner per object."""

from __future__ import annotations

import pytest

from shared.store.links import LinkGuards, guard_item, guard_sk, realm_index_key, release_action
from shared.store.table import Table, TransactionRefused
from tests.conftest import TABLE_NAME


@pytest.fixture
def guards(aws) -> LinkGuards:
    return LinkGuards(Table(TABLE_NAME, aws))


def test_guard_keys_are_the_ones_parties_always_wrote():
    assert guard_sk("9341", "Customer", "58") == "LINK#9341#Customer#58"
    assert realm_index_key("9341", "Customer", "58") == "REALM#9341#Customer#58"
    assert guard_item("t1", "9341", "Customer", "58", owner_sk="CLIENT#c1", partyId="c1", kind="customer") == {
        "pk": "TENANT#t1",
        "sk": "LINK#9341#Customer#58",
        "realmId": "9341",
        "qbId": "58",
        "qbEntity": "Customer",
        "ownerSk": "CLIENT#c1",
        "gsi1pk": "REALM#9341#Customer#58",
        "gsi1sk": "TENANT#t1",
        "partyId": "c1",
        "kind": "customer",
    }


def test_guard_item_extra_cannot_replace_the_keys():
    with pytest.raises(ValueError, match="sk"):
        guard_item("t1", "9341", "Invoice", "7", owner_sk="INVOICE#i1", sk="elsewhere")


def test_second_guard_of_one_object_is_refused_and_holder_names_the_first(guards):
    # GIVEN invoice i1 holds QuickBooks invoice 7
    guards.table.transact([guards.put_action("t1", "9341", "Invoice", "7", owner_sk="INVOICE#i1")])

    # WHEN i2 links the same object, and another entity with the same id is linked
    with pytest.raises(TransactionRefused):
        guards.table.transact([guards.put_action("t1", "9341", "Invoice", "7", owner_sk="INVOICE#i2")])
    guards.table.transact([guards.put_action("t1", "9341", "Customer", "7", owner_sk="CLIENT#c1")])

    # THEN the first stays the holder; the entities do not collide
    holder = guards.holder("t1", "9341", "Invoice", "7")
    assert holder is not None and holder["ownerSk"] == "INVOICE#i1"
    assert guards.holder("t1", "9341", "Customer", "7")["ownerSk"] == "CLIENT#c1"
    assert guards.holder("t1", "other-realm", "Invoice", "7") is None


def test_delete_action_frees_the_object(guards):
    guards.table.transact([guards.put_action("t1", "9341", "Invoice", "7", owner_sk="INVOICE#i1")])

    guards.table.transact([guards.delete_action("t1", "9341", "Invoice", "7")])

    assert guards.holder("t1", "9341", "Invoice", "7") is None
    guards.table.transact([guards.put_action("t1", "9341", "Invoice", "7", owner_sk="INVOICE#i2")])


def test_holders_by_index_answers_only_this_tenants_guards(guards):
    for tenant in ("t1", "t2"):
        guards.table.transact([guards.put_action(tenant, "9341", "Invoice", "7", owner_sk=f"INVOICE#{tenant}")])

    found = guards.holders_by_index("t1", "9341", "Invoice", "7")

    assert [guard["ownerSk"] for guard in found] == ["INVOICE#t1"]
    assert guards.holders_by_index("t3", "9341", "Invoice", "7") == []


def test_get_many_answers_the_linked_ones_by_qb_id(guards):
    for qb_id in ("1", "3"):
        guards.table.transact([guards.put_action("t1", "9341", "Invoice", qb_id, owner_sk=f"INVOICE#i{qb_id}")])
    guards.table.transact([guards.put_action("t1", "9341", "Customer", "2", owner_sk="CLIENT#c2")])

    found = guards.get_many("t1", "9341", "Invoice", ["1", "2", "3", "1"])

    assert {qb_id: guard["ownerSk"] for qb_id, guard in found.items()} == {"1": "INVOICE#i1", "3": "INVOICE#i3"}


def test_released_guard_reads_as_absent_and_a_new_link_writes_over_it(guards):
    # GIVEN invoice i1's guard of QuickBooks payment 9, released (the webhook may not delete it)
    guards.table.transact([guards.put_action("t1", "9341", "Payment", "9", owner_sk="INVOICE#i1")])
    guards.table.transact([release_action(guards.table, "t1", "9341", "Payment", "9", now=1_000.0)])

    # THEN every read answers it as absent: by key, by index, in a batch
    assert guards.holder("t1", "9341", "Payment", "9") is None
    assert guards.holders_by_index("t1", "9341", "Payment", "9") == []
    assert guards.get_many("t1", "9341", "Payment", ["9"]) == {}
    item = guards.table.get("TENANT#t1", "LINK#9341#Payment#9")
    assert item is not None and item["expiresAt"] == 1_000 + 86_400

    # AND linking the object again writes over it, a live guard with no trace of the release
    guards.table.transact([guards.put_action("t1", "9341", "Payment", "9", owner_sk="INVOICE#i2")])
    holder = guards.holder("t1", "9341", "Payment", "9")
    assert holder is not None and holder["ownerSk"] == "INVOICE#i2"
    assert "released" not in holder and "expiresAt" not in holder
    assert [g["ownerSk"] for g in guards.holders_by_index("t1", "9341", "Payment", "9")] == ["INVOICE#i2"]


def test_releasing_an_absent_guard_leaves_only_a_tombstone_nobody_reads(guards):
    guards.table.transact([release_action(guards.table, "t1", "9341", "Payment", "10", now=1_000.0)])

    assert guards.holder("t1", "9341", "Payment", "10") is None
    assert guards.get_many("t1", "9341", "Payment", ["10"]) == {}

"""Table: transact tells a failed condition of ours from a conflict with another writer; conditional delete,
ADD, and budgeted paging against moto."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.errors import StorageBusy
from shared.store.table import ConditionFailed, Table, TransactionRefused
from tests.conftest import TABLE_NAME


class CancellingClient:
    def __init__(self, *codes: str | None) -> None:
        self.codes = codes

    def transact_write_items(self, **_: object) -> None:
        reasons = [{"Code": code} if code else {"Code": "None"} for code in self.codes]
        error = {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": reasons,
        }
        raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]


def test_transact_conflict_with_another_writer_is_busy_not_refused():
    table = Table("t", CancellingClient(None, "TransactionConflict"))

    with pytest.raises(StorageBusy) as raised:
        table.transact([{"Update": {}}, {"Update": {}}])

    assert raised.value.status == 503


def test_transact_failed_condition_is_refused_with_reasons():
    table = Table("t", CancellingClient("ConditionalCheckFailed", None))

    with pytest.raises(TransactionRefused) as raised:
        table.transact([{"Update": {}}, {"Update": {}}])

    assert raised.value.reasons == ["ConditionalCheckFailed", "None"]


def test_write_together_conflict_with_another_writer_is_busy():
    table = Table("t", CancellingClient("TransactionConflict", None))

    with pytest.raises(StorageBusy):
        table.write_together([{"pk": "p", "sk": "a"}], [("p", "b")])


@pytest.mark.parametrize("code", ["ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"])
def test_transact_throttled_is_busy(code):
    with pytest.raises(StorageBusy):
        Table("t", CancellingClient(None, code)).transact([{"Update": {}}, {"Update": {}}])


def test_transact_refused_for_another_reason_is_raised_as_it_came():
    table = Table("t", CancellingClient("ValidationError", None))

    with pytest.raises(ClientError) as raised:
        table.transact([{"Update": {}}, {"Update": {}}])

    assert not isinstance(raised.value, StorageBusy)
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"


# -- against moto: conditional delete, ADD, budgeted paging --------------------------------------------------


class QueryCounter:
    """The boto3 client, noting the ``Limit`` of every Query (how many items each call may read)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.limits: list[int] = []

    def query(self, **arguments: Any) -> Any:
        self.limits.append(arguments.get("Limit", 0))
        return self.client.query(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture
def table(aws) -> Table:
    return Table(TABLE_NAME, aws)


def test_delete_if_deletes_only_when_the_condition_holds(table):
    # GIVEN a lease held by a
    table.put({"pk": "TENANT#t1", "sk": "LOCK#x", "owner": "a"})

    # WHEN b, then a, give it back; then a again, the item gone
    by_other = table.delete_if("TENANT#t1", "LOCK#x", condition="#owner = :owner", values={"owner": "b"})
    kept = table.get("TENANT#t1", "LOCK#x")
    by_owner = table.delete_if("TENANT#t1", "LOCK#x", condition="#owner = :owner", values={"owner": "a"})
    again = table.delete_if("TENANT#t1", "LOCK#x", condition="#owner = :owner", values={"owner": "a"})

    # THEN only the owner's delete happened
    assert (by_other, by_owner, again) == (False, True, False)
    assert kept is not None and kept["owner"] == "a"
    assert table.get("TENANT#t1", "LOCK#x") is None


def test_delete_if_takes_placeholders_for_names_that_are_no_valid_placeholder(table):
    table.put({"pk": "p", "sk": "s", "owner-id": "a"})

    refused = table.delete_if("p", "s", condition="#o = :o", names={"#o": "owner-id"}, values={"o": "b"})
    deleted = table.delete_if("p", "s", condition="#o = :o", names={"#o": "owner-id"}, values={"o": "a"})

    assert (refused, deleted) == (False, True)


def test_pop_answers_the_item_once(table):
    table.put({"pk": "p", "sk": "s", "n": 1})

    assert table.pop("p", "s") == {"pk": "p", "sk": "s", "n": 1}
    assert table.pop("p", "s") is None


def test_update_adds_numbers_together_with_set_and_remove(table):
    # GIVEN a counter item with a stale attribute
    table.put({"pk": "p", "sk": "s", "done": 2, "stale": "x"})

    # WHEN one update sets, removes and adds (one counter new, one existing, a reserved word among them)
    after = table.update(
        "p",
        "s",
        set_values={"status": "running", "gone": None},
        remove=["stale"],
        add={"done": 1, "size": Decimal("2.5")},
        condition="attribute_exists(#pk) AND #done < :limit",
        values={"limit": 10},
    )

    # THEN all of it happened in that one write
    assert after == {"pk": "p", "sk": "s", "status": "running", "done": 3, "size": Decimal("2.5")}
    assert table.get("p", "s") == after


def test_update_with_add_only_creates_the_counter_and_refuses_past_the_condition(table):
    table.update("p", "s", add={"n": 1}, condition="attribute_not_exists(#n) OR #n < :limit", values={"limit": 2})
    table.update("p", "s", add={"n": 1}, condition="attribute_not_exists(#n) OR #n < :limit", values={"limit": 2})

    with pytest.raises(ConditionFailed):
        table.update("p", "s", add={"n": 1}, condition="attribute_not_exists(#n) OR #n < :limit", values={"limit": 2})

    assert table.get("p", "s") == {"pk": "p", "sk": "s", "n": 2}


def test_update_action_with_add_runs_in_a_transaction(table):
    # GIVEN a job head and one pending item
    table.put({"pk": "p", "sk": "JOB#1", "done": 0})
    table.put({"pk": "p", "sk": "JOBITEM#1#a", "status": "pending"})

    # WHEN the item's outcome and the head's counters are written together
    table.transact(
        [
            {"Update": table.update_action("p", "JOBITEM#1#a", set_values={"status": "succeeded"})},
            {
                "Update": table.update_action(
                    "p",
                    "JOB#1",
                    set_values={"status": "running"},
                    add={"succeeded": 1, "done": 1},
                    condition="attribute_not_exists(#finishedAt)",
                )
            },
        ]
    )

    # THEN the head counted it
    assert table.get("p", "JOB#1") == {"pk": "p", "sk": "JOB#1", "status": "running", "succeeded": 1, "done": 1}


def test_update_action_writes_every_clause_once():
    action = Table("t", None).update_action(
        "p", "s", set_values={"a": 1}, remove=["b"], add={"c": 2}, condition="#d = :d", values={"d": 0}
    )

    assert action["UpdateExpression"] == "SET #s0 = :s0 REMOVE #r0 ADD #a0 :a0"
    assert action["ExpressionAttributeNames"] == {"#s0": "a", "#r0": "b", "#a0": "c", "#d": "d"}
    assert action["ExpressionAttributeValues"] == {":d": {"N": "0"}, ":s0": {"N": "1"}, ":a0": {"N": "2"}}


def seed_items(table: Table, count: int, matching: set[int]) -> None:
    for n in range(count):
        table.put({"pk": "TENANT#t1", "sk": f"ITEM#{n:03d}", "colour": "red" if n in matching else "blue"})
    table.put({"pk": "TENANT#t1", "sk": "JOB#1", "colour": "red"})  # another prefix: never listed
    table.put({"pk": "TENANT#t2", "sk": "ITEM#000", "colour": "red"})  # another tenant: never listed


def every_page(table: Table, *, want: int, budget: int, where: str | None = None) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    after: str | None = None
    while True:
        items, after = table.query_budgeted(
            "TENANT#t1",
            "ITEM#",
            want=want,
            after_sk=after,
            where=where,
            values={"red": "red"} if where else None,
            budget=budget,
        )
        pages.append(items)
        assert len(items) <= want
        if after is None:
            return pages
        assert len(pages) < 100, "paging does not end"


def test_query_budgeted_sparse_filter_small_budget_visits_each_match_once_in_order(aws):
    # GIVEN 40 items, 4 of them red, and a budget of 6 items read a page
    counter = QueryCounter(aws)
    table = Table(TABLE_NAME, counter)
    red = {3, 17, 18, 39}
    seed_items(table, 40, red)

    # WHEN the red ones are listed two at a time, page after page
    pages = every_page(table, want=2, budget=6, where="#colour = :red")

    # THEN each red item shows exactly once, in order, some pages came back short, and no call read past the budget
    assert [item["sk"] for page in pages for item in page] == [f"ITEM#{n:03d}" for n in sorted(red)]
    assert any(len(page) < 2 for page in pages[:-1])
    assert max(counter.limits) <= 6


def test_query_budgeted_reads_grow_four_times_up_to_max_read(aws):
    counter = QueryCounter(aws)
    table = Table(TABLE_NAME, counter)
    seed_items(table, 60, {59})

    items, after = table.query_budgeted(
        "TENANT#t1", "ITEM#", want=1, where="#colour = :red", values={"red": "red"}, budget=1000, max_read=20
    )

    assert [item["sk"] for item in items] == ["ITEM#059"] and after is None
    assert counter.limits == [2, 8, 20, 20, 20]


def test_query_budgeted_without_filter_pages_by_want(table):
    seed_items(table, 7, set())

    pages = every_page(table, want=3, budget=1000)

    assert [[item["sk"] for item in page] for page in pages] == [
        ["ITEM#000", "ITEM#001", "ITEM#002"],
        ["ITEM#003", "ITEM#004", "ITEM#005"],
        ["ITEM#006"],
    ]


def test_query_budgeted_page_filled_exactly_at_the_end_has_no_position(table):
    seed_items(table, 4, set())

    items, after = table.query_budgeted("TENANT#t1", "ITEM#", want=4)

    assert len(items) == 4 and after is None


def test_query_budgeted_more_matches_continue_after_the_last_one_returned(table):
    seed_items(table, 10, {2, 5, 8})

    items, after = table.query_budgeted("TENANT#t1", "ITEM#", want=1, where="#colour = :red", values={"red": "red"})

    assert [item["sk"] for item in items] == ["ITEM#002"] and after == "ITEM#002"


def test_query_budgeted_want_zero_answers_the_position_it_started_at(table):
    seed_items(table, 3, {1})

    at_start = table.query_budgeted("TENANT#t1", "ITEM#", want=0)
    later = table.query_budgeted("TENANT#t1", "ITEM#", want=0, after_sk="ITEM#000")
    at_end = table.query_budgeted("TENANT#t1", "ITEM#", want=0, after_sk="ITEM#002")

    assert at_start == ([], "")
    assert later == ([], "ITEM#000")
    assert at_end == ([], None)

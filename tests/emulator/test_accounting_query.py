"""The query language and batch as QuickBooks answers them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.emulator.conftest import Company


def batch_create_customers(company: Company, names: list[str]) -> None:
    for start in range(0, len(names), 30):
        items = [
            {"bId": str(i), "operation": "create", "Customer": {"DisplayName": name}}
            for i, name in enumerate(names[start : start + 30])
        ]
        response = company.post("batch", {"BatchItemRequest": items})
        assert response.status_code == 200
        assert all("Customer" in item for item in response.json()["BatchItemResponse"])


@pytest.fixture
def named(company: Company) -> Company:
    for name in ("Acme Corp", "Acme Labs", "Beta LLC", "O'Brien & Sons", "Zeta Inc"):
        company.create("Customer", {"DisplayName": name, "CompanyName": name.upper()})
    return company


def names(answer: dict[str, Any]) -> list[str]:
    return [c["DisplayName"] for c in answer.get("Customer", [])]


def test_query_paging_over_1000_rows_returns_every_row_once(company: Company) -> None:
    # GIVEN 1030 customers (35 batches in a few seconds: more than QuickBooks allows, lifted for this test)
    company.allow_bursts()
    batch_create_customers(company, [f"Bulk {n:05d}" for n in range(1030)])

    # WHEN they are read in pages of 1000, as clients do
    first = company.query("SELECT * FROM Customer STARTPOSITION 1 MAXRESULTS 1000")
    second = company.query("SELECT * FROM Customer STARTPOSITION 1001 MAXRESULTS 1000")
    beyond = company.query("SELECT * FROM Customer STARTPOSITION 2001 MAXRESULTS 1000")

    # THEN the pages hold 1000 and 30 rows, with QuickBooks' paging fields, and no row twice
    assert (first["startPosition"], first["maxResults"]) == (1, 1000)
    assert (second["startPosition"], second["maxResults"]) == (1001, 30)
    assert len(set(names(first)) | set(names(second))) == 1030
    assert beyond == {}
    assert company.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 1030}


def test_query_maxresults_above_1000_is_capped_at_1000(company: Company) -> None:
    # GIVEN 1001 customers (34 batches in a few seconds: more than QuickBooks allows, lifted for this test)
    company.allow_bursts()
    batch_create_customers(company, [f"Cap {n:05d}" for n in range(1001)])

    # WHEN a page of 5000 is asked for
    page = company.query("SELECT * FROM Customer MAXRESULTS 5000")

    # THEN QuickBooks returns at most 1000
    assert page["maxResults"] == 1000


def test_query_default_page_is_100(company: Company) -> None:
    # GIVEN 120 customers
    batch_create_customers(company, [f"Page {n:03d}" for n in range(120)])

    # WHEN queried without MAXRESULTS
    # THEN 100 come back
    assert company.query("SELECT * FROM Customer")["maxResults"] == 100


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("DisplayName LIKE 'Acme%'", ["Acme Corp", "Acme Labs"]),
        ("DisplayName LIKE '%LL%'", ["Beta LLC"]),
        ("DisplayName LIKE '%s'", ["Acme Labs", "O'Brien & Sons"]),
        ("DisplayName IN ('Beta LLC', 'Zeta Inc', 'Nobody')", ["Beta LLC", "Zeta Inc"]),
        ("DisplayName = 'O\\'Brien & Sons'", ["O'Brien & Sons"]),
        ("displayname = 'acme corp'", ["Acme Corp"]),
        ("DisplayName > 'O' AND CompanyName < 'Z'", ["O'Brien & Sons"]),
    ],
)
def test_query_where_operators_filter_customers(named: Company, where: str, expected: list[str]) -> None:
    # GIVEN five customers
    # WHEN filtered with one of QuickBooks' operators
    answer = named.query(f"SELECT * FROM Customer WHERE {where} ORDERBY DisplayName")

    # THEN exactly the matching ones come back
    assert names(answer) == expected


def test_query_no_match_omits_entity_key(named: Company) -> None:
    # GIVEN no customer called Nobody
    # WHEN queried
    # THEN QueryResponse is empty (the Customer key is absent)
    assert named.query("SELECT * FROM Customer WHERE DisplayName = 'Nobody'") == {}


def test_query_order_by_desc_and_keywords_any_case(named: Company) -> None:
    # GIVEN five customers
    # WHEN ordered descending with lower-case keywords and ORDER BY
    answer = named.query("select * from Customer order by DisplayName desc maxresults 2")

    # THEN the last two names come first
    assert names(answer) == ["Zeta Inc", "O'Brien & Sons"]


def test_query_by_metadata_time_and_ref(named: Company) -> None:
    # GIVEN an invoice for Acme Corp (11 calls back to back: over 10 a second, lifted for this test)
    named.allow_bursts()
    acme = named.query("SELECT * FROM Customer WHERE DisplayName = 'Acme Corp'")["Customer"][0]
    body = {
        "CustomerRef": {"value": acme["Id"]},
        "Line": [
            {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
        ],
    }
    invoice = named.create("Invoice", body)

    # WHEN invoices are queried by customer and by last update time
    by_customer = named.query(f"SELECT * FROM Invoice WHERE CustomerRef = '{acme['Id']}'")
    since = named.query("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2000-01-01T00:00:00-08:00'")
    future = named.query("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '2999-01-01T00:00:00-08:00'")
    by_number = named.query(f"SELECT * FROM Invoice WHERE DocNumber = '{invoice['DocNumber']}'")

    # THEN the invoice is found where it should be
    assert [i["Id"] for i in by_customer["Invoice"]] == [invoice["Id"]]
    assert [i["Id"] for i in since["Invoice"]] == [invoice["Id"]]
    assert future == {}
    assert [i["Id"] for i in by_number["Invoice"]] == [invoice["Id"]]


def test_query_post_with_application_text_body(named: Company) -> None:
    # GIVEN five customers
    # WHEN the query is POSTed as application/text, as python-quickbooks does
    response = named.http.post(
        named.path("query"),
        content=b"SELECT COUNT(*) FROM Customer WHERE DisplayName LIKE 'Acme%'",
        headers={**named.headers, "Content-Type": "application/text"},
    )

    # THEN the count comes back
    assert response.json()["QueryResponse"] == {"totalCount": 2}


def test_query_inactive_items_only_with_active_condition(company: Company) -> None:
    # GIVEN the Hours item made inactive
    hours = company.query("SELECT * FROM Item WHERE Name = 'Hours'")["Item"][0]
    company.create("Item", {"Id": hours["Id"], "SyncToken": hours["SyncToken"], "sparse": True, "Active": False})

    # WHEN items are queried with and without an Active condition
    default = company.query("SELECT * FROM Item")
    everything = company.query("SELECT * FROM Item WHERE Active IN (true, false)")
    inactive = company.query("SELECT * FROM Item WHERE Active = false")

    # THEN only the Active condition shows it
    assert [i["Name"] for i in default["Item"]] == ["Services"]
    assert [i["Name"] for i in everything["Item"]] == ["Services", "Hours"]
    assert [i["Name"] for i in inactive["Item"]] == ["Hours"]


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM Customer WHERE DisplayName = 'a' OR DisplayName = 'b'",
        "SELECT * FROM Customer WHERE",
        "SELECT FROM Customer",
        "SELECT * FROM Customer WHERE DisplayName = 'unterminated",
        "DELETE FROM Customer",
    ],
)
def test_query_syntax_error_returns_4000(company: Company, text: str) -> None:
    # GIVEN a query QuickBooks cannot parse
    # WHEN it is run
    response = company.get("query", query=text)

    # THEN a QueryParserError fault comes back
    assert response.status_code == 400
    assert response.json()["Fault"]["Error"][0]["code"] == "4000"


def test_query_unknown_entity_returns_400_fault(company: Company) -> None:
    # GIVEN an entity QuickBooks does not have
    # WHEN it is queried
    response = company.get("query", query="SELECT * FROM Spaceship")

    # THEN a fault comes back
    assert response.status_code == 400
    assert "Fault" in response.json()


# --- batch ------------------------------------------------------------------------------------------


def test_batch_mixed_items_answer_each_bid(company: Company) -> None:
    # GIVEN an existing customer "Taken"
    taken = company.create("Customer", {"DisplayName": "Taken"})

    # WHEN a batch creates one new customer, one duplicate, updates one, queries and deletes a customer
    items = [
        {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "Fresh"}},
        {"bId": "b2", "operation": "create", "Customer": {"DisplayName": "Taken"}},
        {
            "bId": "b3",
            "operation": "update",
            "Customer": {"Id": taken["Id"], "SyncToken": "0", "sparse": True, "Notes": "n"},
        },
        {"bId": "b4", "Query": "SELECT * FROM Customer WHERE DisplayName = 'Taken'"},
        {"bId": "b5", "operation": "delete", "Customer": {"Id": taken["Id"], "SyncToken": "1"}},
    ]
    response = company.post("batch", {"BatchItemRequest": items})

    # THEN the batch is a 200 whose items carry their bId and their own outcome
    assert response.status_code == 200
    answers = {item["bId"]: item for item in response.json()["BatchItemResponse"]}
    assert answers["b1"]["Customer"]["DisplayName"] == "Fresh"
    assert answers["b2"]["Fault"]["Error"][0]["code"] == "6240"
    assert answers["b3"]["Customer"]["SyncToken"] == "1"
    assert answers["b4"]["QueryResponse"]["Customer"][0]["Notes"] == "n"
    assert "Fault" in answers["b5"]
    assert company.requests()["byEndpoint"] == {"POST batch": 1, "POST customer": 1}


def test_batch_over_30_items_returns_400(company: Company) -> None:
    # GIVEN 31 items
    items = [{"bId": str(i), "operation": "create", "Customer": {"DisplayName": f"Over {i}"}} for i in range(31)]

    # WHEN the batch is sent
    response = company.post("batch", {"BatchItemRequest": items})

    # THEN it is refused whole and nothing was created
    assert response.status_code == 400
    assert company.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 0}


def test_batch_requestid_over_36_chars_returns_400(company: Company) -> None:
    # GIVEN a 37-character requestid on a batch
    items = [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "Batch Id"}}]

    # WHEN it is sent
    response = company.post("batch", {"BatchItemRequest": items}, requestid="x" * 37)

    # THEN it is refused
    assert response.status_code == 400


def test_batch_replayed_requestid_creates_nothing_more(company: Company) -> None:
    # GIVEN a batch sent with requestid b-1
    items = [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "Batch Once"}}]
    first = company.post("batch", {"BatchItemRequest": items}, requestid="b-1")

    # WHEN it is sent again with the same requestid
    second = company.post("batch", {"BatchItemRequest": items}, requestid="b-1")

    # THEN the same answer comes back and the customer exists once
    assert first.text == second.text
    assert company.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 1}


def test_batch_items_cannot_see_objects_created_earlier_in_the_batch(company: Company) -> None:
    # GIVEN a batch that creates a customer and then an invoice and a query referring to it
    items = [
        {"bId": "c", "operation": "create", "Customer": {"DisplayName": "Batch Parent"}},
        {
            "bId": "i",
            "operation": "create",
            "Invoice": {
                "CustomerRef": {"value": "1"},
                "Line": [{"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}],
            },
        },
        {"bId": "q", "Query": "SELECT * FROM Customer WHERE DisplayName = 'Batch Parent'"},
    ]

    # WHEN the batch runs
    answers = {
        item["bId"]: item for item in company.post("batch", {"BatchItemRequest": items}).json()["BatchItemResponse"]
    }

    # THEN the customer is created, but the later items do not see it (QuickBooks has no intra-batch references)
    assert answers["c"]["Customer"]["Id"] == "1"
    assert answers["i"]["Fault"]["Error"][0]["code"] == "2500"
    assert answers["q"]["QueryResponse"] == {}
    assert company.query("SELECT COUNT(*) FROM Customer WHERE DisplayName = 'Batch Parent'") == {"totalCount": 1}


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM Invoice WHERE PrivateNote = 'Books360 invoice 7'",
        "SELECT * FROM Customer WHERE Notes LIKE '%b360%'",
        "SELECT * FROM Customer ORDERBY Notes",
    ],
)
def test_query_on_non_filterable_property_returns_4001(company: Company, text: str) -> None:
    # GIVEN a property QuickBooks does not index for queries (memo fields)
    # WHEN a query filters or sorts on it
    response = company.get("query", query=text)

    # THEN QuickBooks refuses the query rather than scanning free text
    assert response.status_code == 400
    assert response.json()["Fault"]["Error"][0]["code"] == "4001"

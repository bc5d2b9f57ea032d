"""The Customers and Vendors tabs (issue 5) through the API handler, moto and the QuickBooks emulator.

Every test that applies to both tabs runs for both: ``kind`` is a row of ``PARTY_KINDS``, and the routes, fields
and QuickBooks entity come from it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared import wiring
from shared.domain.parties import CUSTOMER, PARTY_KINDS, VENDOR, Link, PartyKind, marker_for, tenant_tag
from shared.errors import AlreadyLinked, LinkedToAnother, NameTaken
from shared.quickbooks.client import QuickBooksClient, request_id_for
from shared.services import parties as service
from shared.services.books360_events import apply_event

KINDS = list(PARTY_KINDS.values())
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@dataclass
class QuickBooksUser:
    """Someone working in the QuickBooks company directly (through the emulator's admin token)."""

    http: httpx.Client
    realm_id: str
    token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def create(self, entity: str, **fields: Any) -> dict[str, Any]:
        answer = self.http.post(f"/v3/company/{self.realm_id}/{entity.lower()}", json=fields, headers=self._headers())
        assert answer.status_code == 200, answer.text
        return dict(answer.json()[entity])

    def deactivate(self, entity: str, record: dict[str, Any]) -> None:
        body = {"Id": record["Id"], "SyncToken": record["SyncToken"], "sparse": True, "Active": False}
        answer = self.http.post(f"/v3/company/{self.realm_id}/{entity.lower()}", json=body, headers=self._headers())
        assert answer.status_code == 200, answer.text

    def all(self, entity: str) -> list[dict[str, Any]]:
        statement = f"SELECT * FROM {entity} WHERE Active IN (true, false) MAXRESULTS 1000"
        answer = self.http.get(
            f"/v3/company/{self.realm_id}/query", params={"query": statement}, headers=self._headers()
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["QueryResponse"].get(entity, []))


def seed(kind: PartyKind, party_id: str, name: str, *, tenant: str = "t1", version: int = 1, **fields: Any) -> None:
    """Books360 publishes a client/vendor (through the same service the events function runs)."""
    detail = {"tenantId": tenant, "version": version, kind.id_field: party_id, "name": name, **fields}
    outcome = apply_event(wiring.books360_store(), kind.upsert_event, detail, event_id=f"{party_id}-{version}")
    assert outcome.status == "applied", outcome


@pytest.fixture
def realm(stack) -> str:
    return stack.connect()


@pytest.fixture
def qb_user(stack, realm) -> QuickBooksUser:
    token = stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    return QuickBooksUser(stack.http, realm, token)


def calls(stack, realm: str) -> dict[str, int]:
    return dict(stack.requests(realm)["byEndpoint"])


def qb_calls_since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def sync(stack, kind: PartyKind, party_id: str, body: Any, tenant: str = "t1") -> tuple[int, Any]:
    return stack.api("POST", f"/quickbooks/{kind.plural}/{party_id}/sync", body=body, tenant=tenant)


def listing(stack, kind: PartyKind, tenant: str = "t1", **query: str) -> tuple[int, Any]:
    return stack.api("GET", f"/quickbooks/{kind.plural}", query=query or None, tenant=tenant)


def every_page(stack, kind: PartyKind, **query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        status, page = listing(stack, kind, **query, **({"cursor": cursor} if cursor else {}))
        assert status == 200, page
        items += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ended")


# --- the list ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_shows_link_status_and_flags_missing_email(stack, realm, kind):
    # GIVEN two parties, one without email, one linked by the user
    seed(kind, "p-1", "Acme Corp", email="ap@acme.example")
    seed(kind, "p-2", "Globex", email=None)
    assert sync(stack, kind, "p-1", {"create": True})[0] == 200

    # WHEN the tab is listed
    status, page = listing(stack, kind)

    # THEN every party shows, with the contract's fields and the missing email flagged
    assert status == 200
    assert page["nextCursor"] is None
    first, second = page["items"]
    assert set(first) == {kind.id_field, "name", "email", "emailMissing", "status", kind.qb_id_field, "syncedAt"}
    assert (first[kind.id_field], first["status"], first["emailMissing"]) == ("p-1", "synced", False)
    assert first[kind.qb_id_field] and first["syncedAt"].endswith("Z")
    assert (second[kind.id_field], second["status"], second["email"], second["emailMissing"]) == (
        "p-2",
        "unsynced",
        None,
        True,
    )
    assert second[kind.qb_id_field] is None and second["syncedAt"] is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"text": "p-10"}, ["p-10"]),
        ({"text": "ACME"}, ["p-1", "p-10"]),
        ({"text": "p-1"}, ["p-1"]),
        ({"email": "EXAMPLE.org"}, ["p-10", "p-3"]),
        ({"status": "synced"}, ["p-3"]),
        ({"status": "unsynced"}, ["p-1", "p-10", "p-2"]),
        ({"text": "acme", "status": "unsynced", "email": "org"}, ["p-10"]),
    ],
)
def test_list_parties_filters_by_id_or_name_status_and_email(stack, realm, kind, query, expected):
    # GIVEN four parties, p-3 linked
    seed(kind, "p-1", "Acme Corp", email="ap@acme.example")
    seed(kind, "p-10", "Acme Holdings", email="books@acme.example.org")
    seed(kind, "p-2", "Globex", email=None)
    seed(kind, "p-3", "Initech", email="pay@initech.example.org")
    assert sync(stack, kind, "p-3", {"create": True})[0] == 200
    query = {(kind.list_filter if name == "text" else name): value for name, value in query.items()}

    # WHEN the tab is filtered
    status, page = listing(stack, kind, **query)

    # THEN exactly the matching parties show
    assert status == 200, page
    assert [item[kind.id_field] for item in page["items"]] == expected


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "deleted"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_list_parties_invalid_parameter_returns_422_naming_it(stack, kind, query, field):
    status, problem = listing(stack, kind, **query)

    assert status == 422
    assert [e["field"] for e in problem["errors"]] == [field]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("filtered", [False, True], ids=["all", "filtered"])
def test_list_parties_following_cursor_visits_every_item_exactly_once(stack, realm, kind, filtered):
    # GIVEN 23 parties, 12 of them with "even" in their email
    for n in range(23):
        seed(kind, f"p-{n:02d}", f"Party {n}", email=f"{'even' if n % 2 == 0 else 'odd'}{n}@example.com")
    query = {"limit": "5", **({"email": "EVEN"} if filtered else {})}

    # WHEN every page is read through nextCursor
    items = every_page(stack, kind, **query)

    # THEN each party shows exactly once, in order
    ids = [item[kind.id_field] for item in items]
    expected = [f"p-{n:02d}" for n in range(23) if not filtered or n % 2 == 0]
    assert ids == expected


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_rare_filter_over_read_budget_pages_short_and_still_visits_each_once(
    stack, realm, monkeypatch, kind
):
    # GIVEN 30 parties, 3 of them matching, and a budget of 8 items read per request
    monkeypatch.setattr("shared.store.parties.READ_BUDGET", 8)
    for n in range(30):
        seed(kind, f"p-{n:02d}", f"Party {n}" + (" Rare" if n in (4, 17, 29) else ""))

    # WHEN the filtered list is followed page after page
    status, first = listing(stack, kind, **{kind.list_filter: "rare", "limit": "5"})
    items = every_page(stack, kind, **{kind.list_filter: "rare", "limit": "5"})

    # THEN the first page stops early with a cursor, and all pages together show each match once
    assert status == 200 and len(first["items"]) < 3 and first["nextCursor"]
    assert [item[kind.id_field] for item in items] == ["p-04", "p-17", "p-29"]


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_id_far_down_the_list_leads_the_first_page(stack, realm, monkeypatch, kind):
    # GIVEN 30 parties and a read budget far smaller than the list
    monkeypatch.setattr("shared.store.parties.READ_BUDGET", 8)
    for n in range(30):
        seed(kind, f"p-{n:02d}", f"Party {n}")

    # WHEN the tab is searched by the id of the last one
    status, page = listing(stack, kind, **{kind.list_filter: "p-29"})

    # THEN it is on the first page, and on no later one
    assert status == 200
    assert [item[kind.id_field] for item in page["items"]] == ["p-29"]
    everything = every_page(stack, kind, **{kind.list_filter: "p-29"})
    assert [item[kind.id_field] for item in everything] == ["p-29"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("limit", ["1", "2", "25"])
def test_list_parties_id_also_in_other_names_shows_each_once(stack, realm, kind, limit):
    # GIVEN party p-5, and parties whose names contain "p-5"
    seed(kind, "p-1", "Shop p-5 North")
    seed(kind, "p-5", "Five")
    seed(kind, "p-7", "Shop P-5 South")
    seed(kind, "p-8", "Unrelated")

    # WHEN the tab is searched for "p-5", page after page
    items = every_page(stack, kind, **{kind.list_filter: "p-5", "limit": limit})

    # THEN the exact id leads, then the name matches in order, each once
    assert [item[kind.id_field] for item in items] == ["p-5", "p-1", "p-7"]


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_id_not_matching_other_filters_is_not_shown(stack, realm, kind):
    seed(kind, "p-5", "Five", email="five@example.com")

    status, page = listing(stack, kind, **{kind.list_filter: "p-5", "email": "nomatch", "status": "unsynced"})

    assert status == 200 and page["items"] == []


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_page_filled_exactly_has_no_next_cursor(stack, realm, kind):
    for n in range(4):
        seed(kind, f"p-{n}", f"Party {n}")

    status, page = listing(stack, kind, limit="4")

    assert status == 200 and len(page["items"]) == 4 and page["nextCursor"] is None


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_tampered_cursor_returns_400(stack, realm, kind):
    # GIVEN a genuine cursor, altered in its position part
    for n in range(4):
        seed(kind, f"p-{n}", f"Party {n}")
    cursor = listing(stack, kind, limit="2")[1]["nextCursor"]
    position, signature = cursor.split(".")
    tampered = ("A" if position[0] != "A" else "B") + position[1:] + "." + signature

    # WHEN it is used, and so is plain garbage
    answers = [listing(stack, kind, limit="2", cursor=c) for c in (tampered, "garbage", cursor + "x")]

    # THEN each is a 400 problem naming the cursor, never a 500
    for status, problem in answers:
        assert status == 400, problem
        assert problem["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_cursor_of_another_tenant_or_filter_returns_400(stack, realm, kind):
    # GIVEN a cursor t1 got for its unfiltered list
    for n in range(4):
        seed(kind, f"p-{n}", f"Party {n}")
        seed(kind, f"p-{n}", f"Party {n}", tenant="t2")
    cursor = listing(stack, kind, limit="2")[1]["nextCursor"]

    # WHEN t2 uses it, or t1 uses it with a filter, or on the other tab
    other_tenant = listing(stack, kind, tenant="t2", limit="2", cursor=cursor)
    other_filter = listing(stack, kind, limit="2", cursor=cursor, email="x")
    other_kind = next(k for k in KINDS if k is not kind)
    other_tab = listing(stack, other_kind, limit="2", cursor=cursor)

    # THEN all are refused
    assert [answer[0] for answer in (other_tenant, other_filter, other_tab)] == [400, 400, 400]
    # AND with the same filters it still works
    assert listing(stack, kind, limit="2", cursor=cursor)[0] == 200


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_shows_only_own_tenants_parties(stack, realm, kind):
    seed(kind, "p-1", "Mine")
    seed(kind, "p-2", "Theirs", tenant="t2")

    status, page = listing(stack, kind)

    assert [item[kind.id_field] for item in page["items"]] == ["p-1"]


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_after_connecting_another_company_shows_old_links_unsynced(stack, realm, kind):
    # GIVEN a party linked in the first company
    seed(kind, "p-1", "Acme Corp")
    assert sync(stack, kind, "p-1", {"create": True})[0] == 200

    # WHEN the tenant disconnects and connects another company
    assert stack.api("PUT", "/quickbooks/connection", body={"active": False})[0] == 200
    stack.connect(realm_id=stack.company("Second Co"))

    # THEN the party is unsynced for the new company, and can be created there anew
    assert listing(stack, kind)[1]["items"][0]["status"] == "unsynced"
    assert listing(stack, kind, status="synced")[1]["items"] == []
    status, linked = sync(stack, kind, "p-1", {"create": True})
    assert status == 200 and linked["created"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_list_parties_marked_deleted_in_qb_shows_that_status(stack, realm, kind):
    # GIVEN a linked party whose QuickBooks object the webhook reports deleted
    seed(kind, "p-1", "Acme Corp")
    qb_id = sync(stack, kind, "p-1", {"create": True})[1][kind.qb_id_field]

    marked = wiring.party_store().mark_deleted_in_qb("t1", realm, kind, qb_id)
    again = wiring.party_store().mark_deleted_in_qb("t1", realm, kind, qb_id)

    # THEN the list says so, the link stays, and a repeat changes nothing
    assert (marked, again) == ("p-1", "p-1")
    item = listing(stack, kind)[1]["items"][0]
    assert (item["status"], item[kind.qb_id_field]) == ("deleted_in_qb", qb_id)
    assert wiring.party_store().mark_deleted_in_qb("t1", realm, kind, "99999") is None


# --- the picker -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_search_quickbooks_matches_part_of_name_and_shows_links(stack, realm, qb_user, kind):
    # GIVEN QuickBooks objects, one inactive, one with a quote in its name, one linked to p-1
    acme = qb_user.create(kind.qb_entity, DisplayName="Acme Corp", PrimaryEmailAddr={"Address": "ap@acme.example"})
    old = qb_user.create(kind.qb_entity, DisplayName="Acme Old")
    qb_user.deactivate(kind.qb_entity, old)
    quoted = qb_user.create(kind.qb_entity, DisplayName="O'Acme Bakery")
    qb_user.create(kind.qb_entity, DisplayName="Globex")
    seed(kind, "p-1", "Acme Corp")
    assert sync(stack, kind, "p-1", {kind.qb_id_field: acme["Id"]})[0] == 200

    # WHEN the picker searches "acme", and "o'a"
    status, found = stack.api("GET", f"/quickbooks/qb-{kind.plural}", query={"search": "acme"})
    quote_status, with_quote = stack.api("GET", f"/quickbooks/qb-{kind.plural}", query={"search": "O'A"})

    # THEN the matches show, by name, active or not, with the party linked to each
    assert status == 200, found
    assert [(i["displayName"], i["active"], i[kind.linked_field]) for i in found["items"]] == [
        ("Acme Corp", True, "p-1"),
        ("Acme Old", False, None),
        ("O'Acme Bakery", True, None),
    ]
    assert found["items"][0] == {
        "id": acme["Id"],
        "displayName": "Acme Corp",
        "email": "ap@acme.example",
        "active": True,
        kind.linked_field: "p-1",
    }
    assert quote_status == 200 and [i["id"] for i in with_quote["items"]] == [quoted["Id"]]


@pytest.mark.parametrize("kind", KINDS)
def test_search_quickbooks_limit_caps_the_answer(stack, realm, qb_user, kind):
    for n in range(5):
        qb_user.create(kind.qb_entity, DisplayName=f"Name {n}")

    status, found = stack.api("GET", f"/quickbooks/qb-{kind.plural}", query={"limit": "3"})
    bad, problem = stack.api("GET", f"/quickbooks/qb-{kind.plural}", query={"limit": "500"})

    assert status == 200 and len(found["items"]) == 3
    assert bad == 422 and problem["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("kind", KINDS)
def test_search_quickbooks_not_connected_returns_409(stack, kind):
    status, problem = stack.api("GET", f"/quickbooks/qb-{kind.plural}")

    assert status == 409 and problem["type"] == "/problems/not-connected"


# --- link to an existing QuickBooks object ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sync_existing_object_links_it_and_writes_nothing(stack, realm, qb_user, kind):
    # GIVEN a QuickBooks object the user picks
    existing = qb_user.create(kind.qb_entity, DisplayName="Acme Corp")
    seed(kind, "p-1", "Acme Corp")
    before = calls(stack, realm)

    # WHEN the party is linked to it
    status, linked = sync(stack, kind, "p-1", {kind.qb_id_field: existing["Id"]})

    # THEN the contract's answer comes back, after one read and no write
    assert status == 200, linked
    assert linked[kind.id_field] == "p-1" and linked[kind.qb_id_field] == existing["Id"]
    assert (linked["displayName"], linked["created"]) == ("Acme Corp", False)
    assert linked["syncedAt"].endswith("Z")
    assert qb_calls_since(before, calls(stack, realm)) == {f"GET {kind.qb_entity.lower()}": 1}


@pytest.mark.parametrize("kind", KINDS)
def test_sync_unknown_or_inactive_object_returns_422_naming_the_field(stack, realm, qb_user, kind):
    inactive = qb_user.create(kind.qb_entity, DisplayName="Gone Inc")
    qb_user.deactivate(kind.qb_entity, inactive)
    seed(kind, "p-1", "Acme Corp")

    unknown = sync(stack, kind, "p-1", {kind.qb_id_field: "9999"})
    made_inactive = sync(stack, kind, "p-1", {kind.qb_id_field: inactive["Id"]})

    for status, problem in (unknown, made_inactive):
        assert status == 422, problem
        assert [e["field"] for e in problem["errors"]] == [kind.qb_id_field]
    assert listing(stack, kind)[1]["items"][0]["status"] == "unsynced"


@pytest.mark.parametrize("kind", KINDS)
def test_sync_party_already_linked_returns_409(stack, realm, qb_user, kind):
    first = qb_user.create(kind.qb_entity, DisplayName="First")
    second = qb_user.create(kind.qb_entity, DisplayName="Second")
    seed(kind, "p-1", "Acme Corp")
    assert sync(stack, kind, "p-1", {kind.qb_id_field: first["Id"]})[0] == 200

    again = sync(stack, kind, "p-1", {kind.qb_id_field: second["Id"]})
    create = sync(stack, kind, "p-1", {"create": True})

    for status, problem in (again, create):
        assert status == 409 and problem["type"] == "/problems/already-linked", problem


@pytest.mark.parametrize("kind", KINDS)
def test_sync_object_linked_to_another_party_returns_409(stack, realm, qb_user, kind):
    existing = qb_user.create(kind.qb_entity, DisplayName="Acme Corp")
    seed(kind, "p-1", "Acme Corp")
    seed(kind, "p-2", "Acme Corp (dup)")
    assert sync(stack, kind, "p-1", {kind.qb_id_field: existing["Id"]})[0] == 200

    status, problem = sync(stack, kind, "p-2", {kind.qb_id_field: existing["Id"]})

    assert status == 409 and problem["type"] == "/problems/already-linked" and "p-1" in problem["detail"]
    assert listing(stack, kind, **{kind.list_filter: "p-2"})[1]["items"][0]["status"] == "unsynced"


@pytest.mark.parametrize("kind", KINDS)
def test_sync_two_parties_to_one_object_at_once_exactly_one_wins(stack, realm, qb_user, kind):
    # GIVEN two parties and one QuickBooks object
    existing = qb_user.create(kind.qb_entity, DisplayName="Acme Corp")
    seed(kind, "p-1", "Acme Corp")
    seed(kind, "p-2", "Acme Corp 2")
    connection = wiring.connection_store().get("t1")
    assert connection.realm_id == realm
    start = threading.Barrier(2)

    def link(party_id: str) -> str:
        qbo = wiring.quickbooks_for("t1")
        start.wait()
        try:
            service.link_existing(
                kind, qbo, wiring.party_store(), tenant_id="t1", party_id=party_id, qb_id=existing["Id"], now=NOW
            )
        except (AlreadyLinked, LinkedToAnother):
            return "409"
        return "200"

    # WHEN both are linked to it at the same moment
    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(link, ["p-1", "p-2"]))

    # THEN exactly one wins and the object is linked to that one only
    assert outcomes == ["200", "409"]
    items = listing(stack, kind)[1]["items"]
    assert sorted(i["status"] for i in items) == ["synced", "unsynced"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "body",
    [{}, {"create": False}, {"create": True, "qb": "58"}, {"create": "yes"}, {"qb": "no spaces allowed"}],
    ids=["neither", "create-false", "both", "create-not-bool", "bad-id"],
)
def test_sync_body_not_exactly_one_form_returns_422(stack, realm, kind, body):
    seed(kind, "p-1", "Acme Corp")
    if "qb" in body:
        body = {**{k: v for k, v in body.items() if k != "qb"}, kind.qb_id_field: body["qb"]}

    status, problem = sync(stack, kind, "p-1", body)

    assert status == 422, problem
    assert problem["errors"]


@pytest.mark.parametrize("kind", KINDS)
def test_sync_unreadable_body_returns_400(stack, realm, kind):
    status, problem = sync(stack, kind, "p-1", "{not json")

    assert status == 400, problem


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["create", "link"])
def test_sync_unknown_or_other_tenants_party_returns_404(stack, realm, qb_user, kind, how):
    existing = qb_user.create(kind.qb_entity, DisplayName="Acme Corp")
    seed(kind, "p-9", "Theirs", tenant="t2")
    body = {"create": True} if how == "create" else {kind.qb_id_field: existing["Id"]}
    before = calls(stack, realm)

    for party_id in ("p-1", "p-9"):
        status, problem = sync(stack, kind, party_id, body)
        assert status == 404, problem
    assert qb_calls_since(before, calls(stack, realm)) == {}


@pytest.mark.parametrize("kind", KINDS)
def test_sync_not_connected_returns_409(stack, kind):
    seed(kind, "p-1", "Acme Corp")

    status, problem = sync(stack, kind, "p-1", {"create": True})

    assert status == 409 and problem["type"] == "/problems/not-connected"


# --- create, then link ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sync_create_writes_mapped_object_with_marker_in_one_call(stack, realm, qb_user, kind):
    # GIVEN a party with every field Books360 sends for its kind
    seed(kind, "p-1", "Acme Corp", email="ap@acme.example", companyName="Acme LLC", phone="555-0100")
    before = calls(stack, realm)

    # WHEN it is created in QuickBooks
    status, created = sync(stack, kind, "p-1", {"create": True})

    # THEN one POST made it, mapped as the contract says, marked as ours
    assert status == 200, created
    assert (created[kind.id_field], created["displayName"], created["created"]) == ("p-1", "Acme Corp", True)
    assert qb_calls_since(before, calls(stack, realm)) == {f"POST {kind.qb_entity.lower()}": 1}
    (made,) = qb_user.all(kind.qb_entity)
    assert made["Id"] == created[kind.qb_id_field]
    assert made["DisplayName"] == "Acme Corp" and made["CompanyName"] == "Acme LLC"
    assert made["PrimaryEmailAddr"]["Address"] == "ap@acme.example"
    assert made["PrimaryPhone"]["FreeFormNumber"] == "555-0100"
    assert made[kind.marker_field] == f"Books360 {kind.books360_name} p-1 @{tenant_tag('t1')}"


def test_sync_create_customer_writes_billing_address(stack, realm, qb_user):
    # GIVEN a client with a billing address (Books360 vendors have none)
    address = {"line1": "1 Main St", "city": "Springfield", "region": "CA", "postalCode": "94000", "country": "USA"}
    seed(CUSTOMER, "c-1", "Acme Corp", billingAddress=address)

    # WHEN it is created
    assert sync(stack, CUSTOMER, "c-1", {"create": True})[0] == 200

    # THEN BillAddr carries it
    bill = qb_user.all("Customer")[0]["BillAddr"]
    assert {k: bill.get(k) for k in ("Line1", "City", "CountrySubDivisionCode", "PostalCode", "Country")} == {
        "Line1": "1 Main St",
        "City": "Springfield",
        "CountrySubDivisionCode": "CA",
        "PostalCode": "94000",
        "Country": "USA",
    }


@pytest.mark.parametrize("kind", KINDS)
def test_sync_create_party_without_email_links_it_and_flags_it(stack, realm, qb_user, kind):
    seed(kind, "p-1", "No Mail Ltd", email=None)

    status, created = sync(stack, kind, "p-1", {"create": True})

    assert status == 200, created
    item = listing(stack, kind)[1]["items"][0]
    assert (item["status"], item["emailMissing"]) == ("synced", True)
    assert "PrimaryEmailAddr" not in qb_user.all(kind.qb_entity)[0]


@pytest.mark.parametrize("kind", KINDS)
def test_sync_create_name_held_by_same_kind_returns_409_naming_its_id(stack, realm, qb_user, kind):
    # GIVEN QuickBooks already has an object of this kind with the name (inactive ones hold names too)
    holder = qb_user.create(kind.qb_entity, DisplayName="ACME Corp")
    qb_user.deactivate(kind.qb_entity, holder)
    seed(kind, "p-1", "Acme Corp")

    # WHEN the party is created
    status, problem = sync(stack, kind, "p-1", {"create": True})

    # THEN a 409 names that object's id, in the detail and in its own field, and nothing was created
    assert status == 409, problem
    assert problem["type"] == "/problems/name-taken"
    assert problem[kind.qb_id_field] == holder["Id"]
    assert holder["Id"] in problem["detail"]
    assert len(qb_user.all(kind.qb_entity)) == 1
    assert listing(stack, kind)[1]["items"][0]["status"] == "unsynced"


@pytest.mark.parametrize("kind", KINDS)
def test_sync_create_name_held_by_other_kind_writes_suffix(stack, realm, qb_user, kind):
    # GIVEN the other kind already has the name
    other = next(k for k in KINDS if k is not kind)
    qb_user.create(other.qb_entity, DisplayName="Acme Corp")
    seed(kind, "p-1", "Acme Corp")
    before = calls(stack, realm)

    # WHEN the party is created
    status, created = sync(stack, kind, "p-1", {"create": True})

    # THEN it is written with the contract's suffix, and the answer says so
    assert status == 200, created
    assert created["displayName"] == f"Acme Corp{kind.display_suffix}"
    # AND it took the create, one read of the holder, and the second create
    entity = kind.qb_entity.lower()
    assert qb_calls_since(before, calls(stack, realm)) == {f"POST {entity}": 2, f"GET {entity}": 1}
    assert [o["DisplayName"] for o in qb_user.all(kind.qb_entity)] == [f"Acme Corp{kind.display_suffix}"]


def test_sync_create_display_suffixes_are_customer_and_vendor(stack, realm, qb_user):
    qb_user.create("Vendor", DisplayName="Shared Name")
    seed(CUSTOMER, "c-1", "Shared Name")
    seed(VENDOR, "v-1", "Other Name")
    qb_user.create("Customer", DisplayName="Other Name")

    assert sync(stack, CUSTOMER, "c-1", {"create": True})[1]["displayName"] == "Shared Name (Customer)"
    assert sync(stack, VENDOR, "v-1", {"create": True})[1]["displayName"] == "Other Name (Vendor)"


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_link_run_twice_makes_one_object(stack, realm, qb_user, kind):
    # GIVEN a party created and linked once (a bulk item)
    seed(kind, "p-1", "Acme Corp")
    store = wiring.party_store()
    first = service.create_and_link(kind, wiring.quickbooks_for("t1"), store, tenant_id="t1", party_id="p-1", now=NOW)
    before = calls(stack, realm)

    # WHEN the same message is processed again
    with pytest.raises(AlreadyLinked) as again:
        service.create_and_link(kind, wiring.quickbooks_for("t1"), store, tenant_id="t1", party_id="p-1", now=NOW)

    # THEN it is "already linked" to that same object, QuickBooks was not called, and holds one object
    assert again.value.qb_id == first.qb_id
    assert qb_calls_since(before, calls(stack, realm)) == {}
    assert [o["Id"] for o in qb_user.all(kind.qb_entity)] == [first.qb_id]


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_link_link_write_lost_rerun_gets_same_object(stack, realm, qb_user, kind):
    # GIVEN a run that created the object, then died before writing the link
    seed(kind, "p-1", "Acme Corp")
    store = wiring.party_store()
    first = service.create_and_link(kind, wiring.quickbooks_for("t1"), store, tenant_id="t1", party_id="p-1", now=NOW)
    store.unlink("t1", kind, "p-1", realm)  # as if the link had never been written

    # WHEN the item runs again
    again = service.create_and_link(kind, wiring.quickbooks_for("t1"), store, tenant_id="t1", party_id="p-1", now=NOW)

    # THEN QuickBooks gave the first object back (requestid), and there is still one
    assert (again.qb_id, again.created) == (first.qb_id, True)
    assert len(qb_user.all(kind.qb_entity)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_link_twice_at_once_makes_one_object_and_one_link(stack, realm, qb_user, kind):
    # GIVEN one party and two deliveries of its message at the same moment
    seed(kind, "p-1", "Acme Corp")
    start = threading.Barrier(2)

    def run(_: int) -> str:
        qbo = wiring.quickbooks_for("t1")
        start.wait()
        try:
            outcome = service.create_and_link(kind, qbo, wiring.party_store(), tenant_id="t1", party_id="p-1", now=NOW)
        except AlreadyLinked as exc:
            return f"skipped {exc.qb_id}"
        return f"linked {outcome.qb_id}"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(run, range(2)))

    # THEN one object exists, and both runs name it
    (made,) = qb_user.all(kind.qb_entity)
    assert {outcome.split()[1] for outcome in outcomes} == {made["Id"]}


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_link_after_dropped_connection_makes_one_object(stack, realm, qb_user, kind):
    # GIVEN QuickBooks carries out the create but the connection drops before the answer
    rule = {"realmId": realm, "method": "POST", "entity": kind.qb_entity.lower(), "status": 0, "count": 1}
    assert stack.http.post("/_admin/faults", json=rule).status_code in (200, 201)
    seed(kind, "p-1", "Acme Corp")

    # WHEN the party is created (the client retries with the same requestid)
    status, created = sync(stack, kind, "p-1", {"create": True})

    # THEN exactly one object exists, and it is the one linked
    assert status == 200, created
    (made,) = qb_user.all(kind.qb_entity)
    assert made["Id"] == created[kind.qb_id_field]


@pytest.mark.parametrize("kind", KINDS)
def test_create_retried_after_a_rename_gets_the_first_object_back(stack, realm, qb_user, kind):
    # GIVEN a create QuickBooks carried out whose answer never arrived (dropped, then busy on every retry)
    entity = kind.qb_entity.lower()
    for status, count in ((0, 1), (503, 3)):
        rule = {"realmId": realm, "method": "POST", "entity": entity, "status": status, "count": count}
        assert stack.http.post("/_admin/faults", json=rule).status_code in (200, 201)
    seed(kind, "p-1", "Acme Corp")
    first_status, _ = sync(stack, kind, "p-1", {"create": True})
    assert first_status == 503

    # WHEN Books360 renames the party before the admin tries again
    seed(kind, "p-1", "Acme Corporation", version=2)
    status, created = sync(stack, kind, "p-1", {"create": True})

    # THEN QuickBooks gave the first object back: still exactly one, and it is the one linked
    assert status == 200, created
    (made,) = qb_user.all(kind.qb_entity)
    assert made["Id"] == created[kind.qb_id_field]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("marker", ["tenant", "legacy"])
def test_create_and_link_own_earlier_object_without_requestid_replay_is_adopted(stack, realm, qb_user, kind, marker):
    # GIVEN an object an earlier run made for this party (our marker; or, alone in the company, the marker written
    # before markers named the tenant), whose requestid QuickBooks forgot
    mark = marker_for(kind, "p-1", "t1") if marker == "tenant" else f"Books360 {kind.books360_name} p-1"
    earlier = qb_user.create(kind.qb_entity, DisplayName="Acme Corp", **{kind.marker_field: mark})
    seed(kind, "p-1", "Acme Corp")

    # WHEN the party is created
    status, created = sync(stack, kind, "p-1", {"create": True})

    # THEN that object is linked instead of a second one
    assert status == 200, created
    assert (created[kind.qb_id_field], created["created"]) == (earlier["Id"], True)
    assert len(qb_user.all(kind.qb_entity)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_link_name_taken_raises_name_taken_with_id(stack, realm, qb_user, kind):
    holder = qb_user.create(kind.qb_entity, DisplayName="Acme Corp")
    seed(kind, "p-1", "Acme Corp")

    with pytest.raises(NameTaken) as taken:
        service.create_and_link(
            kind, wiring.quickbooks_for("t1"), wiring.party_store(), tenant_id="t1", party_id="p-1", now=NOW
        )

    assert (taken.value.qb_id, taken.value.field) == (holder["Id"], kind.qb_id_field)


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_link_throttled_after_retries_raises_throttled(stack, realm, kind):
    from shared.errors import QuickBooksThrottled

    rule = {"realmId": realm, "method": "POST", "entity": kind.qb_entity.lower(), "status": 503, "count": 10}
    stack.http.post("/_admin/faults", json=rule)
    seed(kind, "p-1", "Acme Corp")
    qbo: QuickBooksClient = wiring.quickbooks_for("t1")
    qbo._sleep = lambda _: None  # no real backoff in a test

    with pytest.raises(QuickBooksThrottled):
        service.create_and_link(kind, qbo, wiring.party_store(), tenant_id="t1", party_id="p-1", now=NOW)

    assert listing(stack, kind)[1]["items"][0]["status"] == "unsynced"


# --- View Info and Unsync ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_view_party_linked_shows_books360_fields_and_live_object(stack, realm, kind):
    address = {"line1": "1 Main St", "city": "Springfield", "region": "CA", "postalCode": "94000", "country": "USA"}
    seed(kind, "p-1", "Acme Corp", email="ap@acme.example", companyName="Acme LLC", phone="555-0100",
         billingAddress=address)  # fmt: skip
    created = sync(stack, kind, "p-1", {"create": True})[1]

    status, seen = stack.api("GET", f"/quickbooks/{kind.plural}/p-1")

    assert status == 200, seen
    assert set(seen) == {kind.view_field, kind.qb_view_field, "status", "syncedAt"}
    info = seen[kind.view_field]
    assert info[kind.id_field] == "p-1"
    assert (info["name"], info["email"], info["companyName"], info["phone"]) == (
        "Acme Corp",
        "ap@acme.example",
        "Acme LLC",
        "555-0100",
    )
    assert seen[kind.qb_view_field]["Id"] == created[kind.qb_id_field]
    assert seen[kind.qb_view_field]["DisplayName"] == "Acme Corp"
    assert (seen["status"], seen["syncedAt"]) == ("synced", created["syncedAt"])


def test_view_party_customer_shows_billing_address(stack, realm):
    address = {"line1": "1 Main St", "city": "Springfield", "region": "CA", "postalCode": "94000", "country": "USA"}
    seed(CUSTOMER, "c-1", "Acme Corp", billingAddress=address)

    status, seen = stack.api("GET", "/quickbooks/customers/c-1")

    assert status == 200 and seen["client"]["billingAddress"] == address


@pytest.mark.parametrize("kind", KINDS)
def test_view_party_unlinked_shows_null_without_calling_quickbooks(stack, realm, kind):
    seed(kind, "p-1", "Acme Corp")
    before = calls(stack, realm)

    status, seen = stack.api("GET", f"/quickbooks/{kind.plural}/p-1")

    assert status == 200
    assert (seen[kind.qb_view_field], seen["status"], seen["syncedAt"]) == (None, "unsynced", None)
    assert qb_calls_since(before, calls(stack, realm)) == {}


@pytest.mark.parametrize("kind", KINDS)
def test_view_party_object_gone_in_quickbooks_shows_null(stack, realm, kind):
    # GIVEN a link to an object QuickBooks no longer knows (610 on read)
    seed(kind, "p-1", "Acme Corp")
    gone = Link(realm_id=realm, qb_id="99999", display_name="Acme Corp", synced_at=NOW)
    wiring.party_store().link("t1", kind, "p-1", gone)

    status, seen = stack.api("GET", f"/quickbooks/{kind.plural}/p-1")

    assert status == 200, seen
    assert (seen[kind.qb_view_field], seen["status"]) == (None, "synced")


@pytest.mark.parametrize("kind", KINDS)
def test_view_party_unknown_or_other_tenants_returns_404(stack, realm, kind):
    seed(kind, "p-9", "Theirs", tenant="t2")

    assert stack.api("GET", f"/quickbooks/{kind.plural}/p-9")[0] == 404
    assert stack.api("GET", f"/quickbooks/{kind.plural}/p-1")[0] == 404


@pytest.mark.parametrize("kind", KINDS)
def test_unsync_removes_link_and_changes_nothing_in_quickbooks(stack, realm, qb_user, kind):
    # GIVEN a linked party
    seed(kind, "p-1", "Acme Corp")
    created = sync(stack, kind, "p-1", {"create": True})[1]
    before = calls(stack, realm)

    # WHEN it is unsynced
    status, body = stack.api("DELETE", f"/quickbooks/{kind.plural}/p-1/sync")

    # THEN 204, unsynced in the list, QuickBooks untouched, and the object can be linked again (guard gone)
    assert (status, body) == (204, None)
    assert listing(stack, kind)[1]["items"][0]["status"] == "unsynced"
    assert qb_calls_since(before, calls(stack, realm)) == {}
    assert len(qb_user.all(kind.qb_entity)) == 1
    seed(kind, "p-2", "Other")
    assert sync(stack, kind, "p-2", {kind.qb_id_field: created[kind.qb_id_field]})[0] == 200


@pytest.mark.parametrize("kind", KINDS)
def test_unsync_not_linked_or_unknown_returns_404(stack, realm, kind):
    seed(kind, "p-1", "Acme Corp")
    seed(kind, "p-9", "Theirs", tenant="t2")

    for party_id in ("p-1", "p-2", "p-9"):
        status, problem = stack.api("DELETE", f"/quickbooks/{kind.plural}/{party_id}/sync")
        assert status == 404, problem


@pytest.mark.parametrize("kind", KINDS)
def test_unsync_other_tenants_link_leaves_it(stack, realm, kind):
    # GIVEN t2, connected to the same company, has linked its party p-1
    stack.connect(tenant="t2", realm_id=realm)
    seed(kind, "p-1", "Theirs", tenant="t2")
    assert sync(stack, kind, "p-1", {"create": True}, tenant="t2")[0] == 200
    seed(kind, "p-1", "Mine")

    # WHEN t1 unsyncs its own p-1
    status, _ = stack.api("DELETE", f"/quickbooks/{kind.plural}/p-1/sync")

    # THEN that is a 404 for t1, and t2's link stays
    assert status == 404
    assert listing(stack, kind, tenant="t2")[1]["items"][0]["status"] == "synced"


# -- issue 10: the marker and the requestid name the tenant -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_two_tenants_of_one_company_never_adopt_each_others_object(stack, realm, qb_user, kind):
    # GIVEN tenant t1 created its party p-1 "Acme Corp" in the company, and tenant t2 is connected to the same
    # company with its own p-1 of the same name
    stack.connect(tenant="t2", realm_id=realm)
    seed(kind, "p-1", "Acme Corp")
    seed(kind, "p-1", "Acme Corp", tenant="t2")
    status, first = sync(stack, kind, "p-1", {"create": True})
    assert status == 200, first

    # WHEN t2 creates its p-1
    status, second = sync(stack, kind, "p-1", {"create": True}, tenant="t2")

    # THEN t1's object is not taken as t2's own: the name is someone else's (a 409 naming it), linked to t1 only
    assert status == 409, second
    assert second["type"].endswith("name-taken"), second
    assert len(qb_user.all(kind.qb_entity)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_link_own_earlier_object_of_another_tenant_marker_is_not_adopted(stack, realm, qb_user, kind):
    # GIVEN an object with the marker another tenant's run writes for its own p-1
    other = marker_for(kind, "p-1", "t-other")
    qb_user.create(kind.qb_entity, DisplayName="Acme Corp", **{kind.marker_field: other})
    seed(kind, "p-1", "Acme Corp")

    # WHEN t1 creates its p-1
    status, created = sync(stack, kind, "p-1", {"create": True})

    # THEN it is not adopted
    assert status == 409, created
    assert len(qb_user.all(kind.qb_entity)) == 1


def test_party_requestids_differ_between_tenants_of_one_company():
    assert request_id_for("t1", "9341", "customer", "p-1", "plain") != request_id_for(
        "t2", "9341", "customer", "p-1", "plain"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_legacy_marker_is_not_adopted_while_another_tenant_is_connected_to_the_company(stack, realm, qb_user, kind):
    # GIVEN an object with the marker written before markers named the tenant, and two tenants in the company
    qb_user.create(kind.qb_entity, DisplayName="Acme Corp", **{kind.marker_field: f"Books360 {kind.books360_name} p-1"})
    stack.connect(tenant="t2", realm_id=realm)
    seed(kind, "p-1", "Acme Corp", tenant="t2")

    # WHEN t2 creates its p-1
    status, created = sync(stack, kind, "p-1", {"create": True}, tenant="t2")

    # THEN it may be t1's: not adopted, the name is reported taken
    assert status == 409, created
    assert len(qb_user.all(kind.qb_entity)) == 1

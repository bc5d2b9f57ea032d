"""Rules of the Customers and Vendors tabs: link per company, status, filters, DisplayName suffix, marker, mapping."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.cursors import InvalidCursor, cursor_key, open_cursor, sign_cursor
from shared.domain.parties import (
    CUSTOMER,
    PARTY_KINDS,
    VENDOR,
    BillingAddress,
    Link,
    LinkStatus,
    Party,
    PartyFilters,
    display_name_for,
    legacy_marker_for,
    marker_for,
    same_display_name,
)
from shared.quickbooks.documents import party_document

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TAG = hashlib.sha256(b"t1").hexdigest()[:16]
KEY = cursor_key("client-secret")


def party(kind=CUSTOMER, party_id="c-17", name="Acme Corp", email="ap@acme.example", links=None, **more) -> Party:
    return Party(kind=kind, party_id=party_id, name=name, email=email, links=links or {}, **more)


def link(realm="111", qb_id="58", status=LinkStatus.SYNCED) -> Link:
    return Link(realm_id=realm, qb_id=qb_id, display_name="Acme Corp", synced_at=NOW, status=status)


@pytest.mark.parametrize("kind", PARTY_KINDS.values())
def test_status_in_link_of_another_company_is_unsynced(kind):
    # GIVEN a party linked in company 111 only
    linked = party(kind, links={"111": link("111")})

    # THEN it is synced there, and unsynced for company 222 or when nothing is connected
    assert linked.status_in("111") is LinkStatus.SYNCED
    assert linked.status_in("222") is LinkStatus.UNSYNCED
    assert linked.status_in(None) is LinkStatus.UNSYNCED
    assert linked.link_in("222") is None


def test_status_in_deleted_in_qb_link_keeps_that_status():
    marked = party(links={"111": link(status=LinkStatus.DELETED_IN_QB)})

    assert marked.status_in("111") is LinkStatus.DELETED_IN_QB


@pytest.mark.parametrize("email", [None, "", "   "])
def test_email_missing_without_email_is_flagged(email):
    assert party(email=email).email_missing is True


def test_email_missing_with_email_is_not_flagged():
    assert party().email_missing is False


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (PartyFilters(), True),
        (PartyFilters(text="c-17"), True),
        (PartyFilters(text="c-1"), False),  # an id matches exactly only
        (PartyFilters(text="ACME"), True),
        (PartyFilters(text="me co"), True),
        (PartyFilters(text="Globex"), False),
        (PartyFilters(email="ACME.example"), True),
        (PartyFilters(email="globex"), False),
        (PartyFilters(status=LinkStatus.SYNCED), True),
        (PartyFilters(status=LinkStatus.UNSYNCED), False),
        (PartyFilters(text="acme", email="ap@", status=LinkStatus.SYNCED), True),
    ],
)
def test_filters_matches_id_exactly_or_name_and_email_by_part(filters, expected):
    # GIVEN a synced client c-17 "Acme Corp"
    subject = party(links={"111": link()})

    # THEN the filters say whether the tab shows it
    assert filters.matches(subject, "111") is expected


def test_filters_email_on_party_without_email_does_not_match():
    assert PartyFilters(email="a").matches(party(email=None), "111") is False


@pytest.mark.parametrize("kind", PARTY_KINDS.values())
def test_display_name_for_name_held_by_other_kind_gets_suffix(kind):
    assert display_name_for(kind, " Acme ", held_by_other_kind=False) == "Acme"
    assert display_name_for(kind, "Acme", held_by_other_kind=True) == "Acme" + kind.display_suffix


def test_display_name_for_suffixes_are_the_contract_ones():
    assert display_name_for(CUSTOMER, "Acme", held_by_other_kind=True) == "Acme (Customer)"
    assert display_name_for(VENDOR, "Acme", held_by_other_kind=True) == "Acme (Vendor)"


def test_marker_for_names_the_books360_object_and_its_tenant():
    tag = hashlib.sha256(b"t1").hexdigest()[:16]
    assert marker_for(CUSTOMER, "c-17", "t1") == f"Books360 client c-17 @{tag}"
    assert marker_for(VENDOR, "v-3", "t1") == f"Books360 vendor v-3 @{tag}"
    assert marker_for(CUSTOMER, "c-17", "t2") != marker_for(CUSTOMER, "c-17", "t1")
    assert legacy_marker_for(CUSTOMER, "c-17") == "Books360 client c-17"


def test_same_display_name_ignores_case_and_spaces():
    assert same_display_name(" ACME corp", "Acme Corp ")
    assert not same_display_name("Acme", "Acme (Vendor)")


def test_party_document_customer_maps_every_field_and_marks_it():
    # GIVEN a client with every field
    client = party(
        company_name="Acme Corp LLC",
        phone="555-0100",
        billing_address=BillingAddress(
            line1="1 Main St", city="Springfield", region="CA", postal_code="94000", country="USA"
        ),
    )

    # WHEN it becomes a QuickBooks customer
    document = party_document(CUSTOMER, client, "Acme Corp", "t1")

    # THEN the contract's mapping holds, with our marker in Notes
    assert document == {
        "DisplayName": "Acme Corp",
        "Notes": f"Books360 client c-17 @{TAG}",
        "CompanyName": "Acme Corp LLC",
        "PrimaryEmailAddr": {"Address": "ap@acme.example"},
        "PrimaryPhone": {"FreeFormNumber": "555-0100"},
        "BillAddr": {
            "Line1": "1 Main St",
            "City": "Springfield",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "94000",
            "Country": "USA",
        },
    }


def test_party_document_vendor_without_email_or_address_omits_them():
    vendor = party(VENDOR, party_id="v-3", name="Paper Supply", email=None)

    document = party_document(VENDOR, vendor, "Paper Supply (Vendor)", "t1")

    assert document == {"DisplayName": "Paper Supply (Vendor)", "AcctNum": f"Books360 vendor v-3 @{TAG}"}


SCOPE = {"tenant": "t1", "list": "customers", "text": "", "status": "", "email": ""}


@given(st.text(min_size=1, max_size=200))
def test_cursor_round_trip_gives_the_position_back(position):
    assert open_cursor(KEY, SCOPE, sign_cursor(KEY, SCOPE, position)) == position


@pytest.mark.parametrize(
    "other_scope",
    [
        {**SCOPE, "tenant": "t2"},
        {**SCOPE, "list": "vendors"},
        {**SCOPE, "text": "acme"},
        {**SCOPE, "status": "synced"},
    ],
    ids=["tenant", "list", "filter", "status"],
)
def test_cursor_of_another_scope_is_invalid(other_scope):
    cursor = sign_cursor(KEY, SCOPE, "c-17")

    with pytest.raises(InvalidCursor):
        open_cursor(KEY, other_scope, cursor)


def test_cursor_signed_with_another_key_is_invalid():
    with pytest.raises(InvalidCursor):
        open_cursor(KEY, SCOPE, sign_cursor(cursor_key("another secret"), SCOPE, "c-17"))


@given(st.data())
def test_cursor_altered_anywhere_is_invalid(data):
    # GIVEN a genuine cursor with one character changed
    cursor = sign_cursor(KEY, SCOPE, "c-17")
    index = data.draw(st.integers(0, len(cursor) - 1))
    replacement = data.draw(st.sampled_from("AbZ09-_.=%").filter(lambda c: c != cursor[index]))
    altered = cursor[:index] + replacement + cursor[index + 1 :]

    # THEN it is refused, never accepted with another position
    with pytest.raises(InvalidCursor):
        open_cursor(KEY, SCOPE, altered)


@pytest.mark.parametrize("garbage", ["", ".", "abc", "a.b.c", "%%%.###", "x" * 5000, "Yy0x.!!!!"])
def test_cursor_garbage_is_invalid(garbage):
    with pytest.raises(InvalidCursor):
        open_cursor(KEY, SCOPE, garbage)

"""Customers and vendors are one feature: a two-row table says everything that differs between them.

Services, stores and routes take a ``PartyKind``; a difference between the tabs is a column here, never an
``if kind == "vendor"`` elsewhere (style guide). Below the table: the pure rules of the Customers and Vendors
tabs (guide: "The Customers tab", "The Vendors tab"): a party's link per QuickBooks company, its status, the
list filters, the DisplayName written to QuickBooks and the marker naming our Books360 object.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True)
class PartyKind:
    key: str  # "customer" | "vendor"
    plural: str  # route segment: /quickbooks/{plural}
    qb_entity: str  # QuickBooks entity name
    sk_prefix: str  # DynamoDB sort-key prefix of the Books360 copies
    books360_name: str  # "client" | "vendor": the Books360 object, in messages
    id_field: str  # camelCase id of the Books360 object in the contract
    qb_id_field: str  # camelCase QuickBooks id field in the contract
    list_filter: str  # query parameter filtering by id or name
    bulk_ids_field: str  # body field of the bulk request
    linked_field: str  # picker items: which Books360 object a QuickBooks one is linked to
    view_field: str  # View Info: key of the Books360 object
    qb_view_field: str  # View Info: key of the QuickBooks object
    display_suffix: str  # appended when the DisplayName is held by another kind
    marker_field: str  # QuickBooks field carrying our marker (the Books360 id) on objects we create
    upsert_event: str  # Books360 event that carries this kind
    job_kind: str  # bulk job kind
    has_invoices: bool = False  # its invoices wait on its link: linking it is news for automatic sync


CUSTOMER = PartyKind(
    key="customer",
    plural="customers",
    qb_entity="Customer",
    sk_prefix="CLIENT#",
    books360_name="client",
    id_field="clientId",
    qb_id_field="qbCustomerId",
    list_filter="client",
    bulk_ids_field="clientIds",
    linked_field="linkedClientId",
    view_field="client",
    qb_view_field="qbCustomer",
    display_suffix=" (Customer)",
    marker_field="Notes",
    upsert_event="ClientUpserted",
    job_kind="customers",
    has_invoices=True,
)

VENDOR = PartyKind(
    key="vendor",
    plural="vendors",
    qb_entity="Vendor",
    sk_prefix="VENDOR#",
    books360_name="vendor",
    id_field="vendorId",
    qb_id_field="qbVendorId",
    list_filter="vendor",
    bulk_ids_field="vendorIds",
    linked_field="linkedVendorId",
    view_field="vendor",
    qb_view_field="qbVendor",
    display_suffix=" (Vendor)",
    marker_field="AcctNum",
    upsert_event="VendorUpserted",
    job_kind="vendors",
)

PARTY_KINDS: dict[str, PartyKind] = {kind.key: kind for kind in (CUSTOMER, VENDOR)}


class LinkStatus(StrEnum):
    """The Status column: ``synced`` (linked), ``unsynced`` (no link for the connected company), ``deleted_in_qb``
    (linked, but QuickBooks made the object inactive or merged it away; nothing is unlinked without the user)."""

    SYNCED = "synced"
    UNSYNCED = "unsynced"
    DELETED_IN_QB = "deleted_in_qb"


@dataclass(frozen=True)
class Link:
    """A Books360 client/vendor tied to one QuickBooks object of one company (realm)."""

    realm_id: str
    qb_id: str
    display_name: str
    synced_at: datetime
    status: LinkStatus = LinkStatus.SYNCED
    created: bool = False  # we created the QuickBooks object (rather than linking an existing one)


@dataclass(frozen=True)
class BillingAddress:
    line1: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Party:
    """Our copy of a Books360 client or vendor with its links, one per QuickBooks company ever linked."""

    kind: PartyKind
    party_id: str
    name: str
    email: str | None = None
    company_name: str | None = None
    phone: str | None = None
    billing_address: BillingAddress | None = None
    links: dict[str, Link] = field(default_factory=dict)

    def link_in(self, realm_id: str | None) -> Link | None:
        """The link for company ``realm_id``: a link made for another company never counts (contract)."""
        return self.links.get(realm_id) if realm_id else None

    def status_in(self, realm_id: str | None) -> LinkStatus:
        link = self.link_in(realm_id)
        return link.status if link else LinkStatus.UNSYNCED

    @property
    def email_missing(self) -> bool:
        """Guide: "The customer email field must be filled ... to enable invoice synchronization".

        A party without one can be linked; the list flags it."""
        return not (self.email or "").strip()


@dataclass(frozen=True)
class PartyFilters:
    """The filters of the tab: ``text`` is the id exactly or a case-insensitive part of the name; ``status`` is
    ``synced`` or ``unsynced``; ``email`` a case-insensitive part of the email."""

    text: str | None = None
    status: LinkStatus | None = None
    email: str | None = None

    def matches(self, party: Party, realm_id: str | None) -> bool:
        if self.text and party.party_id != self.text and self.text.casefold() not in party.name.casefold():
            return False
        if self.email and self.email.casefold() not in (party.email or "").casefold():
            return False
        return self.status is None or party.status_in(realm_id) is self.status

    def scope(self) -> dict[str, str]:
        """What a cursor is bound to: a page cursor is only good for the same filters."""
        return {"text": self.text or "", "status": self.status.value if self.status else "", "email": self.email or ""}


def display_name_for(kind: PartyKind, name: str, *, held_by_other_kind: bool) -> str:
    """Contract: a name a vendor or employee holds is written ``{name} (Customer)``, and vendors likewise
    ``{name} (Vendor)`` (QuickBooks keeps DisplayName unique across customers, vendors and employees)."""
    name = name.strip()
    return name + kind.display_suffix if held_by_other_kind else name


def tenant_tag(tenant_id: str) -> str:
    """The tenant as our markers name it: 16 hex digits of its SHA-256 (short enough for Vendor ``AcctNum``, and
    the Books360 account id is not shown to the company's QuickBooks users)."""
    return hashlib.sha256(tenant_id.encode()).hexdigest()[:16]


def marker_for(kind: PartyKind, party_id: str, tenant_id: str) -> str:
    """Our marker on the objects we create, naming the Books360 object and its tenant:
    ``Books360 client c-17 @3f2a...``. Two tenants connected to one company may both have a client ``c-17``;
    each adopts only its own.

    Architecture, "Writing to QuickBooks exactly once": ``requestid`` alone is not trusted."""
    return f"{legacy_marker_for(kind, party_id)} @{tenant_tag(tenant_id)}"


def legacy_marker_for(kind: PartyKind, party_id: str) -> str:
    """The marker written before it named the tenant (``Books360 client c-17``): it may be any tenant's, so it is
    recognised only for a tenant alone in the company (``shared.services.parties``)."""
    return f"Books360 {kind.books360_name} {party_id}"


def same_display_name(left: str, right: str) -> bool:
    """QuickBooks compares DisplayNames without regard to case or surrounding spaces."""
    return left.strip().casefold() == right.strip().casefold()

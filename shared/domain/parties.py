"""Customers and vendors are one feature: a two-row table says everything that differs between them.

Services, stores and routes take a ``PartyKind``; a difference between the tabs is a column here, never an
``if kind == "vendor"`` elsewhere (style guide).
"""

from __future__ import annotations

from dataclasses import dataclass


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

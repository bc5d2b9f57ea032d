"""CRM Integrations > QuickBooks > "Customers" and "Vendors" tabs.

The tabs are one feature, but the contract names fields after the tab (``clientId``/``vendorId``,
``qbCustomerId``/``qbVendorId``, the ``client``/``vendor`` filter). So each model is written once with neutral
names, and each tab's subclass declares only the fields whose wire name (or nested model) is its own. Each tab's
routes are declared plainly and call the helpers both share, passing the tab's ``PartyKind`` row, which carries
every difference the services need.
"""

from __future__ import annotations

from collections.abc import Sequence  # noqa: TC003 - pydantic reads it at run time
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Self

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import Field, StrictBool, model_validator

from shared import wiring
from shared.domain.parties import CUSTOMER, VENDOR, LinkStatus, PartyFilters
from shared.domain.types import MAX_ID_LENGTH, QbId
from shared.services import parties as service
from shared.web import ApiModel, QuickBooksObject, tenant_id_of

if TYPE_CHECKING:
    from shared.domain.parties import BillingAddress, Party, PartyKind

router = Router()

# Ids go into DynamoDB keys: at most MAX_ID_LENGTH characters, as every Books360 id (a longer one is a 422).
PartyFilter = Annotated[
    str | None, Query(max_length=MAX_ID_LENGTH, description="The id exactly, or part of the name (any case)")
]
StatusFilter = Annotated[Literal["synced", "unsynced"] | None, Query()]
EmailFilter = Annotated[str | None, Query(description="Part of the email (any case)")]
Search = Annotated[str | None, Query(max_length=100)]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page, 1 to 100")]
Cursor = Annotated[str | None, Query(description="nextCursor of the previous page")]
ClientId = Annotated[str, Path(alias="clientId", min_length=1, max_length=MAX_ID_LENGTH)]
VendorId = Annotated[str, Path(alias="vendorId", min_length=1, max_length=MAX_ID_LENGTH)]


# -- the models, written once with neutral names -----------------------------------------------------------------


class PartyRowOut(ApiModel):
    party_id: str
    name: str
    email: str | None
    email_missing: bool = Field(description="No email: can be linked, but its invoices cannot be synced")
    status: LinkStatus
    qb_id: str | None
    synced_at: datetime | None

    @classmethod
    def of(cls, row: service.PartyRow) -> Self:
        party, link = row.party, row.link
        return cls(
            party_id=party.party_id,
            name=party.name,
            email=party.email,
            email_missing=party.email_missing,
            status=row.status,
            qb_id=link.qb_id if link else None,
            synced_at=link.synced_at if link else None,
        )


class PartyPageOut(ApiModel):
    """A page of the tab: a tab's subclass names its row model (``row``) and types ``items`` with it."""

    row: ClassVar[type[PartyRowOut]]
    items: Sequence[PartyRowOut]
    next_cursor: str | None

    @classmethod
    def of(cls, found: service.PartyList) -> Self:
        return cls(items=[cls.row.of(r) for r in found.rows], next_cursor=found.next_cursor)


class QbPartyOut(ApiModel):
    id: str
    display_name: str
    email: str | None
    active: bool
    linked_party_id: str | None

    @classmethod
    def of(cls, found: service.QuickBooksParty) -> Self:
        return cls(
            id=found.qb_id,
            display_name=found.display_name,
            email=found.email,
            active=found.active,
            linked_party_id=found.linked_party_id,
        )


class QbPartiesOut(ApiModel):
    """The picker: a tab's subclass names its item model (``item``) and types ``items`` with it."""

    item: ClassVar[type[QbPartyOut]]
    items: Sequence[QbPartyOut]

    @classmethod
    def of(cls, found: list[service.QuickBooksParty]) -> Self:
        return cls(items=[cls.item.of(f) for f in found])


class SyncIn(ApiModel):
    """Exactly one of the two: the QuickBooks id to link (``qb_id``, named after the tab), or ``create: true``."""

    qb_id: QbId | None = None
    create: StrictBool | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.qb_id is not None) == (self.create is True):
            field = type(self).model_fields["qb_id"].alias
            raise ValueError(f"send either {field} (link it) or create: true (create it), exactly one of the two")
        return self


class SyncOut(ApiModel):
    party_id: str
    qb_id: str
    display_name: str = Field(description="As written in QuickBooks, with a ' (Customer)'/' (Vendor)' suffix if so")
    created: bool
    synced_at: datetime

    @classmethod
    def of(cls, outcome: service.LinkOutcome) -> Self:
        return cls(
            party_id=outcome.party_id,
            qb_id=outcome.qb_id,
            display_name=outcome.display_name,
            created=outcome.created,
            synced_at=outcome.synced_at,
        )


class AddressOut(ApiModel):
    line1: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None

    @classmethod
    def of(cls, address: BillingAddress | None) -> AddressOut | None:
        if address is None:
            return None
        return cls(
            line1=address.line1,
            city=address.city,
            region=address.region,
            postal_code=address.postal_code,
            country=address.country,
        )


class PartyInfoOut(ApiModel):
    party_id: str
    name: str
    email: str | None
    company_name: str | None
    phone: str | None
    billing_address: AddressOut | None

    @classmethod
    def of(cls, party: Party) -> Self:
        return cls(
            party_id=party.party_id,
            name=party.name,
            email=party.email,
            company_name=party.company_name,
            phone=party.phone,
            billing_address=AddressOut.of(party.billing_address),
        )


class PartyViewOut(ApiModel):
    """View Info: a tab's subclass names its info model (``info``), and the keys of both objects.

    ``qb_object`` is the QuickBooks object as QuickBooks returns it, read live; null if unlinked or gone there.
    """

    info: ClassVar[type[PartyInfoOut]]
    party: PartyInfoOut
    qb_object: QuickBooksObject | None
    status: LinkStatus
    synced_at: datetime | None

    @classmethod
    def of(cls, seen: service.PartyView) -> Self:
        return cls(
            party=cls.info.of(seen.party),
            qb_object=seen.qb_object,
            status=seen.status,
            synced_at=seen.link.synced_at if seen.link else None,
        )


# -- each tab's models: only what is named after the tab (no docstrings: they would join the OpenAPI schemas) ----


class CustomerRowOut(PartyRowOut):
    party_id: str = Field(alias="clientId")
    qb_id: str | None = Field(alias="qbCustomerId")


class CustomerPageOut(PartyPageOut):
    row = CustomerRowOut
    items: Sequence[CustomerRowOut]


class QbCustomerOut(QbPartyOut):
    linked_party_id: str | None = Field(alias="linkedClientId")


class QbCustomersOut(QbPartiesOut):
    item = QbCustomerOut
    items: Sequence[QbCustomerOut]


class CustomerSyncIn(SyncIn):
    qb_id: QbId | None = Field(default=None, alias="qbCustomerId")


class CustomerSyncOut(SyncOut):
    party_id: str = Field(alias="clientId")
    qb_id: str = Field(alias="qbCustomerId")


class CustomerInfoOut(PartyInfoOut):
    party_id: str = Field(alias="clientId")


class CustomerViewOut(PartyViewOut):
    info = CustomerInfoOut
    party: CustomerInfoOut = Field(alias="client")
    qb_object: QuickBooksObject | None = Field(alias="qbCustomer")


class VendorRowOut(PartyRowOut):
    party_id: str = Field(alias="vendorId")
    qb_id: str | None = Field(alias="qbVendorId")


class VendorPageOut(PartyPageOut):
    row = VendorRowOut
    items: Sequence[VendorRowOut]


class QbVendorOut(QbPartyOut):
    linked_party_id: str | None = Field(alias="linkedVendorId")


class QbVendorsOut(QbPartiesOut):
    item = QbVendorOut
    items: Sequence[QbVendorOut]


class VendorSyncIn(SyncIn):
    qb_id: QbId | None = Field(default=None, alias="qbVendorId")


class VendorSyncOut(SyncOut):
    party_id: str = Field(alias="vendorId")
    qb_id: str = Field(alias="qbVendorId")


class VendorInfoOut(PartyInfoOut):
    party_id: str = Field(alias="vendorId")


class VendorViewOut(PartyViewOut):
    info = VendorInfoOut
    party: VendorInfoOut = Field(alias="vendor")
    qb_object: QuickBooksObject | None = Field(alias="qbVendor")


# -- what both tabs do: list, QuickBooks picker, sync (link or create), View Info and Unsync -----------------------


def list_parties(
    kind: PartyKind, text: str | None, status: str | None, email: str | None, limit: int, cursor: str | None
) -> service.PartyList:
    filters = PartyFilters(text=text, status=LinkStatus(status) if status else None, email=email)
    stores = wiring.party_store(), wiring.connection_store()
    tenant_id, key = tenant_id_of(router), wiring.cursor_key()
    return service.list_parties(
        kind, *stores, tenant_id=tenant_id, filters=filters, limit=limit, cursor=cursor, cursor_key=key
    )


def search_quickbooks(kind: PartyKind, search: str | None, limit: int) -> list[service.QuickBooksParty]:
    tenant_id = tenant_id_of(router)
    with wiring.quickbooks_for(tenant_id) as qbo:
        return service.search_quickbooks(
            kind, qbo, wiring.party_store(), tenant_id=tenant_id, search=search, limit=limit
        )


def sync(kind: PartyKind, party_id: str, body: SyncIn) -> service.LinkOutcome:
    tenant_id = tenant_id_of(router)
    with wiring.quickbooks_for(tenant_id) as qbo:
        return service.sync_party(
            kind, qbo, wiring.party_store(), tenant_id=tenant_id, party_id=party_id, qb_id=body.qb_id, now=wiring.now()
        )


def view(kind: PartyKind, party_id: str) -> service.PartyView:
    tenant_id = tenant_id_of(router)
    stores = wiring.party_store(), wiring.connection_store()
    quickbooks = partial(wiring.quickbooks_for, tenant_id)
    return service.view_party(kind, *stores, quickbooks, tenant_id=tenant_id, party_id=party_id)


def unsync(kind: PartyKind, party_id: str) -> None:
    stores = wiring.party_store(), wiring.connection_store()
    service.unsync(kind, *stores, tenant_id=tenant_id_of(router), party_id=party_id)


# -- the Customers tab ---------------------------------------------------------------------------------------------
# The explicit operation ids are the ones these routes have always had in openapi.json.


@router.get(
    "/quickbooks/customers",
    summary="Books360 clients with their QuickBooks link, filtered, paged",
    operation_id="list_parties_quickbooks_customers_get",
)
def list_customers(
    client: PartyFilter = None,
    status: StatusFilter = None,
    email: EmailFilter = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> CustomerPageOut:
    return CustomerPageOut.of(list_parties(CUSTOMER, client, status, email, limit, cursor))


@router.get(
    "/quickbooks/qb-customers",
    summary="QuickBooks customers for the picker, read live",
    operation_id="search_quickbooks_quickbooks_qb_customers_get",
)
def search_quickbooks_customers(search: Search = None, limit: Limit = 25) -> QbCustomersOut:
    return QbCustomersOut.of(search_quickbooks(CUSTOMER, search, limit))


@router.post(
    "/quickbooks/customers/<clientId>/sync",
    summary="Link to a QuickBooks customer, or create one and link it",
    operation_id="sync_quickbooks_customers__clientId__sync_post",
)
def sync_customer(client_id: ClientId, body: Annotated[CustomerSyncIn, Body()]) -> CustomerSyncOut:
    return CustomerSyncOut.of(sync(CUSTOMER, client_id, body))


@router.get(
    "/quickbooks/customers/<clientId>",
    summary="View Info: the Books360 client and its QuickBooks customer",
    operation_id="view_quickbooks_customers__clientId__get",
)
def view_customer(client_id: ClientId) -> CustomerViewOut:
    return CustomerViewOut.of(view(CUSTOMER, client_id))


@router.delete(
    "/quickbooks/customers/<clientId>/sync",
    summary="Unsync: remove the link; nothing changes in QuickBooks",
    operation_id="unsync_quickbooks_customers__clientId__sync_delete",
)
def unsync_customer(client_id: ClientId) -> Response[None]:
    unsync(CUSTOMER, client_id)
    return Response(status_code=204)


# -- the Vendors tab -----------------------------------------------------------------------------------------------


@router.get(
    "/quickbooks/vendors",
    summary="Books360 vendors with their QuickBooks link, filtered, paged",
    operation_id="list_parties_quickbooks_vendors_get",
)
def list_vendors(
    vendor: PartyFilter = None,
    status: StatusFilter = None,
    email: EmailFilter = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> VendorPageOut:
    return VendorPageOut.of(list_parties(VENDOR, vendor, status, email, limit, cursor))


@router.get(
    "/quickbooks/qb-vendors",
    summary="QuickBooks vendors for the picker, read live",
    operation_id="search_quickbooks_quickbooks_qb_vendors_get",
)
def search_quickbooks_vendors(search: Search = None, limit: Limit = 25) -> QbVendorsOut:
    return QbVendorsOut.of(search_quickbooks(VENDOR, search, limit))


@router.post(
    "/quickbooks/vendors/<vendorId>/sync",
    summary="Link to a QuickBooks vendor, or create one and link it",
    operation_id="sync_quickbooks_vendors__vendorId__sync_post",
)
def sync_vendor(vendor_id: VendorId, body: Annotated[VendorSyncIn, Body()]) -> VendorSyncOut:
    return VendorSyncOut.of(sync(VENDOR, vendor_id, body))


@router.get(
    "/quickbooks/vendors/<vendorId>",
    summary="View Info: the Books360 vendor and its QuickBooks vendor",
    operation_id="view_quickbooks_vendors__vendorId__get",
)
def view_vendor(vendor_id: VendorId) -> VendorViewOut:
    return VendorViewOut.of(view(VENDOR, vendor_id))


@router.delete(
    "/quickbooks/vendors/<vendorId>/sync",
    summary="Unsync: remove the link; nothing changes in QuickBooks",
    operation_id="unsync_quickbooks_vendors__vendorId__sync_delete",
)
def unsync_vendor(vendor_id: VendorId) -> Response[None]:
    unsync(VENDOR, vendor_id)
    return Response(status_code=204)

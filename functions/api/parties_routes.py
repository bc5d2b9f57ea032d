"""CRM Integrations > QuickBooks > "Customers" and "Vendors" tabs: one router factory serves both.

The contract names fields after the tab (``clientId``/``vendorId``, ``qbCustomerId``/``qbVendorId``, the
``client``/``vendor`` filter). The models below are written once with neutral names; ``_models(kind)`` derives
each tab's subclasses with the aliases of its ``PartyKind`` row, and ``_typed`` resolves a route's annotations
against them, so Powertools validates and documents each tab under its own names.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, Self, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import Field, StrictBool, create_model, model_validator

from shared import wiring
from shared.domain.parties import PARTY_KINDS, LinkStatus, PartyFilters, PartyKind
from shared.domain.types import QbId  # noqa: TC001 - pydantic reads it at run time
from shared.services import parties as service
from shared.web import ApiModel, QuickBooksObject, tenant_id_of

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from shared.domain.parties import BillingAddress, Party

F = TypeVar("F", bound="Callable[..., Any]")

FILTER_HELP = "The id exactly, or part of the name (any case)"
PartyFilter = Annotated[str | None, Query(description=FILTER_HELP)]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page, 1 to 100")]
Cursor = Annotated[str | None, Query(description="nextCursor of the previous page")]
PartyId = Annotated[str, Path(alias="clientId")]


class PartyRowOut(ApiModel):
    party_id: PartyId
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
    items: list[PartyRowOut]
    next_cursor: str | None


class QbPartyOut(ApiModel):
    id: str
    display_name: str
    email: str | None
    active: bool
    linked_party_id: PartyId | None

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
    items: list[QbPartyOut]


class SyncIn(ApiModel):
    qb_id: QbId | None = None
    create: StrictBool | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.qb_id is not None) == (self.create is True):
            field = type(self).model_fields["qb_id"].alias
            raise ValueError(f"send either {field} (link it) or create: true (create it), exactly one of the two")
        return self


class SyncOut(ApiModel):
    party_id: PartyId
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
    party_id: PartyId
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
    party: PartyInfoOut
    qb_object: QuickBooksObject | None = Field(description="As QuickBooks returns it, read live; null if unlinked/gone")
    status: LinkStatus
    synced_at: datetime | None


@dataclass(frozen=True)
class _Models:
    """One tab's models (subclasses of the neutral ones, with the tab's aliases) and the names routes use."""

    row: type[PartyRowOut]
    page: type[PartyPageOut]
    qb_party: type[QbPartyOut]
    qb_parties: type[QbPartiesOut]
    sync_out: type[SyncOut]
    info: type[PartyInfoOut]
    view: type[PartyViewOut]
    namespace: dict[str, Any]

    def page_of(self, found: service.PartyList) -> PartyPageOut:
        return self.page(items=[self.row.of(r) for r in found.rows], next_cursor=found.next_cursor)

    def qb_parties_of(self, found: list[service.QuickBooksParty]) -> QbPartiesOut:
        return self.qb_parties(items=[self.qb_party.of(f) for f in found])

    def view_of(self, seen: service.PartyView) -> PartyViewOut:
        return self.view(
            party=self.info.of(seen.party),
            qb_object=seen.qb_object,
            status=seen.status,
            synced_at=seen.link.synced_at if seen.link else None,
        )


def _models(kind: PartyKind) -> _Models:
    name = kind.qb_entity
    own = partial(_aliased, name)
    row = own(PartyRowOut, party_id=(str, kind.id_field), qb_id=(str | None, kind.qb_id_field))
    page = own(PartyPageOut, items=(list[row], "items"))  # type: ignore[valid-type]
    qb_party = own(QbPartyOut, linked_party_id=(str | None, kind.linked_field))
    qb_parties = own(QbPartiesOut, items=(list[qb_party], "items"))  # type: ignore[valid-type]
    sync_in = own(SyncIn, qb_id=(QbId | None, kind.qb_id_field), default=None)
    sync_out = own(SyncOut, party_id=(str, kind.id_field), qb_id=(str, kind.qb_id_field))
    info = own(PartyInfoOut, party_id=(str, kind.id_field))
    view = own(PartyViewOut, party=(info, kind.view_field), qb_object=(QuickBooksObject | None, kind.qb_view_field))
    namespace = {
        "PartyFilter": Annotated[str | None, Query(alias=kind.list_filter, description=FILTER_HELP)],
        "PartyId": Annotated[str, Path(alias=kind.id_field)],
        "PartyPageOut": page,
        "QbPartiesOut": qb_parties,
        "SyncIn": sync_in,
        "SyncOut": sync_out,
        "PartyViewOut": view,
    }
    return _Models(row, page, qb_party, qb_parties, sync_out, info, view, namespace)


M = TypeVar("M", bound=ApiModel)


def _aliased(prefix: str, base: type[M], default: Any = ..., **fields: tuple[Any, str]) -> type[M]:
    """``base`` with some fields renamed on the wire (and retyped, for nested models): ``CustomerSyncIn``..."""
    definitions: dict[str, Any] = {
        field: (annotation, Field(default=default, alias=alias)) for field, (annotation, alias) in fields.items()
    }
    return create_model(prefix + base.__name__, __base__=base, **definitions)


def _typed(namespace: dict[str, Any]) -> Callable[[F], F]:
    """Resolve a route's annotations with the tab's own models, so Powertools validates and documents those."""

    def resolve(func: F) -> F:
        func.__annotations__ = typing.get_type_hints(func, localns=namespace, include_extras=True)
        return func

    return resolve


def party_router(kind: PartyKind) -> Router:
    """The routes of one tab: list, QuickBooks picker, sync (link or create), View Info and Unsync."""
    router = Router()
    models = _models(kind)
    typed = _typed(models.namespace)
    base = f"/quickbooks/{kind.plural}"
    item = f"{base}/<{kind.id_field}>"

    @router.get(base, summary=f"Books360 {kind.books360_name}s with their QuickBooks link, filtered, paged")
    @typed
    def list_parties(
        party: PartyFilter = None,
        status: Annotated[Literal["synced", "unsynced"] | None, Query()] = None,
        email: Annotated[str | None, Query(description="Part of the email (any case)")] = None,
        limit: Limit = 25,
        cursor: Cursor = None,
    ) -> PartyPageOut:
        filters = PartyFilters(text=party, status=LinkStatus(status) if status else None, email=email)
        stores = wiring.party_store(), wiring.connection_store()
        tenant_id, key = tenant_id_of(router), wiring.cursor_key()
        found = service.list_parties(
            kind, *stores, tenant_id=tenant_id, filters=filters, limit=limit, cursor=cursor, cursor_key=key
        )
        return models.page_of(found)

    @router.get(f"/quickbooks/qb-{kind.plural}", summary=f"QuickBooks {kind.key}s for the picker, read live")
    @typed
    def search_quickbooks(
        search: Annotated[str | None, Query(max_length=100)] = None, limit: Limit = 25
    ) -> QbPartiesOut:
        tenant_id = tenant_id_of(router)
        with wiring.quickbooks_for(tenant_id) as qbo:
            found = service.search_quickbooks(
                kind, qbo, wiring.party_store(), tenant_id=tenant_id, search=search, limit=limit
            )
        return models.qb_parties_of(found)

    @router.post(f"{item}/sync", summary=f"Link to a QuickBooks {kind.key}, or create one and link it")
    @typed
    def sync(party_id: PartyId, body: Annotated[SyncIn, Body()]) -> SyncOut:
        tenant_id = tenant_id_of(router)
        with wiring.quickbooks_for(tenant_id) as qbo:
            linked = service.sync_party(
                kind,
                qbo,
                wiring.party_store(),
                tenant_id=tenant_id,
                party_id=party_id,
                qb_id=body.qb_id,
                now=wiring.now(),
            )
        return models.sync_out.of(linked)

    @router.get(f"{item}", summary=f"View Info: the Books360 {kind.books360_name} and its QuickBooks {kind.key}")
    @typed
    def view(party_id: PartyId) -> PartyViewOut:
        tenant_id = tenant_id_of(router)
        stores = wiring.party_store(), wiring.connection_store()
        quickbooks = partial(wiring.quickbooks_for, tenant_id)
        return models.view_of(service.view_party(kind, *stores, quickbooks, tenant_id=tenant_id, party_id=party_id))

    @router.delete(f"{item}/sync", summary="Unsync: remove the link; nothing changes in QuickBooks")
    @typed
    def unsync(party_id: PartyId) -> Response[None]:
        service.unsync(
            kind, wiring.party_store(), wiring.connection_store(), tenant_id=tenant_id_of(router), party_id=party_id
        )
        return Response(status_code=204)

    return router


routers = [party_router(kind) for kind in PARTY_KINDS.values()]

"""The Customers and Vendors tabs (guide: "The Customers tab", "The Vendors tab"), one implementation for both.

``create_and_link`` is what "Create QB Customer", the bulk "Create and sync" and the invoice sync call. It is
safe to run twice for the same party (SQS may deliver a message twice, a Lambda may die after QuickBooks
answered):

* the create carries a ``requestid`` derived from tenant, kind, party id and the document it writes, so a rerun
  gets QuickBooks' first answer (the same object) instead of a second object;
* a rerun that finds the party already linked in the connected company raises ``AlreadyLinked`` (carrying the
  linked ``qb_id``; a bulk job counts it ``skipped``) without calling QuickBooks;
* a rerun racing the first one (both past that check) gets the same object back from QuickBooks, loses the
  conditional link write, and returns the winner's outcome when the winner linked that same object;
* should ``requestid`` not be honoured, the 6240 ("name taken") that follows names the holder; one read shows
  our marker for this party on it, and that object is linked instead of a second one being made.

QuickBooks calls per ``create_and_link``: 1 (the create) when the name is free; 2 (create, read of the holder)
when a customer already has the name (409 naming it) or when the holder is our own earlier object; 3 (create,
read, create with the `` (Customer)`` / `` (Vendor)`` suffix) when the other kind or an employee has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.cursors import sign_cursor
from shared.domain.parties import (
    Link,
    LinkStatus,
    display_name_for,
    legacy_marker_for,
    marker_for,
    same_display_name,
)
from shared.errors import (
    AlreadyLinked,
    Conflict,
    FieldError,
    InvalidInput,
    LinkedToAnother,
    NameTaken,
    NotFound,
)
from shared.observability import logger
from shared.quickbooks.client import quote, request_id_for
from shared.quickbooks.documents import party_document
from shared.quickbooks.errors import DuplicateName, ObjectNotFound
from shared.quickbooks.models import NameListEntry
from shared.services.paging import opened_cursor
from shared.store.connection import ConnectionStore
from shared.store.parties import LinkRefused, NotLinked

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from typing import Any

    from shared.domain.parties import Party, PartyFilters, PartyKind
    from shared.quickbooks.client import QuickBooksClient
    from shared.store.parties import PartyStore


@dataclass(frozen=True)
class LinkOutcome:
    """A party linked to a QuickBooks object: ``created`` when we made that object for it."""

    party_id: str
    qb_id: str
    display_name: str
    created: bool
    synced_at: datetime


def create_and_link(
    kind: PartyKind,
    qbo: QuickBooksClient,
    store: PartyStore,
    *,
    tenant_id: str,
    party_id: str,
    now: datetime,
) -> LinkOutcome:
    """Create the QuickBooks customer/vendor for a Books360 client/vendor, then link it (safe to run twice).

    Raises ``NotFound`` (unknown or deleted party), ``AlreadyLinked`` (already linked in the connected company),
    ``LinkedToAnother`` (the object QuickBooks gave back is linked to another party), ``NameTaken`` (an object of
    the same kind has the name: 409 naming its id), ``QuickBooksRejected``, ``QuickBooksThrottled``,
    ``NotConnected``/``ReauthorizationRequired``.
    """
    realm_id = qbo.realm_id
    party = _unlinked_party(kind, store, tenant_id, party_id, realm_id)
    created = _create(kind, qbo, store, tenant_id, party)
    link = Link(
        realm_id=realm_id,
        qb_id=created.qb_id,
        display_name=created.display_name,
        synced_at=now,
        created=True,
    )
    outcome = _store_link(kind, store, tenant_id, party_id, link)
    logger.info("party created and linked", kind=kind.key, party_id=party_id, qb_id=outcome.qb_id)
    return outcome


def ensure_linked(
    kind: PartyKind,
    qbo: QuickBooksClient,
    store: PartyStore,
    *,
    tenant_id: str,
    party_id: str,
    now: datetime,
    known: Party | None = None,
) -> tuple[LinkOutcome, bool]:
    """The party's link in the connected company, creating the QuickBooks object first when it has none; and
    whether this call created it. Safe when several callers race for the same party (an invoice sync, a bulk
    job's items of one client): the losers get the winner's link (``create_and_link``'s guarantees).

    A link QuickBooks deleted (``deleted_in_qb``) is a 409: nothing is written to a customer that is gone.
    """
    # ``known``: the party as the caller just read it (an invoice sync), saving a read.
    party = known if known is not None and known.party_id == party_id else store.get(tenant_id, kind, party_id)
    if party is None:
        raise NotFound(f"No {kind.books360_name} {party_id}.")
    existing = party.link_in(qbo.realm_id)
    if existing is None:
        try:
            return create_and_link(kind, qbo, store, tenant_id=tenant_id, party_id=party_id, now=now), True
        except AlreadyLinked:
            party = store.get(tenant_id, kind, party_id)
            existing = party.link_in(qbo.realm_id) if party else None
            if existing is None:
                raise
    if existing.status is LinkStatus.DELETED_IN_QB:
        raise Conflict(
            f"QuickBooks {kind.key} {existing.qb_id}, linked to {kind.books360_name} {party_id}, was deleted in "
            f"QuickBooks; unsync the {kind.books360_name} and sync it again."
        )
    return _outcome(party_id, existing), False


def _unlinked_party(kind: PartyKind, store: PartyStore, tenant_id: str, party_id: str, realm_id: str) -> Party:
    party = store.get(tenant_id, kind, party_id)
    if party is None:
        raise NotFound(f"No {kind.books360_name} {party_id}.")
    existing = party.link_in(realm_id)
    if existing is not None:
        raise AlreadyLinked(
            f"The {kind.books360_name} {party_id} is already linked to QuickBooks {kind.key} {existing.qb_id}.",
            qb_id=existing.qb_id,
        )
    return party


def _create(kind: PartyKind, qbo: QuickBooksClient, store: PartyStore, tenant_id: str, party: Party) -> NameListEntry:
    """Create with the plain name; on 6240 find out who holds it (the Detail's ``Id=NN``, then one read)."""
    try:
        return _post(kind, qbo, tenant_id, party, display_name_for(kind, party.name, held_by_other_kind=False))
    except DuplicateName as taken:
        holder = _same_kind_holder(kind, qbo, party.name, taken.holder_id)
        if holder is None:
            suffixed = display_name_for(kind, party.name, held_by_other_kind=True)
            try:
                return _post(kind, qbo, tenant_id, party, suffixed)
            except DuplicateName as taken_too:
                holder = _same_kind_holder(kind, qbo, suffixed, taken_too.holder_id)
                if holder is None:
                    raise
        if _ours(kind, qbo, store, tenant_id, party, holder.text(kind.marker_field)):
            # Ours, made for this very party by an earlier run whose answer was lost.
            return holder
        raise NameTaken(
            f"QuickBooks {kind.key} {holder.qb_id} is already named {holder.display_name!r}; link it instead.",
            qb_id=holder.qb_id,
            field=kind.qb_id_field,
        ) from taken


def _ours(
    kind: PartyKind,
    qbo: QuickBooksClient,
    store: PartyStore,
    tenant_id: str,
    party: Party,
    marker: str | None,
) -> bool:
    """Whether ``marker`` is the one this tenant's run writes for this party. A marker written before markers
    named the tenant (``legacy_marker_for``) may be another tenant's of the same company: it is ours only while no
    other tenant is, or was left, pointed at this company (a tenant that reconnects elsewhere or disconnects
    leaves it; one needing reauthorization stays)."""
    if marker == marker_for(kind, party.party_id, tenant_id):
        return True
    if marker != legacy_marker_for(kind, party.party_id):
        return False
    return set(ConnectionStore(store.table).tenants_of_realm(qbo.realm_id)) <= {tenant_id}


def _post(kind: PartyKind, qbo: QuickBooksClient, tenant_id: str, party: Party, display_name: str) -> NameListEntry:
    # The requestid names the party and which name is tried, never the content: a client renamed in Books360
    # between a lost answer and the retry must get the first customer back, not a second one.
    variant = "plain" if display_name == party.name else "suffixed"
    request_id = request_id_for(tenant_id, qbo.realm_id, kind.key, party.party_id, variant)
    document = party_document(kind, party, display_name, tenant_id)
    return NameListEntry.of(qbo.create(kind.qb_entity, document, request_id=request_id))


def _same_kind_holder(kind: PartyKind, qbo: QuickBooksClient, name: str, holder_id: str | None) -> NameListEntry | None:
    """The object of ``kind`` holding ``name``, or None when another kind (a vendor, an employee) holds it.

    Ids are per entity in QuickBooks: customer 58 and vendor 58 may both exist, so the name must match too.
    """
    if holder_id is None:
        found = qbo.query(
            kind.qb_entity,
            f"SELECT * FROM {kind.qb_entity} WHERE Active IN (true, false) AND DisplayName = {quote(name)}",
        )
        return NameListEntry.of(found[0]) if found else None
    try:
        holder = NameListEntry.of(qbo.read(kind.qb_entity, holder_id))
    except ObjectNotFound:
        return None
    return holder if same_display_name(holder.display_name, name) else None


def _store_link(kind: PartyKind, store: PartyStore, tenant_id: str, party_id: str, link: Link) -> LinkOutcome:
    """Write the link; a refused write becomes the 409 it means (or the same outcome, for a rerun that raced)."""
    try:
        store.link(tenant_id, kind, party_id, link)
    except LinkRefused as refused:
        existing = refused.party_link
        if existing is not None and existing.qb_id == link.qb_id and existing.status is LinkStatus.SYNCED:
            return _outcome(party_id, existing)
        if existing is not None:
            raise AlreadyLinked(
                f"The {kind.books360_name} {party_id} is already linked to QuickBooks {kind.key} {existing.qb_id}.",
                qb_id=existing.qb_id,
            ) from refused
        if refused.holder is not None:
            raise LinkedToAnother(
                f"QuickBooks {kind.key} {link.qb_id} is already linked to {kind.books360_name} {refused.holder}."
            ) from refused
        raise NotFound(f"No {kind.books360_name} {party_id}.") from refused
    return _outcome(party_id, link)


def _outcome(party_id: str, link: Link) -> LinkOutcome:
    return LinkOutcome(
        party_id=party_id,
        qb_id=link.qb_id,
        display_name=link.display_name,
        created=link.created,
        synced_at=link.synced_at,
    )


# -- the tab: list, picker, link, View Info, Unsync ------------------------------------------------------------


@dataclass(frozen=True)
class PartyRow:
    """One line of the tab: the party and its link for the connected company (None: unsynced)."""

    party: Party
    status: LinkStatus
    link: Link | None


@dataclass(frozen=True)
class PartyList:
    rows: list[PartyRow]
    next_cursor: str | None


def list_parties(
    kind: PartyKind,
    store: PartyStore,
    connections: ConnectionStore,
    *,
    tenant_id: str,
    filters: PartyFilters,
    limit: int,
    cursor: str | None,
    cursor_key: bytes,
) -> PartyList:
    """A page of the tab, filtered; the cursor is bound to tenant, tab and filters (another one is a 400)."""
    scope = {"tenant": tenant_id, "list": kind.plural, **filters.scope()}
    after = opened_cursor(cursor_key, scope, cursor) if cursor else None
    realm_id = connections.get(tenant_id).realm_id
    page = store.page(tenant_id, kind, realm_id=realm_id, filters=filters, limit=limit, after=after)
    rows = [PartyRow(p, p.status_in(realm_id), p.link_in(realm_id)) for p in page.parties]
    return PartyList(rows, sign_cursor(cursor_key, scope, page.after) if page.after is not None else None)


@dataclass(frozen=True)
class QuickBooksParty:
    """One entry of the "QuickBooks Customer" picker, with the party already linked to it (if any)."""

    qb_id: str
    display_name: str
    email: str | None
    active: bool
    linked_party_id: str | None


def search_quickbooks(
    kind: PartyKind, qbo: QuickBooksClient, store: PartyStore, *, tenant_id: str, search: str | None, limit: int
) -> list[QuickBooksParty]:
    """The picker: one live query (DisplayName ``LIKE '%search%'``, active and inactive, by name), then the
    links of the answers in one batch read."""
    where = "Active IN (true, false)"
    if search and search.strip():
        where += f" AND DisplayName LIKE {quote('%' + search.strip() + '%')}"
    found = qbo.query(
        kind.qb_entity, f"SELECT * FROM {kind.qb_entity} WHERE {where} ORDERBY DisplayName MAXRESULTS {limit}"
    )
    entries = [NameListEntry.of(o) for o in found]
    linked = store.linked_parties(tenant_id, qbo.realm_id, kind, (e.qb_id for e in entries)) if entries else {}
    return [
        QuickBooksParty(
            qb_id=e.qb_id,
            display_name=e.display_name,
            email=e.email,
            active=e.active,
            linked_party_id=linked.get(e.qb_id),
        )
        for e in entries
    ]


def sync_party(
    kind: PartyKind,
    qbo: QuickBooksClient,
    store: PartyStore,
    *,
    tenant_id: str,
    party_id: str,
    qb_id: str | None,
    now: datetime,
) -> LinkOutcome:
    """ "Sync with QB": link the QuickBooks object the user picked (``qb_id``), or create one (None)."""
    if qb_id is None:
        return create_and_link(kind, qbo, store, tenant_id=tenant_id, party_id=party_id, now=now)
    return link_existing(kind, qbo, store, tenant_id=tenant_id, party_id=party_id, qb_id=qb_id, now=now)


def link_existing(
    kind: PartyKind,
    qbo: QuickBooksClient,
    store: PartyStore,
    *,
    tenant_id: str,
    party_id: str,
    qb_id: str,
    now: datetime,
) -> LinkOutcome:
    """Link a party to a QuickBooks object the user picked: it must exist and be active (else 422 naming the
    field); a party already linked, or an object linked to another party, is a 409 (conditional write)."""
    realm_id = qbo.realm_id
    _unlinked_party(kind, store, tenant_id, party_id, realm_id)
    try:
        found = NameListEntry.of(qbo.read(kind.qb_entity, qb_id))
    except ObjectNotFound as exc:
        raise _no_such_object(kind, qb_id, "does not exist") from exc
    if not found.active:
        raise _no_such_object(kind, qb_id, "is inactive")
    link = Link(realm_id=realm_id, qb_id=qb_id, display_name=found.display_name, synced_at=now)
    outcome = _store_link(kind, store, tenant_id, party_id, link)
    logger.info("party linked", kind=kind.key, party_id=party_id, qb_id=qb_id)
    return outcome


def _no_such_object(kind: PartyKind, qb_id: str, why: str) -> InvalidInput:
    message = f"QuickBooks {kind.key} {qb_id} {why}."
    return InvalidInput(message, errors=[FieldError(kind.qb_id_field, message)])


@dataclass(frozen=True)
class PartyView:
    """View Info: the Books360 party, and the linked QuickBooks object read live (None: unlinked or gone)."""

    party: Party
    status: LinkStatus
    link: Link | None
    qb_object: dict[str, Any] | None


def view_party(
    kind: PartyKind,
    store: PartyStore,
    connections: ConnectionStore,
    quickbooks: Callable[[], QuickBooksClient],
    *,
    tenant_id: str,
    party_id: str,
) -> PartyView:
    """View Info; QuickBooks is called only for a linked party, and an object deleted there (610) shows None."""
    party = store.get(tenant_id, kind, party_id)
    if party is None:
        raise NotFound(f"No {kind.books360_name} {party_id}.")
    realm_id = connections.get(tenant_id).realm_id
    link = party.link_in(realm_id)
    qb_object: dict[str, Any] | None = None
    if link is not None:
        try:
            with quickbooks() as qbo:
                qb_object = qbo.read(kind.qb_entity, link.qb_id)
        except ObjectNotFound:
            qb_object = None
    return PartyView(party, party.status_in(realm_id), link, qb_object)


def unsync(kind: PartyKind, store: PartyStore, connections: ConnectionStore, *, tenant_id: str, party_id: str) -> None:
    """Unsync: remove the link for the connected company; QuickBooks is not touched.

    An unknown party, and a party with no link for the connected company, are both a 404 (the link is the
    resource removed; the detail says which).
    """
    if store.get(tenant_id, kind, party_id) is None:
        raise NotFound(f"No {kind.books360_name} {party_id}.")
    realm_id = connections.get(tenant_id).realm_id
    try:
        if realm_id is None:
            raise NotLinked(party_id)
        removed = store.unlink(tenant_id, kind, party_id, realm_id)
    except NotLinked as exc:
        raise NotFound(f"The {kind.books360_name} {party_id} is not linked to a QuickBooks {kind.key}.") from exc
    logger.info("party unlinked", kind=kind.key, party_id=party_id, qb_id=removed.qb_id)

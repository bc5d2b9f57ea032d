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

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.parties import Link, LinkStatus, display_name_for, marker_for, same_display_name
from shared.errors import AlreadyLinked, NameTaken, NotFound
from shared.observability import logger
from shared.quickbooks.client import quote, request_id_for
from shared.quickbooks.documents import party_document
from shared.quickbooks.errors import DuplicateName, ObjectNotFound
from shared.store.parties import LinkRefused

if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

    from shared.domain.parties import Party, PartyKind
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

    Raises ``NotFound`` (unknown or deleted party), ``AlreadyLinked`` (already linked in the connected company,
    or the object made is linked to another party), ``NameTaken`` (an object of the same kind has the name: 409
    naming its id), ``QuickBooksRejected``, ``QuickBooksThrottled``, ``NotConnected``/``ReauthorizationRequired``.
    """
    realm_id = qbo.realm_id
    party = _unlinked_party(kind, store, tenant_id, party_id, realm_id)
    created = _create(kind, qbo, tenant_id, party)
    link = Link(
        realm_id=realm_id,
        qb_id=str(created["Id"]),
        display_name=str(created.get("DisplayName", "")),
        synced_at=now,
        created=True,
    )
    outcome = _store_link(kind, store, tenant_id, party_id, link)
    logger.info("party created and linked", kind=kind.key, party_id=party_id, qb_id=outcome.qb_id)
    return outcome


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


def _create(kind: PartyKind, qbo: QuickBooksClient, tenant_id: str, party: Party) -> dict[str, Any]:
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
        if holder.get(kind.marker_field) == marker_for(kind, party.party_id):
            # Ours, made for this very party by an earlier run whose answer was lost.
            return holder
        raise NameTaken(
            f"QuickBooks {kind.key} {holder['Id']} is already named {holder.get('DisplayName')!r}; link it instead.",
            qb_id=str(holder["Id"]),
            field=kind.qb_id_field,
        ) from taken


def _post(kind: PartyKind, qbo: QuickBooksClient, tenant_id: str, party: Party, display_name: str) -> dict[str, Any]:
    document = party_document(kind, party, display_name)
    content = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    request_id = request_id_for(tenant_id, kind.key, party.party_id, content)
    return qbo.create(kind.qb_entity, document, request_id=request_id)


def _same_kind_holder(
    kind: PartyKind, qbo: QuickBooksClient, name: str, holder_id: str | None
) -> dict[str, Any] | None:
    """The object of ``kind`` holding ``name``, or None when another kind (a vendor, an employee) holds it.

    Ids are per entity in QuickBooks: customer 58 and vendor 58 may both exist, so the name must match too.
    """
    if holder_id is None:
        found = qbo.query(
            kind.qb_entity,
            f"SELECT * FROM {kind.qb_entity} WHERE Active IN (true, false) AND DisplayName = {quote(name)}",
        )
        return found[0] if found else None
    try:
        holder = qbo.read(kind.qb_entity, holder_id)
    except ObjectNotFound:
        return None
    return holder if same_display_name(str(holder.get("DisplayName", "")), name) else None


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
            raise AlreadyLinked(
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

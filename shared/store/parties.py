"""Links between our copies of Books360 clients/vendors and QuickBooks customers/vendors.

The link model
--------------
A link belongs to one QuickBooks company (realm): connecting another company never reuses links; they stay,
tied to their realm, and the party shows ``unsynced`` for the new one. Two items hold a link, always written
and removed together in one DynamoDB transaction:

* on the party's own item (``CLIENT#{id}`` / ``VENDOR#{id}``), one top-level map attribute per realm,
  ``qbLink_{realmId} = {qbId, displayName, syncedAt, status, created}``. Top-level rather than nested in one
  ``qbLinks`` map because DynamoDB cannot ``SET`` a path under a map that does not exist yet, and the first link
  must be one conditional write (``attribute_not_exists(qbLink_{realm})``: "already linked" is a 409).
* the guard item of the QuickBooks object (``shared.store.links``: ``LINK#{realmId}#{QbEntity}#{qbId}``, put
  only if absent, so a QuickBooks object is linked to one party only, else 409; indexed for webhooks). A party's
  guard also names it: ``partyId`` and ``kind``.

As everywhere links are written, the conditions decide a conflict, never a read before the write. The Books360
event upserts never touch the ``qbLink_`` attributes.

Listing
-------
A page is Query calls on the tenant's partition (``begins_with(sk, CLIENT#)``, id order) with the filters as a
FilterExpression over ``nameLower``/``emailLower``/``qbLink_{realm}.status``, never a Scan of the table. Reads
grow from one page's worth up to ``MAX_READ`` items a call and stop at ``READ_BUDGET`` items a request (a rare
filter then answers a short page with a cursor at the position reached): ``Table.query_budgeted``. The page's
position travels in the API's signed cursor (``shared.domain.cursors``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.domain.parties import BillingAddress, Link, LinkStatus, Party, PartyFilters
from shared.store.auto_sync import client_marker
from shared.store.links import LinkGuards
from shared.store.table import READ_BUDGET, ConditionFailed, TransactionRefused, tenant_pk

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shared.domain.parties import PartyKind
    from shared.store.table import Table

LINK_ATTRIBUTE_PREFIX = "qbLink_"


class LinkRefused(Exception):
    """A link write found the party already linked (``party_link``), or the QuickBooks object linked to
    another party (``holder``), or the party gone (both None)."""

    def __init__(self, party_link: Link | None, holder: str | None) -> None:
        super().__init__(f"link refused: party_link={party_link}, holder={holder}")
        self.party_link = party_link
        self.holder = holder


class NotLinked(Exception):
    """The party has no link for that company (Unsync of an unlinked party)."""


@dataclass(frozen=True)
class PartyPage:
    parties: list[Party]
    after: str | None  # the position to continue after: a party id, or "" for the start; None: the last page


class PartyStore:
    """Reads the Books360 copies as ``Party`` objects and writes their links (see the module docstring)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.guards = LinkGuards(table)

    # -- reads ---------------------------------------------------------------------------------------------

    def get(self, tenant_id: str, kind: PartyKind, party_id: str) -> Party | None:
        """The party, or None when unknown or deleted in Books360."""
        item = self.table.get(tenant_pk(tenant_id), kind.sk_prefix + party_id)
        if item is None or item.get("deleted"):
            return None
        return _party(kind, item)

    def page(
        self,
        tenant_id: str,
        kind: PartyKind,
        *,
        realm_id: str | None,
        filters: PartyFilters,
        limit: int,
        after: str | None,
    ) -> PartyPage:
        """Up to ``limit`` parties matching ``filters`` in id order after position ``after`` (None: the first
        page): Query calls on the tenant's partition (``begins_with(sk, CLIENT#)``) with a FilterExpression,
        never a Scan.

        A party whose id equals the text filter is looked up directly and leads the first page (searching by id
        is instant however many parties come before it); the Query leaves it out, so no page shows it twice.
        """
        where, names, values = _filter_expression(kind, realm_id, filters)
        if where is None:
            return PartyPage([], None)
        exact = self.get(tenant_id, kind, filters.text) if filters.text and after is None else None
        leading = [exact] if exact is not None and filters.matches(exact, realm_id) else []
        # READ_BUDGET read here, not bound as query_budgeted's default, so a test can make it small.
        items, next_sk = self.table.query_budgeted(
            tenant_pk(tenant_id),
            kind.sk_prefix,
            want=limit - len(leading),
            after_sk=kind.sk_prefix + after if after else None,
            where=where,
            names=names,
            values=values,
            budget=READ_BUDGET,
        )
        # "" is the very beginning, for a second page whose first has only the leading party.
        after_next = next_sk.removeprefix(kind.sk_prefix) if next_sk is not None else None
        return PartyPage(leading + [_party(kind, item) for item in items], after_next)

    def get_many(self, tenant_id: str, kind: PartyKind, party_ids: Iterable[str]) -> dict[str, Party]:
        """Party id -> party, for those of ``party_ids`` known and not deleted (BatchGetItem, 100 keys a call)."""
        found = self.table.get_many(tenant_pk(tenant_id), (kind.sk_prefix + p for p in party_ids))
        parties = (_party(kind, item) for item in found.values() if not item.get("deleted"))
        return {party.party_id: party for party in parties}

    def linked_parties(self, tenant_id: str, realm_id: str, kind: PartyKind, qb_ids: Iterable[str]) -> dict[str, str]:
        """QuickBooks id -> id of the party linked to it in ``realm_id``, for those linked (one BatchGetItem)."""
        guards = self.guards.get_many(tenant_id, realm_id, kind.qb_entity, qb_ids)
        return {qb_id: str(guard["partyId"]) for qb_id, guard in guards.items()}

    # -- writes --------------------------------------------------------------------------------------------

    def link(self, tenant_id: str, kind: PartyKind, party_id: str, link: Link) -> None:
        """Link the party to ``link.qb_id`` in ``link.realm_id``, if neither is linked there yet (one transaction).

        Raises ``LinkRefused`` saying which side was taken.
        """
        pk = tenant_pk(tenant_id)
        attribute = _link_attribute(link.realm_id)
        # A client linked now may have invoices waiting for it: the automatic sync's sweep is told, in the
        # same write (``shared.store.auto_sync``).
        marker = client_marker(tenant_id, party_id) if kind.has_invoices else {}
        party_update = self.table.update_action(
            pk,
            kind.sk_prefix + party_id,
            set_values={attribute: _link_item(link), **marker},
            condition="attribute_exists(#pk) AND attribute_not_exists(#deleted) AND attribute_not_exists(#link)",
            names={"#link": attribute},
        )
        guard = self.guards.put_action(
            tenant_id,
            link.realm_id,
            kind.qb_entity,
            link.qb_id,
            owner_sk=kind.sk_prefix + party_id,
            partyId=party_id,
            kind=kind.key,
        )
        try:
            self.table.transact([{"Update": party_update}, guard])
        except TransactionRefused as refused:
            party_refused, guard_refused = (reason == "ConditionalCheckFailed" for reason in refused.reasons[:2])
            party = self.get(tenant_id, kind, party_id) if party_refused or not guard_refused else None
            holder = self.guards.holder(tenant_id, link.realm_id, kind.qb_entity, link.qb_id) if guard_refused else None
            raise LinkRefused(
                party.link_in(link.realm_id) if party else None, str(holder["partyId"]) if holder else None
            ) from refused

    def unlink(self, tenant_id: str, kind: PartyKind, party_id: str, realm_id: str) -> Link:
        """Remove the party's link in ``realm_id`` and its guard together; the removed link. Raises ``NotLinked``."""
        party = self.get(tenant_id, kind, party_id)
        link = party.link_in(realm_id) if party else None
        if link is None:
            raise NotLinked(party_id)
        pk = tenant_pk(tenant_id)
        attribute = _link_attribute(realm_id)
        party_update = self.table.update_action(
            pk,
            kind.sk_prefix + party_id,
            remove=[attribute],
            condition="#link.#qbId = :qbId",
            names={"#link": attribute},
            values={"qbId": link.qb_id},
        )
        try:
            self.table.transact(
                [{"Update": party_update}, self.guards.delete_action(tenant_id, realm_id, kind.qb_entity, link.qb_id)]
            )
        except TransactionRefused as refused:
            # Unlinked (or relinked) meanwhile by someone else: what we read is no longer the link to remove.
            raise NotLinked(party_id) from refused
        return link

    def mark_deleted_in_qb(self, tenant_id: str, realm_id: str, kind: PartyKind, qb_id: str) -> str | None:
        """QuickBooks deleted (made inactive, merged away) a linked object: its link shows ``deleted_in_qb``.

        Found through the index in one query; the id of the party marked, or None when nothing is linked to it.
        A repeated call changes nothing.
        """
        pk = tenant_pk(tenant_id)
        for guard in self.guards.holders_by_index(tenant_id, realm_id, kind.qb_entity, qb_id):
            party_id = str(guard["partyId"])
            party = self.get(tenant_id, kind, party_id)
            link = party.link_in(realm_id) if party else None
            if link is None or link.qb_id != qb_id:
                continue
            marked = replace(link, status=LinkStatus.DELETED_IN_QB)
            try:
                self.table.update(
                    pk,
                    kind.sk_prefix + party_id,
                    set_values={_link_attribute(realm_id): _link_item(marked)},
                    condition="#link.#qbId = :qbId",
                    names={"#link": _link_attribute(realm_id)},
                    values={"qbId": qb_id},
                )
            except ConditionFailed:
                continue  # unlinked meanwhile: nothing to mark
            return party_id
        return None


def _link_attribute(realm_id: str) -> str:
    return LINK_ATTRIBUTE_PREFIX + realm_id


def _link_item(link: Link) -> dict[str, Any]:
    return {
        "qbId": link.qb_id,
        "displayName": link.display_name,
        "syncedAt": link.synced_at.isoformat().replace("+00:00", "Z"),
        "status": link.status.value,
        "created": link.created,
    }


def _link(realm_id: str, item: dict[str, Any]) -> Link:
    return Link(
        realm_id=realm_id,
        qb_id=str(item["qbId"]),
        display_name=str(item.get("displayName", "")),
        synced_at=datetime.fromisoformat(str(item["syncedAt"])),
        status=LinkStatus(item.get("status", LinkStatus.SYNCED.value)),
        created=bool(item.get("created", False)),
    )


def _party(kind: PartyKind, item: dict[str, Any]) -> Party:
    address = item.get("billingAddress")
    return Party(
        kind=kind,
        party_id=str(item["sk"]).removeprefix(kind.sk_prefix),
        name=str(item.get("name", "")),
        email=item.get("email"),
        company_name=item.get("companyName"),
        phone=item.get("phone"),
        billing_address=BillingAddress(
            line1=address.get("line1"),
            city=address.get("city"),
            region=address.get("region"),
            postal_code=address.get("postalCode"),
            country=address.get("country"),
        )
        if isinstance(address, dict)
        else None,
        links={
            name.removeprefix(LINK_ATTRIBUTE_PREFIX): _link(name.removeprefix(LINK_ATTRIBUTE_PREFIX), value)
            for name, value in item.items()
            if name.startswith(LINK_ATTRIBUTE_PREFIX) and isinstance(value, dict)
        },
    )


def _filter_expression(
    kind: PartyKind, realm_id: str | None, filters: PartyFilters
) -> tuple[str | None, dict[str, str], dict[str, Any]]:
    """The FilterExpression of ``filters`` (``PartyFilters.matches`` in DynamoDB's words); None: nothing can match."""
    clauses = ["attribute_not_exists(#deleted)"]
    names = {"#deleted": "deleted"}
    values: dict[str, Any] = {}
    if filters.text:
        # The party whose id is the text leads the first page (``PartyStore.page``), never a queried one.
        clauses.append("#id <> :text AND contains(#nameLower, :textLower)")
        names |= {"#id": kind.id_field, "#nameLower": "nameLower"}
        values |= {"text": filters.text, "textLower": filters.text.casefold()}
    if filters.email:
        clauses.append("contains(#emailLower, :emailLower)")
        names["#emailLower"] = "emailLower"
        values["emailLower"] = filters.email.casefold()
    if filters.status is not None and realm_id is None:
        # Not connected: every party is unsynced.
        if filters.status is not LinkStatus.UNSYNCED:
            return None, {}, {}
    elif filters.status is LinkStatus.UNSYNCED:
        clauses.append("attribute_not_exists(#link)")
        names["#link"] = _link_attribute(str(realm_id))
    elif filters.status is not None:
        clauses.append("#link.#status = :status")
        names |= {"#link": _link_attribute(str(realm_id)), "#status": "status"}
        values["status"] = filters.status.value
    return " AND ".join(clauses), names, values

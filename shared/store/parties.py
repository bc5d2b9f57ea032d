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
* a guard item ``LINK#{realmId}#{QbEntity}#{qbId}`` in the tenant's partition, put with
  ``attribute_not_exists``: a QuickBooks object can be linked to one party only (else 409). It names the party
  and carries the index keys ``gsi1pk = REALM#{realmId}#{QbEntity}#{qbId}``, ``gsi1sk = TENANT#{tenantId}``, so
  a webhook finds every link of a QuickBooks object in one query, whichever realm the tenant is connected to
  now (the keys sit on the guard, not the party item, because a party has one guard per realm it was linked in).

Nothing here reads before it writes to decide a conflict: the conditions decide, and the failed condition only
tells which conflict to name. The Books360 event upserts never touch the ``qbLink_`` attributes.

Listing
-------
A page is Query calls on the tenant's partition (``begins_with(sk, CLIENT#)``, id order) with the filters as a
FilterExpression over ``nameLower``/``emailLower``/``qbLink_{realm}.status``, never a Scan of the table. Reads
grow from one page's worth up to ``MAX_READ`` items a call and stop at ``READ_BUDGET`` items a request (a rare
filter then answers a short page with a cursor at the position reached). The page's position travels in the
API's signed cursor (``shared.domain.cursors``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.domain.parties import BillingAddress, Link, LinkStatus, Party, PartyFilters
from shared.store.table import ConditionFailed, TransactionRefused, tenant_pk

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shared.domain.parties import PartyKind
    from shared.store.table import Table

LINK_ATTRIBUTE_PREFIX = "qbLink_"
GUARD_PREFIX = "LINK#"
# A filtered listing reads Query pages of growing size up to MAX_READ items (DynamoDB stops at 1 MB anyway),
# and at most READ_BUDGET items for one page of the UI: a rare filter over 20,000 clients costs a few Query
# calls a page, never a Scan.
MAX_READ = 2000
READ_BUDGET = 10_000


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
        pk = tenant_pk(tenant_id)
        exact = self.get(tenant_id, kind, filters.text) if filters.text and after is None else None
        leading = [exact] if exact is not None and filters.matches(exact, realm_id) else []
        want = limit - len(leading)
        # One extra item tells whether another page exists, so the last page never carries a cursor. A filter
        # that matches much fills the page in the first read; a rare one reads on, four times more each time,
        # until READ_BUDGET items were read: then the page is answered short (maybe empty) with a cursor at the
        # position reached, so no request grows with the tenant's size.
        read, budget = want + 1, READ_BUDGET
        start = kind.sk_prefix + after if after else None
        found: list[dict[str, Any]] = []
        while len(found) <= want and budget > 0:
            items, start = self.table.query_page(
                pk, kind.sk_prefix, after_sk=start, limit=read, where=where, names=names, values=values
            )
            found.extend(items)
            if start is None:
                break
            budget -= read
            read = min(read * 4, MAX_READ, max(budget, 1))
        queried = [_party(kind, item) for item in found[:want]]
        if len(found) > want:
            # "" is the very beginning, for a second page whose first has only the leading party.
            return PartyPage(leading + queried, queried[-1].party_id if queried else (after or ""))
        return PartyPage(leading + queried, start.removeprefix(kind.sk_prefix) if start else None)

    def linked_parties(self, tenant_id: str, realm_id: str, kind: PartyKind, qb_ids: Iterable[str]) -> dict[str, str]:
        """QuickBooks id -> id of the party linked to it in ``realm_id``, for those linked (one BatchGetItem)."""
        guards = self.table.get_many(tenant_pk(tenant_id), (_guard_sk(realm_id, kind, qb_id) for qb_id in qb_ids))
        return {str(g["qbId"]): str(g["partyId"]) for g in guards.values()}

    # -- writes --------------------------------------------------------------------------------------------

    def link(self, tenant_id: str, kind: PartyKind, party_id: str, link: Link) -> None:
        """Link the party to ``link.qb_id`` in ``link.realm_id``, if neither is linked there yet (one transaction).

        Raises ``LinkRefused`` saying which side was taken.
        """
        pk = tenant_pk(tenant_id)
        attribute = _link_attribute(link.realm_id)
        party_update = self.table.update_action(
            pk,
            kind.sk_prefix + party_id,
            set_values={attribute: _link_item(link)},
            condition="attribute_exists(#pk) AND attribute_not_exists(#deleted) AND attribute_not_exists(#link)",
            names={"#link": attribute},
        )
        guard = {
            "pk": pk,
            "sk": _guard_sk(link.realm_id, kind, link.qb_id),
            "partyId": party_id,
            "kind": kind.key,
            "realmId": link.realm_id,
            "qbId": link.qb_id,
            "gsi1pk": realm_index_key(link.realm_id, kind, link.qb_id),
            "gsi1sk": pk,
        }
        try:
            self.table.transact([{"Update": party_update}, self.table.put_action(guard, new=True)])
        except TransactionRefused as refused:
            party_refused, guard_refused = (reason == "ConditionalCheckFailed" for reason in refused.reasons[:2])
            party = self.get(tenant_id, kind, party_id) if party_refused or not guard_refused else None
            holder = self._guard_holder(pk, link.realm_id, kind, link.qb_id) if guard_refused else None
            raise LinkRefused(party.link_in(link.realm_id) if party else None, holder) from refused

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
                [{"Update": party_update}, self.table.delete_action(pk, _guard_sk(realm_id, kind, link.qb_id))]
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
        guards = [g for g in self.table.query_index(realm_index_key(realm_id, kind, qb_id)) if g.get("pk") == pk]
        for guard in guards:
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

    def _guard_holder(self, pk: str, realm_id: str, kind: PartyKind, qb_id: str) -> str | None:
        guard = self.table.get(pk, _guard_sk(realm_id, kind, qb_id))
        return str(guard["partyId"]) if guard else None


def realm_index_key(realm_id: str, kind: PartyKind, qb_id: str) -> str:
    """``gsi1pk`` of a link: from a QuickBooks object (as a webhook names it) to the Books360 party."""
    return f"REALM#{realm_id}#{kind.qb_entity}#{qb_id}"


def _guard_sk(realm_id: str, kind: PartyKind, qb_id: str) -> str:
    return f"{GUARD_PREFIX}{realm_id}#{kind.qb_entity}#{qb_id}"


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

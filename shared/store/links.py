"""Links from a Books360 object (client, vendor, invoice) to a QuickBooks object: the guard items.

The guard model
---------------
A link belongs to one QuickBooks company (realm): connecting another company never reuses links; they stay,
tied to their realm. The owner (the Books360 object's own item, ``ownerSk``) records its link itself; next to it,
and always written and removed together with it in one DynamoDB transaction, stands a guard item in the
tenant's partition::

    pk      TENANT#{tenantId}
    sk      LINK#{realmId}#{QbEntity}#{qbId}             guard_sk: put with attribute_not_exists(pk)
    gsi1pk  REALM#{realmId}#{QbEntity}#{qbId}            realm_index_key: from a QuickBooks object ...
    gsi1sk  TENANT#{tenantId}                            ... to every tenant's guard of it
    realmId, qbEntity, qbId, ownerSk, and what the owner's store adds (parties: partyId, kind)

* Released rather than deleted where the writer may not delete (the webhook dropping a payment QuickBooks
  deleted: ``release_action``): the guard stays as a tombstone (``released``, out of the index, gone by TTL)
  that every read here answers as absent and every put writes over.
* Put only if absent (``LinkGuards.put_action``), a guard lets a QuickBooks object be linked to one owner per
  tenant and realm: a second link of the same object cancels the transaction, and ``holder`` tells who has it.
* Keyed by the QuickBooks entity (``Customer``, ``Vendor``, ``Invoice``), not by the owner's kind, so each store
  checks the objects it links without knowing the others, and a webhook naming ``{entity, id}`` finds every link
  of that object in one index query (``holders_by_index``), whichever realm the tenant is connected to now.
* The index keys sit on the guard, not on the owner's item, because an owner has one guard per realm it was
  linked in.

Nothing here reads before it writes to decide a conflict: the conditions decide, and the failed condition only
tells which conflict to name. Guards written before ``qbEntity``/``ownerSk`` existed lack those two attributes;
their keys are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.store.table import tenant_pk

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shared.store.table import Table

GUARD_PREFIX = "LINK#"
RELEASED = "released"
RELEASED_TTL_SECONDS = 86_400
REALM_INDEX_PREFIX = "REALM#"


def guard_sk(realm_id: str, qb_entity: str, qb_id: str) -> str:
    """Sort key of the guard of QuickBooks object ``{qb_entity} {qb_id}`` of ``realm_id``, in a tenant's partition."""
    return f"{GUARD_PREFIX}{realm_id}#{qb_entity}#{qb_id}"


def realm_index_key(realm_id: str, qb_entity: str, qb_id: str) -> str:
    """``gsi1pk`` of a guard: from a QuickBooks object (as a webhook names it) to the Books360 object."""
    return f"{REALM_INDEX_PREFIX}{realm_id}#{qb_entity}#{qb_id}"


def guard_item(
    tenant_id: str, realm_id: str, qb_entity: str, qb_id: str, *, owner_sk: str, **extra: Any
) -> dict[str, Any]:
    """The guard item; ``extra`` attributes are the owner store's own (they cannot replace the guard's)."""
    pk = tenant_pk(tenant_id)
    guard = {
        "pk": pk,
        "sk": guard_sk(realm_id, qb_entity, qb_id),
        "realmId": realm_id,
        "qbId": qb_id,
        "qbEntity": qb_entity,
        "ownerSk": owner_sk,
        "gsi1pk": realm_index_key(realm_id, qb_entity, qb_id),
        "gsi1sk": pk,
    }
    clash = guard.keys() & extra.keys()
    if clash:
        raise ValueError(f"guard attributes cannot be replaced: {sorted(clash)}")
    return guard | extra


class LinkGuards:
    """The guard items of one table: ``transact`` actions to write them with their owner, and the reads."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def put_action(
        self, tenant_id: str, realm_id: str, qb_entity: str, qb_id: str, *, owner_sk: str, **extra: Any
    ) -> dict[str, Any]:
        """A ``Table.transact`` action putting the guard, only if the QuickBooks object has none yet (a released
        guard is none)."""
        item = guard_item(tenant_id, realm_id, qb_entity, qb_id, owner_sk=owner_sk, **extra)
        action = self.table.put_action(item)
        action["Put"]["ConditionExpression"] = f"attribute_not_exists(pk) OR attribute_exists({RELEASED})"
        return action

    def delete_action(self, tenant_id: str, realm_id: str, qb_entity: str, qb_id: str) -> dict[str, Any]:
        """A ``Table.transact`` action deleting the guard (the owner's update in the same transaction decides)."""
        return self.table.delete_action(tenant_pk(tenant_id), guard_sk(realm_id, qb_entity, qb_id))

    def holder(self, tenant_id: str, realm_id: str, qb_entity: str, qb_id: str) -> dict[str, Any] | None:
        """The guard of the QuickBooks object in this tenant (a consistent read), or None when it is not linked."""
        guard = self.table.get(tenant_pk(tenant_id), guard_sk(realm_id, qb_entity, qb_id), consistent=True)
        return guard if guard is not None and is_live(guard) else None

    def holders_by_index(self, tenant_id: str, realm_id: str, qb_entity: str, qb_id: str) -> list[dict[str, Any]]:
        """This tenant's guards of the QuickBooks object, found through the index (eventually consistent)."""
        pk = tenant_pk(tenant_id)
        guards = self.table.query_index(realm_index_key(realm_id, qb_entity, qb_id))
        return [guard for guard in guards if guard.get("pk") == pk and is_live(guard)]

    def get_many(
        self, tenant_id: str, realm_id: str, qb_entity: str, qb_ids: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """QuickBooks id -> its guard, for those of ``qb_ids`` that are linked (BatchGetItem, 100 keys a call)."""
        guards = self.table.get_many(tenant_pk(tenant_id), (guard_sk(realm_id, qb_entity, qb_id) for qb_id in qb_ids))
        return {str(guard["qbId"]): guard for guard in guards.values() if is_live(guard)}


def release_action(
    table: Table, tenant_id: str, realm_id: str, qb_entity: str, qb_id: str, *, now: float
) -> dict[str, Any]:
    """A ``Table.transact`` action releasing the guard without a DeleteItem (for the webhook, which may not delete):
    marked ``released``, out of the index, removed by the TTL a day later. Every read here answers it as absent."""
    update = table.update_action(
        tenant_pk(tenant_id),
        guard_sk(realm_id, qb_entity, qb_id),
        set_values={RELEASED: True, "expiresAt": int(now) + RELEASED_TTL_SECONDS},
        remove=["gsi1pk", "gsi1sk"],
    )
    return {"Update": update}


def is_live(guard: dict[str, Any]) -> bool:
    """A guard that links (not one released: a tombstone until its TTL)."""
    return not guard.get(RELEASED)

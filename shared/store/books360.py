"""Our copies of Books360 clients, vendors and invoices (``CLIENT#``, ``VENDOR#``, ``INVOICE#`` items).

Every copy carries Books360's ``version``; a write is conditional on ``version < :new``, so an old or repeated
event never overwrites a newer one. The Books360 fields live under their own names beside the link fields
(``qbCustomerId``, ``syncedAt`` ...), which these writes never touch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.store.table import ConditionFailed, tenant_pk

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from shared.store.table import Table

INVOICE_PREFIX = "INVOICE#"


class Books360Store:
    def __init__(self, table: Table) -> None:
        self.table = table

    def upsert(self, tenant_id: str, sk: str, fields: Mapping[str, Any], version: int) -> bool:
        """Write ``fields`` if ``version`` is newer than the stored one; False for an old or repeated version."""
        try:
            self.table.update(
                tenant_pk(tenant_id),
                sk,
                set_values={**fields, "version": version, "deleted": None},
                condition="attribute_not_exists(#version) OR #version < :version",
                values={"version": version},
            )
        except ConditionFailed:
            return False
        return True

    def tombstone(self, tenant_id: str, sk: str, version: int, *, remove: Iterable[str] = ()) -> bool:
        """Books360 deleted the object: keep its key and version (so an older upsert cannot bring it back);
        ``remove``: attributes that meant something only while it existed."""
        try:
            self.table.update(
                tenant_pk(tenant_id),
                sk,
                set_values={"deleted": True, "version": version},
                remove=remove,
                condition="attribute_not_exists(#version) OR #version < :version",
                values={"version": version},
            )
        except ConditionFailed:
            return False
        return True

    def get(self, tenant_id: str, sk: str) -> dict[str, Any] | None:
        """The copy, or None when unknown or deleted in Books360."""
        item = self.table.get(tenant_pk(tenant_id), sk)
        if item is None or item.get("deleted"):
            return None
        return item

"""What a sync needs to know of a QuickBooks company, cached (``sk = QBFACTS#{realmId}#{itemType}``).

The Item the invoice lines use and the enabled invoice custom fields are read once per company, then kept here
(across Lambda containers) and in the process (across calls of one container): a first invoice sync of a linked
client then costs its own writes only. The Item is forgotten when QuickBooks refuses it (made inactive or
deleted: 610/2500) and found again; custom field definitions are read again after ``CUSTOM_FIELDS_MAX_AGE``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.store.table import tenant_pk

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.store.table import Table

MEMORY_SECONDS = 300
CUSTOM_FIELDS_MAX_AGE = timedelta(hours=1)
"""An admin who renames a custom field in QuickBooks sees it matched within the hour."""


@dataclass(frozen=True)
class CachedFacts:
    item_id: str
    custom_fields: dict[str, str] | None
    custom_fields_read_at: datetime | None

    def custom_fields_fresh(self, now: datetime) -> bool:
        read_at = self.custom_fields_read_at
        return self.custom_fields is not None and read_at is not None and now - read_at < CUSTOM_FIELDS_MAX_AGE


class CompanyFactsStore:
    def __init__(self, table: Table, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.table = table
        self.clock = clock
        # Kept a few minutes per container: an Item another container found refused is forgotten here soon too.
        self._memory: dict[tuple[str, str, str], tuple[float, CachedFacts]] = {}

    def get(self, tenant_id: str, realm_id: str, item_type: str) -> CachedFacts | None:
        key = (tenant_id, realm_id, item_type)
        remembered = self._memory.get(key)
        if remembered is not None and self.clock() - remembered[0] < MEMORY_SECONDS:
            return remembered[1]
        item = self.table.get(tenant_pk(tenant_id), _sk(realm_id, item_type), consistent=False)
        if item is None:
            return None
        read_at = item.get("customFieldsReadAt")
        fields = item.get("customFields")
        facts = CachedFacts(
            item_id=str(item["itemId"]),
            custom_fields={str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else None,
            custom_fields_read_at=datetime.fromisoformat(str(read_at)) if read_at else None,
        )
        self._memory[key] = (self.clock(), facts)
        return facts

    def put(self, tenant_id: str, realm_id: str, item_type: str, facts: CachedFacts) -> None:
        self._memory[(tenant_id, realm_id, item_type)] = (self.clock(), facts)
        self.table.put(
            {
                "pk": tenant_pk(tenant_id),
                "sk": _sk(realm_id, item_type),
                "itemId": facts.item_id,
                "customFields": facts.custom_fields,
                "customFieldsReadAt": facts.custom_fields_read_at.isoformat() if facts.custom_fields_read_at else None,
            }
        )

    def forget(self, tenant_id: str, realm_id: str, item_type: str) -> None:
        self._memory.pop((tenant_id, realm_id, item_type), None)
        self.table.delete(tenant_pk(tenant_id), _sk(realm_id, item_type))


def _sk(realm_id: str, item_type: str) -> str:
    return f"QBFACTS#{realm_id}#{item_type}"

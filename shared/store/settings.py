"""A tenant's "Additional Settings" (``sk = SETTINGS``), stored as the contract's camelCase document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.domain.settings import DEFAULT_DOCUMENT, Settings
from shared.store.table import tenant_pk

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from shared.store.table import Table

SETTINGS_SK = "SETTINGS"
_KEYS = ("pk", "sk")


class SettingsStore:
    """Reads and writes the ``Settings`` document of one tenant."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, tenant_id: str) -> Settings:
        """The tenant's settings; a tenant that never saved any gets the contract's defaults."""
        return settings_from(self.table.get(tenant_pk(tenant_id), SETTINGS_SK))

    def put(self, tenant_id: str, settings: Settings, *, together: Iterable[Mapping[str, Any]] = ()) -> None:
        """Replace the whole document (the API's PUT is a whole-document write). Every field of the document is
        set, so nothing of an older one survives. ``together``: ``Table.transact`` actions written in the same
        transaction (automatic sync's catch-up, asked for when the setting is turned on)."""
        document = settings.model_dump(mode="json", by_alias=True)
        extra = list(together)
        if not extra:
            self.table.update(tenant_pk(tenant_id), SETTINGS_SK, set_values=document)
            return
        update = self.table.update_action(tenant_pk(tenant_id), SETTINGS_SK, set_values=document)
        self.table.transact([{"Update": update}, *extra])


def settings_from(item: Mapping[str, Any] | None) -> Settings:
    """The settings an item (``sk = SETTINGS``, or None: never saved) holds."""
    if item is None:
        return Settings.new()
    # Fields added to the document after a tenant saved take their defaults.
    stored = {name: value for name, value in item.items() if name not in _KEYS}
    return Settings.model_validate({**DEFAULT_DOCUMENT, **stored})

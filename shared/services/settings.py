"""Additional Settings use cases (guide: "Additional Settings"; contract: "Settings")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.domain.settings import settings_violations
from shared.errors import FieldError, InvalidInput
from shared.services.lists import get_lists

if TYPE_CHECKING:
    from shared.domain.settings import Settings
    from shared.store.auto_sync import AutoSyncStore
    from shared.store.connection import ConnectionStore
    from shared.store.lists import ListsStore
    from shared.store.settings import SettingsStore


def get_settings(store: SettingsStore, tenant_id: str) -> Settings:
    """The tenant's settings; the contract's defaults for a tenant that never saved any."""
    return store.get(tenant_id)


def put_settings(
    settings_store: SettingsStore,
    lists_store: ListsStore,
    connections: ConnectionStore,
    tenant_id: str,
    settings: Settings,
    *,
    auto_sync: AutoSyncStore | None = None,
) -> Settings:
    """Check the document against the tenant's current lists, then store it whole; ``InvalidInput`` names each field.

    Turning ``autoCreateInvoices`` on asks automatic sync's sweep, in the same write, to catch up every invoice of
    the tenant (none is indexed while it is off: ``shared.store.auto_sync``)."""
    violations = settings_violations(settings, get_lists(lists_store, connections, tenant_id))
    if violations:
        raise InvalidInput(
            "The settings break some rules; nothing was saved.",
            errors=[FieldError(v.field, v.message) for v in violations],
        )
    turned_on = settings.auto_create_invoices and not settings_store.get(tenant_id).auto_create_invoices
    catch_up = [auto_sync.mark_tenant_action(tenant_id)] if turned_on and auto_sync is not None else []
    settings_store.put(tenant_id, settings, together=catch_up)
    return settings_store.get(tenant_id)

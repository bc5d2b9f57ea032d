"""DynamoDB (tenants, connection, Books360 copies, links, jobs) and Secrets Manager (tokens)."""

from shared.store.connection import ConnectionStore
from shared.store.lists import ListsStore
from shared.store.parties import PartyStore
from shared.store.settings import SettingsStore
from shared.store.table import Table, tenant_pk

__all__ = ["ConnectionStore", "ListsStore", "PartyStore", "SettingsStore", "Table", "tenant_pk"]

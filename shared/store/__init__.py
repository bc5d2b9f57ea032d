"""DynamoDB (tenants, connection, Books360 copies, links, jobs) and Secrets Manager (tokens)."""

from shared.store.connection import ConnectionStore
from shared.store.table import Table, tenant_pk

__all__ = ["ConnectionStore", "Table", "tenant_pk"]

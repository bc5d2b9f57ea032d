"""Update Lists: read every Account and PaymentMethod of the connected company and store them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import AppError
from shared.observability import logger, metrics
from shared.quickbooks import documents
from shared.services.lists import store_refreshed_lists

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from shared.quickbooks.client import QuickBooksClient
    from shared.store.connection import ConnectionStore
    from shared.store.lists import ListsStore
    from shared.store.settings import SettingsStore

# Inactive entries are read too: a setting may still point at one, and the UI shows it as inactive.
ALL_RECORDS = "Active IN (true, false)"


@dataclass(frozen=True)
class ListsRefreshed:
    bank_accounts: int
    payment_methods: int
    updated_at: datetime


def refresh_lists(
    qbo: QuickBooksClient,
    connections: ConnectionStore,
    lists_store: ListsStore,
    settings_store: SettingsStore,
    *,
    tenant_id: str,
    now: datetime,
) -> ListsRefreshed:
    """Paged queries for all accounts and payment methods, merged into the stored lists (guide: "Update Lists")."""
    accounts = [documents.bank_account(d) for d in qbo.query_all("Account", ALL_RECORDS)]
    methods = [documents.payment_method(d) for d in qbo.query_all("PaymentMethod", ALL_RECORDS)]
    lists = store_refreshed_lists(lists_store, settings_store, tenant_id, qbo.realm_id, accounts, methods, now)
    connections.lists_updated(tenant_id, qbo.realm_id, now)
    logger.info("lists refreshed", tenant_id=tenant_id, accounts=len(accounts), payment_methods=len(methods))
    return ListsRefreshed(len(lists.bank_accounts), len(lists.payment_methods), now)


def refresh_all(tenant_ids: Iterable[str], refresh_one: Callable[[str], ListsRefreshed]) -> dict[str, str]:
    """The nightly run: every connected tenant in turn; one tenant's failure never stops the others."""
    outcome: dict[str, str] = {}
    for tenant_id in tenant_ids:
        try:
            refresh_one(tenant_id)
            outcome[tenant_id] = "refreshed"
        except AppError as exc:
            logger.warning("lists refresh failed", tenant_id=tenant_id, error=exc.title)
            metrics.add_metric(name="ListsRefreshFailed", unit="Count", value=1)
            outcome[tenant_id] = exc.title
    return outcome

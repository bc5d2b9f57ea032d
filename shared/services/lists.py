"""Update Lists use cases (guide: "Update Lists"): what is stored after a refresh, and what the UI reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.domain.lists import merge_lists
from shared.domain.settings import referenced_ids

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from shared.domain.lists import BankAccount, CompanyLists, PaymentMethod
    from shared.store.connection import ConnectionStore
    from shared.store.lists import ListsStore
    from shared.store.settings import SettingsStore


def get_lists(store: ListsStore, connections: ConnectionStore, tenant_id: str) -> CompanyLists | None:
    """The tenant's lists as last refreshed, or None when "Update Lists" never ran for the connected company.

    Lists read from a company the tenant is no longer connected to describe someone else's books: once another
    company is connected they count as absent until the next refresh (which starts them fresh).
    """
    lists = store.get(tenant_id)
    realm_id = connections.get(tenant_id).realm_id
    if lists is not None and realm_id is not None and lists.realm_id != realm_id:
        return None
    return lists


def store_refreshed_lists(
    lists_store: ListsStore,
    settings_store: SettingsStore,
    tenant_id: str,
    realm_id: str,
    fetched_accounts: Iterable[BankAccount],
    fetched_methods: Iterable[PaymentMethod],
    now: datetime,
) -> CompanyLists:
    """Merge what was just read from QuickBooks company ``realm_id`` into the stored lists and store them.

    Entries that vanished from QuickBooks are kept inactive while the tenant's settings still point at them.
    """
    account_ids, method_ids = referenced_ids(settings_store.get(tenant_id))
    lists = merge_lists(
        lists_store.get(tenant_id),
        fetched_accounts,
        fetched_methods,
        referenced_account_ids=account_ids,
        referenced_method_ids=method_ids,
        realm_id=realm_id,
        now=now,
    )
    lists_store.put(tenant_id, lists)
    return lists

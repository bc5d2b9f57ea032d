"""Update Lists: read every Account and PaymentMethod of the connected company and store them.

On demand (``POST /quickbooks/lists/refresh``) for one tenant; nightly, fanned out so no tenant waits on another::

    schedule ... one ``ListRefreshMessage`` per connected tenant on the list-refresh queue (``queue_refreshes``),
                 each in its tenant's group (fair); nothing is read from QuickBooks in this run
    message .... that tenant's refresh, in its own invocation (``refresh_tenant``):
                   refreshed, or not connected any more ─────────────▶ acknowledged
                   QuickBooks or storage busy, an unexpected error ─▶ raised: SQS delivers it again, then
                                                                      its dead-letter queue keeps it
                   another refusal (reauthorization needed, say) ───▶ acknowledged, logged and counted

One tenant's failure (or a slow company) fails only its own message; a large tenant count only adds messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import AppError, Busy, NotConnected
from shared.observability import logger, metrics
from shared.quickbooks import documents
from shared.services.lists import store_refreshed_lists

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from shared.quickbooks.client import QuickBooksClient
    from shared.store.bulk_queue import BulkQueue
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


class ListRefreshMessage(BaseModel):
    """One tenant's nightly refresh, as the list-refresh queue carries it (``{"tenantId"}``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    tenant_id: str = Field(alias="tenantId", min_length=1)


class RefreshesNotQueued(Exception):
    """SQS did not take some tenants' messages: the schedule's run fails, so Lambda runs it again."""


def queue_refreshes(tenant_ids: Iterable[str], queue: BulkQueue) -> int:
    """The nightly run: one message per connected tenant; how many were queued.

    A repeated run queues them again, which is harmless (a refresh is idempotent)."""
    messages = [ListRefreshMessage(tenant_id=tenant_id) for tenant_id in tenant_ids]
    unsent = queue.send(messages)
    if unsent:
        metrics.add_metric(name="ListsRefreshNotQueued", unit="Count", value=len(unsent))
        raise RefreshesNotQueued(f"{len(unsent)} of {len(messages)} list refreshes not queued: {unsent[0].reason}")
    logger.info("lists refresh queued", tenants=len(messages))
    return len(messages)


def refresh_tenant(message: ListRefreshMessage, refresh_one: Callable[[str], ListsRefreshed]) -> str:
    """One tenant's message: ``refreshed`` or why it was skipped; raises what SQS should deliver again."""
    tenant_id = message.tenant_id
    try:
        refresh_one(tenant_id)
    except NotConnected:
        return "not connected"
    except Busy:
        raise
    except AppError as exc:
        logger.warning("lists refresh failed", tenant_id=tenant_id, error=exc.title)
        metrics.add_metric(name="ListsRefreshFailed", unit="Count", value=1)
        return exc.title
    return "refreshed"

"""Builds settings, AWS clients, stores and the QuickBooks side once per warm container.

Services get what they need as arguments; tests build their own (moto stores, httpx test transports). Every
builder here is built at first use, never at import, so a cold start pays only for what it uses.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from aws_lambda_powertools.utilities import parameters

from shared import deadline as invocation
from shared.domain import cursors
from shared.quickbooks.client import QuickBooksClient, RetryPolicy
from shared.quickbooks.oauth import AppCredentials, IntuitOAuth
from shared.quickbooks.pacing import LocalPacer
from shared.services import pacing
from shared.services.auto_sync import AutoSync
from shared.services.bulk_worker import BulkWorker
from shared.services.connection import CALLBACK_PATH, connected, require_connected
from shared.services.invoices import InvoiceStores, deletion_runner, queue_deletion
from shared.services.job_items import INVOICES_JOB_KIND, invoice_runner, party_runners
from shared.services.pacing import CALL_SPACING, DEFERRAL_SPACING, BacklogAdmission, CompanyPacer
from shared.services.tokens import TenantTokens
from shared.services.webhooks import WebhookStores
from shared.settings import Settings
from shared.store.auto_sync import AutoSyncStore
from shared.store.books360 import Books360Store
from shared.store.bulk_queue import BulkQueue
from shared.store.company_facts import CompanyFactsStore
from shared.store.connect_tickets import ConnectTicketStore
from shared.store.connection import ConnectionStore
from shared.store.invoices import InvoiceStore
from shared.store.jobs import JobStore
from shared.store.leases import LeaseStore
from shared.store.lists import ListsStore
from shared.store.oauth_states import OAuthStateStore
from shared.store.pacing import CALLS, DEFERRALS, Calendar
from shared.store.parties import PartyStore
from shared.store.settings import SettingsStore
from shared.store.table import Table
from shared.store.tokens import TokenVault
from shared.store.webhook_events import WebhookEventStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.domain.connection import Connection
    from shared.quickbooks.pacing import Pacer

T = TypeVar("T")
_built: list[Any] = []
APP_SECRET_MAX_AGE = 300


def _once(build: Callable[[], T]) -> Callable[[], T]:
    cached = functools.lru_cache(maxsize=1)(build)
    _built.append(cached)
    return cached


def reset() -> None:
    """Forget everything built (tests that change the environment call this)."""
    for cached in _built:
        cached.cache_clear()


def now() -> datetime:
    return datetime.now(UTC)


@_once
def settings() -> Settings:
    return Settings.from_env()


@_once
def dynamodb_client() -> Any:
    return boto3.client("dynamodb")


@_once
def secrets_client() -> Any:
    return boto3.client("secretsmanager")


@_once
def table() -> Table:
    return Table(settings().table_name, dynamodb_client())


@_once
def connection_store() -> ConnectionStore:
    return ConnectionStore(table())


@_once
def settings_store() -> SettingsStore:
    return SettingsStore(table())


@_once
def lists_store() -> ListsStore:
    return ListsStore(table())


@_once
def oauth_state_store() -> OAuthStateStore:
    return OAuthStateStore(table())


@_once
def connect_ticket_store() -> ConnectTicketStore:
    return ConnectTicketStore(table())


@_once
def lease_store() -> LeaseStore:
    return LeaseStore(table())


@_once
def books360_store() -> Books360Store:
    return Books360Store(table())


@_once
def party_store() -> PartyStore:
    return PartyStore(table())


@_once
def invoice_store() -> InvoiceStore:
    return InvoiceStore(table())


@_once
def company_facts_store() -> CompanyFactsStore:
    return CompanyFactsStore(table())


@_once
def invoice_stores() -> InvoiceStores:
    return InvoiceStores(
        invoices=invoice_store(),
        parties=party_store(),
        settings=settings_store(),
        facts=company_facts_store(),
        leases=lease_store(),
        connections=connection_store(),
        index=auto_sync_store(),
    )


@_once
def webhook_event_store() -> WebhookEventStore:
    return WebhookEventStore(table())


@_once
def webhook_stores() -> WebhookStores:
    return WebhookStores(
        connections=connection_store(),
        events=webhook_event_store(),
        parties=party_store(),
        invoices=invoice_store(),
        leases=lease_store(),
    )


@_once
def token_vault() -> TokenVault:
    return TokenVault(
        secrets_client(), settings().token_secret_prefix, pending_prefix=settings().pending_token_secret_prefix
    )


def app_secret() -> dict[str, str]:
    """The Intuit app's credentials and webhook verifier (one JSON secret), cached a few minutes."""
    provider = _secrets_provider()
    value = provider.get(settings().qbo_app_secret_name, transform="json", max_age=APP_SECRET_MAX_AGE)
    if not isinstance(value, dict):
        raise TypeError("the Intuit app secret must be a JSON object")
    return {str(k): str(v) for k, v in value.items()}


@_once
def _secrets_provider() -> parameters.SecretsProvider:
    return parameters.SecretsProvider(boto3_client=secrets_client())


@_once
def intuit_oauth() -> IntuitOAuth:
    secret = app_secret()
    return IntuitOAuth(settings().qbo_discovery_url, AppCredentials(secret["clientId"], secret["clientSecret"]))


def cursor_key() -> bytes:
    """The key signing page cursors, derived from the Intuit app's client secret (rotating it voids old cursors)."""
    return cursors.cursor_key(app_secret()["clientSecret"])


def redirect_uri() -> str:
    """Where Intuit sends the browser back: this API's public address plus the callback route."""
    return settings().public_api_url.rstrip("/") + CALLBACK_PATH


@_once
def call_calendar() -> Calendar:
    """The companies' QuickBooks calls, booked 1/8 s apart by every container (``shared.services.pacing``)."""
    return Calendar(table(), CALLS, spacing=CALL_SPACING)


@_once
def deferral_calendar() -> Calendar:
    return Calendar(table(), DEFERRALS, spacing=DEFERRAL_SPACING)


@_once
def call_latency() -> pacing.CallLatency:
    """How slow each company has been lately, as this container's calls saw it (the gap its bookings leave)."""
    return pacing.CallLatency()


@_once
def call_guard() -> LocalPacer:
    """At most 10 calls of one company in flight from this container, whatever the client (QuickBooks' 10 at once
    holds across containers through the calendar's pace: ``shared.services.pacing``)."""
    return LocalPacer(max_concurrent=10, per_minute=500)


def interactive_pacer() -> CompanyPacer:
    """A new one per client: an API request's calls share one wait budget."""
    return pacing.interactive_pacer(call_calendar(), call_guard(), call_latency())


@_once
def backlog_admission() -> BacklogAdmission:
    return BacklogAdmission(call_calendar(), deferral_calendar())


def quickbooks_for(
    tenant_id: str,
    *,
    retry: RetryPolicy | None = None,
    pacer: Pacer | None = None,
    connection: Connection | None = None,
) -> QuickBooksClient:
    """A client for the tenant's connected company (409 problem when not connected or to be reconnected);
    ``connection``: the tenant's, as the caller has just read it (else read now).

    Its calls are paced on the company's calendar shared by every container; an interactive caller's by default
    (one wait budget for all the calls of this client: make one client per request).
    """
    if connection is None:
        connection = require_connected(connection_store(), tenant_id)
    elif connection.tenant_id != tenant_id:
        raise ValueError("a client is made only with the tenant's own connection")
    else:
        connection = connected(connection)
    assert connection.realm_id is not None
    # No retry nor wait outlives the invocation (API Gateway's 30 s for a request, the Lambda's time otherwise).
    deadline = invocation.current()
    tokens = TenantTokens(
        tenant_id,
        connection.realm_id,
        vault=token_vault(),
        oauth=intuit_oauth(),
        leases=lease_store(),
        connections=connection_store(),
        deadline=deadline,
    )
    return QuickBooksClient(
        settings().qbo_api_base_url, tokens, retry=retry, pacer=pacer or interactive_pacer(), deadline=deadline
    )


@_once
def sqs_client() -> Any:
    return boto3.client("sqs")


@_once
def job_store() -> JobStore:
    return JobStore(table())


@_once
def bulk_queue() -> BulkQueue:
    return BulkQueue(sqs_client(), settings().bulk_queue_url)


@_once
def list_refresh_queue() -> BulkQueue:
    """The nightly list refresh's queue: one message per tenant, in its tenant's group, like the bulk queue's."""
    return BulkQueue(sqs_client(), settings().list_refresh_queue_url)


BULK_RETRY = RetryPolicy(retry_throttled=False)
"""Bulk workers retry 5xx and dropped connections in place, but hand a 429 back to SQS instead of sleeping."""


def bulk_quickbooks_for(
    tenant_id: str, *, deadline: float | None = None, connection: Connection | None = None
) -> QuickBooksClient:
    """A bulk worker's client: paced per company across every worker within the backlog's share, no call
    started after ``deadline`` (epoch seconds; the Lambda's time), and no sleeping on a 429."""
    pacer = pacing.background_pacer(call_calendar(), call_guard(), deadline=deadline, latency=call_latency())
    return quickbooks_for(tenant_id, retry=BULK_RETRY, pacer=pacer, connection=connection)


@_once
def bulk_worker() -> BulkWorker:
    """The SQS worker of bulk jobs, with a runner per job kind (customers, vendors, invoices)."""
    return BulkWorker(
        jobs=job_store(),
        queue=bulk_queue(),
        runners={**party_runners(party_store()), INVOICES_JOB_KIND: invoice_runner(invoice_stores())},
        quickbooks_for=bulk_quickbooks_for,
        max_receive_count=settings().bulk_max_receive_count,
        dead_letter_arn=settings().bulk_dead_letter_queue_arn,
        clock=now,
        delete_invoice=deletion_runner(invoice_stores()),
        auto_sync=auto_sync(),
        admission=backlog_admission(),
    )


@_once
def auto_sync_store() -> AutoSyncStore:
    return AutoSyncStore(table())


@_once
def auto_sync() -> AutoSync:
    """Automatic sync: after events, in the bulk worker, and the ``auto-invoice-sync`` sweep."""
    return AutoSync(invoice_stores(), auto_sync_store(), bulk_queue(), clock=now)


def queue_invoice_sync(tenant_id: str, invoice_id: str, version: int) -> bool:
    """After an applied ``InvoiceUpserted``: its automatic sync, queued on the bulk queue when it may be made."""
    return auto_sync().invoice_changed(tenant_id, invoice_id, version)


def queue_invoice_deletion(tenant_id: str, invoice_id: str) -> bool:
    """After ``InvoiceDeleted``: the deletion in QuickBooks goes through the bulk queue (paced, retried)."""
    return queue_deletion(
        invoice_store(), bulk_queue(), tenant_id=tenant_id, invoice_id=invoice_id, leases=lease_store()
    )

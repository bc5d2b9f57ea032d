"""Connection use cases (guide: "How to set up the QuickBooks integration"): connect, callback, disconnect."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.connection import ConnectionStatus
from shared.errors import AppError, IntuitUnavailable, NotConnected, ReauthorizationRequired
from shared.observability import logger, metrics
from shared.quickbooks.client import QuickBooksClient
from shared.quickbooks.oauth import OAuthError, OAuthUnavailable
from shared.store.oauth_states import state_digest

if TYPE_CHECKING:
    from datetime import datetime

    import httpx

    from shared.domain.connection import Connection
    from shared.quickbooks.oauth import IntuitOAuth
    from shared.quickbooks.pacing import Pacer
    from shared.store.auto_sync import AutoSyncStore
    from shared.store.connection import ConnectionStore
    from shared.store.oauth_states import OAuthStateStore
    from shared.store.tokens import TokenVault

CALLBACK_PATH = "/quickbooks/oauth/callback"


def get_connection(store: ConnectionStore, tenant_id: str) -> Connection:
    """The tenant's connection as the setup screen shows it; ``not_connected`` for a new tenant."""
    return store.get(tenant_id)


def require_connected(store: ConnectionStore, tenant_id: str) -> Connection:
    """The connection, if QuickBooks can be called for this tenant; else the 409 that says why not."""
    return connected(store.get(tenant_id))


def connected(connection: Connection) -> Connection:
    """``connection`` (as just read), if QuickBooks can be called with it; else the 409 that says why not."""
    if connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
        raise ReauthorizationRequired(
            "QuickBooks no longer accepts this connection; switch the integration on again to reconnect."
        )
    if connection.status is not ConnectionStatus.CONNECTED or connection.realm_id is None:
        raise NotConnected("QuickBooks is not connected for this account; connect it first.")
    return connection


@dataclass(frozen=True)
class ConnectStarted:
    status: ConnectionStatus
    authorize_url: str | None


def start_connect(
    connections: ConnectionStore,
    states: OAuthStateStore,
    oauth: IntuitOAuth,
    *,
    tenant_id: str,
    redirect_uri: str,
    now: datetime,
) -> ConnectStarted:
    """Switch on: a fresh single-use state bound to the tenant, and Intuit's consent address to send the browser to.

    An already connected tenant stays connected (nothing to do); any other starts OAuth, and only the latest
    state may complete it. Intuit's discovery document unreadable: ``IntuitUnavailable`` (503), nothing changed.
    """
    current = connections.get(tenant_id)
    if current.status is ConnectionStatus.CONNECTED:
        return ConnectStarted(ConnectionStatus.CONNECTED, None)
    state = secrets.token_urlsafe(32)
    previous = current.status if current.status is not ConnectionStatus.CONNECTING else ConnectionStatus.NOT_CONNECTED
    try:
        authorize_url = oauth.authorization_url(redirect_uri=redirect_uri, state=state)
    except OAuthUnavailable as exc:
        logger.warning("intuit discovery unreadable", tenant_id=tenant_id, error=str(exc))
        raise IntuitUnavailable from exc
    states.put(state, tenant_id, now, previous_status=previous.value)
    connections.start_connecting(tenant_id, state_digest(state))
    logger.info("quickbooks connect started", tenant_id=tenant_id)
    return ConnectStarted(ConnectionStatus.CONNECTING, authorize_url)


@dataclass(frozen=True)
class CallbackOutcome:
    """``reason`` is ``access_denied``, ``invalid_state`` or ``token_exchange_failed`` when not connected."""

    connected: bool
    reason: str | None = None
    tenant_id: str | None = None


class _Bearer:
    """The TokenSource for the one call made right after the code exchange (CompanyInfo)."""

    def __init__(self, realm_id: str, token: str) -> None:
        self._realm_id = realm_id
        self._token = token

    @property
    def realm_id(self) -> str:
        return self._realm_id

    def access_token(self) -> str:
        return self._token

    def refresh_rejected(self, rejected_token: str) -> None:
        raise ReauthorizationRequired("QuickBooks refused the token it had just issued.")


def complete_connect(
    connections: ConnectionStore,
    states: OAuthStateStore,
    oauth: IntuitOAuth,
    vault: TokenVault,
    *,
    api_base_url: str,
    state: str | None,
    code: str | None,
    realm_id: str | None,
    error: str | None,
    redirect_uri: str,
    now: datetime,
    pacer: Pacer,
    transport: httpx.BaseTransport | None = None,
    auto_sync: AutoSyncStore | None = None,
) -> CallbackOutcome:
    """Intuit sent the browser back: check the state, exchange the code, name the company, store the tokens, connect.

    ::

        state ....... single use, unexpired, still the tenant's latest ── else invalid_state, nothing changed
        exchange .... the code for tokens; CompanyInfo read with them ── else token_exchange_failed, back to before
        tokens ...... stored in Secrets Manager (``vault.put``) ── else token_exchange_failed, back to before
        connected ... if the state is still the latest (conditional write) ── else invalid_state

    Tokens first, connected second: a tenant is never ``connected`` without its tokens (a Secrets Manager write
    refused, throttled or of a secret still being deleted leaves it where it was, and the UI hears the error). A
    losing attempt (an older tab) is turned away before it stores anything: only the latest state gets that far.

    Connected, the tenant's invoices are caught up by automatic sync (``auto_sync``: asked for in the same write):
    what changed while it was not connected, or everything, for another company.

    Naming it is a QuickBooks call like any other: ``pacer`` books it on the company's calendar."""
    pending = states.consume(state) if state else None
    if pending is None or pending.expires_at <= now:
        metrics.add_metric(name="OAuthInvalidState", unit="Count", value=1)
        return CallbackOutcome(False, "invalid_state")
    tenant_id = pending.tenant_id
    digest = state_digest(state or "")
    if error:
        connections.cancel_connecting(tenant_id, digest, ConnectionStatus(pending.previous_status))
        return CallbackOutcome(
            False, "access_denied" if error == "access_denied" else "token_exchange_failed", tenant_id
        )
    if not code or not realm_id:
        connections.cancel_connecting(tenant_id, digest, ConnectionStatus(pending.previous_status))
        return CallbackOutcome(False, "invalid_state", tenant_id)
    if not connections.awaits(tenant_id, digest):
        return CallbackOutcome(False, "invalid_state", tenant_id)
    previous = ConnectionStatus(pending.previous_status)
    try:
        tokens = oauth.exchange_code(code, redirect_uri=redirect_uri)
    except (OAuthError, OAuthUnavailable) as exc:
        logger.warning("quickbooks code exchange failed", tenant_id=tenant_id, error_type=type(exc).__name__)
        connections.cancel_connecting(tenant_id, digest, previous)
        return CallbackOutcome(False, "token_exchange_failed", tenant_id)
    try:
        company_name = _company_name(api_base_url, realm_id, tokens.access_token, pacer, transport)
    except AppError as exc:
        # QuickBooks will not honour these tokens for this company (or it is down): nothing is kept. They are not
        # revoked: revoking disconnects the app from the whole company, other connections to it included.
        logger.warning("quickbooks company unreadable after connect", tenant_id=tenant_id, error=exc.title)
        connections.cancel_connecting(tenant_id, digest, previous)
        return CallbackOutcome(False, "token_exchange_failed", tenant_id)
    # Still the latest attempt (a losing one, an older tab, must never overwrite the winner's tokens, nor revoke
    # them: a revoke would disconnect the winner too when both chose the same company).
    if not connections.awaits(tenant_id, digest):
        return CallbackOutcome(False, "invalid_state", tenant_id)
    try:
        vault.put(tenant_id, realm_id, tokens)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("quickbooks tokens not stored", tenant_id=tenant_id, error_code=_error_code(exc))
        metrics.add_metric(name="OAuthTokensNotStored", unit="Count", value=1)
        connections.cancel_connecting(tenant_id, digest, previous)
        return CallbackOutcome(False, "token_exchange_failed", tenant_id)
    catch_up = [auto_sync.mark_tenant_action(tenant_id)] if auto_sync is not None else []
    if not connections.complete(tenant_id, digest, realm_id, company_name, now, together=catch_up):
        return CallbackOutcome(False, "invalid_state", tenant_id)
    logger.info("quickbooks connected", tenant_id=tenant_id, realm_id=realm_id)
    return CallbackOutcome(True, None, tenant_id)


def _error_code(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def _company_name(
    api_base_url: str, realm_id: str, access_token: str, pacer: Pacer, transport: httpx.BaseTransport | None
) -> str:
    client = QuickBooksClient(api_base_url, _Bearer(realm_id, access_token), pacer=pacer, transport=transport)
    try:
        return str(client.company_info().get("CompanyName") or realm_id)
    finally:
        client.close()


@dataclass(frozen=True)
class Disconnected:
    revoked: bool
    detail: str


def disconnect(connections: ConnectionStore, vault: TokenVault, oauth: IntuitOAuth, *, tenant_id: str) -> Disconnected:
    """Switch off: revoke at Intuit, delete the tokens, keep the links. A failed revoke still disconnects here."""
    stored = vault.get(tenant_id)
    revoked, detail = True, "Disconnected from QuickBooks."
    if stored is not None:
        try:
            oauth.revoke(stored.tokens.refresh_token)
        except (OAuthError, OAuthUnavailable) as exc:
            revoked = False
            detail = "Disconnected here, but Intuit could not be told; remove the app in QuickBooks if it still shows."
            logger.warning("quickbooks revoke failed", tenant_id=tenant_id, error_type=type(exc).__name__)
    vault.delete(tenant_id)
    connections.disconnect(tenant_id)
    return Disconnected(revoked, detail)

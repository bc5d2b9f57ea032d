"""Connection use cases (guide: "How to set up the QuickBooks integration"): connect, callback, disconnect."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from shared import deadline as invocation
from shared.domain.connection import ConnectionStatus
from shared.errors import (
    AppError,
    Busy,
    Conflict,
    IntuitUnavailable,
    NotConnected,
    NotFound,
    QuickBooksRejected,
    ReauthorizationRequired,
)
from shared.observability import logger, metrics
from shared.quickbooks.client import QuickBooksClient
from shared.quickbooks.oauth import REVOKE_SECONDS, OAuthError, OAuthUnavailable
from shared.store.connect_tickets import ticket_digest
from shared.store.oauth_states import state_digest

if TYPE_CHECKING:
    from datetime import datetime

    import httpx

    from shared.domain.connection import Connection
    from shared.quickbooks.oauth import IntuitOAuth
    from shared.quickbooks.pacing import Pacer
    from shared.store.auto_sync import AutoSyncStore
    from shared.store.connect_tickets import ConnectTicketStore, PendingConnect
    from shared.store.connection import ConnectionStore
    from shared.store.oauth_states import OAuthStateStore
    from shared.store.tokens import TokenVault

CALLBACK_PATH = "/quickbooks/oauth/callback"
# QuickBooks company ids (realmId) are decimal numbers (ASCII digits; 16 today), never anything else.
REALM_ID = re.compile(r"[0-9]{1,32}")


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
    """``ticket``: the tokens are held pending for it, to be confirmed by the tenant that started the connect;
    else ``reason`` is ``access_denied``, ``invalid_state`` or ``token_exchange_failed``."""

    ticket: str | None
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
    tickets: ConnectTicketStore,
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
) -> CallbackOutcome:
    """Intuit sent the browser back: check the state, exchange the code, name the company, hold the tokens pending.

    ::

        state ....... single use, unexpired, still the tenant's latest ── else invalid_state, nothing changed
        exchange .... the code for tokens; CompanyInfo read with them ── else token_exchange_failed, back to before
        pending ..... a ticket for the starter, then the tokens in its pending secret ── a DynamoDB or Secrets Manager
                      write refused (throttled, a secret still being deleted) ── token_exchange_failed, back to before,
                      the tokens revoked (best effort; not while another tenant is connected to the company)

    Nothing is connected here: the browser may not be the starter's (a forwarded authorize URL approved by another
    company's admin). The tokens wait in a pending secret for a fresh single-use ticket that only the tenant that
    started the connect can confirm (``confirm_connect``); unconfirmed, ``sweep_pending_connects`` revokes them.

    Naming it is a QuickBooks call like any other: ``pacer`` books it on the company's calendar."""
    pending = states.consume(state) if state else None
    if pending is None or pending.expires_at <= now:
        metrics.add_metric(name="OAuthInvalidState", unit="Count", value=1)
        return CallbackOutcome(None, "invalid_state")
    tenant_id = pending.tenant_id
    digest = state_digest(state or "")
    if error:
        connections.cancel_connecting(tenant_id, digest, ConnectionStatus(pending.previous_status))
        return CallbackOutcome(
            None, "access_denied" if error == "access_denied" else "token_exchange_failed", tenant_id
        )
    if not code or not realm_id or not REALM_ID.fullmatch(realm_id):
        # A realmId is QuickBooks' company number: digits only. Anything else was not Intuit's doing; refused
        # before the code is spent, and it never reaches a URL, a key or a log.
        connections.cancel_connecting(tenant_id, digest, ConnectionStatus(pending.previous_status))
        return CallbackOutcome(None, "invalid_state", tenant_id)
    if not connections.awaits(tenant_id, digest):
        return CallbackOutcome(None, "invalid_state", tenant_id)
    previous = ConnectionStatus(pending.previous_status)
    try:
        tokens = oauth.exchange_code(code, redirect_uri=redirect_uri)
    except (OAuthError, OAuthUnavailable) as exc:
        logger.warning("quickbooks code exchange failed", tenant_id=tenant_id, error_type=type(exc).__name__)
        connections.cancel_connecting(tenant_id, digest, previous)
        return CallbackOutcome(None, "token_exchange_failed", tenant_id)
    try:
        company_name = _company_name(api_base_url, realm_id, tokens.access_token, pacer, transport)
    except AppError as exc:
        # QuickBooks will not honour these tokens for this company (or it is down): nothing is kept. They are not
        # revoked: revoking disconnects the app from the whole company, other connections to it included.
        logger.warning("quickbooks company unreadable after connect", tenant_id=tenant_id, error=exc.title)
        connections.cancel_connecting(tenant_id, digest, previous)
        return CallbackOutcome(None, "token_exchange_failed", tenant_id)
    ticket = secrets.token_urlsafe(32)
    try:
        # The ticket first: the sweep finds pending secrets through their tickets, so none is ever written
        # unknown to it (a ticket whose secret write failed is forgotten by the sweep, nothing to revoke).
        tickets.put(
            ticket,
            tenant_id=tenant_id,
            state_digest=digest,
            previous_status=previous.value,
            realm_id=realm_id,
            company_name=company_name,
            expires_at=pending.expires_at,
        )
        vault.put_pending(ticket_digest(ticket), realm_id, tokens)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("quickbooks tokens not stored", tenant_id=tenant_id, error_code=_error_code(exc))
        metrics.add_metric(name="OAuthTokensNotStored", unit="Count", value=1)
        # Kept nowhere the sweep looks: revoked now, or they would stay live at Intuit for good.
        _revoke_unkept(connections, oauth, tokens.refresh_token, tenant_id=tenant_id, realm_id=realm_id)
        connections.cancel_connecting(tenant_id, digest, previous)
        return CallbackOutcome(None, "token_exchange_failed", tenant_id)
    logger.info("quickbooks connect awaits confirm", tenant_id=tenant_id, realm_id=realm_id)
    return CallbackOutcome(ticket, None, tenant_id)


def _revoke_unkept(
    connections: ConnectionStore, oauth: IntuitOAuth, refresh_token: str, *, tenant_id: str, realm_id: str
) -> None:
    """Best effort: revoke tokens just exchanged that could not be kept, unless another tenant is connected to the
    company (a revoke disconnects the app from the whole company, as ``disconnect`` decides). Whatever fails here
    is logged, never raised: the browser still goes back to the UI with ``result=error``."""
    try:
        if connections.others_connected_to(realm_id, tenant_id):
            logger.info("unkept quickbooks tokens not revoked: company shared", tenant_id=tenant_id, realm_id=realm_id)
            return
        oauth.revoke(refresh_token)
    except Exception as exc:  # noqa: BLE001 - best effort: the redirect must not become a 500
        logger.warning("unkept quickbooks tokens not revoked", tenant_id=tenant_id, error_type=type(exc).__name__)


def confirm_connect(
    connections: ConnectionStore,
    vault: TokenVault,
    tickets: ConnectTicketStore,
    *,
    tenant_id: str,
    ticket: str,
    now: datetime,
    auto_sync: AutoSyncStore | None = None,
) -> Connection:
    """The UI's user finishes the connect: the pending tokens become the tenant's, if the ticket is the tenant's.

    Another tenant's ticket is a 404 as any other tenant's object, and is left alone (its starter may still
    confirm it). A used, expired or superseded ticket (a newer connect started) is a 409. Connected, the tenant's
    invoices are caught up by automatic sync (``auto_sync``: asked for in the same write): what changed while it
    was not connected, or everything, for another company. The ticket is used in that same transaction.

    ::

        ticket ...... the tenant's, unused, unexpired, its connect still the latest ── else 404 / 409
        claim ....... ``confirmingUntil`` on the ticket, unless the sweep claimed it ── else 409, no secret touched
        tokens ...... the pending ones written as the tenant's ── a failure is a 503 (confirm again)
        connected ... with the ticket used, in one transaction
    """
    pending = tickets.get(ticket)
    if pending is None or pending.tenant_id != tenant_id:
        raise NotFound("No such connect ticket for this account; connect again.")
    if pending.confirmed:
        raise Conflict("This connect ticket was already used.")
    if pending.expires_at <= now or pending.swept:
        raise Conflict("This connect ticket has expired; switch the integration on again.")
    if not connections.awaits(tenant_id, pending.state_digest):
        raise Conflict("A newer connect was started for this account; finish that one instead.")
    # Claimed before any secret is touched: a sweep that claimed it first has revoked (or will revoke) its tokens,
    # which must never become the tenant's; claimed here, the sweep leaves it alone for a minute.
    if not tickets.claim_for_confirm(pending.digest, now):
        raise Conflict("This connect ticket was already used or has expired; switch the integration on again.")
    try:
        stored = vault.get_pending(pending.digest)
    except (ClientError, BotoCoreError) as exc:  # not-found is None: anything else is Secrets Manager's trouble
        logger.warning("pending tokens unreadable", tenant_id=tenant_id, error_code=_error_code(exc))
        raise Busy(
            "The QuickBooks tokens could not be read right now; confirm again in a moment.", retry_after=5
        ) from exc
    if stored is None:
        raise Conflict("The tokens of this connect are gone; switch the integration on again.")
    # Tokens first, connected second: the tenant never shows connected without them. The state check above keeps
    # a superseded ticket from writing over a newer connect's tokens.
    try:
        vault.put(tenant_id, stored.realm_id, stored.tokens)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("quickbooks tokens not stored", tenant_id=tenant_id, error_code=_error_code(exc))
        metrics.add_metric(name="OAuthTokensNotStored", unit="Count", value=1)
        raise Busy(
            "The QuickBooks tokens could not be stored right now; confirm again in a moment.", retry_after=5
        ) from exc
    together = [tickets.confirm_action(pending.digest)]
    if auto_sync is not None:
        together.append(auto_sync.mark_tenant_action(tenant_id))
    # The write that uses the ticket: it fails if it was used since (a second confirm of the same ticket).
    if not connections.complete(
        tenant_id, pending.state_digest, stored.realm_id, pending.company_name, now, together=together
    ):
        raise Conflict("This connect ticket was already used or has expired, or a newer connect was started.")
    try:
        vault.delete_pending(pending.digest)
        tickets.forget(pending.digest)
    except (ClientError, BotoCoreError) as exc:  # connected already: the sweep forgets them later
        logger.warning("pending connect left for the sweep", tenant_id=tenant_id, error_code=_error_code(exc))
    logger.info("quickbooks connected", tenant_id=tenant_id, realm_id=stored.realm_id)
    return connections.get(tenant_id)


@dataclass(frozen=True)
class SweptConnects:
    revoked: int
    forgotten: int
    failed: int = 0
    deferred: int = 0
    """Left for the next sweep untouched: a confirm holds the ticket, or the run had no time left for it."""


def sweep_pending_connects(
    connections: ConnectionStore, vault: TokenVault, tickets: ConnectTicketStore, oauth: IntuitOAuth, *, now: datetime
) -> SweptConnects:
    """Tokens held pending past their ticket's ten minutes are revoked at Intuit and forgotten.

    Not revoked while a tenant is connected to that company: revoking disconnects the app from the whole company
    (the forwarded link approved by the admin of a company already connected to Books360 must not cut it off).
    A revoke Intuit could not take (unavailable) is tried again at the next sweep.

    Within the invocation's deadline: a ticket is started only with one revoke's timeout left; the rest are
    deferred to the next run (a ticket claimed already is claimed again then)."""
    revoked = forgotten = failed = deferred = 0
    due = tickets.expired(now)
    for index, pending in enumerate(due):
        left = invocation.seconds_left()
        if left is not None and left < REVOKE_SECONDS:
            logger.warning("connect sweep out of time; next run", deferred=len(due) - index)
            deferred += len(due) - index
            break
        try:
            outcome = _sweep_one(connections, vault, tickets, oauth, pending, now)
        except Exception:  # isolation: whatever went wrong with this ticket, the others go on (next sweep retries)
            logger.exception("pending connect sweep failed", tenant_id=pending.tenant_id)
            failed += 1
            continue
        revoked += outcome == "revoked"
        forgotten += outcome in ("revoked", "forgotten")
        failed += outcome == "kept"
        deferred += outcome == "deferred"
    return SweptConnects(revoked, forgotten, failed, deferred)


def _sweep_one(
    connections: ConnectionStore,
    vault: TokenVault,
    tickets: ConnectTicketStore,
    oauth: IntuitOAuth,
    pending: PendingConnect,
    now: datetime,
) -> str:
    """``revoked`` (then forgotten), ``forgotten`` (no revoke was due), ``kept`` (Intuit unavailable) or
    ``deferred`` (a confirm holds it).

    An unconfirmed ticket is claimed before anything is revoked: a confirm that read it just before it expired
    either claimed it first (the sweep's claim fails: left alone, then forgotten as confirmed) or can no longer
    claim it, and so never writes its tokens as the tenant's."""
    claim = "taken" if pending.confirmed else tickets.claim_for_sweep(pending.digest, now)
    if claim == "confirming":
        logger.info("pending connect being confirmed; next sweep", tenant_id=pending.tenant_id)
        return "deferred"
    confirmed = claim == "taken"
    stored = vault.get_pending(pending.digest)
    outcome = "forgotten"
    if not confirmed and stored is not None and not connections.others_connected_to(pending.realm_id):
        try:
            oauth.revoke(stored.tokens.refresh_token)
            outcome = "revoked"
        except OAuthUnavailable:
            logger.warning("pending connect revoke failed; next sweep", tenant_id=pending.tenant_id)
            return "kept"
        except OAuthError as exc:  # already revoked or expired: nothing left to revoke
            logger.info("pending connect revoke refused", tenant_id=pending.tenant_id, error=exc.error)
    if not confirmed:
        connections.cancel_connecting(
            pending.tenant_id, pending.state_digest, ConnectionStatus(pending.previous_status)
        )
    vault.delete_pending(pending.digest)
    tickets.forget(pending.digest)
    return outcome


def _error_code(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def _company_name(
    api_base_url: str, realm_id: str, access_token: str, pacer: Pacer, transport: httpx.BaseTransport | None
) -> str:
    """The company's name, read with the new tokens: the CompanyInfo read must name that same company."""
    # Within the request's time (API Gateway's 30 s): past it the browser would see API Gateway's 503 instead of
    # the redirect with result=error.
    client = QuickBooksClient(
        api_base_url,
        _Bearer(realm_id, access_token),
        pacer=pacer,
        transport=transport,
        deadline=invocation.current(),
    )
    try:
        info = client.company_info()
    finally:
        client.close()
    if str(info.get("Id")) != realm_id:
        raise QuickBooksRejected("CompanyInfo", f"the company read is not company {realm_id}")
    return str(info.get("CompanyName") or realm_id)


@dataclass(frozen=True)
class Disconnected:
    revoked: bool
    detail: str


def disconnect(connections: ConnectionStore, vault: TokenVault, oauth: IntuitOAuth, *, tenant_id: str) -> Disconnected:
    """Switch off: not connected, then revoke at Intuit and delete the tokens, keep the links. A failed revoke still
    disconnects here.

    ::

        status ...... not_connected first ── a failure here changes nothing: still connected, with its tokens
        others ...... then who else is connected to the company (read after this tenant's own write)
        revoke ...... at Intuit, best effort (skipped while another tenant is connected to the company)
        tokens ...... deleted ── a failure here leaves not_connected with a stale secret: switching off again
                      (a retry) revokes and deletes it, and a new connect writes over it

    A revoke disconnects the app from the whole company: while another tenant is connected to the same company it
    is skipped (the tokens are only deleted here), and the last tenant of that company to leave revokes.

    This tenant's own status is written *before* the others are read (consistent reads): of two tenants of one
    company leaving at once, at least one sees the other gone and revokes (both may; the second revoke is a no-op),
    never neither (the app left authorized at Intuit with both token secrets deleted)."""
    stored = vault.get(tenant_id, fresh=True)
    connections.disconnect(tenant_id)
    others = connections.others_connected_to(stored.realm_id, tenant_id) if stored is not None else []
    revoked, detail = True, "Disconnected from QuickBooks."
    if stored is not None and others:
        revoked = False
        detail = (
            "Disconnected here. The app stays authorized in that QuickBooks company because another Books360 "
            "account is connected to it."
        )
        logger.info("quickbooks revoke skipped: company shared", tenant_id=tenant_id, realm_id=stored.realm_id)
    elif stored is not None:
        try:
            oauth.revoke(stored.tokens.refresh_token)
        except (OAuthError, OAuthUnavailable) as exc:
            revoked = False
            detail = "Disconnected here, but Intuit could not be told; remove the app in QuickBooks if it still shows."
            logger.warning("quickbooks revoke failed", tenant_id=tenant_id, error_type=type(exc).__name__)
    vault.delete(tenant_id)
    return Disconnected(revoked, detail)

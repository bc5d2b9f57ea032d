"""A tenant's live QuickBooks access token, refreshed once across every container (the client's TokenSource)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.deadline import MIN_ATTEMPT_SECONDS
from shared.errors import NotConnected, QuickBooksThrottled, ReauthorizationRequired
from shared.observability import logger, metrics
from shared.quickbooks.oauth import OAuthError, OAuthUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.quickbooks.oauth import IntuitOAuth, TokenSet
    from shared.store.connection import ConnectionStore
    from shared.store.leases import LeaseStore
    from shared.store.tokens import TokenVault

REFRESH_MARGIN = timedelta(minutes=5)
LEASE_NAME = "token-refresh"
LEASE_SECONDS = 30
WAIT_FOR_OTHER_REFRESH = 15.0


class TenantTokens:
    """Hands out access tokens for one tenant's company.

    Refreshes a few minutes before expiry, or when QuickBooks rejected a token, under a DynamoDB lease so that
    concurrent Lambdas refresh once: whoever holds the lease re-reads the secret (someone may have refreshed
    already), refreshes, and stores the rotated refresh token before anyone uses the new access token.
    ``invalid_grant`` moves the connection to ``reauthorization_required``.
    """

    def __init__(
        self,
        tenant_id: str,
        realm_id: str,
        *,
        vault: TokenVault,
        oauth: IntuitOAuth,
        leases: LeaseStore,
        connections: ConnectionStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self._realm_id = realm_id
        self.vault = vault
        self.oauth = oauth
        self.leases = leases
        self.connections = connections
        self.clock = clock
        self.deadline = deadline  # epoch seconds (``shared.deadline``): no waiting past it
        self.sleep = sleep
        self._current: TokenSet | None = None

    @property
    def realm_id(self) -> str:
        return self._realm_id

    def access_token(self) -> str:
        tokens = self._current or self._read()
        if tokens.access_expires_at - REFRESH_MARGIN > self.clock():
            self._current = tokens
            return tokens.access_token
        return self._refresh(stale=tokens.access_token).access_token

    def refresh_rejected(self, rejected_token: str) -> None:
        self._refresh(stale=rejected_token)

    def _read(self, *, fresh: bool = False) -> TokenSet:
        stored = self.vault.get(self.tenant_id, fresh=fresh)
        if stored is None or stored.realm_id != self._realm_id:
            raise NotConnected("QuickBooks is not connected for this account.")
        return stored.tokens

    def _fresh_elsewhere(self, stale: str) -> TokenSet | None:
        """The stored tokens, if someone else already replaced ``stale`` with a live one."""
        tokens = self._read(fresh=True)
        if tokens.access_token != stale and tokens.access_expires_at - REFRESH_MARGIN > self.clock():
            return tokens
        return None

    def _refresh(self, *, stale: str) -> TokenSet:
        owner = str(uuid.uuid4())
        waited = 0.0
        while not self.leases.acquire(self.tenant_id, LEASE_NAME, owner, seconds=LEASE_SECONDS):
            done = self._fresh_elsewhere(stale)
            if done is not None:
                self._current = done
                return done
            out_of_time = self.deadline is not None and time.time() + 0.2 + MIN_ATTEMPT_SECONDS > self.deadline
            if waited >= WAIT_FOR_OTHER_REFRESH or out_of_time:
                raise QuickBooksThrottled("Another QuickBooks token refresh is still running; try again shortly.")
            self.sleep(0.2)
            waited += 0.2
        try:
            done = self._fresh_elsewhere(stale)
            if done is not None:
                self._current = done
                return done
            refreshed = self._call_intuit(self._read(fresh=True).refresh_token)
            # The old refresh token is spent: store the new pair before anyone uses the new access token.
            self.vault.put(self.tenant_id, self._realm_id, refreshed)
            metrics.add_metric(name="TokenRefreshed", unit="Count", value=1)
            logger.info("quickbooks token refreshed", tenant_id=self.tenant_id, realm_id=self._realm_id)
            self._current = refreshed
            return refreshed
        finally:
            self.leases.release(self.tenant_id, LEASE_NAME, owner)

    def _call_intuit(self, refresh_token: str) -> TokenSet:
        try:
            return self.oauth.refresh(refresh_token)
        except OAuthError as exc:
            if not exc.invalid_grant:
                raise QuickBooksThrottled(f"Intuit refused the token refresh ({exc.error}).") from exc
            self.connections.require_reauthorization(self.tenant_id, self._realm_id)
            logger.warning("quickbooks refresh token refused", tenant_id=self.tenant_id, realm_id=self._realm_id)
            raise ReauthorizationRequired(
                "QuickBooks no longer accepts this connection; switch the integration on again to reconnect."
            ) from exc
        except OAuthUnavailable as exc:
            raise QuickBooksThrottled("Intuit's token service did not answer; try again shortly.") from exc

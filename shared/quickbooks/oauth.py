"""Intuit OAuth 2.0: discovery, authorization URL, code exchange, refresh with rotation, revoke."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from shared import deadline as invocation
from shared.deadline import MIN_ATTEMPT_SECONDS
from shared.quickbooks.client import DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Callable

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
REVOKE_SECONDS = float(DEFAULT_TIMEOUT.connect or 0) + float(DEFAULT_TIMEOUT.read or 0)
"""The longest one revoke may take (connect, then the answer): a sweep starts a ticket only with this much left."""
# What Intuit answers a revoke of a token that is revoked or expired already: nothing is left to revoke.
ALREADY_REVOKED = frozenset({"invalid_token", "invalid_grant"})


class OAuthError(Exception):
    """Intuit refused a token request; ``error`` is the OAuth error code (``invalid_grant``, ...)."""

    def __init__(self, error: str, status: int) -> None:
        super().__init__(f"Intuit answered {status} {error}")
        self.error = error
        self.status = status

    @property
    def invalid_grant(self) -> bool:
        """The code or refresh token is used, expired or revoked: only a new consent helps."""
        return self.error == "invalid_grant"


class OAuthUnavailable(Exception):
    """Intuit's token endpoint did not answer usefully (5xx, dropped connection); worth retrying later."""


@dataclass(frozen=True)
class TokenSet:
    """One token response. ``access_expires_at`` and ``refresh_expires_at`` are UTC. The tokens stay out of its
    repr (a log line, a traceback's locals, an assertion message)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime

    @classmethod
    def from_response(cls, document: dict[str, Any], now: datetime) -> TokenSet:
        return cls(
            access_token=str(document["access_token"]),
            refresh_token=str(document["refresh_token"]),
            access_expires_at=now + timedelta(seconds=int(document.get("expires_in", 3600))),
            refresh_expires_at=now + timedelta(seconds=int(document.get("x_refresh_token_expires_in", 8_726_400))),
        )


@dataclass(frozen=True)
class AppCredentials:
    client_id: str
    client_secret: str = field(repr=False)


class IntuitOAuth:
    """Talks to Intuit's OAuth endpoints, found through the discovery document (the emulator's, locally)."""

    def __init__(
        self,
        discovery_url: str,
        credentials: AppCredentials,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.discovery_url = discovery_url
        self.credentials = credentials
        self._clock = clock
        self._http = httpx.Client(transport=transport, timeout=DEFAULT_TIMEOUT, headers={"Accept": "application/json"})
        self._endpoints: dict[str, Any] | None = None

    def endpoints(self) -> dict[str, Any]:
        """The discovery document, fetched once per container."""
        if self._endpoints is None:
            try:
                response = self._http.get(self.discovery_url)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise OAuthUnavailable("Intuit's discovery document could not be read") from exc
            if not isinstance(document, dict) or not all(
                isinstance(document.get(name), str) for name in ("authorization_endpoint", "token_endpoint")
            ):
                raise OAuthUnavailable("Intuit's discovery document names no authorization and token endpoints")
            self._endpoints = document
        return self._endpoints

    def authorization_url(self, *, redirect_uri: str, state: str, scope: str = ACCOUNTING_SCOPE) -> str:
        query = urlencode(
            {
                "client_id": self.credentials.client_id,
                "response_type": "code",
                "scope": scope,
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self.endpoints()['authorization_endpoint']}?{query}"

    def exchange_code(self, code: str, *, redirect_uri: str) -> TokenSet:
        return self._token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})

    def refresh(self, refresh_token: str) -> TokenSet:
        """A new pair; the refresh token rotates, so the caller must store the new one before using the access."""
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, token: str) -> None:
        """Disconnect the app from the company (revoking the refresh token revokes its access tokens too).

        A token Intuit no longer knows as live (``invalid_token``, ``invalid_grant``: revoked already, or expired)
        has nothing left to revoke: done, as the emulator's 200 for it says (a retried disconnect, a second sweep).
        Within the invocation's deadline (``shared.deadline``): it waits at most the time left, and with less than
        ``MIN_ATTEMPT_SECONDS`` left it is not tried (``OAuthUnavailable``: a sweep tries again next run).
        """
        endpoint = self.endpoints().get("revocation_endpoint")
        if not isinstance(endpoint, str):
            raise OAuthUnavailable("Intuit's discovery document names no revocation endpoint")
        timeout = _within_deadline(DEFAULT_TIMEOUT)
        try:
            response = self._http.post(endpoint, json={"token": token}, headers=self._basic_auth(), timeout=timeout)
        except httpx.TransportError as exc:
            raise OAuthUnavailable("Intuit's revocation endpoint did not answer") from exc
        if response.status_code >= 500:
            raise OAuthUnavailable(f"Intuit's revocation endpoint answered {response.status_code}")
        if response.status_code >= 400:
            error = _oauth_error(response)
            if error in ALREADY_REVOKED:
                return
            raise OAuthError(error, response.status_code)

    def _token_request(self, form: dict[str, str]) -> TokenSet:
        url = self.endpoints()["token_endpoint"]
        try:
            response = self._http.post(url, data=form, headers=self._basic_auth())
        except httpx.TransportError as exc:
            raise OAuthUnavailable("Intuit's token endpoint did not answer") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise OAuthUnavailable(f"Intuit's token endpoint answered {response.status_code}")
        if response.status_code >= 400:
            raise OAuthError(_oauth_error(response), response.status_code)
        try:
            document = response.json()
            if not isinstance(document, dict):
                raise TypeError("not a JSON object")
            return TokenSet.from_response(document, self._clock())
        except (ValueError, TypeError, KeyError) as exc:
            # A 200 that is no token document (an HTML maintenance page, say): Intuit is not answering properly.
            raise OAuthUnavailable("Intuit's token endpoint answered 200 without a token document") from exc

    def _basic_auth(self) -> dict[str, str]:
        pair = f"{self.credentials.client_id}:{self.credentials.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def _within_deadline(timeout: httpx.Timeout) -> httpx.Timeout:
    """``timeout``, cut to what is left of the invocation (as the QuickBooks client's attempts are)."""
    left = invocation.seconds_left()
    if left is None:
        return timeout
    if left < MIN_ATTEMPT_SECONDS:
        raise OAuthUnavailable("No time left to call Intuit's revocation endpoint")
    return httpx.Timeout(
        connect=min(timeout.connect or left, left),
        read=min(timeout.read or left, left),
        write=min(timeout.write or left, left),
        pool=min(timeout.pool or left, left),
    )


def _oauth_error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", "unknown_error"))
    except ValueError:
        return "unknown_error"

"""Intuit OAuth 2.0 / OpenID Connect for the emulator: the token store and its routes.

Decisions where Intuit is vague or where the emulator is deliberately stricter (see qbo-api-facts.md §7):

* Refresh tokens are strictly single use. Intuit keeps a rotated refresh token valid for 24 hours; this emulator
  answers ``invalid_grant`` as soon as it has been used once, so a client that keeps an old token is caught in tests.
* Authorization codes live five minutes and are single use; a code used twice is ``invalid_grant``.
* Revoking either token of a grant (refresh or access) disconnects the app from that company: every token of the
  grant stops working. Revoking an unknown token answers 200, as RFC 7009 §2.2 asks.
* ``id_token`` (RS256, key published at ``/op/v1/jwks``) is issued only by the code exchange, and only with ``openid``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulator.state import EmulatorConfig, TokenCheck

AUTH_CODE_TTL = 300
ID_TOKEN_TTL = 3600
# Intuit's 2025 policy: whatever the rolling expiry, a grant's refresh tokens die five years after consent.
REFRESH_HARD_TTL = 5 * 365 * 24 * 3600

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
PAYMENT_SCOPE = "com.intuit.quickbooks.payment"
REALM_SCOPES = frozenset({ACCOUNTING_SCOPE, PAYMENT_SCOPE})
KNOWN_SCOPES = frozenset(
    {
        ACCOUNTING_SCOPE,
        PAYMENT_SCOPE,
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "intuit_name",
        "com.intuit.quickbooks.payroll",
        "com.intuit.quickbooks.payroll.timetracking",
        "com.intuit.quickbooks.payroll.benefits",
        "com.intuit.quickbooks.payroll.payslip.read",
        "payroll.compensation.read",
        "project-management.project",
        "app-foundations.custom-field-definitions",
        "app-foundations.custom-field-definitions.read",
        "indirect-tax.tax-calculation.quickbooks",
    }
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
# What Intuit's access tokens start with (a JWE header); the rest is random, so the value stays opaque.
_ACCESS_TOKEN_PREFIX = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# The one emulated QuickBooks user; userinfo answers the claims the granted scopes allow.
USER_PROFILE: dict[str, dict[str, Any]] = {
    "email": {"email": "owner@books360.example", "emailVerified": True},
    "profile": {"givenName": "Emma", "familyName": "Ulator"},
    "phone": {"phoneNumber": "+1 555-0100", "phoneNumberVerified": False},
    "address": {
        "address": {
            "streetAddress": "2700 Coast Avenue",
            "locality": "Mountain View",
            "region": "CA",
            "postalCode": "94043",
            "country": "US",
        }
    },
}


class OAuthError(Exception):
    """An OAuth error answer: ``{"error": code}`` with an HTTP status."""

    def __init__(self, error: str, status: int = 400, description: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description

    def response(self) -> JSONResponse:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        headers = dict(_NO_STORE)
        if self.error == "invalid_client":
            headers["WWW-Authenticate"] = 'Basic realm="intuit"'
        return JSONResponse(body, status_code=self.status, headers=headers)


def _digest(token: str) -> str:
    # Tokens are kept by their hash: lookups never compare secrets byte by byte and nothing readable is stored.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _random(length: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class _Grant:
    """One consent: a user connected the app to one company (or to no company for OpenID-only scopes)."""

    grant_id: str
    realm_id: str | None
    scopes: tuple[str, ...]
    created_at: float
    revoked: bool = False


@dataclass
class _AccessToken:
    grant: _Grant
    expires_at: float


@dataclass
class _RefreshToken:
    grant: _Grant
    expires_at: float
    used: bool = False


@dataclass
class _AuthCode:
    client_id: str
    redirect_uri: str
    realm_id: str | None
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False


@dataclass
class _Signer:
    """The RSA key that signs ID tokens, published through the JWKS endpoint."""

    kid: str = field(default_factory=lambda: secrets.token_hex(8))
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


class OAuthStore:
    """Codes, grants and tokens of the one emulated Intuit app; safe to call from any thread or task."""

    def __init__(self, config: EmulatorConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.signer = _Signer()
        self.user_sub = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{config.base_url}/users/{config.client_id}"))
        self._lock = threading.Lock()
        self._codes: dict[str, _AuthCode] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}

    @property
    def issuer(self) -> str:
        return f"{self.config.base_url.rstrip('/')}/op/v1"

    def reset(self) -> None:
        with self._lock:
            self._codes.clear()
            self._access.clear()
            self._refresh.clear()

    def authenticate_client(self, client_id: str, client_secret: str) -> bool:
        """True when the credentials are the app's, compared in constant time."""
        id_ok = hmac.compare_digest(client_id.encode("utf-8"), self.config.client_id.encode("utf-8"))
        secret_ok = hmac.compare_digest(client_secret.encode("utf-8"), self.config.client_secret.encode("utf-8"))
        return id_ok and secret_ok

    def check_access_token(self, token: str, realm_id: str) -> TokenCheck:
        """``ok`` if the token is live and issued for ``realm_id``; else ``expired`` or ``invalid``."""
        with self._lock:
            record = self._access.get(_digest(token))
            if record is None or record.grant.revoked or record.grant.realm_id != realm_id:
                return "invalid"
            return "expired" if record.expires_at <= self.clock() else "ok"

    def issue_tokens(self, realm_id: str) -> dict[str, Any]:
        """Tokens for the user of ``realm_id`` as if they had just consented to the accounting scope."""
        with self._lock:
            grant = _Grant(uuid.uuid4().hex, realm_id, (ACCOUNTING_SCOPE,), self.clock())
            return self._token_response(grant, include_hard_expiry=False)

    def create_code(self, client_id: str, redirect_uri: str, realm_id: str | None, scopes: tuple[str, ...]) -> str:
        """A single-use authorization code bound to the client, the redirect URI and the company."""
        code = f"AB11{int(self.clock())}{_random(40, string.ascii_letters + string.digits)}"
        with self._lock:
            self._codes[_digest(code)] = _AuthCode(
                client_id, redirect_uri, realm_id, scopes, self.clock() + AUTH_CODE_TTL
            )
        return code

    def exchange_code(
        self, code: str, client_id: str, redirect_uri: str, *, include_hard_expiry: bool = False
    ) -> dict[str, Any]:
        """Tokens for an authorization code; raises ``OAuthError("invalid_grant")`` when it cannot be used."""
        with self._lock:
            record = self._codes.get(_digest(code))
            if record is None or record.used or record.expires_at <= self.clock():
                raise OAuthError("invalid_grant", description="Invalid authorization code")
            if record.client_id != client_id or record.redirect_uri != redirect_uri:
                raise OAuthError("invalid_grant", description="Authorization code was issued to another redirect_uri")
            record.used = True
            grant = _Grant(uuid.uuid4().hex, record.realm_id, record.scopes, self.clock())
            response = self._token_response(grant, include_hard_expiry=include_hard_expiry)
            if "openid" in grant.scopes:
                response["id_token"] = self._id_token(grant, client_id)
            return response

    def refresh(self, refresh_token: str, *, include_hard_expiry: bool = False) -> dict[str, Any]:
        """Rotate a refresh token: a new pair, and the presented refresh token can never be used again."""
        with self._lock:
            record = self._refresh.get(_digest(refresh_token))
            now = self.clock()
            if (
                record is None
                or record.used
                or record.grant.revoked
                or record.expires_at <= now
                or record.grant.created_at + REFRESH_HARD_TTL <= now
            ):
                raise OAuthError("invalid_grant", description="Token invalid")
            record.used = True
            return self._token_response(record.grant, include_hard_expiry=include_hard_expiry)

    def revoke(self, token: str) -> bool:
        """Disconnect the grant the token belongs to; False when the token is unknown."""
        key = _digest(token)
        with self._lock:
            record = self._refresh.get(key) or self._access.get(key)
            if record is None:
                return False
            record.grant.revoked = True
            return True

    def user_scopes(self, access_token: str) -> tuple[str, ...] | None:
        """The scopes of a live access token (any company), or None."""
        with self._lock:
            record = self._access.get(_digest(access_token))
            if record is None or record.grant.revoked or record.expires_at <= self.clock():
                return None
            return record.grant.scopes

    def expire_realm(self, realm_id: str, *, refresh_too: bool = False) -> dict[str, int]:
        """Expire now every access token of a company; with ``refresh_too`` also kill its refresh tokens."""
        now = self.clock()
        with self._lock:
            expired = 0
            for access in self._access.values():
                if access.grant.realm_id == realm_id and access.expires_at > now:
                    access.expires_at = now
                    expired += 1
            revoked = 0
            if refresh_too:
                for refresh in self._refresh.values():
                    if refresh.grant.realm_id == realm_id and not refresh.used and refresh.expires_at > now:
                        refresh.expires_at = now
                        revoked += 1
            return {"accessTokensExpired": expired, "refreshTokensExpired": revoked}

    def _token_response(self, grant: _Grant, *, include_hard_expiry: bool) -> dict[str, Any]:
        # Caller holds the lock.
        now = self.clock()
        access_token = f"{_ACCESS_TOKEN_PREFIX}..{secrets.token_urlsafe(18)}.{secrets.token_urlsafe(600)}"
        access_token += f".{secrets.token_urlsafe(16)}"
        refresh_token = f"RT1-{secrets.randbelow(90) + 10}-H0-{int(now) + self.config.refresh_token_ttl}{_random(20)}"
        self._access[_digest(access_token)] = _AccessToken(grant, now + self.config.access_token_ttl)
        self._refresh[_digest(refresh_token)] = _RefreshToken(grant, now + self.config.refresh_token_ttl)
        response: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": self.config.access_token_ttl,
            "x_refresh_token_expires_in": self.config.refresh_token_ttl,
        }
        if include_hard_expiry:
            response["x_refresh_token_hard_expires_in"] = max(0, int(grant.created_at + REFRESH_HARD_TTL - now))
        return response

    def _id_token(self, grant: _Grant, client_id: str) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [client_id],
            "sub": self.user_sub,
            "iat": now,
            "auth_time": now,
            "exp": now + ID_TOKEN_TTL,
        }
        if grant.realm_id is not None:
            claims["realmid"] = grant.realm_id
        return self.signer.sign(claims)

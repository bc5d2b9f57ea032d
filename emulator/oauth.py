"""Intuit OAuth 2.0 / OpenID Connect for the emulator: the token store and its routes.

Decisions where Intuit is vague or where the emulator is deliberately stricter (see qbo-api-facts.md §7):

* Refresh tokens are strictly single use. Intuit keeps a rotated refresh token valid for 24 hours; this emulator
  answers ``invalid_grant`` as soon as it has been used once, so a client that keeps an old token is caught in tests.
* Authorization codes live five minutes and are single use; a code used twice is ``invalid_grant``.
* Revoking either token of a grant (refresh or access) disconnects the app from that company: every token of the
  grant stops working. Revoking an unknown token answers 200, as RFC 7009 §2.2 asks.
* ``id_token`` (RS256, key published at ``/op/v1/jwks``) is issued only by the code exchange, and only with ``openid``.
* Every grant names its app, which QuickBooks' throttling counts apart (``emulator.faults``): the client id for
  the consent flow; ``POST /_admin/tokens {"realmId", "app"}`` names its own, ``emulator-admin`` by default.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request

    from emulator.state import EmulatorConfig, EmulatorState, TokenCheck

AUTH_CODE_TTL = 300
ID_TOKEN_TTL = 3600
# Intuit's 2025 policy: whatever the rolling expiry, a grant's refresh tokens die five years after consent.
REFRESH_HARD_TTL = 5 * 365 * 24 * 3600

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
# The app of tokens from ``POST /_admin/tokens`` unless it names another: tests and the demo seeding, never the product.
ADMIN_APP = "emulator-admin"
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
    # The app the tokens were issued to (QuickBooks throttles per company and app): the client id, or the name
    # the admin route gave.
    app: str = ADMIN_APP


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

    def issue_tokens(self, realm_id: str, app: str = ADMIN_APP) -> dict[str, Any]:
        """Tokens for the user of ``realm_id`` as if they had just consented to the accounting scope.

        They belong to ``app`` for throttling: by default not the configured client, so what a test does with them
        is not counted against the product's per-app limits.
        """
        with self._lock:
            grant = _Grant(uuid.uuid4().hex, realm_id, (ACCOUNTING_SCOPE,), self.clock(), app=app)
            return self._token_response(grant, include_hard_expiry=False)

    def app_of(self, access_token: str) -> str | None:
        """The app a known access token (live or not) was issued to, else None."""
        with self._lock:
            record = self._access.get(_digest(access_token))
            return None if record is None else record.grant.app

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
            grant = _Grant(uuid.uuid4().hex, record.realm_id, record.scopes, self.clock(), app=client_id)
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


def _emulator(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _store(request: Request) -> OAuthStore:
    store = _emulator(request).oauth
    if not isinstance(store, OAuthStore):
        raise TypeError("the emulator's oauth half must be an emulator.oauth.OAuthStore")
    return store


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    # Every Intuit answer carries an intuit_tid that clients log for support.
    return JSONResponse(body, status_code=status, headers={"intuit_tid": str(uuid.uuid4()), **(headers or {})})


async def _form(request: Request) -> dict[str, str]:
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OAuthError("invalid_request", description="body is not UTF-8") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


async def _json_or_form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(await request.body())
        except ValueError as exc:
            raise OAuthError("invalid_request", description="body is not JSON") from exc
        if not isinstance(data, dict):
            raise OAuthError("invalid_request", description="body must be a JSON object")
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}
    return await _form(request)


def _client_credentials(request: Request, params: dict[str, str]) -> tuple[str, str] | None:
    """``client_secret_basic`` first, then ``client_secret_post``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except ValueError:
            return None
        client_id, sep, client_secret = decoded.partition(":")
        return (client_id, client_secret) if sep else None
    if "client_id" in params and "client_secret" in params:
        return params["client_id"], params["client_secret"]
    return None


def _authenticate(request: Request, params: dict[str, str]) -> None:
    credentials = _client_credentials(request, params)
    if credentials is None or not _store(request).authenticate_client(*credentials):
        raise OAuthError("invalid_client", status=401)


def _discovery(request: Request) -> Response:
    base = _emulator(request).config.base_url.rstrip("/")
    return _json(
        {
            "issuer": f"{base}/op/v1",
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
            "jwks_uri": f"{base}/op/v1/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
        }
    )


def _jwks(request: Request) -> Response:
    return _json(_store(request).signer.jwks())


@dataclass(frozen=True)
class _AuthRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None

    @property
    def needs_company(self) -> bool:
        return bool(REALM_SCOPES.intersection(self.scopes))

    def hidden_fields(self) -> str:
        fields = {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": " ".join(self.scopes),
            "redirect_uri": self.redirect_uri,
        }
        if self.state is not None:
            fields["state"] = self.state
        return "\n".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">' for name, value in fields.items()
        )


class _ConsentError(Exception):
    """A bad authorization request: shown to the user, never redirected (the redirect URI may be a stranger's)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error = error
        self.description = description


def redirect_uri_allowed(config: EmulatorConfig, redirect_uri: str) -> bool:
    """Registered URIs, plus any http(s) loopback address, as Intuit's development keys allow for localhost."""
    if redirect_uri in config.redirect_uris:
        return True
    parts = urlsplit(redirect_uri)
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS and not parts.fragment


def _parse_auth_request(config: EmulatorConfig, params: dict[str, str]) -> _AuthRequest:
    client_id = params.get("client_id", "")
    if not hmac.compare_digest(client_id.encode("utf-8"), config.client_id.encode("utf-8")):
        raise _ConsentError("invalid_client", "Unknown client_id.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri_allowed(config, redirect_uri):
        raise _ConsentError("invalid_request", "The redirect_uri is not registered for this app.")
    if params.get("response_type") != "code":
        raise _ConsentError("unsupported_response_type", "response_type must be code.")
    scopes = tuple(params.get("scope", "").split())
    if not scopes:
        raise _ConsentError("invalid_scope", "The scope parameter is missing.")
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if unknown:
        raise _ConsentError("invalid_scope", f"Unknown scope: {' '.join(unknown)}.")
    return _AuthRequest(client_id, redirect_uri, scopes, params.get("state"))


def _company_name(company: Any) -> str:
    for attribute in ("name", "company_name", "companyName"):
        value = getattr(company, attribute, None)
        if isinstance(value, str) and value:
            return value
    if isinstance(company, dict):
        value = company.get("CompanyName") or company.get("name")
        if isinstance(value, str):
            return value
    return ""


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}select,button{{font-size:1rem;margin:.5rem 0}}
</style></head><body>{body}</body></html>"""


def _consent_error(request: Request, error: _ConsentError) -> Response:
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return _json({"error": error.error, "error_description": error.description}, status=400)
    body = (
        f"<h1>Something went wrong</h1><p><code>{html.escape(error.error)}</code>: {html.escape(error.description)}</p>"
    )
    return HTMLResponse(_PAGE.format(title="QuickBooks - error", body=body), status_code=400)


def _consent_page(request: Request) -> Response:
    state = _emulator(request)
    try:
        auth = _parse_auth_request(state.config, dict(request.query_params))
    except _ConsentError as error:
        return _consent_error(request, error)
    companies = sorted((realm, _company_name(company)) for realm, company in list(state.companies.items()))
    if not auth.needs_company:
        chooser = "<p>Books360 asks to know who you are (sign in with Intuit).</p>"
    elif companies:
        options = "\n".join(
            f'<option value="{html.escape(realm)}">{html.escape(name or realm)} ({html.escape(realm)})</option>'
            for realm, name in companies
        )
        chooser = f'<label for="realmId">Company</label><br><select id="realmId" name="realmId">{options}</select>'
    else:
        chooser = "<p>There is no QuickBooks company in this emulator yet (create one with POST /_admin/companies).</p>"
    connect_disabled = " disabled" if auth.needs_company and not companies else ""
    body = f"""<h1>Connect Books360 to QuickBooks</h1>
<p>Books360 wants access to: {html.escape(", ".join(auth.scopes))}</p>
<form method="post" action="/connect/oauth2">
{auth.hidden_fields()}
{chooser}
<p><button type="submit" name="decision" value="approve"{connect_disabled}>Connect</button>
<button type="submit" name="decision" value="deny">Cancel</button></p>
</form>"""
    return HTMLResponse(_PAGE.format(title="Connect Books360 to QuickBooks", body=body))


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return str(urlunsplit(parts._replace(query=urlencode(query))))


async def _consent_decision(request: Request) -> Response:
    state = _emulator(request)
    try:
        params = await _form(request)
        auth = _parse_auth_request(state.config, params)
        decision = params.get("decision")
        if decision not in ("approve", "deny"):
            raise _ConsentError("invalid_request", "decision must be approve or deny.")
        realm_id: str | None = None
        if decision == "approve" and auth.needs_company:
            realm_id = params.get("realmId", "")
            if realm_id not in state.companies:
                raise _ConsentError("invalid_request", "Choose one of the companies of this emulator.")
    except OAuthError as error:
        return _consent_error(request, _ConsentError(error.error, error.description or error.error))
    except _ConsentError as error:
        return _consent_error(request, error)
    answer: dict[str, str]
    if decision == "deny":
        answer = {"error": "access_denied"}
    else:
        code = _store(request).create_code(auth.client_id, auth.redirect_uri, realm_id, auth.scopes)
        answer = {"code": code}
    if auth.state is not None:
        answer["state"] = auth.state
    if realm_id is not None:
        answer["realmId"] = realm_id
    return RedirectResponse(_with_query(auth.redirect_uri, answer), status_code=302)


async def _token(request: Request) -> Response:
    try:
        params = await _form(request)
        _authenticate(request, params)
        store = _store(request)
        hard = request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true"
        grant_type = params.get("grant_type")
        if grant_type == "authorization_code":
            code, redirect_uri = params.get("code"), params.get("redirect_uri")
            if not code or not redirect_uri:
                raise OAuthError("invalid_request", description="code and redirect_uri are required")
            client_id = (_client_credentials(request, params) or ("", ""))[0]
            tokens = store.exchange_code(code, client_id, redirect_uri, include_hard_expiry=hard)
        elif grant_type == "refresh_token":
            refresh_token = params.get("refresh_token")
            if not refresh_token:
                raise OAuthError("invalid_request", description="refresh_token is required")
            tokens = store.refresh(refresh_token, include_hard_expiry=hard)
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as error:
        return error.response()
    return _json(tokens, headers=_NO_STORE)


async def _revoke(request: Request) -> Response:
    try:
        params = await _json_or_form(request)
        _authenticate(request, params)
        token = params.get("token")
        if not token:
            raise OAuthError("invalid_request", description="token is required")
    except OAuthError as error:
        return error.response()
    _store(request).revoke(token)
    return Response(status_code=200, headers={"intuit_tid": str(uuid.uuid4())})


def _userinfo(request: Request) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    scopes = _store(request).user_scopes(token.strip()) if scheme.lower() == "bearer" else None
    if scopes is None:
        return _json(
            {"error": "invalid_token"}, status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    if "openid" not in scopes:
        return _json({"error": "insufficient_scope"}, status=403)
    claims: dict[str, Any] = {"sub": _store(request).user_sub}
    for scope in scopes:
        claims.update(USER_PROFILE.get(scope, {}))
    return _json(claims)


async def _admin_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise OAuthError("invalid_request", description="body is not JSON") from exc
    if not isinstance(data, dict):
        raise OAuthError("invalid_request", description="body must be a JSON object")
    return data


def _company_realm(request: Request, data: dict[str, Any]) -> str:
    realm_id = data.get("realmId")
    if not isinstance(realm_id, str) or realm_id not in _emulator(request).companies:
        raise OAuthError("company_not_found", status=404, description=f"no company with realmId {realm_id!r}")
    return realm_id


async def _admin_tokens(request: Request) -> Response:
    try:
        data = await _admin_body(request)
        realm_id = _company_realm(request, data)
        app = data.get("app", ADMIN_APP)
        if not isinstance(app, str) or not app:
            raise OAuthError("invalid_request", description="app must be a non-empty string")
    except OAuthError as error:
        return error.response()
    return _json({**_store(request).issue_tokens(realm_id, app), "realmId": realm_id}, headers=_NO_STORE)


async def _admin_expire_tokens(request: Request) -> Response:
    try:
        data = await _admin_body(request)
        realm_id = _company_realm(request, data)
    except OAuthError as error:
        return error.response()
    refresh_too = data.get("refreshToo") is True
    summary = _store(request).expire_realm(realm_id, refresh_too=refresh_too)
    return _json({"realmId": realm_id, "refreshToo": refresh_too, **summary})


def routes() -> list[Route]:
    """Intuit's OAuth 2.0 / OpenID endpoints and the token admin routes, rooted at the emulator's base URL."""
    discovery_paths = [
        f"/.well-known/{name}{slash}"
        for name in ("openid_configuration", "openid_sandbox_configuration")
        for slash in ("", "/")
    ]
    return [
        *(Route(path, _discovery, methods=["GET"]) for path in discovery_paths),
        Route("/op/v1/jwks", _jwks, methods=["GET"]),
        Route("/connect/oauth2", _consent_page, methods=["GET"]),
        Route("/connect/oauth2", _consent_decision, methods=["POST"]),
        Route("/oauth2/v1/tokens/bearer", _token, methods=["POST"]),
        Route("/v2/oauth2/tokens/revoke", _revoke, methods=["POST"]),
        Route("/v1/openid_connect/userinfo", _userinfo, methods=["GET"]),
        Route("/_admin/tokens", _admin_tokens, methods=["POST"]),
        Route("/_admin/expire-tokens", _admin_expire_tokens, methods=["POST"]),
    ]

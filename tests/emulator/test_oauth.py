"""The emulator's Intuit OAuth 2.0 / OpenID endpoints, over real HTTP (uvicorn on a loopback port)."""

from __future__ import annotations

import base64
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from emulator import oauth
from emulator.app import create_app
from emulator.state import EmulatorConfig, EmulatorState
from tests.support.live import serve

if TYPE_CHECKING:
    from collections.abc import Iterator

ACCOUNTING = "com.intuit.quickbooks.accounting"
CALLBACK = "http://127.0.0.1:8765/callback"


@dataclass
class Emulator:
    url: str
    state: EmulatorState
    http: httpx.Client
    realm: str = ""
    other_realm: str = ""

    @property
    def store(self) -> oauth.OAuthStore:
        assert isinstance(self.state.oauth, oauth.OAuthStore)
        return self.state.oauth


@contextmanager
def serve_emulator(redirect_uris: list[str] | None = None) -> Iterator[Emulator]:
    """The whole emulator app, served by uvicorn on a free port, with two companies."""
    app = create_app(EmulatorConfig(redirect_uris=redirect_uris or []))
    state: EmulatorState = app.state.emulator
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        state.config.base_url = url  # the discovery document names the emulator's own address
        realms = [
            http.post("/_admin/companies", json={"companyName": name}).json()["realmId"]
            for name in ("Acme Books", "Other & Co")
        ]
        yield Emulator(url, state, http, *realms)


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with serve_emulator(redirect_uris=["https://books360.example/quickbooks/callback"]) as emulator:
        yield emulator


@pytest.fixture
def emulator(server: Emulator) -> Iterator[Emulator]:
    server.state.oauth.reset()
    server.store.clock = time.time
    yield server


def basic(client_id: str = "local-client-id", client_secret: str = "local-client-secret") -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def authorize_params(**overrides: str) -> dict[str, str]:
    params = {
        "client_id": "local-client-id",
        "response_type": "code",
        "scope": f"{ACCOUNTING} openid email profile",
        "redirect_uri": CALLBACK,
        "state": "csrf-123",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != ""}


def consent(
    emulator: Emulator, decision: str = "approve", realm: str | None = None, **overrides: str
) -> dict[str, str]:
    """Post the consent form as the browser would; the redirect's query parameters."""
    response = emulator.http.post(
        "/connect/oauth2",
        data={**authorize_params(**overrides), "realmId": realm or emulator.realm, "decision": decision},
    )
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(overrides.get("redirect_uri", CALLBACK))
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(emulator: Emulator, code: str, redirect_uri: str = CALLBACK) -> httpx.Response:
    return emulator.http.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        headers={**basic(), "Accept": "application/json"},
    )


def refresh(emulator: Emulator, refresh_token: str) -> httpx.Response:
    return emulator.http.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic(),
    )


def connect(emulator: Emulator, realm: str | None = None) -> dict[str, str]:
    response = exchange(emulator, consent(emulator, realm=realm)["code"])
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/openid_configuration",
        "/.well-known/openid_configuration/",
        "/.well-known/openid_sandbox_configuration",
        "/.well-known/openid_sandbox_configuration/",
    ],
)
def test_discovery_any_path_points_every_endpoint_at_emulator(emulator: Emulator, path: str) -> None:
    # GIVEN an emulator served at its base URL
    base = emulator.url

    # WHEN a client reads the discovery document
    response = emulator.http.get(path)

    # THEN every endpoint is the emulator's, with Intuit's keys
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == f"{base}/op/v1"
    assert doc["authorization_endpoint"] == f"{base}/connect/oauth2"
    assert doc["token_endpoint"] == f"{base}/oauth2/v1/tokens/bearer"
    assert doc["userinfo_endpoint"] == f"{base}/v1/openid_connect/userinfo"
    assert doc["revocation_endpoint"] == f"{base}/v2/oauth2/tokens/revoke"
    assert doc["jwks_uri"] == f"{base}/op/v1/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "client_secret_basic"}
    assert {"realmid", "sub", "aud", "iss", "exp", "iat"} <= set(doc["claims_supported"])


def test_consent_page_with_companies_lists_them_with_buttons(emulator: Emulator) -> None:
    # GIVEN two companies in the emulator

    # WHEN the browser opens the authorization URL
    response = emulator.http.get("/connect/oauth2", params=authorize_params())

    # THEN the consent page offers both companies (escaped), Connect and Cancel
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    page = response.text
    assert "Connect Books360 to QuickBooks" in page
    assert f'<option value="{emulator.realm}">Acme Books ({emulator.realm})</option>' in page
    assert "Other &amp; Co" in page
    assert 'value="approve"' in page and 'value="deny"' in page
    assert 'value="csrf-123"' in page


def test_consent_page_without_companies_says_so(emulator: Emulator) -> None:
    # GIVEN no company at all
    saved = dict(emulator.state.companies)
    emulator.state.companies.clear()

    # WHEN the browser opens the authorization URL
    try:
        response = emulator.http.get("/connect/oauth2", params=authorize_params())
    finally:
        emulator.state.companies.update(saved)

    # THEN the page says there is none and Connect is disabled
    assert response.status_code == 200
    assert "no QuickBooks company" in response.text
    assert 'value="approve" disabled' in response.text


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_id": "someone-else"}, "invalid_client"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": ""}, "invalid_scope"),
        ({"scope": "com.intuit.quickbooks.everything"}, "invalid_scope"),
        ({"redirect_uri": "https://evil.example/callback"}, "invalid_request"),
        ({"redirect_uri": "http://books360.example/quickbooks/callback"}, "invalid_request"),
    ],
)
def test_consent_bad_request_returns_400_without_redirect(
    emulator: Emulator, overrides: dict[str, str], error: str
) -> None:
    # GIVEN an authorization request with one bad parameter
    params = authorize_params(**overrides)

    # WHEN the browser opens it, or posts the form
    page = emulator.http.get("/connect/oauth2", params=params)
    posted = emulator.http.post(
        "/connect/oauth2",
        data={**params, "realmId": emulator.realm, "decision": "approve"},
        headers={"Accept": "application/json"},
    )

    # THEN both answer 400 with the error, and nothing is redirected
    assert page.status_code == 400
    assert error in page.text
    assert posted.status_code == 400
    assert posted.json()["error"] == error
    assert "location" not in posted.headers


def test_consent_approve_redirects_with_code_state_and_realm(emulator: Emulator) -> None:
    # GIVEN the consent page for a loopback redirect URI that already has a query string
    redirect_uri = "http://localhost:9000/cb?tenant=demo"

    # WHEN the user picks a company and clicks Connect
    answer = consent(emulator, realm=emulator.other_realm, redirect_uri=redirect_uri)

    # THEN the callback carries a code, the same state and the realm, keeping the URI's own query
    assert answer["state"] == "csrf-123"
    assert answer["realmId"] == emulator.other_realm
    assert answer["tenant"] == "demo"
    assert len(answer["code"]) > 20


def test_consent_registered_redirect_uri_is_accepted(emulator: Emulator) -> None:
    # GIVEN a redirect URI registered in the config (not loopback)
    redirect_uri = "https://books360.example/quickbooks/callback"

    # WHEN the user connects
    answer = consent(emulator, redirect_uri=redirect_uri)

    # THEN the code can be exchanged with that same redirect URI
    assert exchange(emulator, answer["code"], redirect_uri=redirect_uri).status_code == 200


def test_consent_deny_redirects_access_denied(emulator: Emulator) -> None:
    # GIVEN the consent page

    # WHEN the user clicks Cancel
    answer = consent(emulator, decision="deny")

    # THEN the callback says access_denied with the state and carries no code
    assert answer == {"error": "access_denied", "state": "csrf-123"}


def test_consent_unknown_company_returns_400(emulator: Emulator) -> None:
    # GIVEN a form naming a company the emulator does not have
    data = {**authorize_params(), "realmId": "404", "decision": "approve"}

    # WHEN it is posted
    response = emulator.http.post("/connect/oauth2", data=data)

    # THEN it is refused on the page, not redirected
    assert response.status_code == 400


def test_token_code_exchange_returns_intuit_token_response(emulator: Emulator) -> None:
    # GIVEN a code from the consent page (openid scope included)
    code = consent(emulator)["code"]

    # WHEN the app exchanges it
    response = exchange(emulator, code)

    # THEN the answer has Intuit's shape and the tokens work for that company only
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["x_refresh_token_expires_in"] == 8726400
    assert tokens["refresh_token"].startswith("RT1-")
    assert len(tokens["access_token"]) > 500
    assert emulator.store.check_access_token(tokens["access_token"], emulator.realm) == "ok"
    assert emulator.store.check_access_token(tokens["access_token"], emulator.other_realm) == "invalid"
    assert emulator.store.check_access_token("not-a-token", emulator.realm) == "invalid"


def test_token_id_token_verifies_against_jwks(emulator: Emulator) -> None:
    # GIVEN tokens from a consent that included openid
    tokens = connect(emulator)

    # WHEN the ID token is verified with the published key
    jwks = emulator.http.get("/op/v1/jwks").json()
    kid = jwt.get_unverified_header(tokens["id_token"])["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid].key
    claims = jwt.decode(tokens["id_token"], key, algorithms=["RS256"], audience="local-client-id")

    # THEN its claims name the issuer, the app, the user and the company
    assert claims["iss"] == f"{emulator.url}/op/v1"
    assert claims["aud"] == ["local-client-id"]
    assert claims["realmid"] == emulator.realm
    assert claims["sub"]


def test_token_without_openid_scope_has_no_id_token(emulator: Emulator) -> None:
    # GIVEN a consent for the accounting scope only
    code = consent(emulator, scope=ACCOUNTING)["code"]

    # WHEN the code is exchanged
    tokens = exchange(emulator, code).json()

    # THEN there is no id_token
    assert "id_token" not in tokens


def test_token_code_used_twice_returns_invalid_grant(emulator: Emulator) -> None:
    # GIVEN a code already exchanged
    code = consent(emulator)["code"]
    assert exchange(emulator, code).status_code == 200

    # WHEN it is exchanged again
    response = exchange(emulator, code)

    # THEN it is invalid_grant
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_code_with_other_redirect_uri_returns_invalid_grant(emulator: Emulator) -> None:
    # GIVEN a code issued for CALLBACK
    code = consent(emulator)["code"]

    # WHEN it is exchanged with another (also allowed) redirect URI
    response = exchange(emulator, code, redirect_uri="http://127.0.0.1:8765/other")

    # THEN it is invalid_grant
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_code_after_five_minutes_returns_invalid_grant(emulator: Emulator) -> None:
    # GIVEN a code, and a clock moved past its lifetime
    code = consent(emulator)["code"]
    now = time.time()
    emulator.store.clock = lambda: now + oauth.AUTH_CODE_TTL + 1

    # WHEN it is exchanged
    response = exchange(emulator, code)

    # THEN it is invalid_grant
    assert response.json()["error"] == "invalid_grant"


def test_token_refresh_rotates_and_used_refresh_token_returns_invalid_grant(emulator: Emulator) -> None:
    # GIVEN a connected company
    first = connect(emulator)

    # WHEN the app refreshes, then presents the used refresh token again
    second = refresh(emulator, first["refresh_token"])
    reused = refresh(emulator, first["refresh_token"])

    # THEN the refresh gives a new pair, and the old refresh token is dead
    assert second.status_code == 200
    new = second.json()
    assert new["refresh_token"] != first["refresh_token"]
    assert new["access_token"] != first["access_token"]
    assert "id_token" not in new
    assert emulator.store.check_access_token(new["access_token"], emulator.realm) == "ok"
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert refresh(emulator, new["refresh_token"]).status_code == 200


def test_token_hard_expiry_header_adds_hard_expires_in(emulator: Emulator) -> None:
    # GIVEN a connected company
    tokens = connect(emulator)

    # WHEN the app asks for the hard expiry while refreshing
    response = emulator.http.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={**basic(), "x-include-refresh-token-hard-expires-in": "true"},
    )

    # THEN the answer says how long until the five-year limit
    assert 0 < response.json()["x_refresh_token_hard_expires_in"] <= oauth.REFRESH_HARD_TTL


@pytest.mark.parametrize(
    "headers",
    [basic(client_secret="wrong"), basic(client_id="someone-else"), {}, {"Authorization": "Basic !!!"}],
    ids=["bad-secret", "bad-id", "none", "garbage"],
)
def test_token_bad_client_returns_invalid_client(emulator: Emulator, headers: dict[str, str]) -> None:
    # GIVEN a valid code
    code = consent(emulator)["code"]

    # WHEN it is exchanged with bad client credentials
    response = emulator.http.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        headers=headers,
    )

    # THEN the client is refused with 401 invalid_client, and the code is still usable
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert exchange(emulator, code).status_code == 200


def test_token_client_secret_post_is_accepted(emulator: Emulator) -> None:
    # GIVEN a valid code
    code = consent(emulator)["code"]

    # WHEN the client authenticates in the form body
    response = emulator.http.post(
        "/oauth2/v1/tokens/bearer",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": "local-client-id",
            "client_secret": "local-client-secret",
        },
    )

    # THEN tokens are issued
    assert response.status_code == 200


def test_token_unknown_grant_type_returns_unsupported_grant_type(emulator: Emulator) -> None:
    # GIVEN an authenticated client

    # WHEN it asks for the client_credentials grant
    response = emulator.http.post(
        "/oauth2/v1/tokens/bearer", data={"grant_type": "client_credentials"}, headers=basic()
    )

    # THEN the grant type is refused
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("encoding", ["json", "form"])
def test_revoke_refresh_token_disconnects_company(emulator: Emulator, encoding: str) -> None:
    # GIVEN a connected company
    tokens = connect(emulator)

    # WHEN the app revokes its refresh token (JSON as intuit-oauth sends it, or form as node-quickbooks does)
    body = {"token": tokens["refresh_token"]}
    kwargs = {"json": body} if encoding == "json" else {"data": body}
    response = emulator.http.post("/v2/oauth2/tokens/revoke", headers=basic(), **kwargs)  # type: ignore[arg-type]

    # THEN it answers 200 with no body, and neither token works any more
    assert response.status_code == 200
    assert response.content == b""
    assert emulator.store.check_access_token(tokens["access_token"], emulator.realm) == "invalid"
    assert refresh(emulator, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoke_bad_client_returns_invalid_client(emulator: Emulator) -> None:
    # GIVEN a connected company
    tokens = connect(emulator)

    # WHEN someone without the app's secret tries to revoke
    response = emulator.http.post(
        "/v2/oauth2/tokens/revoke", json={"token": tokens["refresh_token"]}, headers=basic(client_secret="x")
    )

    # THEN it is refused and the tokens still work
    assert response.status_code == 401
    assert emulator.store.check_access_token(tokens["access_token"], emulator.realm) == "ok"


def test_userinfo_with_openid_token_returns_claims_of_granted_scopes(emulator: Emulator) -> None:
    # GIVEN tokens for openid email profile (no phone, no address)
    tokens = connect(emulator)

    # WHEN the app reads userinfo
    response = emulator.http.get(
        "/v1/openid_connect/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    # THEN it gets Intuit's claims for those scopes only
    assert response.status_code == 200
    info = response.json()
    assert {"sub", "email", "emailVerified", "givenName", "familyName"} == set(info)


def test_userinfo_without_valid_token_returns_401(emulator: Emulator) -> None:
    # GIVEN no valid bearer token

    # WHEN userinfo is read
    response = emulator.http.get("/v1/openid_connect/userinfo", headers={"Authorization": "Bearer nope"})

    # THEN it is 401
    assert response.status_code == 401


def test_admin_tokens_known_company_returns_working_tokens(emulator: Emulator) -> None:
    # GIVEN a company

    # WHEN a test asks for its user's tokens
    response = emulator.http.post("/_admin/tokens", json={"realmId": emulator.realm})

    # THEN they work for that company and refresh like any other
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["realmId"] == emulator.realm
    assert emulator.store.check_access_token(tokens["access_token"], emulator.realm) == "ok"
    assert refresh(emulator, tokens["refresh_token"]).status_code == 200


def test_admin_tokens_unknown_company_returns_404(emulator: Emulator) -> None:
    # GIVEN no company 404

    # WHEN tokens are asked for it
    response = emulator.http.post("/_admin/tokens", json={"realmId": "404"})

    # THEN it is a JSON 404
    assert response.status_code == 404
    assert response.json()["error"] == "company_not_found"


def test_admin_expire_tokens_access_tokens_expire_refresh_still_works(emulator: Emulator) -> None:
    # GIVEN two connected companies
    mine, other = connect(emulator), connect(emulator, realm=emulator.other_realm)

    # WHEN the access tokens of one company are expired
    response = emulator.http.post("/_admin/expire-tokens", json={"realmId": emulator.realm})

    # THEN its access token is expired, the other company's is not, and a refresh recovers
    assert response.status_code == 200
    assert response.json()["accessTokensExpired"] == 1
    assert emulator.store.check_access_token(mine["access_token"], emulator.realm) == "expired"
    assert emulator.store.check_access_token(other["access_token"], emulator.other_realm) == "ok"
    renewed = refresh(emulator, mine["refresh_token"]).json()
    assert emulator.store.check_access_token(renewed["access_token"], emulator.realm) == "ok"


def test_admin_expire_tokens_refresh_too_requires_reauthorization(emulator: Emulator) -> None:
    # GIVEN a connected company
    tokens = connect(emulator)

    # WHEN its access and refresh tokens are expired, as after the user revoked the app
    response = emulator.http.post("/_admin/expire-tokens", json={"realmId": emulator.realm, "refreshToo": True})

    # THEN the access token is expired and a refresh is invalid_grant
    assert response.status_code == 200
    assert response.json()["refreshTokensExpired"] == 1
    assert emulator.store.check_access_token(tokens["access_token"], emulator.realm) == "expired"
    assert refresh(emulator, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_check_access_token_after_ttl_returns_expired(emulator: Emulator) -> None:
    # GIVEN an access token, and a clock moved one hour on
    tokens = connect(emulator)
    now = time.time()
    emulator.store.clock = lambda: now + emulator.state.config.access_token_ttl

    # WHEN the accounting half checks it
    result = emulator.store.check_access_token(tokens["access_token"], emulator.realm)

    # THEN it is expired
    assert result == "expired"


def test_check_access_token_concurrent_refreshes_only_one_wins(emulator: Emulator) -> None:
    # GIVEN a refresh token
    tokens = connect(emulator)

    # WHEN eight threads refresh with it at once
    results: list[int] = []

    def worker() -> None:
        with httpx.Client(base_url=emulator.url) as http:
            results.append(
                http.post(
                    "/oauth2/v1/tokens/bearer",
                    data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                    headers=basic(),
                ).status_code
            )

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN exactly one refresh succeeds
    assert sorted(results) == [200] + [400] * 7


def test_accounting_api_with_consented_token_then_expired_returns_401(emulator: Emulator) -> None:
    # GIVEN an access token from the consent flow
    tokens = connect(emulator)
    path = f"/v3/company/{emulator.realm}/companyinfo/{emulator.realm}"
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}

    # WHEN the accounting API is called before and after the company's tokens expire
    before = emulator.http.get(path, headers=headers, params={"minorversion": 75})
    emulator.http.post("/_admin/expire-tokens", json={"realmId": emulator.realm})
    after = emulator.http.get(path, headers=headers, params={"minorversion": 75})

    # THEN the first works and the second is an authentication failure
    assert before.status_code == 200, before.text
    assert after.status_code == 401


def test_tokens_name_their_app_for_throttling(emulator: Emulator) -> None:
    # GIVEN tokens from the consent flow, from a refresh of them, and from the admin route with and without an app
    tokens = connect(emulator)
    refreshed = refresh(emulator, tokens["refresh_token"]).json()
    admin = emulator.http.post("/_admin/tokens", json={"realmId": emulator.realm}).json()
    named = emulator.http.post("/_admin/tokens", json={"realmId": emulator.realm, "app": "tool"}).json()

    # WHEN their apps are looked up
    apps = [emulator.store.app_of(t["access_token"]) for t in (tokens, refreshed, admin, named)]

    # THEN the consent flow's belong to the client, the admin route's to its own app unless it names one
    assert apps == ["local-client-id", "local-client-id", oauth.ADMIN_APP, "tool"]
    assert emulator.store.app_of("unknown-token") is None


def test_admin_tokens_refuses_an_app_that_is_not_a_name(emulator: Emulator) -> None:
    response = emulator.http.post("/_admin/tokens", json={"realmId": emulator.realm, "app": 7})
    assert response.status_code == 400

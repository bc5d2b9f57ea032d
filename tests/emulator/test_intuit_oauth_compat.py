"""Intuit's own ``intuit-oauth`` AuthClient against the emulator, changed only in its discovery URL."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
import uvicorn
from intuitlib import config as intuit_config
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from emulator.app import create_app
from emulator.state import EmulatorConfig, EmulatorState

if TYPE_CHECKING:
    from collections.abc import Iterator

CLIENT_ID = "local-client-id"
CLIENT_SECRET = "local-client-secret"
CALLBACK = "http://localhost:8765/quickbooks/callback"


@contextmanager
def serve_emulator() -> Iterator[tuple[str, EmulatorState]]:
    """The whole emulator app on a free loopback port, with one company."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(EmulatorConfig(base_url=url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET))
    state: EmulatorState = app.state.emulator
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        httpx.post(f"{url}/_admin/companies", json={"companyName": "Acme Books"}).raise_for_status()
        yield url, state
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[str, EmulatorState]]:
    with serve_emulator() as running:
        yield running


@pytest.fixture
def auth_client(emulator: tuple[str, EmulatorState], monkeypatch: pytest.MonkeyPatch) -> AuthClient:
    url, _ = emulator
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setitem(intuit_config.DISCOVERY_URL, "sandbox", f"{url}/.well-known/openid_sandbox_configuration/")
    return AuthClient(CLIENT_ID, CLIENT_SECRET, CALLBACK, environment="sandbox")


class ConsentForm(HTMLParser):
    """The fields a browser would submit from the consent page (first company selected)."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = attr["action"]
        elif tag == "input" and attr.get("type") == "hidden":
            self.fields[attr["name"]] = attr["value"]
        elif tag == "select":
            self._select = attr["name"]
        elif tag == "option" and self._select and self._select not in self.fields:
            self.fields[self._select] = attr["value"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def click(authorization_url: str, decision: str) -> dict[str, str]:
    """Open the authorization URL and press a button, as a browser would; the callback's query."""
    with httpx.Client(timeout=10) as browser:
        page = browser.get(authorization_url)
        assert page.status_code == 200, page.text
        form = ConsentForm()
        form.feed(page.text)
        answer = browser.post(urljoin(authorization_url, form.action), data={**form.fields, "decision": decision})
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_intuit_auth_client_full_flow_connects_refreshes_and_revokes(
    auth_client: AuthClient, emulator: tuple[str, EmulatorState]
) -> None:
    # GIVEN Intuit's AuthClient built from the emulator's discovery document
    _, state = emulator
    assert auth_client.token_endpoint.startswith(emulator[0])
    scopes = [Scopes.ACCOUNTING, Scopes.OPENID, Scopes.EMAIL, Scopes.PROFILE]

    # WHEN the user connects through the consent page and the app exchanges the code
    callback = click(auth_client.get_authorization_url(scopes), "approve")
    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])

    # THEN the callback matches Intuit's, the tokens work, and intuit-oauth accepted the ID token (RS256 + JWKS)
    assert callback["state"] == auth_client.state_token
    assert auth_client.realm_id in state.companies
    assert state.oauth.check_access_token(auth_client.access_token, auth_client.realm_id) == "ok"
    assert auth_client.refresh_token.startswith("RT1-")
    assert auth_client.expires_in == 3600
    assert auth_client.x_refresh_token_expires_in == 8726400
    assert auth_client.id_token is not None
    assert auth_client.get_user_info().json()["email"]

    # WHEN the app refreshes
    old_refresh_token = auth_client.refresh_token
    auth_client.refresh()

    # THEN the refresh token rotated and the old one is invalid_grant
    assert auth_client.refresh_token != old_refresh_token
    with pytest.raises(AuthClientError) as reused:
        auth_client.refresh(refresh_token=old_refresh_token)
    assert reused.value.status_code == 400
    assert "invalid_grant" in reused.value.content.decode()

    # WHEN the app disconnects
    access_token = auth_client.access_token
    assert auth_client.revoke() is True

    # THEN neither token works any more
    assert state.oauth.check_access_token(access_token, auth_client.realm_id) == "invalid"
    with pytest.raises(AuthClientError) as revoked:
        auth_client.refresh()
    assert revoked.value.status_code == 400


def test_intuit_auth_client_user_cancels_gets_access_denied(auth_client: AuthClient) -> None:
    # GIVEN an authorization URL from intuit-oauth
    url = auth_client.get_authorization_url([Scopes.ACCOUNTING])

    # WHEN the user presses Cancel
    callback = click(url, "deny")

    # THEN the callback carries access_denied and the state
    assert callback == {"error": "access_denied", "state": auth_client.state_token}


def test_intuit_auth_client_wrong_secret_raises_401(
    emulator: tuple[str, EmulatorState], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an AuthClient with the wrong secret, and a valid code
    url, _ = emulator
    monkeypatch.setitem(intuit_config.DISCOVERY_URL, "sandbox", f"{url}/.well-known/openid_sandbox_configuration/")
    client = AuthClient(CLIENT_ID, "wrong-secret", CALLBACK, environment="sandbox")
    callback = click(client.get_authorization_url([Scopes.ACCOUNTING]), "approve")

    # WHEN it exchanges the code
    with pytest.raises(AuthClientError) as error:
        client.get_bearer_token(callback["code"], realm_id=callback["realmId"])

    # THEN Intuit's client sees 401 invalid_client
    assert error.value.status_code == 401
    assert "invalid_client" in error.value.content.decode()

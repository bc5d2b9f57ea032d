"""Fixtures for the accounting tests: the whole emulator app served by uvicorn on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from emulator.app import create_app
from emulator.state import EmulatorConfig, EmulatorState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from starlette.applications import Starlette


@dataclass
class RunningEmulator:
    url: str
    app: Starlette

    @property
    def state(self) -> EmulatorState:
        return self.app.state.emulator


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    # proto=IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted sockets; without it every answer waits ~40 ms
    # (Nagle + delayed ACK between the header and body writes).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(EmulatorConfig(base_url=url))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield RunningEmulator(url, app)
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="session")
def emulator_url(emulator: RunningEmulator) -> str:
    return emulator.url


@pytest.fixture(scope="session")
def http(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    """One client for the whole session: building an httpx.Client (its SSL context) costs tens of ms."""
    with httpx.Client(base_url=emulator.url, timeout=30) as client:
        yield client


@pytest.fixture
def admin(http: httpx.Client) -> httpx.Client:
    return http


@dataclass
class Company:
    """A fresh company, a bearer token for it, and helpers that send it."""

    realm_id: str
    token: str
    http: httpx.Client
    emulator: RunningEmulator

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def path(self, tail: str) -> str:
        return f"/v3/company/{self.realm_id}/{tail}"

    def post(self, entity: str, body: Any, **params: Any) -> httpx.Response:
        return self.http.post(self.path(entity), json=body, params={"minorversion": 75, **params}, headers=self.headers)

    def get(self, tail: str, **params: Any) -> httpx.Response:
        return self.http.get(self.path(tail), params={"minorversion": 75, **params}, headers=self.headers)

    def create(self, entity: str, body: Any) -> dict[str, Any]:
        response = self.post(entity.lower(), body)
        assert response.status_code == 200, response.text
        return response.json()[entity]

    def query(self, text: str) -> dict[str, Any]:
        response = self.get("query", query=text)
        assert response.status_code == 200, response.text
        return response.json()["QueryResponse"]

    def requests(self) -> dict[str, Any]:
        return self.http.get("/_admin/requests", params={"realmId": self.realm_id}).json()


@pytest.fixture
def new_company(emulator: RunningEmulator, http: httpx.Client) -> Callable[..., Company]:
    """Factory: each call makes a company and a token for it through the admin routes."""

    def make(**options: Any) -> Company:
        realm = http.post("/_admin/companies", json={"companyName": "Test Co", **options}).json()["realmId"]
        token = http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
        return Company(realm, token, http, emulator)

    return make


@pytest.fixture
def company(new_company: Callable[..., Company]) -> Company:
    return new_company()

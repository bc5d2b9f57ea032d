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
    sock = socket.socket()
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


@pytest.fixture
def admin(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        yield client


@dataclass
class Company:
    """A fresh company and a client already carrying a bearer token for it."""

    realm_id: str
    token: str
    http: httpx.Client
    emulator: RunningEmulator

    def path(self, tail: str) -> str:
        return f"/v3/company/{self.realm_id}/{tail}"

    def post(self, entity: str, body: Any, **params: Any) -> httpx.Response:
        return self.http.post(self.path(entity), json=body, params={"minorversion": 75, **params})

    def get(self, tail: str, **params: Any) -> httpx.Response:
        return self.http.get(self.path(tail), params={"minorversion": 75, **params})

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


def _auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


@pytest.fixture
def new_company(emulator: RunningEmulator) -> Iterator[Callable[..., Company]]:
    """Factory: each call makes a company (admin route) and a token for it (admin route)."""
    clients: list[httpx.Client] = []

    def make(**options: Any) -> Company:
        with httpx.Client(base_url=emulator.url, timeout=10) as plain:
            realm = plain.post("/_admin/companies", json={"companyName": "Test Co", **options}).json()["realmId"]
            token = plain.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
        client = httpx.Client(base_url=emulator.url, timeout=30, headers=_auth_headers(token))
        clients.append(client)
        return Company(realm, token, client, emulator)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def company(new_company: Callable[..., Company]) -> Company:
    return new_company()

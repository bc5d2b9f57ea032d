"""Fixtures for the accounting tests: the whole emulator app served by uvicorn on a loopback port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from emulator.app import create_app
from emulator.state import EmulatorConfig, EmulatorState
from tests.support.live import serve

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from starlette.applications import Starlette


BURST_LIMIT = 1_000


@dataclass
class RunningEmulator:
    url: str
    app: Starlette

    @property
    def state(self) -> EmulatorState:
        return self.app.state.emulator


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    app = create_app(EmulatorConfig())
    with serve(app, log_level="critical") as url:
        app.state.emulator.config.base_url = url  # the discovery document names the emulator's own address
        yield RunningEmulator(url, app)


class FakeClock:
    """A clock for the throttling windows that moves only when a test moves it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def throttle_clock(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The emulator's throttling reads this clock for the length of the test."""
    clock = FakeClock()
    monkeypatch.setattr(emulator.state, "throttle_clock", clock)
    return clock


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

    def allow_bursts(self) -> None:
        """Lift QuickBooks' 10 a second and 40 batches a minute for this company (500 a minute, 10 at once stay).

        Only for a test that itself sends more than QuickBooks allows in a second to test something else (seeding
        a thousand rows, a client library's calls back to back); never around calls of the product.
        """
        limits = {"ratePerSecond": BURST_LIMIT, "batchPerMinute": BURST_LIMIT}
        response = self.http.put(f"/_admin/companies/{self.realm_id}/limits", json=limits)
        assert response.status_code == 200, response.text


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

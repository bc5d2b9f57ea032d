"""Handlers in-process, AWS in moto, QuickBooks = the real emulator on a loopback port."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import boto3
import httpx
import pytest

from shared import wiring
from tests.conftest import load_function
from tests.emulator.conftest import RunningEmulator, emulator, http  # noqa: F401 - fixtures used by these tests
from tests.support.events import LambdaContext, http_event
from tests.support.iam import recording

if TYPE_CHECKING:
    from collections.abc import Iterator

PUBLIC_API_URL = "http://127.0.0.1:3999"
UI_BASE_URL = "http://ui.test"
APP_SECRET = "books360-qbo/app"


@dataclass
class Stack:
    """Call the functions as API Gateway would, and act as the admin's browser at Intuit."""

    emulator: RunningEmulator
    http: httpx.Client
    functions: dict[str, Any]

    def call(self, function: str, method: str, path: str, *, tenant: str | None = "t1", **kwargs: Any) -> dict:
        claims = {"sub": "user", "tenant_id": tenant} if tenant else None
        event = http_event(method, path, claims=claims, **kwargs)
        return self.functions[function].lambda_handler(event, LambdaContext())

    def api(self, method: str, path: str, *, tenant: str | None = "t1", **kwargs: Any) -> tuple[int, Any]:
        answer = self.call("api", method, path, tenant=tenant, **kwargs)
        body = json.loads(answer["body"]) if answer.get("body") else None
        return answer["statusCode"], body

    def consent(self, authorize_url: str, realm_id: str, decision: str = "approve") -> dict[str, str]:
        """Post the emulator's consent form as the browser would; the query Intuit redirects back with."""
        query = {k: v[0] for k, v in parse_qs(urlparse(authorize_url).query).items()}
        answer = self.http.post("/connect/oauth2", data={**query, "realmId": realm_id, "decision": decision})
        assert answer.status_code == 302, answer.text
        return {k: v[0] for k, v in parse_qs(urlparse(answer.headers["location"]).query).items()}

    def callback(self, query: dict[str, str]) -> str:
        answer = self.call("oauth_callback", "GET", "/quickbooks/oauth/callback", tenant=None, query=query)
        assert answer["statusCode"] == 302, answer
        return str(answer["headers"]["Location"])

    def confirm(self, location: str, tenant: str = "t1") -> tuple[int, Any]:
        """As the UI on landing with ``result=confirm``: post the ticket under the tenant's token."""
        query = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
        assert query.get("result") == "confirm", location
        return self.api("POST", "/quickbooks/connection/confirm", tenant=tenant, body={"ticket": query["ticket"]})

    def company(self, name: str = "Test Co (QBO)", **options: Any) -> str:
        return str(self.http.post("/_admin/companies", json={"companyName": name, **options}).json()["realmId"])

    def connect(self, tenant: str = "t1", realm_id: str | None = None) -> str:
        realm_id = realm_id or self.company()
        status, body = self.api("PUT", "/quickbooks/connection", tenant=tenant, body={"active": True})
        assert status == 200, body
        location = self.callback(self.consent(body["authorizeUrl"], realm_id))
        status, confirmed = self.confirm(location, tenant)
        assert (status, confirmed["status"]) == (200, "connected"), confirmed
        return realm_id

    def requests(self, realm_id: str | None = None) -> dict[str, Any]:
        params = {"realmId": realm_id} if realm_id else {}
        return dict(self.http.get("/_admin/requests", params=params).json())


@pytest.fixture(autouse=True)
def least_privilege() -> Iterator[None]:
    """Every AWS call a function makes in a test is one template.yaml grants that function (``tests.support.iam``)."""
    with recording() as recorder:
        yield
    assert not recorder.violations(), f"calls template.yaml does not allow: {recorder.violations()}"


@pytest.fixture
def stack(aws, emulator, http, monkeypatch) -> Stack:  # noqa: F811 - the imported fixtures
    for name, value in {
        "QBO_API_BASE_URL": emulator.url,
        "QBO_DISCOVERY_URL": f"{emulator.url}/.well-known/openid_configuration",
        "PUBLIC_API_URL": PUBLIC_API_URL,
        "UI_BASE_URL": UI_BASE_URL,
        "QBO_APP_SECRET_NAME": APP_SECRET,
        "TOKEN_SECRET_PREFIX": "books360-qbo/tokens/",
        "PENDING_TOKEN_SECRET_PREFIX": "books360-qbo/pending-tokens/",
    }.items():
        monkeypatch.setenv(name, value)
    config = emulator.state.config
    secret = {"clientId": config.client_id, "clientSecret": config.client_secret, "webhookVerifier": "v"}
    boto3.client("secretsmanager").create_secret(Name=APP_SECRET, SecretString=json.dumps(secret))
    http.post("/_admin/reset")
    wiring.reset()
    return Stack(
        emulator,
        http,
        {
            name: load_function(name)
            for name in ("api", "oauth_callback", "list_refresh", "webhook", "sync_invoice", "connect_sweep")
        },
    )


@pytest.fixture
def dynamodb_key_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB's key size limits (a sort key of at most 1024 bytes) on reads and single-item writes too: moto
    checks them on PutItem only, and answers a GetItem with an over-long key as if nothing were stored."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("get_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def checked(self, table_name, keys, *args, _original=original, **kwargs):
            self.get_table(table_name)._validate_key_sizes(keys)
            return _original(self, table_name, keys, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, checked)

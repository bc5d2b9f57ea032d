"""Acting as the admin's browser through the OAuth dance, over HTTP against the local stack."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

import httpx

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def new_company(stack: LocalStack, name: str = "E2E Co (QBO)") -> str:
    answer = httpx.post(f"{stack.emulator_url}/_admin/companies", json={"companyName": name}, timeout=10.0)
    answer.raise_for_status()
    return str(answer.json()["realmId"])


def start(stack: LocalStack, tenant: str) -> str:
    """Switch the integration on; the authorize URL the UI sends the browser to."""
    with stack.client(tenant) as api:
        answer = api.put("/quickbooks/connection", json={"active": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "connecting"
    return str(answer.json()["authorizeUrl"])


def consent(stack: LocalStack, authorize_url: str, realm_id: str, decision: str = "approve") -> str:
    """Open Intuit's consent page, pick the company, press Connect (or Cancel); where Intuit redirects."""
    with httpx.Client(timeout=10.0) as browser:
        page = browser.get(authorize_url)
        assert page.status_code == 200, page.text
        assert realm_id in page.text
        form = {k: v[0] for k, v in parse_qs(urlparse(authorize_url).query).items()}
        answer = browser.post(
            f"{stack.emulator_url}/connect/oauth2", data={**form, "realmId": realm_id, "decision": decision}
        )
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def follow_callback(callback_url: str) -> str:
    """The browser arrives at our public callback (no token); where we send it next."""
    answer = httpx.get(callback_url, timeout=30.0)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def land(stack: LocalStack, landing: str, tenant: str) -> str:
    """The browser opens the UI (the stand-in) where the callback sent it, signed in as ``tenant``: with
    ``result=confirm`` the UI confirms under that user's token; where the UI shows the outcome."""
    answer = httpx.get(landing, cookies={"books360_token": stack.token(tenant)}, timeout=60.0)
    assert answer.status_code == 303, answer.text
    return f"{stack.api_url}{answer.headers['location']}"


def connect(stack: LocalStack, tenant: str, realm_id: str | None = None) -> str:
    """The whole dance, the UI's confirm included; the realm the tenant is now connected to."""
    realm_id = realm_id or new_company(stack)
    landing = follow_callback(consent(stack, start(stack, tenant), realm_id))
    assert "?result=confirm&ticket=" in landing, landing
    shown = land(stack, landing, tenant)
    assert shown.endswith("?result=connected"), shown
    return realm_id

"""The local console at ``/_local/ui/`` (issue 11): its static files, the token route of its tenant switcher, and the
landing after the connect, against the live local stack."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from local.tokens import verify_token
from tests.e2e.conftest import LocalStack
from tests.e2e.oauth import consent, follow_callback, new_company, new_tenant, start

CONSOLE = Path(__file__).resolve().parents[2] / "local" / "console"


def _mint(stack: LocalStack, tenant: str) -> str:
    answer = httpx.post(f"{stack.api_url}/_local/tokens", json={"tenantId": tenant}, timeout=10.0)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("js/app.js", "text/javascript"), ("js/core.js", "text/javascript"), ("console.css", "text/css")],
)
def test_console_static_file_is_served_with_its_content_type(local_stack: LocalStack, path: str, content_type: str):
    # WHEN the browser asks for one of the console's files
    answer = httpx.get(f"{local_stack.api_url}/_local/ui/{path}")

    # THEN it gets the file as it is on disk, typed so that a module script or a style sheet is accepted
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(content_type)
    assert answer.content == (CONSOLE / path).read_bytes()


def test_console_every_module_is_served(local_stack: LocalStack):
    for module in sorted((CONSOLE / "js").glob("*.js")):
        answer = httpx.get(f"{local_stack.api_url}/_local/ui/js/{module.name}")
        assert answer.status_code == 200, module.name
        assert answer.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("path", ["/_local/ui", "/_local/ui/", "/_local/ui/integrations/quickbooks"])
def test_console_page_is_served_for_any_other_path(local_stack: LocalStack, path: str):
    answer = httpx.get(f"{local_stack.api_url}{path}")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/_local/ui/js/app.js"></script>' in answer.text
    for tab in ("Integration", "Customers", "Vendors", "Invoices"):
        assert f">{tab}</button>" in answer.text


def test_console_missing_file_is_404_problem(local_stack: LocalStack):
    answer = httpx.get(f"{local_stack.api_url}/_local/ui/js/nope.js")

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_local_token_route_mints_a_token_the_api_accepts_for_that_tenant(local_stack: LocalStack):
    # GIVEN a token minted by the console's tenant switcher for a new tenant
    tenant = new_tenant()
    token = _mint(local_stack, tenant)

    # WHEN the API is called with it, and with the demo tenant's
    mine = httpx.get(f"{local_stack.api_url}/quickbooks/customers", headers={"Authorization": f"Bearer {token}"})
    demo = httpx.get(
        f"{local_stack.api_url}/quickbooks/customers", headers={"Authorization": f"Bearer {_mint(local_stack, 'demo')}"}
    )

    # THEN the API accepts it as that tenant's: the tenants are apart (the new one has no clients, the demo has)
    assert verify_token(token, secret=local_stack.jwt_secret)["tenant_id"] == tenant
    assert mine.status_code == 200, mine.text
    assert mine.json()["items"] == []
    assert demo.status_code == 200
    assert demo.json()["items"]


@pytest.mark.parametrize("body", [{"tenantId": ""}, {"tenantId": "a b"}, {"tenantId": 7}, {}, ["demo"]])
def test_local_token_route_refuses_a_bad_tenant_id_with_422(local_stack: LocalStack, body: object):
    answer = httpx.post(f"{local_stack.api_url}/_local/tokens", json=body)

    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["field"] == "tenantId"


def test_local_token_route_refuses_a_body_that_is_not_json_with_400(local_stack: LocalStack):
    answer = httpx.post(f"{local_stack.api_url}/_local/tokens", content=b"tenantId=demo")

    assert answer.status_code == 400


def test_console_confirm_landing_with_its_token_cookie_connects_and_shows_success(local_stack: LocalStack):
    # GIVEN the console signed in as a new tenant (its token in the books360_token cookie), and the consent approved
    tenant, realm = new_tenant(), new_company(local_stack, "Console Co (QBO)")
    token = _mint(local_stack, tenant)
    landing = follow_callback(consent(local_stack, start(local_stack, tenant), realm))

    # WHEN the browser lands on the console with result=confirm and follows where it is sent
    page = httpx.get(landing, cookies={"books360_token": token}, follow_redirects=True, timeout=60.0)

    # THEN the console page shows the success message, and the tenant is connected to that company
    assert str(page.url).endswith("/_local/ui/integrations/quickbooks?result=connected")
    assert "<p id='message' class='message ok' role='status'>QuickBooks is connected.</p>" in page.text
    assert '<script type="module" src="/_local/ui/js/app.js"></script>' in page.text
    with local_stack.client(tenant) as api:
        connection = api.get("/quickbooks/connection").json()
    assert (connection["status"], connection["realmId"]) == ("connected", realm)


def test_console_landing_after_a_cancel_shows_the_reason_as_an_alert(local_stack: LocalStack):
    answer = httpx.get(
        f"{local_stack.api_url}/_local/ui/integrations/quickbooks",
        params={"result": "error", "reason": "access_denied"},
    )

    assert answer.status_code == 200
    assert "role='alert'>The connection was cancelled on the QuickBooks consent page" in answer.text

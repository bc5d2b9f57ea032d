"""Connecting through the local front, as the Books360 UI, the browser and Intuit would (issue 4)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.e2e.oauth import connect, consent, follow_callback, land, new_company, new_tenant, start


def test_connect_dance_through_the_stack_lands_on_the_ui_connected(local_stack):
    # GIVEN a tenant and a QuickBooks company
    tenant, realm = new_tenant(), new_company(local_stack, "Dance Co (QBO)")

    # WHEN the admin switches on, consents, and the browser follows every redirect, signed in to the UI
    landing = follow_callback(consent(local_stack, start(local_stack, tenant), realm))
    cookies = {"books360_token": local_stack.token(tenant)}
    page = httpx.get(landing, cookies=cookies, follow_redirects=True, timeout=60.0)

    # THEN the UI confirmed, shows success and the connection names the company
    assert landing.startswith(f"{local_stack.api_url}/_local/ui/integrations/quickbooks?result=confirm&ticket=")
    assert page.status_code == 200
    assert str(page.url).endswith("/_local/ui/integrations/quickbooks?result=connected")
    assert "QuickBooks is connected." in page.text
    with local_stack.client(tenant) as api:
        connection = api.get("/quickbooks/connection").json()
    assert (connection["status"], connection["realmId"], connection["companyName"]) == (
        "connected",
        realm,
        "Dance Co (QBO)",
    )


def test_forwarded_link_approved_by_another_companys_admin_connects_nothing(local_stack):
    # GIVEN Alice's tenant started a connect and forwarded the authorize URL to Bob, admin of another company
    alice, bob, bobs_company = new_tenant(), new_tenant(), new_company(local_stack, "Bob's E2E Co (QBO)")
    authorize_url = start(local_stack, alice)

    # WHEN Bob approves in his own browser, which lands on the UI signed in as Bob
    landing = follow_callback(consent(local_stack, authorize_url, bobs_company))
    shown = land(local_stack, landing, bob)

    # THEN the UI says the confirm was refused, and neither tenant is connected
    assert "result=error&reason=confirm_refused" in shown
    with local_stack.client(alice) as api:
        assert api.get("/quickbooks/connection").json()["status"] == "connecting"
    with local_stack.client(bob) as api:
        assert api.get("/quickbooks/connection").json()["status"] == "not_connected"


def test_cancel_at_intuit_lands_with_access_denied(local_stack):
    tenant, realm = new_tenant(), new_company(local_stack)

    landing = follow_callback(consent(local_stack, start(local_stack, tenant), realm, decision="deny"))

    assert landing.endswith("result=error&reason=access_denied")


@pytest.mark.parametrize("case", ["replayed", "unknown", "superseded"])
def test_invalid_state_cases_land_with_invalid_state(local_stack, case):
    tenant, realm = new_tenant(), new_company(local_stack)
    callback = consent(local_stack, start(local_stack, tenant), realm)
    if case == "replayed":
        follow_callback(callback)
    elif case == "unknown":
        query = {k: v[0] for k, v in parse_qs(urlparse(callback).query).items()}
        callback = callback.replace(query["state"], "forged-state")
    else:
        start(local_stack, tenant)

    assert follow_callback(callback).endswith("result=error&reason=invalid_state")


def test_token_exchange_failure_lands_with_token_exchange_failed(local_stack):
    tenant, realm = new_tenant(), new_company(local_stack)
    callback = consent(local_stack, start(local_stack, tenant), realm)
    fault = {"entity": "token", "status": 500, "count": 1}
    httpx.post(f"{local_stack.emulator_url}/_admin/faults", json=fault, timeout=10.0).raise_for_status()

    assert follow_callback(callback).endswith("result=error&reason=token_exchange_failed")


def token_refreshes(local_stack) -> int:
    report = httpx.get(f"{local_stack.emulator_url}/_admin/requests", timeout=10.0).json()
    return int(report["byEndpoint"].get("POST token", 0))


def test_ten_concurrent_calls_an_hour_later_refresh_once(local_stack):
    # GIVEN a connected tenant whose access token has expired at Intuit
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    httpx.post(f"{local_stack.emulator_url}/_admin/expire-tokens", json={"realmId": realm}, timeout=10.0)
    before = token_refreshes(local_stack)

    # WHEN ten "Update Lists" calls arrive at once
    def refresh(_: int) -> int:
        with local_stack.client(tenant) as api:
            return api.post("/quickbooks/lists/refresh").status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(refresh, range(10)))

    # THEN all succeed after exactly one refresh at Intuit
    assert statuses == [200] * 10
    assert token_refreshes(local_stack) == before + 1


def test_revoked_app_ends_in_reauthorization_required_409(local_stack):
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    httpx.post(
        f"{local_stack.emulator_url}/_admin/expire-tokens", json={"realmId": realm, "refreshToo": True}, timeout=10.0
    )

    with local_stack.client(tenant) as api:
        first = api.post("/quickbooks/lists/refresh")
        second = api.post("/quickbooks/lists/refresh")
        status = api.get("/quickbooks/connection").json()["status"]

    assert first.status_code == 409
    assert first.headers["content-type"] == "application/problem+json"
    assert second.json()["type"].endswith("reauthorization-required")
    assert status == "reauthorization_required"


def test_disconnect_then_reconnect_to_a_second_company(local_stack):
    tenant = new_tenant()
    connect(local_stack, tenant)
    with local_stack.client(tenant) as api:
        off = api.put("/quickbooks/connection", json={"active": False}).json()
    second = connect(local_stack, tenant, new_company(local_stack, "Second E2E Co (QBO)"))

    with local_stack.client(tenant) as api:
        connection = api.get("/quickbooks/connection").json()

    assert (off["status"], off["revoked"]) == ("not_connected", True)
    assert (connection["realmId"], connection["companyName"]) == (second, "Second E2E Co (QBO)")


ROUTES = [
    ("GET", "/quickbooks/connection", None),
    ("PUT", "/quickbooks/connection", {"active": True}),
    ("GET", "/quickbooks/lists", None),
    ("POST", "/quickbooks/lists/refresh", None),
    ("GET", "/quickbooks/settings", None),
    ("PUT", "/quickbooks/settings", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_without_token_is_401_problem(local_stack, method, path, body):
    answer = httpx.request(method, f"{local_stack.api_url}{path}", json=body, timeout=10.0)

    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_another_tenants_token_sees_only_its_own_data(local_stack):
    # GIVEN tenant A connected and refreshed its lists
    tenant_a, tenant_b = new_tenant(), new_tenant()
    connect(local_stack, tenant_a)
    with local_stack.client(tenant_a) as api:
        assert api.post("/quickbooks/lists/refresh").status_code == 200

    # WHEN tenant B looks, even naming A in the query string
    with local_stack.client(tenant_b) as api:
        connection = api.get("/quickbooks/connection", params={"tenant_id": tenant_a}).json()
        lists = api.get("/quickbooks/lists").json()
        refresh = api.post("/quickbooks/lists/refresh")

    # THEN B sees nothing of A
    assert connection["status"] == "not_connected"
    assert lists["bankAccounts"] == []
    assert refresh.status_code == 409


def test_connect_sweep_schedule_runs_in_the_stack_and_spares_a_fresh_pending_connect(local_stack):
    # GIVEN a connect whose browser came back but has not confirmed yet
    tenant, realm = new_tenant(), new_company(local_stack)
    landing = follow_callback(consent(local_stack, start(local_stack, tenant), realm))

    # WHEN the connect-sweep schedule runs within the ticket's ten minutes
    ran = local_stack.run_schedule("connect-sweep")

    # THEN it ran, and the ticket can still be confirmed
    assert (ran["name"], ran["status"]) == ("connect-sweep", "succeeded"), ran
    assert land(local_stack, landing, tenant).endswith("?result=connected")

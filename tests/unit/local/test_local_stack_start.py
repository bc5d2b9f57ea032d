"""Start-up pieces that need no servers: configuration, port checks, demo seeding against a fake emulator."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from local.config import ConfigError, LocalConfig
from local.demo import DEMO_REALM_ID, QBO_CUSTOMERS, QBO_VENDORS, DemoSeedError, books360_entries, seed_quickbooks
from local.eventbridge import build_event
from local.stack import check_ports


def test_config_defaults_are_the_contract_addresses() -> None:
    config = LocalConfig.from_env({})
    assert (config.api_url, config.emulator_url, config.moto_url) == (
        "http://127.0.0.1:3000",
        "http://127.0.0.1:4010",
        "http://127.0.0.1:5000",
    )
    values = config.parameter_values()
    assert values["UiBaseUrl"] == "http://127.0.0.1:3000/_local/ui"
    assert values["QboDiscoveryUrl"] == "http://127.0.0.1:4010/.well-known/openid_configuration"
    assert config.jwt_secret == "local-dev-secret"


def test_config_follows_the_environment() -> None:
    config = LocalConfig.from_env({"LOCAL_API_PORT": "3100", "UI_BASE_URL": "http://ui.test", "LOCAL_SCHEDULES": "off"})
    assert config.parameter_values()["UiBaseUrl"] == "http://ui.test"
    assert config.parameter_values()["PublicApiUrl"] == "http://127.0.0.1:3100"
    assert config.schedules_enabled is False


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_config_rejects_a_bad_port(value: str) -> None:
    with pytest.raises(ConfigError, match="MOTO_PORT"):
        LocalConfig.from_env({"MOTO_PORT": value})


def test_check_ports_names_the_variable_of_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = LocalConfig(api_port=_free(), emulator_port=port, moto_port=_free())
        assert check_ports(config) == f"port {port} is in use: set QBO_EMULATOR_PORT to another port"


def test_check_ports_refuses_the_same_port_twice() -> None:
    port = _free()
    assert check_ports(LocalConfig(api_port=port, emulator_port=_free(), moto_port=port)) == (
        f"LOCAL_API_PORT and MOTO_PORT are both {port}: set MOTO_PORT to another port"
    )


def _free() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fake_emulator(fail_on: str | None = None) -> tuple[httpx.MockTransport, list[tuple[str, str, dict]]]:
    calls: list[tuple[str, str, dict]] = []
    ids = iter(range(1, 100))

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        calls.append((request.method, request.url.path, body))
        if fail_on and request.url.path.endswith(fail_on):
            return httpx.Response(400, json={"Fault": {"Error": [{"Message": "Duplicate Name Exists Error"}]}})
        if request.url.path == "/_admin/companies":
            return httpx.Response(200, json={"realmId": body["realmId"], "companyName": body["companyName"]})
        if request.url.path == "/_admin/tokens":
            return httpx.Response(200, json={"access_token": "tok"})
        if request.url.path == "/_admin/webhooks":
            return httpx.Response(200, json=body)
        entity = request.url.path.rsplit("/", 1)[-1].capitalize()
        return httpx.Response(200, json={entity: {**body, "Id": str(next(ids))}})

    return httpx.MockTransport(handle), calls


def test_seed_quickbooks_creates_company_parties_and_webhook() -> None:
    transport, calls = fake_emulator()
    company = seed_quickbooks("http://emulator", "http://front/quickbooks/webhooks", "verifier", transport=transport)
    assert company.realm_id == DEMO_REALM_ID
    assert set(company.customers) == {c["DisplayName"] for c in QBO_CUSTOMERS}
    assert set(company.vendors) == {v["DisplayName"] for v in QBO_VENDORS}
    assert {"Acme Corp", "Globex LLC"} <= set(company.customers)
    assert calls[-1] == (
        "POST",
        "/_admin/webhooks",
        {"url": "http://front/quickbooks/webhooks", "verifierToken": "verifier", "format": "cloudevents"},
    )


def test_seed_quickbooks_refusal_is_loud() -> None:
    transport, _ = fake_emulator(fail_on="/vendor")
    with pytest.raises(DemoSeedError, match="creating vendor 'Hooli Cloud Services'.*400.*Duplicate Name"):
        seed_quickbooks("http://emulator", "http://front/hook", "verifier", transport=transport)


def test_seed_quickbooks_without_emulator_is_loud() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(DemoSeedError, match="did not answer"):
        seed_quickbooks("http://emulator", "http://front/hook", "v", transport=httpx.MockTransport(refuse))


def test_books360_demo_entries_are_valid_events_for_the_tenant() -> None:
    entries = books360_entries("demo")
    kinds = [e["DetailType"] for e in entries]
    assert kinds.index("InvoiceUpserted") > kinds.index("ClientUpserted")
    for entry in entries:
        event, bus = build_event(entry)
        assert bus == "default"
        assert event["source"] == "books360.accounting"
        assert event["detail"]["tenantId"] == "demo"
        assert event["detail"]["version"] == 1
    names = {json.loads(e["Detail"]).get("name") for e in entries}
    assert {"Acme Corp", "Globex LLC", "Hooli Cloud Services"} <= names

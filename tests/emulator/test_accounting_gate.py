"""Authentication, throttling, injected faults, request statistics, reset and webhook records."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.emulator.conftest import Company, RunningEmulator

THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"


def add_fault(http: httpx.Client, **rule: Any) -> None:
    response = http.post("/_admin/faults", json=rule)
    assert response.status_code == 200, response.text


def customer_count(company: Company, name: str) -> int:
    return company.query(f"SELECT COUNT(*) FROM Customer WHERE DisplayName = '{name}'")["totalCount"]


# --- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic abc"])
def test_request_without_valid_token_returns_401_lower_camel_fault(company: Company, authorization: str | None) -> None:
    # GIVEN a request without a usable bearer token
    headers = {"Accept": "application/json"} | ({"Authorization": authorization} if authorization else {})

    # WHEN it reaches the API
    response = company.http.get(company.path("customer/1"), headers=headers)

    # THEN QuickBooks' 401 shape comes back with code 3200
    assert response.status_code == 401
    body = response.json()
    error = body["fault"]["error"][0]
    assert error["code"] == "3200"
    assert error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert error["element"] is None
    assert body["fault"]["type"] == "AUTHENTICATION"
    assert body["batchItemResponse"] == []
    assert isinstance(body["time"], int)


def test_expired_token_returns_401_token_expired(company: Company) -> None:
    # GIVEN the company's access tokens expired through the admin route
    company.http.post("/_admin/expire-tokens", json={"realmId": company.realm_id})

    # WHEN the old token is used
    response = company.get("customer/1")

    # THEN the 401 says the token expired
    assert response.status_code == 401
    assert response.json()["fault"]["error"][0]["detail"].startswith("Token expired")


def test_token_of_other_company_returns_403_3100(new_company: Callable[..., Company]) -> None:
    # GIVEN two companies
    first, second = new_company(), new_company()

    # WHEN the first company's token is used on the second, and on an unknown realm
    other = first.http.get(second.path("customer/1"), headers=first.headers)
    unknown = first.http.get("/v3/company/1234567/customer/1", headers=first.headers)

    # THEN QuickBooks answers 403 ApplicationAuthorizationFailed
    for response in (other, unknown):
        assert response.status_code == 403
        assert response.json()["Fault"]["Error"][0]["code"] == "3100"


# --- throttling ---------------------------------------------------------------------------------


def test_eleven_concurrent_requests_with_latency_one_gets_429(company: Company) -> None:
    # GIVEN every request of the company takes 400 ms
    add_fault(company.http, realmId=company.realm_id, latencyMs=400)

    # WHEN 11 requests are in flight at once
    with ThreadPoolExecutor(max_workers=11) as pool:
        responses = list(pool.map(lambda _: company.get("companyinfo/" + company.realm_id), range(11)))

    # THEN ten are answered and one is throttled with QuickBooks' throttle fault
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [429]
    throttled = next(r for r in responses if r.status_code == 429).json()["Fault"]
    assert throttled["type"] == "SERVICE"
    assert throttled["Error"][0] == {
        "Message": THROTTLE_MESSAGE,
        "Detail": "The request limit was reached.  Try again later",
        "code": "3001",
        "element": "",
    }
    stats = company.requests()
    assert stats["maxConcurrent"] == 10
    assert stats["throttled"] == 1
    assert stats["total"] == 10


def test_requests_over_rate_per_minute_return_429_and_are_not_carried_out(
    new_company: Callable[..., Company],
) -> None:
    # GIVEN a company limited to 3 requests a minute
    company = new_company(limits={"ratePerMinute": 3})
    for n in range(3):
        company.create("Customer", {"DisplayName": f"Rate {n}"})

    # WHEN a fourth request arrives within the minute
    response = company.post("customer", {"DisplayName": "Rate 3"})

    # THEN it is throttled and nothing was created
    assert response.status_code == 429
    assert response.json()["Fault"]["Error"][0]["code"] == "3001"
    assert company.emulator.state.companies[company.realm_id].names["party"].get("rate 3") is None
    assert company.requests()["throttled"] == 1


# --- injected faults ------------------------------------------------------------------------------


def test_status_zero_fault_performs_write_then_drops_connection(company: Company) -> None:
    # GIVEN the next customer POST will lose its connection after the work is done
    add_fault(company.http, realmId=company.realm_id, method="POST", entity="customer", status=0, count=1)

    # WHEN a customer is created with a requestid
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        company.post("customer", {"DisplayName": "Dropped Co"}, requestid="drop-1")

    # THEN the customer exists, and the retry with the same requestid gets the original answer
    assert customer_count(company, "Dropped Co") == 1
    retry = company.post("customer", {"DisplayName": "Dropped Co"}, requestid="drop-1")
    assert retry.status_code == 200
    assert retry.json()["Customer"]["DisplayName"] == "Dropped Co"
    assert customer_count(company, "Dropped Co") == 1


@pytest.mark.parametrize(("status", "code"), [(429, "3001"), (500, "10000"), (503, "10000")])
def test_injected_status_is_answered_in_fault_format_without_doing_the_work(
    company: Company, status: int, code: str
) -> None:
    # GIVEN the next two customer POSTs fail with the status
    add_fault(company.http, realmId=company.realm_id, method="POST", entity="customer", status=status, count=2)

    # WHEN three creates are sent
    answers = [company.post("customer", {"DisplayName": f"Faulted {n}"}) for n in range(3)]

    # THEN two fail in QuickBooks' fault format, the third works, and only it was carried out
    assert [a.status_code for a in answers] == [status, status, 200]
    assert answers[0].json()["Fault"]["Error"][0]["code"] == code
    assert company.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 1}
    assert company.requests()["byEndpoint"]["POST customer"] == 3


def test_fault_rule_for_other_entity_does_not_match(company: Company) -> None:
    # GIVEN a fault for invoice reads only
    add_fault(company.http, realmId=company.realm_id, method="GET", entity="invoice", status=500, count=1)

    # WHEN a customer is created
    # THEN it is not affected
    assert company.post("customer", {"DisplayName": "Unaffected"}).status_code == 200


def test_standing_latency_delays_every_request(company: Company) -> None:
    # GIVEN a latency of 150 ms for every request of the company (no count)
    add_fault(company.http, realmId=company.realm_id, latencyMs=150)

    # WHEN two requests are made
    started = time.monotonic()
    company.get("preferences")
    company.get("preferences")

    # THEN both were delayed
    assert time.monotonic() - started >= 0.3


def test_token_endpoint_fault_answers_503_and_counts_post_token(emulator: RunningEmulator, http: httpx.Client) -> None:
    # GIVEN the token endpoint will fail once
    add_fault(http, entity="token", status=503, count=1)

    # WHEN a refresh is attempted twice
    form = {"grant_type": "refresh_token", "refresh_token": "RT1-unknown"}
    auth = (emulator.state.config.client_id, emulator.state.config.client_secret)
    first = http.post("/oauth2/v1/tokens/bearer", data=form, auth=auth)
    second = http.post("/oauth2/v1/tokens/bearer", data=form, auth=auth)

    # THEN the first gets the injected 503, the second reaches the OAuth half, and both are counted
    assert first.status_code == 503
    assert "Fault" in first.json()
    assert second.status_code == 400
    assert http.get("/_admin/requests").json()["byEndpoint"]["POST token"] >= 2


def test_token_fault_with_realm_still_targets_token_endpoint(emulator: RunningEmulator, http: httpx.Client) -> None:
    # GIVEN a token-endpoint fault that also names a realm
    add_fault(http, realmId="9341455000000000", entity="token", status=500, count=1)

    # WHEN the token endpoint is called
    auth = (emulator.state.config.client_id, emulator.state.config.client_secret)
    response = http.post(
        "/oauth2/v1/tokens/bearer", data={"grant_type": "refresh_token", "refresh_token": "x"}, auth=auth
    )

    # THEN the fault applies (token calls have no realm to compare)
    assert response.status_code == 500


def test_admin_faults_rejects_unknown_status(http: httpx.Client) -> None:
    # GIVEN a status the emulator cannot inject
    # WHEN the rule is posted
    # THEN it is refused
    assert http.post("/_admin/faults", json={"status": 418, "count": 1}).status_code == 400


# --- statistics and reset -----------------------------------------------------------------------


def test_requests_report_counts_by_endpoint(company: Company) -> None:
    # GIVEN a few calls of different kinds
    created = company.create("Customer", {"DisplayName": "Counted"})
    company.get(f"customer/{created['Id']}")
    company.query("SELECT * FROM Customer")
    company.http.post(
        company.path("query"),
        content=b"SELECT * FROM Item",
        headers={**company.headers, "Content-Type": "application/text"},
    )

    # WHEN the statistics are read
    stats = company.requests()

    # THEN they are keyed by method and lower-case entity
    assert stats["byEndpoint"] == {"POST customer": 1, "GET customer": 1, "GET query": 1, "POST query": 1}
    assert stats["total"] == 4
    assert stats["throttled"] == 0
    assert stats["maxConcurrent"] == 1


def test_reset_forgets_companies_and_tokens(company: Company, http: httpx.Client) -> None:
    # GIVEN a company with a customer
    company.create("Customer", {"DisplayName": "Before Reset"})

    # WHEN the emulator is reset
    assert http.post("/_admin/reset").status_code == 200

    # THEN the token no longer works and the statistics are empty
    assert company.get("customer/1").status_code == 401
    assert http.get("/_admin/requests").json()["total"] == 1


def test_admin_companies_accepts_fixed_realm_once(http: httpx.Client) -> None:
    # GIVEN a fixed realm id
    body = {"companyName": "Fixed", "realmId": "9341455999999999"}

    # WHEN it is created twice
    first = http.post("/_admin/companies", json=body)
    second = http.post("/_admin/companies", json=body)

    # THEN the first gets it and the second is a conflict
    assert first.json()["realmId"] == "9341455999999999"
    assert second.status_code == 409


# --- webhooks -----------------------------------------------------------------------------------


def test_writes_record_webhook_operations(company: Company, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a spy on the webhook half
    recorded: list[tuple[str, str, str]] = []
    hub = company.emulator.state.webhooks
    original = hub.record

    def spy(realm_id: str, entity: str, entity_id: str, operation: Any, deleted_id: str | None = None) -> None:
        recorded.append((entity, entity_id, operation))
        original(realm_id, entity, entity_id, operation, deleted_id)

    monkeypatch.setattr(hub, "record", spy)

    # WHEN a customer is created, updated and made inactive, and an invoice created, voided and deleted
    customer = company.create("Customer", {"DisplayName": "Hooked"})
    company.create("Customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "x"})
    company.create("Customer", {"Id": customer["Id"], "SyncToken": "1", "sparse": True, "Active": False})
    buyer = company.create("Customer", {"DisplayName": "Buyer"})
    line = {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}
    invoice = company.create("Invoice", {"CustomerRef": {"value": buyer["Id"]}, "Line": [line]})
    company.post("invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="void")
    company.post("invoice", {"Id": invoice["Id"], "SyncToken": "1"}, operation="delete")
    company.post("customer", {"DisplayName": "Hooked"})  # a failed write records nothing

    # THEN QuickBooks' operations were recorded, inactivation as Delete
    assert recorded == [
        ("Customer", customer["Id"], "Create"),
        ("Customer", customer["Id"], "Update"),
        ("Customer", customer["Id"], "Delete"),
        ("Customer", buyer["Id"], "Create"),
        ("Invoice", invoice["Id"], "Create"),
        ("Invoice", invoice["Id"], "Void"),
        ("Invoice", invoice["Id"], "Delete"),
    ]

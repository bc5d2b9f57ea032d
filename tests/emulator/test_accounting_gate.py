"""Authentication, throttling, injected faults, request statistics, reset and webhook records."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from emulator.faults import Limits

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.emulator.conftest import Company, FakeClock, RunningEmulator

THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
THROTTLE_ERROR = {
    "Message": THROTTLE_MESSAGE,
    "Detail": "The request limit was reached.  Try again later",
    "code": "3001",
    "element": "",
}


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
    assert stats["throttledBy"]["concurrent"] == 1
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


def assert_throttle_fault(response: httpx.Response) -> None:
    """QuickBooks' throttle answer, the same for every limit: 429, a SERVICE fault with code 3001."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["Fault"] == {"Error": [THROTTLE_ERROR], "type": "SERVICE"}
    assert isinstance(body["time"], str)


def batch_of_one(company: Company, name: str) -> httpx.Response:
    item = {"bId": "1", "operation": "create", "Customer": {"DisplayName": name}}
    return company.post("batch", {"BatchItemRequest": [item]})


def test_eleventh_request_within_a_second_gets_429_and_is_not_carried_out(
    company: Company, throttle_clock: FakeClock
) -> None:
    # GIVEN ten customer creates within the same second, one after the other (never two at once)
    for n in range(10):
        assert company.post("customer", {"DisplayName": f"Second {n}"}).status_code == 200
        throttle_clock.advance(0.09)

    # WHEN an eleventh request arrives within that second
    response = company.post("customer", {"DisplayName": "Second 10"})

    # THEN QuickBooks' throttle fault comes back, nothing was created, and it is counted as throttled per second
    assert_throttle_fault(response)
    assert company.emulator.state.companies[company.realm_id].names["party"].get("second 10") is None
    stats = company.requests()
    assert (stats["total"], stats["throttled"], stats["maxConcurrent"]) == (10, 1, 1)
    assert stats["throttledBy"] == {"concurrent": 0, "perMinute": 0, "perSecond": 1, "batchPerMinute": 0}


def test_per_second_window_slides_and_refused_requests_take_no_share(
    company: Company, throttle_clock: FakeClock
) -> None:
    # GIVEN ten requests at t=0 and ten refused ones just before t=1
    for _ in range(10):
        assert company.get("preferences").status_code == 200
    throttle_clock.advance(0.999)
    refused = [company.get("preferences").status_code for _ in range(10)]

    # WHEN the clock reaches one second after the first ten
    throttle_clock.advance(0.001)
    answered = [company.get("preferences").status_code for _ in range(11)]

    # THEN the refused ones counted for nothing: ten more fit, the eleventh of that second does not
    assert refused == [429] * 10
    assert answered == [200] * 10 + [429]
    assert company.requests()["throttledBy"]["perSecond"] == 11


def test_per_second_limit_is_per_company(new_company: Callable[..., Company], throttle_clock: FakeClock) -> None:
    # GIVEN a company that used its ten requests of this second
    busy, quiet = new_company(), new_company()
    for _ in range(10):
        busy.get("preferences")

    # WHEN the busy company and another one call in the same second
    # THEN only the busy one is throttled
    assert busy.get("preferences").status_code == 429
    assert quiet.get("preferences").status_code == 200
    assert quiet.requests()["throttled"] == 0


def other_app(company: Company, app: str) -> Company:
    """The same company, through a token issued to another app."""
    token = company.http.post("/_admin/tokens", json={"realmId": company.realm_id, "app": app}).json()
    return dataclasses.replace(company, token=token["access_token"])


def test_per_second_limit_is_per_app(company: Company, throttle_clock: FakeClock) -> None:
    # GIVEN an app (the product's client) that used its ten requests of this second on a company
    product = other_app(company, company.emulator.state.config.client_id)
    for _ in range(10):
        assert product.get("preferences").status_code == 200

    # WHEN another app (a test looking at QuickBooks) calls the same company in that second, then the product again
    others = [company.get("preferences").status_code for _ in range(10)]
    again = product.get("preferences")

    # THEN the other app had its own ten, and the product is throttled
    assert others == [200] * 10
    assert_throttle_fault(again)


def test_per_minute_limit_is_the_companys_whatever_the_app(
    new_company: Callable[..., Company], throttle_clock: FakeClock
) -> None:
    # GIVEN a company limited to 3 requests a minute, called twice by one app and once by another
    company = new_company(limits={"ratePerMinute": 3})
    tool = other_app(company, "tool")
    company.get("preferences")
    company.get("preferences")
    tool.get("preferences")

    # WHEN either app calls again within the minute
    throttle_clock.advance(30)
    # THEN both are throttled by the minute
    assert tool.get("preferences").status_code == 429
    assert company.get("preferences").status_code == 429
    assert company.requests()["throttledBy"]["perMinute"] == 2


def test_concurrency_limit_is_per_app(company: Company) -> None:
    # GIVEN every request of the company takes 400 ms, and ten of one app are in flight
    add_fault(company.http, realmId=company.realm_id, latencyMs=400)
    tool = other_app(company, "tool")
    with ThreadPoolExecutor(max_workers=11) as pool:
        first = [pool.submit(company.get, "preferences") for _ in range(10)]
        time.sleep(0.15)

        # WHEN another app sends one while they are in flight
        other = pool.submit(tool.get, "preferences")

        # THEN it is answered: the ten at once are each app's own
        assert other.result().status_code == 200
        assert [f.result().status_code for f in first] == [200] * 10
    assert company.requests()["maxConcurrent"] == 11


def test_forty_first_batch_within_a_minute_gets_429_other_requests_go_on(
    company: Company, throttle_clock: FakeClock
) -> None:
    # GIVEN forty batch requests in one minute, four a second (well under ten a second)
    for n in range(40):
        assert batch_of_one(company, f"Batch {n}").status_code == 200
        throttle_clock.advance(0.25)

    # WHEN a forty-first batch and a plain request arrive within that minute
    throttle_clock.advance(40)  # 50 s after the first batch
    over = batch_of_one(company, "Batch 40")
    plain = company.post("customer", {"DisplayName": "Not a batch"})

    # THEN the batch is throttled and not carried out, the plain request is answered
    assert_throttle_fault(over)
    assert company.emulator.state.companies[company.realm_id].names["party"].get("batch 40") is None
    assert plain.status_code == 200
    stats = company.requests()
    assert stats["throttledBy"] == {"concurrent": 0, "perMinute": 0, "perSecond": 0, "batchPerMinute": 1}
    assert stats["byEndpoint"] == {"POST batch": 40, "POST customer": 1}

    # AND a minute after the first batch, a batch fits again
    throttle_clock.advance(60 - 50)
    assert batch_of_one(company, "Batch 40").status_code == 200


def test_batch_requests_count_against_the_per_second_limit(company: Company, throttle_clock: FakeClock) -> None:
    # GIVEN ten batch requests within a second
    for n in range(10):
        assert batch_of_one(company, f"Fast batch {n}").status_code == 200

    # WHEN a plain request follows in that second
    # THEN it is throttled per second (a batch is one request, whatever its items)
    assert company.get("preferences").status_code == 429
    assert company.requests()["throttledBy"]["perSecond"] == 1


def test_requests_over_rate_per_minute_count_every_second_of_the_minute(
    new_company: Callable[..., Company], throttle_clock: FakeClock
) -> None:
    # GIVEN a company limited to 20 requests a minute, called twice a second
    company = new_company(limits={"ratePerMinute": 20})
    for _ in range(20):
        assert company.get("preferences").status_code == 200
        throttle_clock.advance(0.5)

    # WHEN the 21st arrives 50 s after the first, then again a minute after the first
    throttled = company.get("preferences")
    throttle_clock.advance(60 - 10)
    again = company.get("preferences")

    # THEN the first is throttled by the minute, the second fits
    assert_throttle_fault(throttled)
    assert again.status_code == 200
    assert company.requests()["throttledBy"]["perMinute"] == 1


def test_company_limits_lift_per_second_and_batch_limits(
    new_company: Callable[..., Company], throttle_clock: FakeClock
) -> None:
    # GIVEN a company whose test means to exceed QuickBooks' limits
    company = new_company(limits={"ratePerSecond": 100, "batchPerMinute": 100})

    # WHEN it sends 50 batch requests in the same instant
    statuses = {batch_of_one(company, f"Lifted {n}").status_code for n in range(50)}

    # THEN none is throttled
    assert statuses == {200}
    assert company.requests()["throttled"] == 0


def test_admin_sets_limits_of_an_existing_company(company: Company, throttle_clock: FakeClock) -> None:
    # GIVEN a company at QuickBooks' limits
    path = f"/_admin/companies/{company.realm_id}/limits"

    # WHEN its per-second limit is lifted, and later given back
    lifted = company.http.put(path, json={"ratePerSecond": 1000})
    fast = {company.get("preferences").status_code for _ in range(30)}
    restored = company.http.put(path, json={})
    throttle_clock.advance(1)
    capped = [company.get("preferences").status_code for _ in range(11)]

    # THEN the lifted company answered everything, the restored one throttles again
    assert lifted.status_code == 200
    assert lifted.json()["limits"] == {
        "ratePerMinute": 500,
        "maxConcurrent": 10,
        "ratePerSecond": 1000,
        "batchPerMinute": 40,
    }
    assert fast == {200}
    assert restored.json()["limits"]["ratePerSecond"] == 10
    assert capped == [200] * 10 + [429]


@pytest.mark.parametrize(
    ("realm", "body", "status"),
    [("9341455000000001", {}, 404), (None, {"ratePerSecond": 0}, 400), (None, {"batchPerMinute": "x"}, 400)],
)
def test_admin_limits_refuses_unknown_company_and_bad_values(
    company: Company, realm: str | None, body: dict[str, Any], status: int
) -> None:
    # GIVEN an unknown realm or a value that is not a positive integer
    # WHEN the limits are set
    response = company.http.put(f"/_admin/companies/{realm or company.realm_id}/limits", json=body)

    # THEN it is refused
    assert response.status_code == status


def test_default_limits_are_quickbooks_own(emulator: RunningEmulator, company: Company) -> None:
    # GIVEN a company created without limits
    # WHEN the limits in force are read back through the admin route that sets them to the configured ones
    limits = company.http.put(f"/_admin/companies/{company.realm_id}/limits", json={}).json()["limits"]

    # THEN they are QuickBooks' 500 a minute, 10 at once, 10 a second and 40 batches a minute
    assert limits == {"ratePerMinute": 500, "maxConcurrent": 10, "ratePerSecond": 10, "batchPerMinute": 40}
    assert emulator.state.config.limits() == Limits()


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


def test_latency_zero_clears_a_companys_latency_and_only_its_own(new_company: Callable[..., Company]) -> None:
    # GIVEN two companies whose every request takes 300 ms
    slow, other = new_company(), new_company()
    for company in (slow, other):
        add_fault(company.http, realmId=company.realm_id, latencyMs=300)

    # WHEN the first company's latency is set to 0
    cleared = slow.http.post("/_admin/faults", json={"realmId": slow.realm_id, "latencyMs": 0})

    # THEN it is accepted, that company answers at once again, and the other stays slow
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["cleared"] == 1
    rules = slow.http.get("/_admin/faults").json()["rules"]
    mine = [(r["realmId"], r["latencyMs"]) for r in rules if r["realmId"] in (slow.realm_id, other.realm_id)]
    assert mine == [(other.realm_id, 300)]
    started = time.monotonic()
    assert slow.get("companyinfo/" + slow.realm_id).status_code == 200
    assert time.monotonic() - started < 0.25
    started = time.monotonic()
    assert other.get("companyinfo/" + other.realm_id).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_latency_zero_keeps_counted_faults_and_a_rule_with_nothing_to_do_is_refused(company: Company) -> None:
    add_fault(company.http, realmId=company.realm_id, status=503, count=2)
    add_fault(company.http, realmId=company.realm_id, latencyMs=200)

    add_fault(company.http, realmId=company.realm_id, latencyMs=0)

    rules = company.http.get("/_admin/faults").json()["rules"]
    assert [(r["status"], r["count"]) for r in rules if r["realmId"] == company.realm_id] == [(503, 2)]
    refused = company.http.post("/_admin/faults", json={"realmId": company.realm_id})
    assert refused.status_code == 400

"""Connecting a Books360 account to QuickBooks: the OAuth dance, tokens, refresh, disconnect (issue 4)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import boto3
import httpx
import pytest

from shared import wiring
from shared.errors import ReauthorizationRequired
from shared.services.pacing import CALL_SPACING
from tests.integration.conftest import UI_BASE_URL


def test_connect_full_dance_stores_tokens_in_secrets_manager_and_names_the_company(stack):
    # GIVEN a QuickBooks company
    realm = stack.company("Acme Books (QBO)")

    # WHEN the admin switches the integration on, consents at Intuit, and comes back
    status, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    assert (status, started["status"]) == (200, "connecting")
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))

    # THEN the browser lands on the UI with success, and the connection shows the company
    assert location == f"{UI_BASE_URL}/integrations/quickbooks?result=connected"
    status, connection = stack.api("GET", "/quickbooks/connection")
    assert connection["status"] == "connected"
    assert connection["active"] is True
    assert connection["realmId"] == realm
    assert connection["companyName"] == "Acme Books (QBO)"
    assert connection["connectedAt"].endswith("Z")
    # AND the tokens are in Secrets Manager, and nowhere in DynamoDB
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId="books360-qbo/tokens/t1")["SecretString"]
    )
    assert secret["realmId"] == realm
    table_dump = json.dumps(boto3.client("dynamodb").scan(TableName="books360-test")["Items"])
    assert secret["accessToken"] not in table_dump
    assert secret["refreshToken"] not in table_dump


def test_connect_cancel_at_intuit_redirects_access_denied(stack):
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})

    location = stack.callback(stack.consent(started["authorizeUrl"], realm, decision="deny"))

    assert location.endswith("result=error&reason=access_denied")
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"


def test_callback_replayed_state_is_invalid_and_stores_nothing_new(stack):
    # GIVEN a completed connection
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    assert stack.callback(query).endswith("result=connected")

    # WHEN the same redirect arrives again
    location = stack.callback(query)

    # THEN it is refused as an invalid state
    assert location.endswith("result=error&reason=invalid_state")


@pytest.mark.parametrize(
    "query",
    [
        {"code": "x", "state": "never-issued", "realmId": "1"},
        {"code": "x", "realmId": "1"},
        {"error": "access_denied", "state": "never-issued"},
    ],
    ids=["unknown-state", "missing-state", "cancel-with-unknown-state"],
)
def test_callback_unknown_or_missing_state_is_invalid(stack, query):
    assert stack.callback(query).endswith("result=error&reason=invalid_state")
    assert boto3.client("secretsmanager").list_secrets()["SecretList"][0]["Name"] == "books360-qbo/app"


def test_callback_expired_state_is_invalid(stack, monkeypatch):
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    later = wiring.now() + timedelta(minutes=11)
    monkeypatch.setattr(wiring, "now", lambda: later)

    assert stack.callback(query).endswith("result=error&reason=invalid_state")
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] != "connected"


def test_callback_superseded_state_is_invalid(stack):
    # GIVEN the admin started connecting twice; only the latest attempt may finish
    realm = stack.company()
    _, first = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    stack.api("PUT", "/quickbooks/connection", body={"active": True})

    assert stack.callback(stack.consent(first["authorizeUrl"], realm)).endswith("reason=invalid_state")


def test_callback_state_of_another_tenant_connects_only_that_tenant(stack):
    # GIVEN tenant A and tenant B both started connecting
    realm = stack.company()
    _, a = stack.api("PUT", "/quickbooks/connection", tenant="tA", body={"active": True})
    stack.api("PUT", "/quickbooks/connection", tenant="tB", body={"active": True})

    # WHEN A's redirect comes back
    assert stack.callback(stack.consent(a["authorizeUrl"], realm)).endswith("result=connected")

    # THEN A is connected and B is untouched
    assert stack.api("GET", "/quickbooks/connection", tenant="tA")[1]["realmId"] == realm
    assert stack.api("GET", "/quickbooks/connection", tenant="tB")[1]["status"] == "connecting"


def test_callback_token_exchange_failure_redirects_token_exchange_failed(stack):
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    stack.http.post("/_admin/faults", json={"entity": "token", "status": 500, "count": 1})

    assert stack.callback(query).endswith("result=error&reason=token_exchange_failed")
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"


def test_callback_refused_code_redirects_token_exchange_failed(stack):
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)

    assert stack.callback({**query, "code": "not-a-code"}).endswith("reason=token_exchange_failed")


def test_call_after_token_expiry_refreshes_transparently(stack):
    # GIVEN a connected tenant whose access token QuickBooks has expired (an hour later)
    realm = stack.connect()
    stack.http.post("/_admin/expire-tokens", json={"realmId": realm})
    before = stack.requests().get("byEndpoint", {}).get("POST token", 0)

    # WHEN we call QuickBooks
    info = wiring.quickbooks_for("t1").company_info()

    # THEN the call succeeded after exactly one refresh
    assert info["Id"] == realm
    assert stack.requests()["byEndpoint"]["POST token"] == before + 1


def test_ten_concurrent_calls_after_expiry_refresh_once(stack, atomic_dynamodb):
    realm = stack.connect()
    stack.http.post("/_admin/expire-tokens", json={"realmId": realm})
    before = stack.requests()["byEndpoint"].get("POST token", 0)

    def call(_: int) -> str:
        client = wiring.quickbooks_for("t1")  # each like its own Lambda: no shared token in memory
        try:
            return str(client.company_info()["Id"])
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(call, range(10)))

    assert results == [realm] * 10
    assert stack.requests()["byEndpoint"]["POST token"] == before + 1


def test_revoked_app_ends_in_reauthorization_required(stack):
    # GIVEN the user revoked the app in QuickBooks (access and refresh tokens dead)
    realm = stack.connect()
    stack.http.post("/_admin/expire-tokens", json={"realmId": realm, "refreshToo": True})

    # WHEN we call QuickBooks
    with pytest.raises(ReauthorizationRequired):
        wiring.quickbooks_for("t1").company_info()

    # THEN the connection says so, and the next call is refused without trying QuickBooks
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "reauthorization_required"
    with pytest.raises(ReauthorizationRequired):
        wiring.quickbooks_for("t1")
    # AND switching on again starts OAuth
    status, again = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    assert (status, again["status"]) == (200, "connecting")
    assert again["authorizeUrl"]


def test_disconnect_revokes_deletes_tokens_keeps_nothing_connected(stack):
    realm = stack.connect()
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId="books360-qbo/tokens/t1")["SecretString"]
    )

    status, body = stack.api("PUT", "/quickbooks/connection", body={"active": False})

    assert status == 200
    assert (body["status"], body["active"], body["revoked"]) == ("not_connected", False, True)
    names = [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]
    assert "books360-qbo/tokens/t1" not in names
    assert stack.emulator.state.oauth.check_access_token(secret["accessToken"], realm) == "invalid"


def test_disconnect_when_intuit_fails_still_disconnects_and_says_so(stack):
    # GIVEN a connected tenant, and Intuit's revocation endpoint unreachable
    stack.connect()
    wiring.intuit_oauth().endpoints()["revocation_endpoint"] = "http://127.0.0.1:9/revoke"

    status, body = stack.api("PUT", "/quickbooks/connection", body={"active": False})

    assert status == 200
    assert body["status"] == "not_connected"
    assert body["revoked"] is False
    assert "could not" in body["detail"]


def test_reconnect_to_second_company_shows_new_company(stack):
    first = stack.connect()
    stack.api("PUT", "/quickbooks/connection", body={"active": False})
    second = stack.connect(realm_id=stack.company("Second Co (QBO)"))

    connection = stack.api("GET", "/quickbooks/connection")[1]

    assert first != second
    assert (connection["realmId"], connection["companyName"]) == (second, "Second Co (QBO)")


@pytest.mark.parametrize("body", [{"active": "yes"}, {}, {"active": None}])
def test_put_connection_invalid_body_is_422_naming_active(stack, body):
    status, problem = stack.api("PUT", "/quickbooks/connection", body=body)

    assert status == 422
    assert [e["field"] for e in problem["errors"]] == ["active"]


def test_put_connection_unreadable_json_is_400(stack):
    status, problem = stack.api("PUT", "/quickbooks/connection", body="{not json")

    assert status == 400
    assert problem["status"] == 400


def test_callback_company_unreadable_redirects_token_exchange_failed_and_keeps_nothing(stack):
    # GIVEN QuickBooks fails every CompanyInfo read of the chosen company right after consent
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    stack.http.post(
        "/_admin/faults", json={"realmId": realm, "method": "GET", "entity": "companyinfo", "status": 500, "count": 10}
    )

    # WHEN the browser comes back
    location = stack.callback(query)

    # THEN the UI hears it failed, and no tokens were stored
    assert location.endswith("result=error&reason=token_exchange_failed")
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"
    names = [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]
    assert "books360-qbo/tokens/t1" not in names


def test_two_tabs_the_later_finish_of_an_older_attempt_never_replaces_the_winner(stack):
    # GIVEN the admin opened two consent tabs: an older attempt for company A, the newer for company B
    realm_a, realm_b = stack.company("A Co"), stack.company("B Co")
    _, older = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    _, newer = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query_a = stack.consent(older["authorizeUrl"], realm_a)
    query_b = stack.consent(newer["authorizeUrl"], realm_b)

    # WHEN B finishes first, then A
    assert stack.callback(query_b).endswith("result=connected")
    assert stack.callback(query_a).endswith("reason=invalid_state")

    # THEN the tenant is connected to B, with B's tokens, and QuickBooks calls work
    assert stack.api("GET", "/quickbooks/connection")[1]["realmId"] == realm_b
    assert wiring.quickbooks_for("t1").company_info()["Id"] == realm_b


def test_naming_the_company_on_connect_is_paced_like_every_call(stack):
    # GIVEN a company whose calls are booked 2 s ahead by other containers
    realm = stack.company()
    calendar = wiring.call_calendar()
    while calendar.peek(realm) < time.time() + 2:
        calendar.book(realm)
    booked_until = calendar.peek(realm)
    status, body = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    assert status == 200, body
    consented = stack.consent(body["authorizeUrl"], realm)

    # WHEN Intuit sends the admin back
    location = stack.callback(consented)

    # THEN the callback's CompanyInfo call took its turn on the company's calendar (after the others) and the
    # company is connected
    assert location.endswith("result=connected"), location
    assert time.time() >= booked_until
    assert calendar.peek(realm) == pytest.approx(booked_until + CALL_SPACING)


# --- tokens first; no failure of the callback is a 500 (issue 10) -------------------------------------------------


def _secrets_refusing(monkeypatch, code: str, message: str) -> None:
    """Every token write to Secrets Manager fails with ``code`` (reads and the app secret still work)."""
    from botocore.exceptions import ClientError

    def refuse(*args, **kwargs):
        raise ClientError({"Error": {"Code": code, "Message": message}}, "PutSecretValue")

    vault = wiring.token_vault()
    monkeypatch.setattr(vault.client, "put_secret_value", refuse)
    monkeypatch.setattr(vault.client, "create_secret", refuse)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ThrottlingException", "Rate exceeded"),
        (
            "InvalidRequestException",
            "You can't create this secret because a secret with this name is already scheduled",
        ),
        ("ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters"),
    ],
    ids=["throttled", "scheduled-for-deletion", "name-refused"],
)
def test_callback_whose_tokens_cannot_be_stored_redirects_an_error_and_connects_nothing(
    stack, monkeypatch, code, message
):
    # GIVEN the admin approved, and Secrets Manager refuses the tokens
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    _secrets_refusing(monkeypatch, code, message)

    # WHEN the browser comes back
    location = stack.callback(query)

    # THEN the UI hears it failed, and the tenant is not shown connected (nothing without tokens)
    assert location == f"{UI_BASE_URL}/integrations/quickbooks?result=error&reason=token_exchange_failed"
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"
    assert wiring.connection_store().tenants_of_realm(realm) == []

    # AND once Secrets Manager takes writes again, connecting anew works
    monkeypatch.undo()
    stack.connect(realm_id=realm)


def test_callback_failing_unexpectedly_after_the_tokens_redirects_an_error_not_a_500(stack, monkeypatch):
    # GIVEN the connection write fails in a way nobody planned for
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    store = type(wiring.connection_store())

    def broken(self, *args, **kwargs):
        raise RuntimeError("DynamoDB said something new")

    monkeypatch.setattr(store, "complete", broken)

    # WHEN the browser comes back, THEN it is sent to the UI with an error
    answer = stack.call("oauth_callback", "GET", "/quickbooks/oauth/callback", tenant=None, query=query)
    assert answer["statusCode"] == 302
    assert answer["headers"]["Location"].endswith("result=error&reason=token_exchange_failed")


def test_callback_stores_the_tokens_before_the_tenant_shows_connected(stack, monkeypatch):
    # GIVEN a spy on the order of the two writes
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    order: list[str] = []
    vault, store = type(wiring.token_vault()), type(wiring.connection_store())
    put, complete = vault.put, store.complete

    def spy_put(self, *args, **kwargs):
        order.append("tokens")
        return put(self, *args, **kwargs)

    def spy_complete(self, *args, **kwargs):
        order.append("connected")
        return complete(self, *args, **kwargs)

    monkeypatch.setattr(vault, "put", spy_put)
    monkeypatch.setattr(store, "complete", spy_complete)

    assert stack.callback(query).endswith("result=connected")
    assert order == ["tokens", "connected"]


def test_callback_with_a_token_endpoint_answering_200_without_json_redirects_token_exchange_failed(stack, monkeypatch):
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    oauth = wiring.intuit_oauth()
    post = oauth._http.post

    def html_at_token_endpoint(url, *args, **kwargs):
        if url == oauth.endpoints()["token_endpoint"]:
            return httpx.Response(200, text="<html>down for maintenance</html>", request=httpx.Request("POST", url))
        return post(url, *args, **kwargs)

    monkeypatch.setattr(oauth._http, "post", html_at_token_endpoint)

    assert stack.callback(query).endswith("result=error&reason=token_exchange_failed")
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"


@pytest.mark.parametrize("path", ["/no-such-discovery-document", "/_admin/requests"], ids=["404", "not-discovery"])
def test_switching_on_while_intuits_discovery_is_unreadable_is_a_503_problem(stack, monkeypatch, path):
    # GIVEN Intuit's discovery document cannot be read (or is not one)
    monkeypatch.setenv("QBO_DISCOVERY_URL", f"{stack.emulator.url}{path}")
    wiring.reset()

    # WHEN the admin switches the integration on
    answer = stack.call("api", "PUT", "/quickbooks/connection", body={"active": True})

    # THEN a problem says Intuit is unavailable, and nothing changed
    assert answer["statusCode"] == 503, answer
    assert answer["headers"]["Content-Type"] == "application/problem+json"
    assert "Retry-After" in answer["headers"]
    assert json.loads(answer["body"])["type"] == "/problems/intuit-unavailable"
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"

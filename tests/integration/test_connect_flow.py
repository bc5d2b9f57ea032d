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
from shared.quickbooks.client import QuickBooksClient
from shared.quickbooks.oauth import REVOKE_SECONDS
from shared.services.pacing import CALL_SPACING
from shared.store.tokens import TokenVault
from tests.integration.conftest import UI_BASE_URL
from tests.support.events import LambdaContext, eventbridge_event

PENDING_PREFIX = "books360-qbo/pending-tokens/"


def test_connect_full_dance_stores_tokens_in_secrets_manager_and_names_the_company(stack):
    # GIVEN a QuickBooks company
    realm = stack.company("Acme Books (QBO)")

    # WHEN the admin switches the integration on, consents at Intuit, and comes back
    status, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    assert (status, started["status"]) == (200, "connecting")
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))

    # THEN the browser lands on the UI to confirm, and the UI's confirm connects the company
    assert location.startswith(f"{UI_BASE_URL}/integrations/quickbooks?result=confirm&ticket=")
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "connecting"
    status, confirmed = stack.confirm(location)
    assert (status, confirmed["status"], confirmed["realmId"]) == (200, "connected", realm)
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
    assert stack.confirm(stack.callback(query))[0] == 200

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
    assert stack.confirm(stack.callback(stack.consent(a["authorizeUrl"], realm)), tenant="tA")[0] == 200

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


def test_ten_concurrent_calls_after_expiry_refresh_once(stack):
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
    assert stack.confirm(stack.callback(query_b))[0] == 200
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
    assert stack.confirm(location)[0] == 200
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
    # GIVEN the write of the connect's ticket fails in a way nobody planned for
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    store = type(wiring.connect_ticket_store())

    def broken(self, *args, **kwargs):
        raise RuntimeError("DynamoDB said something new")

    monkeypatch.setattr(store, "put", broken)

    # WHEN the browser comes back, THEN it is sent to the UI with an error
    answer = stack.call("oauth_callback", "GET", "/quickbooks/oauth/callback", tenant=None, query=query)
    assert answer["statusCode"] == 302
    assert answer["headers"]["Location"].endswith("result=error&reason=token_exchange_failed")


def test_confirm_stores_the_tokens_before_the_tenant_shows_connected(stack, monkeypatch):
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

    status, body = stack.confirm(stack.callback(query))
    assert (status, body["status"]) == (200, "connected"), body
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


# -- issue 10: a forwarded consent link must not connect anything ------------------------------------------------


def _secret_names() -> list[str]:
    return [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]


def _pending_tokens() -> dict:
    """The one pending secret's tokens (the callback holds them there until a confirm)."""
    names = [n for n in _secret_names() if n.startswith(PENDING_PREFIX)]
    assert len(names) == 1, names
    return json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=names[0])["SecretString"])


def _sweep(stack, remaining_ms: int = 60_000) -> dict:
    """The schedule's run, with the time its Lambda has (template.yaml: 60 s)."""
    return stack.functions["connect_sweep"].lambda_handler(
        eventbridge_event("Scheduled Event", {}, source="aws.events"), LambdaContext(remaining_ms=remaining_ms)
    )


def test_forwarded_consent_link_approved_elsewhere_connects_nothing_for_another_tenants_confirm(stack):
    # GIVEN Alice's tenant started a connect, and Bob (admin of another company, signed in to his own Books360
    # tenant) approved the forwarded authorize URL in his own browser
    bobs_company = stack.company("Bob's Co (QBO)")
    _, started = stack.api("PUT", "/quickbooks/connection", tenant="alice", body={"active": True})
    landing = stack.callback(stack.consent(started["authorizeUrl"], bobs_company))

    # WHEN Bob's browser lands on the UI and the UI confirms with Bob's token
    status, problem = stack.confirm(landing, tenant="bob")

    # THEN it is refused and nothing is connected: neither tenant has tokens, Alice is still only connecting
    assert status == 404, problem
    assert stack.api("GET", "/quickbooks/connection", tenant="alice")[1]["status"] == "connecting"
    assert stack.api("GET", "/quickbooks/connection", tenant="bob")[1]["status"] == "not_connected"
    assert not {"books360-qbo/tokens/alice", "books360-qbo/tokens/bob"} & set(_secret_names())


def test_callback_alone_connects_nothing_and_keeps_tokens_out_of_the_tenants_secret(stack):
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})

    location = stack.callback(stack.consent(started["authorizeUrl"], realm))

    assert "result=confirm" in location
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "connecting"
    assert "books360-qbo/tokens/t1" not in _secret_names()
    ticket = location.split("ticket=", 1)[1]
    assert ticket not in location.split("ticket=", 1)[0]
    assert ticket not in json.dumps(boto3.client("dynamodb").scan(TableName="books360-test")["Items"])


def test_confirm_ticket_is_single_use(stack):
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))

    first, _ = stack.confirm(location)
    second, problem = stack.confirm(location)

    assert first == 200
    assert second in (404, 409), problem
    assert not [n for n in _secret_names() if n.startswith(PENDING_PREFIX)]


@pytest.mark.parametrize("ticket", ["forged", "x" * 129, ""])
def test_confirm_unknown_or_malformed_ticket_is_refused(stack, ticket):
    status, problem = stack.api("POST", "/quickbooks/connection/confirm", body={"ticket": ticket})

    assert status in (404, 422), problem
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"


def test_confirm_of_a_superseded_connect_is_409_and_connects_nothing(stack):
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))
    stack.api("PUT", "/quickbooks/connection", body={"active": True})  # the admin started over

    status, problem = stack.confirm(location)

    assert status == 409, problem
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "connecting"
    assert "books360-qbo/tokens/t1" not in _secret_names()


def test_unconfirmed_tokens_are_refused_after_ten_minutes_then_revoked_at_intuit_and_forgotten(stack, monkeypatch):
    # GIVEN a callback whose ticket nobody confirmed
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", tenant="alice", body={"active": True})
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))
    pending = _pending_tokens()
    assert stack.emulator.state.oauth.check_access_token(pending["accessToken"], realm) == "ok"
    assert _sweep(stack)["revoked"] == 0  # not yet: still within its ten minutes

    # WHEN ten minutes have passed
    later = wiring.now() + timedelta(minutes=10, seconds=1)
    monkeypatch.setattr(wiring, "now", lambda: later)
    late_confirm, _ = stack.confirm(location, tenant="alice")
    swept = _sweep(stack)

    # THEN the confirm is refused, the sweep revoked the tokens at Intuit and forgot them, and the tenant is back
    # where it was before it switched on
    assert late_confirm == 409
    assert (swept["revoked"], swept["forgotten"]) == (1, 1)
    assert stack.emulator.state.oauth.check_access_token(pending["accessToken"], realm) == "invalid"
    assert not [n for n in _secret_names() if n.startswith(PENDING_PREFIX)]
    assert stack.api("GET", "/quickbooks/connection", tenant="alice")[1]["status"] == "not_connected"
    assert stack.confirm(location, tenant="alice")[0] == 404


def test_sweep_does_not_revoke_unconfirmed_tokens_of_a_company_another_tenant_is_connected_to(stack, monkeypatch):
    # GIVEN Bob's tenant is connected to his company, and a forwarded link of Alice's was approved for it
    bobs_company = stack.connect(tenant="bob")
    _, started = stack.api("PUT", "/quickbooks/connection", tenant="alice", body={"active": True})
    stack.callback(stack.consent(started["authorizeUrl"], bobs_company))
    pending = _pending_tokens()

    # WHEN the sweep runs past the ticket's ten minutes
    later = wiring.now() + timedelta(minutes=11)
    monkeypatch.setattr(wiring, "now", lambda: later)
    swept = _sweep(stack)

    # THEN the pending tokens are forgotten without a revoke (it would disconnect the app from Bob's company too)
    assert (swept["revoked"], swept["forgotten"]) == (0, 1)
    assert not [n for n in _secret_names() if n.startswith(PENDING_PREFIX)]
    assert stack.emulator.state.oauth.check_access_token(pending["accessToken"], bobs_company) == "ok"
    assert wiring.quickbooks_for("bob").company_info()["Id"] == bobs_company


# -- issue 10: realmId from the callback --------------------------------------------------------------------------


@pytest.mark.parametrize("forged", ["12a4", "../1", "1 OR 1", "\u0661\u0662\u0663", "", "1" * 40])
def test_callback_realm_id_not_digits_is_refused_before_the_code_is_spent(stack, forged):
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    before = stack.requests()["byEndpoint"].get("POST token", 0)

    location = stack.callback({**query, "realmId": forged})

    assert "result=error&reason=invalid_state" in location
    assert stack.requests()["byEndpoint"].get("POST token", 0) == before
    assert not [n for n in _secret_names() if n.startswith("books360-qbo/tokens/")]
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"


def test_callback_company_info_of_another_company_is_refused_and_keeps_nothing(stack, monkeypatch):
    # GIVEN QuickBooks answers the CompanyInfo read with another company's id
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    monkeypatch.setattr(QuickBooksClient, "company_info", lambda self: {"Id": "1" + realm, "CompanyName": "Other"})

    # WHEN the browser comes back
    location = stack.callback(query)

    # THEN nothing is held for a confirm
    assert location.endswith("result=error&reason=token_exchange_failed"), location
    assert not [n for n in _secret_names() if n.startswith("books360-qbo/tokens/")]
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"


# -- issue 10: a disconnect does not cut another tenant off ------------------------------------------------------


def test_disconnect_skips_the_revoke_while_another_tenant_is_connected_to_the_same_company(stack):
    # GIVEN two tenants connected to one QuickBooks company
    realm = stack.connect(tenant="tA")
    stack.connect(tenant="tB", realm_id=realm)
    secrets_manager = boto3.client("secretsmanager")
    a_tokens = json.loads(secrets_manager.get_secret_value(SecretId="books360-qbo/tokens/tA")["SecretString"])

    # WHEN A switches the integration off
    status, body = stack.api("PUT", "/quickbooks/connection", tenant="tA", body={"active": False})

    # THEN A is disconnected and its tokens deleted here, but nothing was revoked at Intuit (a revoke disconnects
    # the app from the whole company), and B still works
    assert (status, body["status"], body["revoked"]) == (200, "not_connected", False)
    assert "another" in body["detail"]
    assert "books360-qbo/tokens/tA" not in _secret_names()
    assert stack.emulator.state.oauth.check_access_token(a_tokens["accessToken"], realm) == "ok"
    assert wiring.quickbooks_for("tB").company_info()["Id"] == realm

    # AND the last tenant of the company to leave revokes as before
    b_tokens = json.loads(secrets_manager.get_secret_value(SecretId="books360-qbo/tokens/tB")["SecretString"])
    _, last = stack.api("PUT", "/quickbooks/connection", tenant="tB", body={"active": False})
    assert last["revoked"] is True
    assert stack.emulator.state.oauth.check_access_token(b_tokens["accessToken"], realm) == "invalid"


def test_sweep_goes_on_past_a_pending_connect_it_cannot_handle(stack, monkeypatch):
    # GIVEN two unconfirmed connects, the first of which Secrets Manager will not read
    realm = stack.company()
    for tenant in ("tA", "tB"):
        _, started = stack.api("PUT", "/quickbooks/connection", tenant=tenant, body={"active": True})
        stack.callback(stack.consent(started["authorizeUrl"], realm))
    broken = wiring.connect_ticket_store().expired(wiring.now() + timedelta(minutes=11))[0].digest
    read = TokenVault.get_pending

    def get_pending(self, digest):
        if digest == broken:
            raise RuntimeError("throttled")
        return read(self, digest)

    monkeypatch.setattr(TokenVault, "get_pending", get_pending)
    later = wiring.now() + timedelta(minutes=11)
    monkeypatch.setattr(wiring, "now", lambda: later)

    # WHEN the sweep runs
    swept = _sweep(stack)

    # THEN the other one was revoked and forgotten, and the failed one is left for the next sweep
    assert (swept["revoked"], swept["forgotten"], swept["failed"]) == (1, 1, 1)
    assert len([n for n in _secret_names() if n.startswith(PENDING_PREFIX)]) == 1


def test_confirm_whose_tokens_cannot_be_stored_is_a_503_and_can_be_confirmed_again(stack, monkeypatch):
    # GIVEN a callback holding the tokens for a confirm, and Secrets Manager refusing the tenant's token write
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))
    vault = type(wiring.token_vault())
    put = vault.put

    def throttled(self, *args, **kwargs):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutSecretValue")

    monkeypatch.setattr(vault, "put", throttled)

    # WHEN the UI confirms: THEN a 503 problem says try again, and the tenant is not connected without tokens
    status, body = stack.confirm(location)
    assert status == 503, body
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] != "connected"

    # AND confirming again once Secrets Manager takes writes connects
    monkeypatch.setattr(vault, "put", put)
    status, body = stack.confirm(location)
    assert (status, body["status"]) == (200, "connected"), body


def _aws_error(code: str, operation: str):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def test_callback_whose_ticket_cannot_be_written_leaves_no_pending_secret_unknown_to_the_sweep(stack, monkeypatch):
    # GIVEN the admin approved, and DynamoDB refuses the ticket's write
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    store = type(wiring.connect_ticket_store())

    def refused(self, *args, **kwargs):
        raise _aws_error("ProvisionedThroughputExceededException", "PutItem")

    monkeypatch.setattr(store, "put", refused)

    # WHEN the browser comes back
    location = stack.callback(query)

    # THEN it failed, and no pending secret was written without the ticket the sweep finds it by
    assert location.endswith("result=error&reason=token_exchange_failed")
    assert not [n for n in _secret_names() if n.startswith(PENDING_PREFIX)]


def test_callback_whose_pending_secret_cannot_be_written_leaves_a_ticket_the_sweep_forgets(stack, monkeypatch):
    # GIVEN the admin approved, and Secrets Manager refuses the pending tokens after the ticket was written
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    _secrets_refusing(monkeypatch, "ThrottlingException", "Rate exceeded")
    assert stack.callback(query).endswith("result=error&reason=token_exchange_failed")
    monkeypatch.undo()

    # WHEN the sweep runs after the ticket's ten minutes
    later = wiring.now() + timedelta(minutes=11)
    monkeypatch.setattr(wiring, "now", lambda: later)
    swept = _sweep(stack)

    # THEN the ticket is forgotten (nothing to revoke) and the tenant is as before
    assert (swept["revoked"], swept["forgotten"], swept["failed"]) == (0, 1, 0)
    assert wiring.connect_ticket_store().expired(later) == []
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"


def test_confirm_racing_the_sweep_at_expiry_never_ends_connected_with_revoked_tokens(stack, monkeypatch):
    # GIVEN an unconfirmed connect at the end of its ten minutes
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))
    tokens = _pending_tokens()
    before = wiring.now()
    after = before + timedelta(minutes=10, seconds=1)
    oauth = type(wiring.intuit_oauth())
    revoke = oauth.revoke
    confirms: list[int] = []
    racing: list[str] = []

    def confirm_lands_as_the_sweep_revokes(self, token):
        # The sweep has read the expired ticket unconfirmed; the UI's confirm, read a moment before expiry, lands
        # just before the sweep's revoke.
        if not racing:
            racing.append(token)
            monkeypatch.setattr(wiring, "now", lambda: before)
            with ThreadPoolExecutor(1) as ui:  # its own call stack: the API function's, not the sweep's
                confirms.append(ui.submit(stack.confirm, location).result()[0])
            monkeypatch.setattr(wiring, "now", lambda: after)
        return revoke(self, token)

    monkeypatch.setattr(oauth, "revoke", confirm_lands_as_the_sweep_revokes)
    monkeypatch.setattr(wiring, "now", lambda: after)

    # WHEN the sweep runs
    _sweep(stack)

    # THEN one of them won: the tenant is not connected with tokens the sweep revoked
    status = stack.api("GET", "/quickbooks/connection")[1]["status"]
    valid = stack.emulator.state.oauth.check_access_token(tokens["accessToken"], realm) == "ok"
    assert (status, valid) in {("connected", True), ("not_connected", False)}, (confirms, status, valid)
    assert confirms == [200 if status == "connected" else 409]


def test_confirm_whose_pending_tokens_are_unreadable_is_a_503_and_can_be_confirmed_again(stack, monkeypatch):
    # GIVEN a callback holding the tokens, and Secrets Manager failing on their read
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))
    vault = wiring.token_vault()
    read = vault.client.get_secret_value

    def failing(**kwargs):
        if "pending" in kwargs["SecretId"]:
            raise _aws_error("InternalServiceError", "GetSecretValue")
        return read(**kwargs)

    monkeypatch.setattr(vault.client, "get_secret_value", failing)

    # WHEN the UI confirms: THEN a 503 problem with Retry-After, and nothing is connected or used up
    answer = stack.call("api", "POST", "/quickbooks/connection/confirm", body={"ticket": location.split("ticket=")[1]})
    assert answer["statusCode"] == 503, answer["body"]
    assert answer["headers"]["Retry-After"] == "5"
    assert answer["headers"]["Content-Type"] == "application/problem+json"
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "connecting"

    # AND once Secrets Manager reads again, the same ticket connects
    monkeypatch.setattr(vault.client, "get_secret_value", read)
    status, body = stack.confirm(location)
    assert (status, body["status"]) == (200, "connected"), body


def test_confirm_by_another_tenant_leaves_the_ticket_for_its_starter(stack):
    # GIVEN Alice's callback landed, and Bob's tenant tries her ticket first
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", tenant="alice", body={"active": True})
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))
    tokens = _pending_tokens()
    assert stack.confirm(location, tenant="bob")[0] == 404

    # WHEN Alice confirms
    status, body = stack.confirm(location, tenant="alice")

    # THEN she is connected with the tokens Bob's try neither used nor revoked
    assert (status, body["status"], body["realmId"]) == (200, "connected", realm), body
    assert stack.emulator.state.oauth.check_access_token(tokens["accessToken"], realm) == "ok"


def test_disconnect_whose_token_deletion_fails_shows_not_connected_and_a_retry_finishes(stack, monkeypatch):
    # GIVEN a connected tenant, and Secrets Manager failing the deletion of its tokens
    realm = stack.connect()
    vault = wiring.token_vault()
    delete = vault.client.delete_secret

    def throttled(**kwargs):
        raise _aws_error("ThrottlingException", "DeleteSecret")

    monkeypatch.setattr(vault.client, "delete_secret", throttled)

    # WHEN the integration is switched off
    answer = stack.call("api", "PUT", "/quickbooks/connection", body={"active": False})

    # THEN it is a 503 to retry, and the tenant no longer shows connected (it never shows connected without tokens)
    assert answer["statusCode"] == 503, answer["body"]
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"
    assert wiring.connection_store().tenants_of_realm(realm) == []

    # AND switching off again deletes the tokens
    monkeypatch.setattr(vault.client, "delete_secret", delete)
    status, body = stack.api("PUT", "/quickbooks/connection", body={"active": False})
    assert (status, body["status"]) == (200, "not_connected"), body
    assert "books360-qbo/tokens/t1" not in _secret_names()


@pytest.mark.parametrize("b_leaves", ["after_as_read_of_the_others", "before_as_own_status_write"])
def test_two_tenants_of_one_company_leaving_at_once_revoke_at_least_once(stack, monkeypatch, b_leaves):
    # GIVEN two tenants connected to one QuickBooks company
    realm = stack.connect(tenant="tA")
    stack.connect(tenant="tB", realm_id=realm)
    secrets_manager = boto3.client("secretsmanager")
    tokens = {
        tenant: json.loads(secrets_manager.get_secret_value(SecretId=f"books360-qbo/tokens/{tenant}")["SecretString"])
        for tenant in ("tA", "tB")
    }
    store = type(wiring.connection_store())
    oauth = type(wiring.intuit_oauth())
    revoke, others_of, write = oauth.revoke, store.others_connected_to, store.disconnect
    revoked: list[str] = []
    b_answer: list[dict] = []

    def b_disconnects_whole() -> None:
        if not b_answer:
            b_answer.append(stack.api("PUT", "/quickbooks/connection", tenant="tB", body={"active": False})[1])

    def others_connected_to(self, realm_id, tenant_id=None):
        found = others_of(self, realm_id, tenant_id)
        if tenant_id == "tA" and b_leaves == "after_as_read_of_the_others":
            b_disconnects_whole()
        return found

    def disconnect(self, tenant_id):
        if tenant_id == "tA" and b_leaves == "before_as_own_status_write":
            b_disconnects_whole()
        write(self, tenant_id)

    def counted_revoke(self, token):
        revoked.append(token)
        revoke(self, token)

    monkeypatch.setattr(store, "others_connected_to", others_connected_to)
    monkeypatch.setattr(store, "disconnect", disconnect)
    monkeypatch.setattr(oauth, "revoke", counted_revoke)

    # WHEN A switches off, and B's whole switch-off runs in the middle of A's
    status, a_answer = stack.api("PUT", "/quickbooks/connection", tenant="tA", body={"active": False})

    # THEN both are disconnected, and exactly one of them revoked at Intuit (the app is not left authorized with
    # both token secrets deleted)
    assert status == 200, a_answer
    assert [a_answer["status"], b_answer[0]["status"]] == ["not_connected", "not_connected"]
    assert len(revoked) == 1, (a_answer, b_answer)
    assert [a_answer["revoked"], b_answer[0]["revoked"]].count(True) == 1
    revoker = "tA" if a_answer["revoked"] else "tB"
    assert revoked == [tokens[revoker]["refreshToken"]]
    assert stack.emulator.state.oauth.check_access_token(tokens[revoker]["accessToken"], realm) == "invalid"
    assert not [n for n in _secret_names() if n.startswith("books360-qbo/tokens/")]


def _exchanged_tokens(monkeypatch) -> list:
    """The token sets the callback's code exchanges answer, as they come."""
    oauth = type(wiring.intuit_oauth())
    exchange = oauth.exchange_code
    exchanged: list = []

    def recorded(self, code, *, redirect_uri):
        exchanged.append(exchange(self, code, redirect_uri=redirect_uri))
        return exchanged[-1]

    monkeypatch.setattr(oauth, "exchange_code", recorded)
    return exchanged


@pytest.mark.parametrize("revoke", ["answers", "fails"])
def test_callback_whose_pending_secret_cannot_be_written_revokes_the_tokens_it_could_not_keep(
    stack, monkeypatch, revoke
):
    # GIVEN the admin approved, and Secrets Manager refuses the pending tokens (and Intuit's revoke may fail too)
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    query = stack.consent(started["authorizeUrl"], realm)
    exchanged = _exchanged_tokens(monkeypatch)
    _secrets_refusing(monkeypatch, "ThrottlingException", "Rate exceeded")
    if revoke == "fails":
        from shared.quickbooks.oauth import OAuthUnavailable

        def unavailable(self, token):
            raise OAuthUnavailable("Intuit's revocation endpoint did not answer")

        monkeypatch.setattr(type(wiring.intuit_oauth()), "revoke", unavailable)

    # WHEN the browser comes back
    location = stack.callback(query)

    # THEN the UI hears it failed (never a 500), and the tokens kept nowhere are revoked at Intuit when it answers
    assert location.endswith("result=error&reason=token_exchange_failed"), location
    [tokens] = exchanged
    expected = "invalid" if revoke == "answers" else "ok"
    assert stack.emulator.state.oauth.check_access_token(tokens.access_token, realm) == expected
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"


def test_callback_whose_pending_secret_cannot_be_written_revokes_nothing_of_a_company_another_tenant_uses(
    stack, monkeypatch
):
    # GIVEN Bob's tenant is connected to his company, Alice's forwarded link was approved for it, and Secrets
    # Manager refuses the pending tokens
    bobs_company = stack.connect(tenant="bob")
    _, started = stack.api("PUT", "/quickbooks/connection", tenant="alice", body={"active": True})
    query = stack.consent(started["authorizeUrl"], bobs_company)
    exchanged = _exchanged_tokens(monkeypatch)
    _secrets_refusing(monkeypatch, "ThrottlingException", "Rate exceeded")

    # WHEN the browser comes back
    location = stack.callback(query)

    # THEN nothing is revoked: a revoke would disconnect the app from Bob's company too
    assert location.endswith("result=error&reason=token_exchange_failed"), location
    assert stack.emulator.state.oauth.check_access_token(exchanged[0].access_token, bobs_company) == "ok"
    monkeypatch.undo()
    assert wiring.quickbooks_for("bob").company_info()["Id"] == bobs_company


def _expiring_connect(stack, monkeypatch):
    """An unconfirmed connect at the end of its ten minutes: its landing location, tokens, and the times a second
    either side of its expiry (``wiring.now`` is the one before)."""
    realm = stack.company()
    _, started = stack.api("PUT", "/quickbooks/connection", body={"active": True})
    location = stack.callback(stack.consent(started["authorizeUrl"], realm))
    started_at = wiring.now()
    before, after = started_at + timedelta(minutes=9, seconds=59), started_at + timedelta(minutes=10, seconds=1)
    monkeypatch.setattr(wiring, "now", lambda: before)
    return realm, location, _pending_tokens(), before, after


def _sweep_at(stack, monkeypatch, at, then):
    """The sweep, run at ``at`` from its own call stack (the sweep function's, not the caller's); ``then`` after."""
    monkeypatch.setattr(wiring, "now", lambda: at)
    with ThreadPoolExecutor(1) as schedule:
        swept = schedule.submit(_sweep, stack).result()
    monkeypatch.setattr(wiring, "now", lambda: then)
    return swept


def test_confirm_claims_the_ticket_before_writing_the_tenants_secret_so_a_sweep_in_between_leaves_it(
    stack, monkeypatch
):
    # GIVEN a confirm that has read the ticket and the pending tokens just before the ten minutes ended
    realm, location, tokens, before, after = _expiring_connect(stack, monkeypatch)
    vault = type(wiring.token_vault())
    read = vault.get_pending
    sweeps: list[dict] = []
    racing: list[str] = []

    def sweep_runs_after_the_confirms_read(self, digest):
        stored = read(self, digest)
        if not racing:  # the sweep, just past the expiry, runs before the confirm writes the tenant's secret
            racing.append(digest)
            sweeps.append(_sweep_at(stack, monkeypatch, after, before))
        return stored

    monkeypatch.setattr(vault, "get_pending", sweep_runs_after_the_confirms_read)

    # WHEN the confirm finishes
    status, body = stack.confirm(location)

    # THEN the sweep left the ticket to the confirm that held it (nothing revoked), and the tenant is connected
    # with live tokens
    assert sweeps[0]["revoked"] == 0 and sweeps[0]["deferred"] == 1, sweeps
    assert (status, body["status"]) == (200, "connected"), body
    assert stack.emulator.state.oauth.check_access_token(tokens["accessToken"], realm) == "ok"
    assert wiring.quickbooks_for("t1").company_info()["Id"] == realm

    # AND the confirm forgot the used ticket and its pending secret: nothing is left for a sweep
    assert wiring.connect_ticket_store().expired(after) == []
    assert not [n for n in _secret_names() if n.startswith(PENDING_PREFIX)]


def test_a_sweep_that_claimed_the_ticket_first_keeps_the_confirm_from_writing_the_tenants_secret(stack, monkeypatch):
    # GIVEN a confirm that has read the ticket just before the ten minutes ended, and a sweep, just after, that
    # claims it before the confirm does (and has not finished with it yet)
    realm, location, tokens, before, after = _expiring_connect(stack, monkeypatch)
    store = type(wiring.connect_ticket_store())
    claim = store.claim_for_sweep
    confirms: list[tuple[int, object]] = []
    racing: list[str] = []

    def confirm_lands_after_the_sweeps_claim(self, digest, now):
        claimed = claim(self, digest, now)
        if not racing:
            racing.append(digest)
            monkeypatch.setattr(wiring, "now", lambda: before)
            with ThreadPoolExecutor(1) as ui:
                confirms.append(ui.submit(stack.confirm, location).result())
            monkeypatch.setattr(wiring, "now", lambda: after)
        return claimed

    monkeypatch.setattr(store, "claim_for_sweep", confirm_lands_after_the_sweeps_claim)
    monkeypatch.setattr(wiring, "now", lambda: after)

    # WHEN the sweep runs
    swept = _sweep(stack)

    # THEN the confirm was refused before it wrote the tenant's secret, and the sweep revoked the tokens
    assert confirms[0][0] == 409, confirms
    assert "books360-qbo/tokens/t1" not in _secret_names()
    assert swept["revoked"] == 1, swept
    assert stack.emulator.state.oauth.check_access_token(tokens["accessToken"], realm) == "invalid"
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "not_connected"


def test_sweep_with_too_little_time_left_for_a_revoke_leaves_its_tickets_for_the_next_run(stack, monkeypatch):
    # GIVEN two unconfirmed connects past their ten minutes
    realm = stack.company()
    for tenant in ("tA", "tB"):
        _, started = stack.api("PUT", "/quickbooks/connection", tenant=tenant, body={"active": True})
        stack.callback(stack.consent(started["authorizeUrl"], realm))
    later = wiring.now() + timedelta(minutes=11)
    monkeypatch.setattr(wiring, "now", lambda: later)

    # WHEN the sweep runs with less time left than one revoke may take
    short = _sweep(stack, remaining_ms=int((REVOKE_SECONDS - 1) * 1000))

    # THEN it starts none of them (a revoke cut off by the Lambda's timeout would leave them half done) and the
    # next run, with its time, revokes both
    assert (short["revoked"], short["forgotten"], short["deferred"]) == (0, 0, 2), short
    assert len([n for n in _secret_names() if n.startswith(PENDING_PREFIX)]) == 2
    full = _sweep(stack)
    assert (full["revoked"], full["forgotten"], full["deferred"]) == (2, 2, 0), full
    assert not [n for n in _secret_names() if n.startswith(PENDING_PREFIX)]

"""IntuitOAuth: whatever Intuit's discovery, token or revocation endpoints answer, a typed error, never a crash; its
revoke keeps to the invocation's deadline; its secrets stay out of reprs."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from shared.deadline import RESERVE, within
from shared.quickbooks.oauth import AppCredentials, IntuitOAuth, OAuthError, OAuthUnavailable, TokenSet
from shared.store.tokens import StoredTokens
from tests.support.events import LambdaContext

DISCOVERY = "https://intuit.test/.well-known/openid_configuration"
ENDPOINTS = {
    "authorization_endpoint": "https://intuit.test/connect/oauth2",
    "token_endpoint": "https://intuit.test/tokens/bearer",
    "revocation_endpoint": "https://intuit.test/tokens/revoke",
}


def oauth(token_answer: httpx.Response, discovery_answer: httpx.Response | None = None) -> IntuitOAuth:
    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == DISCOVERY:
            return discovery_answer if discovery_answer is not None else httpx.Response(200, json=ENDPOINTS)
        return token_answer

    return IntuitOAuth(DISCOVERY, AppCredentials("id", "secret"), transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>maintenance</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, json=["not", "a", "token", "document"]),
        httpx.Response(200, json={"access_token": "a"}),  # fields missing
    ],
    ids=["html", "array", "incomplete"],
)
def test_a_200_from_the_token_endpoint_that_is_no_token_document_is_unavailable(answer):
    with pytest.raises(OAuthUnavailable):
        oauth(answer).exchange_code("code", redirect_uri="https://api.test/cb")
    with pytest.raises(OAuthUnavailable):
        oauth(answer).refresh("refresh")


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html/>"),
        httpx.Response(200, json={"issuer": "intuit"}),  # no endpoints
        httpx.Response(200, json=[1, 2]),
        httpx.Response(404, text="gone"),
    ],
    ids=["html", "no-endpoints", "array", "404"],
)
def test_an_unreadable_discovery_document_is_unavailable(answer):
    with pytest.raises(OAuthUnavailable):
        oauth(httpx.Response(500), discovery_answer=answer).authorization_url(redirect_uri="https://cb", state="s")


def test_token_sets_and_app_credentials_keep_their_secrets_out_of_their_repr():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tokens = TokenSet.from_response({"access_token": "ACCESS-SECRET", "refresh_token": "RT1-REFRESH-SECRET"}, now)
    stored = StoredTokens("123", tokens)
    credentials = AppCredentials("client-id", "CLIENT-SECRET")

    shown = " ".join((repr(tokens), str(tokens), repr(stored), repr(credentials)))

    for secret in ("ACCESS-SECRET", "RT1-REFRESH-SECRET", "CLIENT-SECRET"):
        assert secret not in shown
    assert "client-id" in shown and "123" in shown  # what is no secret still shows


@pytest.mark.parametrize("error", ["invalid_token", "invalid_grant"])
def test_a_revoke_of_a_token_intuit_no_longer_knows_is_done(error):
    # A retried disconnect (its token deletion failed after the revoke) revokes the same token again
    oauth(httpx.Response(400, json={"error": error})).revoke("RT1-revoked")


def test_a_revoke_intuit_refuses_for_another_reason_is_an_oauth_error():
    with pytest.raises(OAuthError) as refused:
        oauth(httpx.Response(401, json={"error": "invalid_client"})).revoke("RT1-live")
    assert refused.value.error == "invalid_client"


def _revoke_recording_timeouts(sent: list[dict]) -> IntuitOAuth:
    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == DISCOVERY:
            return httpx.Response(200, json=ENDPOINTS)
        sent.append(request.extensions["timeout"])
        return httpx.Response(200)

    return IntuitOAuth(DISCOVERY, AppCredentials("id", "secret"), transport=httpx.MockTransport(handle))


def test_a_revoke_waits_no_longer_than_the_invocation_has_left():
    sent: list[dict] = []
    with within(LambdaContext(remaining_ms=5_000), http=False):
        _revoke_recording_timeouts(sent).revoke("RT1-live")
    [timeout] = sent
    assert all(0 < seconds <= 5.0 - RESERVE for seconds in timeout.values()), timeout


def test_a_revoke_with_no_time_left_is_not_tried():
    sent: list[dict] = []
    with within(LambdaContext(remaining_ms=int((RESERVE + 0.5) * 1000)), http=False), pytest.raises(OAuthUnavailable):
        _revoke_recording_timeouts(sent).revoke("RT1-live")
    assert sent == []


def test_a_revoke_outside_an_invocation_keeps_its_own_timeouts():
    sent: list[dict] = []
    _revoke_recording_timeouts(sent).revoke("RT1-live")
    assert sent[0]["read"] == 20.0

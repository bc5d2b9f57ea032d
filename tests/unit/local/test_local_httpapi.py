"""HTTP API emulation: route priority, payload 2.0 events, responses, the JWT authorizer."""

from __future__ import annotations

import base64
import json

import pytest

from local.httpapi import MalformedResponse, Router, authorize, build_event, to_http
from local.template import HttpRoute
from local.tokens import InvalidToken, mint_token

ROUTES = [
    HttpRoute("Api", "Proxy", "ANY", "/quickbooks/{proxy+}", True),
    HttpRoute("Callback", "Cb", "GET", "/quickbooks/oauth/callback", False),
    HttpRoute("Sync", "Sync", "POST", "/quickbooks/invoices/{invoiceId}/sync", True),
    HttpRoute("Bulk", "Bulk", "POST", "/quickbooks/invoices/bulk-sync", True),
    HttpRoute("GetOne", "One", "GET", "/pets/{id}", True),
    HttpRoute("AnyOne", "AnyOne", "ANY", "/pets/{id}", True),
    HttpRoute("Dog", "Dog", "GET", "/pets/dog", True),
]


@pytest.fixture
def router() -> Router:
    return Router(ROUTES)


@pytest.mark.parametrize(
    ("method", "path", "function", "params"),
    [
        ("GET", "/quickbooks/connection", "Api", {"proxy": "connection"}),
        ("PUT", "/quickbooks/customers/c-1/sync", "Api", {"proxy": "customers/c-1/sync"}),
        ("GET", "/quickbooks/oauth/callback", "Callback", {}),
        ("POST", "/quickbooks/oauth/callback", "Api", {"proxy": "oauth/callback"}),
        ("POST", "/quickbooks/invoices/inv-7/sync", "Sync", {"invoiceId": "inv-7"}),
        ("GET", "/quickbooks/invoices/inv-7/sync", "Api", {"proxy": "invoices/inv-7/sync"}),
        ("POST", "/quickbooks/invoices/bulk-sync", "Bulk", {}),
        ("GET", "/pets/dog", "Dog", {}),
        ("GET", "/pets/cat", "GetOne", {"id": "cat"}),
        ("DELETE", "/pets/cat", "AnyOne", {"id": "cat"}),
        ("GET", "/pets/a%20b", "GetOne", {"id": "a b"}),
    ],
)
def test_router_most_specific_route_wins(
    router: Router, method: str, path: str, function: str, params: dict[str, str]
) -> None:
    match = router.match(method, path)
    assert match is not None
    assert match.route.function == function
    assert match.path_parameters == params


@pytest.mark.parametrize("path", ["/quickbooks", "/quickbooks/", "/", "/pets", "/pets/a/b", "/other"])
def test_router_no_match_is_none(router: Router, path: str) -> None:
    assert router.match("GET", path) is None


def test_router_greedy_variable_keeps_nested_segments(router: Router) -> None:
    match = router.match("GET", "/quickbooks/jobs/j-1/items")
    assert match is not None
    assert match.route.route_key == "ANY /quickbooks/{proxy+}"
    assert match.path_parameters == {"proxy": "jobs/j-1/items"}


def _event(body: bytes = b"", headers: list[tuple[str, str]] | None = None, query: str = "", authorizer=None):
    match = Router(ROUTES).match("POST", "/quickbooks/invoices/inv-1/sync")
    assert match is not None
    return build_event(
        match,
        method="POST",
        raw_path="/quickbooks/invoices/inv-1/sync",
        raw_query=query,
        headers=headers or [("Host", "127.0.0.1:3000"), ("User-Agent", "pytest")],
        body=body,
        source_ip="127.0.0.1",
        server_port=3000,
        authorizer=authorizer,
        now=1795608000.5,
    )


def test_event_has_payload_2_shape() -> None:
    event = _event(b'{"a": 1}', [("Host", "127.0.0.1:3000"), ("Content-Type", "application/json")])
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /quickbooks/invoices/{invoiceId}/sync"
    assert event["rawPath"] == "/quickbooks/invoices/inv-1/sync"
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "cookies" not in event
    assert event["pathParameters"] == {"invoiceId": "inv-1"}
    assert event["body"] == '{"a": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/quickbooks/invoices/inv-1/sync",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "",
    }
    assert context["stage"] == "$default"
    assert context["routeKey"] == event["routeKey"]
    assert context["timeEpoch"] == 1795608000500
    assert context["time"] == "25/Nov/2026:12:00:00 +0000"
    assert context["domainName"] == "127.0.0.1:3000"
    assert "authorizer" not in context


def test_event_headers_lowercased_joined_and_cookies_split() -> None:
    headers = [("X-Thing", "a"), ("x-thing", "b"), ("Cookie", "s=1; t=2"), ("Host", "h")]
    event = _event(headers=headers, query="q=1&q=2&name=Acme+Corp&empty=")
    assert event["headers"]["x-thing"] == "a,b"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["queryStringParameters"] == {"q": "1,2", "name": "Acme Corp", "empty": ""}
    assert event["rawQueryString"] == "q=1&q=2&name=Acme+Corp&empty="
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"


def test_event_binary_body_is_base64_and_exact() -> None:
    raw = bytes(range(256))
    event = _event(raw, [("Content-Type", "application/octet-stream")])
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_event_json_body_keeps_raw_bytes_for_signatures() -> None:
    raw = '[{"name": "Café",   "n":1}]'.encode()
    event = _event(raw, [("Content-Type", "application/cloudevents-batch+json")])
    assert event["isBase64Encoded"] is False
    assert event["body"].encode("utf-8") == raw


def test_to_http_formatted_response() -> None:
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-N": 3},
        "multiValueHeaders": {"X-M": ["a", "b"]},
        "cookies": ["a=1", "b=2"],
        "body": '{"ok": true}',
    }
    status, headers, body = to_http(result)
    assert status == 201
    assert ("X-N", "3") in headers
    assert ("X-M", "a") in headers and ("X-M", "b") in headers
    assert [v for k, v in headers if k == "set-cookie"] == ["a=1", "b=2"]
    assert body == b'{"ok": true}'


def test_to_http_base64_body() -> None:
    status, _, body = to_http(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    assert (status, body) == (200, b"\x00\x01")


@pytest.mark.parametrize(
    ("result", "body"),
    [({"hello": "world"}, b'{"hello": "world"}'), ("plain", b"plain"), ([1, 2], b"[1, 2]"), (None, b"null")],
)
def test_to_http_inferred_response(result: object, body: bytes) -> None:
    status, headers, data = to_http(result)
    assert status == 200
    assert ("content-type", "application/json") in headers
    assert data == body


@pytest.mark.parametrize(
    "result", [{"statusCode": "abc"}, {"statusCode": 200, "body": {"a": 1}}, {"statusCode": 200, "cookies": "a=1"}]
)
def test_to_http_malformed_response(result: dict[str, object]) -> None:
    with pytest.raises(MalformedResponse):
        to_http(result)


def test_authorize_valid_token_gives_string_claims() -> None:
    token = mint_token("t-1", sub="u-1", secret="s3cret", roles=["a", "b"], admin=True, scope="read write")
    authorizer = authorize(f"Bearer {token}", "s3cret")
    claims = authorizer["jwt"]["claims"]
    assert claims["tenant_id"] == "t-1"
    assert claims["sub"] == "u-1"
    assert isinstance(claims["exp"], str) and claims["exp"].isdigit()
    assert claims["roles"] == "[a b]"
    assert claims["admin"] == "true"
    assert authorizer["jwt"]["scopes"] == ["read", "write"]


@pytest.mark.parametrize(
    ("header", "word"),
    [
        (None, "missing"),
        ("Token abc", "Bearer"),
        ("Bearer ", "Bearer"),
        (f"Bearer {mint_token('t', secret='other')}", "signature"),
        (f"Bearer {mint_token('t', secret='s3cret', ttl=-10)}", "expired"),
        ("Bearer a.b.c", "malformed"),
    ],
)
def test_authorize_rejects(header: str | None, word: str) -> None:
    with pytest.raises(InvalidToken, match=word):
        authorize(header, "s3cret")


def test_authorize_requires_exp() -> None:
    import jwt

    token = jwt.encode({"sub": "u", "tenant_id": "t"}, "s3cret-s3cret-s3cret-s3cret-1234", algorithm="HS256")
    with pytest.raises(InvalidToken, match="exp"):
        authorize(f"Bearer {token}", "s3cret-s3cret-s3cret-s3cret-1234")


def test_unauthorized_body_is_problem_json() -> None:
    from local.httpapi import unauthorized

    status, headers, body = unauthorized("the token has expired")
    assert status == 401
    assert ("content-type", "application/problem+json") in headers
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "the token has expired",
    }

"""API Gateway HTTP API, locally: route selection, the JWT authorizer, payload 2.0 events and responses.

Route selection follows HTTP API's "most specific route wins": segment by segment from the left, a literal beats a
``{variable}`` which beats a greedy ``{proxy+}``; for the same path, a route with the request's method beats ``ANY``.
There is no ``$default`` route in the template, so a request no route matches is ``404 {"message": "Not Found"}``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.config import ACCOUNT_ID
from local.template import API_ID, HttpRoute
from local.tokens import InvalidToken, verify_token

_LITERAL, _VARIABLE, _GREEDY = 2, 1, 0
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/x-www-form")
TEXT_SUFFIXES = ("+json", "+xml")
PROBLEM_JSON = "application/problem+json"


class MalformedResponse(Exception):
    """The function's answer is not a valid payload 2.0 response (API Gateway answers 500)."""


@dataclass(frozen=True)
class RouteMatch:
    route: HttpRoute
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class _Compiled:
    route: HttpRoute
    segments: tuple[tuple[int, str], ...]


def _compile(route: HttpRoute) -> _Compiled:
    segments: list[tuple[int, str]] = []
    parts = list(route.path.split("/")[1:]) if route.path != "/" else []
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            if index != len(parts) - 1:
                raise ValueError(f"{route.route_key}: a greedy variable must be the last segment")
            segments.append((_GREEDY, part[1:-2]))
        elif part.startswith("{") and part.endswith("}"):
            segments.append((_VARIABLE, part[1:-1]))
        else:
            segments.append((_LITERAL, part))
    return _Compiled(route, tuple(segments))


def _match_path(compiled: _Compiled, parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for index, (kind, value) in enumerate(compiled.segments):
        if kind == _GREEDY:
            rest = parts[index:]
            joined = "/".join(unquote(p) for p in rest)
            if not rest or not joined:
                return None
            params[value] = joined
            return params
        if index >= len(parts):
            return None
        segment = unquote(parts[index])
        if kind == _LITERAL:
            if segment != value:
                return None
        elif not segment:
            return None
        else:
            params[value] = segment
    return params if len(parts) == len(compiled.segments) else None


class Router:
    """The template's HttpApi routes, matched as HTTP API matches them."""

    def __init__(self, routes: list[HttpRoute]) -> None:
        self._routes = [_compile(route) for route in routes]

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        parts = raw_path.split("/")[1:] if raw_path not in ("", "/") else []
        best: tuple[tuple[int, ...], bool] | None = None
        found: RouteMatch | None = None
        for compiled in self._routes:
            route = compiled.route
            if route.method not in (method.upper(), "ANY"):
                continue
            params = _match_path(compiled, parts)
            if params is None:
                continue
            score = (tuple(kind for kind, _ in compiled.segments), route.method != "ANY")
            if best is None or score > best:
                best, found = score, RouteMatch(route, params)
        return found


def _is_text(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith(TEXT_TYPES) or media.endswith(TEXT_SUFFIXES)


def _claim_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def authorize(authorization: str | None, secret: str) -> dict[str, Any]:
    """The JWT authorizer: the ``authorizer`` block of the event for a valid bearer token; ``InvalidToken`` else."""
    if not authorization:
        raise InvalidToken("the Authorization header is missing")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("the Authorization header is not 'Bearer <token>'")
    claims = verify_token(token.strip(), secret=secret)
    scope = claims.get("scope", claims.get("scp"))
    scopes = scope.split() if isinstance(scope, str) else [str(s) for s in scope] if isinstance(scope, list) else None
    return {"jwt": {"claims": {key: _claim_text(value) for key, value in claims.items()}, "scopes": scopes}}


def unauthorized(detail: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """401 as the contract asks (problem+json), where API Gateway itself would say ``{"message": "Unauthorized"}``."""
    body = {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": detail}
    headers = [("content-type", PROBLEM_JSON), ("www-authenticate", 'Bearer error="invalid_token"')]
    return 401, headers, json.dumps(body).encode()


def gateway_message(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """An answer API Gateway itself gives (``{"message": ...}``), e.g. 404 Not Found, 500 Internal Server Error."""
    return status, [("content-type", "application/json")], json.dumps({"message": message}).encode()


def request_id() -> str:
    return base64.b64encode(secrets.token_bytes(12)).decode().rstrip("=")


def build_event(
    match: RouteMatch,
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    server_port: int,
    authorizer: dict[str, Any] | None,
    now: float | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway builds for this request."""
    moment = time.time() if now is None else now
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    forwarded = joined.get("x-forwarded-for")
    joined["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    joined.setdefault("x-forwarded-port", str(server_port))
    joined.setdefault("x-forwarded-proto", "http")
    joined.setdefault("x-amzn-trace-id", f"Root=1-{int(moment):08x}-{secrets.token_hex(12)}")

    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value

    domain = joined.get("host", "")
    rid = request_id()
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": method.upper(),
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": rid,
        "routeKey": match.route.route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(moment)),
        "timeEpoch": int(moment * 1000),
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    if match.path_parameters:
        event["pathParameters"] = match.path_parameters
    if body:
        text: str | None = None
        if _is_text(joined.get("content-type", "")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        event["body"] = text if text is not None else base64.b64encode(body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def to_http(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body from a function's answer, by the payload 2.0 response rules."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Payload 2.0 inference: anything without statusCode is a 200 JSON answer; a string is the body as it is.
        body = result if isinstance(result, str) else json.dumps(result)
        return 200, [("content-type", "application/json")], body.encode("utf-8")
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, (int, str)) or not str(status).isdigit():
        raise MalformedResponse(f"statusCode {status!r} is not an integer")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_text(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise MalformedResponse(f"multiValueHeaders[{name!r}] is not a list")
        headers.extend((str(name), _header_text(value)) for value in values)
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise MalformedResponse("cookies is not a list")
    headers.extend(("set-cookie", str(cookie)) for cookie in cookies)
    body_value = result.get("body")
    if body_value is None:
        data = b""
    elif isinstance(body_value, str):
        if result.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body_value, validate=True)
            except ValueError:
                raise MalformedResponse("body is not valid base64 although isBase64Encoded is true") from None
        else:
            data = body_value.encode("utf-8")
    else:
        raise MalformedResponse(f"body is a {type(body_value).__name__}, not a string")
    return int(status), headers, data


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise MalformedResponse(f"header value {value!r} is not a string")

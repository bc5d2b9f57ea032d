"""Small builders of the events Lambda receives (instead of pasted 100-line JSON)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    route_key: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, as the JWT authorizer would pass it on."""
    raw_body = body if isinstance(body, str) or body is None else json.dumps(body)
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": "127.0.0.1:3000",
        "domainPrefix": "127",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
        "requestId": str(uuid.uuid4()),
        "routeKey": route_key or f"{method} {path}",
        "stage": "$default",
        "time": "25/Nov/2026:12:00:00 +0000",
        "timeEpoch": 1795608000000,
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return {
        "version": "2.0",
        "routeKey": request_context["routeKey"],
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {"content-type": "application/json", **(headers or {})},
        "queryStringParameters": query,
        "requestContext": request_context,
        "body": raw_body,
        "isBase64Encoded": False,
    }


@dataclass
class LambdaContext:
    function_name: str = "test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def eventbridge_event(
    detail_type: str, detail: dict[str, Any], *, source: str = "books360.accounting"
) -> dict[str, Any]:
    """An EventBridge event as a rule delivers it to Lambda."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }

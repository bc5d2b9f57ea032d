"""The gate every API and token request passes: request statistics, throttling, and injected faults.

QuickBooks throttles per company: more than ``max_concurrent`` requests in flight, or more than
``rate_per_minute`` in a sliding minute, answer 429 (code 3001). Injected latency is spent inside the
in-flight window, so slow requests really do pile up against the concurrency limit.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from emulator import errors, wire

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from emulator.errors import QboFault
    from emulator.state import EmulatorState

TOKEN_PATH = "/oauth2/v1/tokens/bearer"
_API_PATH = re.compile(r"^/v3/company/(?P<realm>[^/]+)/(?P<entity>[^/?]+)")
INJECTABLE_STATUSES = frozenset({0, 429, 500, 503})


@dataclass
class FaultRule:
    """One ``/_admin/faults`` entry; ``None`` matches anything, ``count`` None means "every request".

    ``operation`` is compared with the request's ``?operation=`` parameter (lower-case): ``delete`` singles out
    ``POST /invoice?operation=delete`` from the creates and updates that share ``POST invoice``. A request without
    the parameter (a create, or an update sent without ``operation=update``) has the operation ``""``, which only
    rules without ``operation`` match.
    """

    realm_id: str | None = None
    method: str | None = None
    entity: str | None = None
    status: int | None = None
    count: int | None = None
    latency_ms: int = 0
    operation: str | None = None

    def matches(self, realm_id: str | None, method: str, entity: str, operation: str = "") -> bool:
        # Token calls carry no realm: a rule aimed at the token endpoint matches them whatever its realmId.
        realm_ok = self.realm_id is None or self.realm_id == realm_id or (entity == self.entity == "token")
        return (
            realm_ok
            and (self.method is None or self.method == method)
            and (self.entity is None or self.entity == entity)
            and (self.operation is None or self.operation == operation)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "realmId": self.realm_id,
            "method": self.method,
            "entity": self.entity,
            "operation": self.operation,
            "status": self.status,
            "count": self.count,
            "latencyMs": self.latency_ms,
        }


@dataclass
class Verdict:
    status: int | None = None  # None: carry the request out normally
    latency_ms: int = 0


@dataclass
class FaultBook:
    rules: list[FaultRule] = field(default_factory=list)

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def clear(self) -> None:
        self.rules.clear()

    def take(self, realm_id: str | None, method: str, entity: str, operation: str = "") -> Verdict:
        """Consume one use of the first matching counted rule; standing latencies add up."""
        verdict = Verdict()
        counted_taken = False
        for rule in list(self.rules):
            if not rule.matches(realm_id, method, entity, operation):
                continue
            if rule.count is None:
                verdict.latency_ms += rule.latency_ms
                if rule.status is not None and verdict.status is None:
                    verdict.status = rule.status
            elif not counted_taken:
                counted_taken = True
                verdict.latency_ms += rule.latency_ms
                if rule.status is not None:
                    verdict.status = rule.status
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
        return verdict


@dataclass
class RealmTraffic:
    total: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    max_concurrent: int = 0
    in_flight: int = 0
    window: deque[float] = field(default_factory=deque)


@dataclass
class Traffic:
    """What the emulator answered, per company; token calls have no company and are kept apart."""

    realms: dict[str, RealmTraffic] = field(default_factory=dict)
    unscoped: RealmTraffic = field(default_factory=RealmTraffic)

    def of(self, realm_id: str | None) -> RealmTraffic:
        if realm_id is None:
            return self.unscoped
        return self.realms.setdefault(realm_id, RealmTraffic())

    def clear(self) -> None:
        self.realms.clear()
        self.unscoped = RealmTraffic()

    def report(self, realm_id: str | None) -> dict[str, Any]:
        if realm_id is not None:
            buckets = [self.realms.get(realm_id, RealmTraffic())]
        else:
            buckets = [*self.realms.values(), self.unscoped]
        by_endpoint: Counter[str] = Counter()
        for bucket in buckets:
            by_endpoint.update(bucket.by_endpoint)
        return {
            "total": sum(b.total for b in buckets),
            "byEndpoint": dict(sorted(by_endpoint.items())),
            "throttled": sum(b.throttled for b in buckets),
            "maxConcurrent": max((b.max_concurrent for b in buckets), default=0),
        }


def fault_response_body(fault: QboFault, clock: float) -> bytes:
    return wire.dumps({"Fault": fault.fault(), "time": wire.server_time(clock)}).encode()


def operation_of(scope: Scope) -> str:
    """The lower-case ``?operation=`` parameter of a request (``delete``, ``void``, ``update``), else ``""``."""
    raw: bytes = scope.get("query_string", b"")
    values = parse_qs(raw.decode("latin-1")).get("operation") or [""]
    return values[0].lower()


def classify(scope: Scope) -> tuple[str | None, str] | None:
    """(realmId, lower-case entity) of an API or token request; None for anything else."""
    path: str = scope["path"]
    if path.rstrip("/") == TOKEN_PATH:
        return None, "token"
    match = _API_PATH.match(path)
    if match is None:
        return None
    return match["realm"], match["entity"].lower()


class ApiGate:
    """ASGI middleware in front of the whole app (so it also covers the other half's token endpoint)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = classify(scope)
        tagged = _with_transaction_id(send)
        if target is None:
            await self.app(scope, receive, tagged)
            return
        realm_id, entity = target
        method: str = scope["method"]
        traffic = self.state.traffic.of(realm_id)
        if realm_id is not None and not self._admit(realm_id, traffic):
            traffic.throttled += 1
            await _answer(tagged, 429, fault_response_body(errors.throttled(), self.state.clock()))
            return
        traffic.in_flight += 1
        traffic.max_concurrent = max(traffic.max_concurrent, traffic.in_flight)
        try:
            verdict = self.state.faults.take(realm_id, method, entity, operation_of(scope))
            traffic.total += 1
            # A delete, void or send is counted under its entity too: ``POST invoice``.
            traffic.by_endpoint[f"{method} {entity}"] += 1
            if verdict.latency_ms:
                await asyncio.sleep(verdict.latency_ms / 1000)
            if verdict.status == 0:
                await self.app(scope, receive, _discard)
                await _drop_connection(receive)
            elif verdict.status is not None:
                body = fault_response_body(errors.injected(verdict.status), self.state.clock())
                await _answer(tagged, verdict.status, body)
            else:
                await self.app(scope, receive, tagged)
        finally:
            traffic.in_flight -= 1

    def _admit(self, realm_id: str, traffic: RealmTraffic) -> bool:
        company = self.state.companies.get(realm_id)
        limits = getattr(company, "limits", None)
        max_concurrent = limits.max_concurrent if limits else self.state.config.max_concurrent
        rate_per_minute = limits.rate_per_minute if limits else self.state.config.rate_per_minute
        if traffic.in_flight >= max_concurrent:
            return False
        now = time.monotonic()
        window = traffic.window
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= rate_per_minute:
            return False
        window.append(now)
        return True


def _with_transaction_id(send: Send) -> Send:
    async def tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"intuit_tid" for name, _ in headers):
                headers.append((b"intuit_tid", f"1-{uuid.uuid4().hex[:24]}".encode()))
            message = {**message, "headers": headers}
        await send(message)

    return tagged


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json;charset=UTF-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _discard(message: Message) -> None:
    return None


async def _drop_connection(receive: Receive) -> None:
    """Close the socket without a byte of answer, as a connection lost after the work was done."""
    # uvicorn hands each request its cycle's bound ``receive``; the cycle holds the transport.
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("injected fault: connection dropped after the request was carried out")
    transport.abort()
    for _ in range(3):
        await asyncio.sleep(0)

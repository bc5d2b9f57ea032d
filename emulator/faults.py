"""The gate every API and token request passes: request statistics, throttling, and injected faults.

QuickBooks throttles per company (realm) and app (the OAuth client the token was issued to), and the emulator
answers as it does, with a 429 and its throttle fault (code 3001, ``ThrottleExceeded``), before the request is
carried out, when one more request would make (``qbo-api-facts.md`` §6 and §4.2):

* more than ``rate_per_minute`` (500) requests of the company in a sliding minute, batch requests included (a
  batch is one request), whatever the app;
* more than ``max_concurrent`` (10) requests of one app in flight;
* more than ``rate_per_second`` (10) requests of one app in a sliding second;
* more than ``batch_per_minute`` (40) ``POST /batch`` requests of one app in a sliding minute.

Tokens from the consent flow belong to the configured app (``QBO_CLIENT_ID``); tokens from ``/_admin/tokens``
belong to the app it names, ``emulator-admin`` by default, so a test looking at QuickBooks with them does not spend
the product's per-app budget (QuickBooks counts another app's calls apart too) but does spend the company's minute.

A refused request takes no share of any window: only what was admitted counts against the limits. The windows
read ``EmulatorState.throttle_clock`` (``time.monotonic`` unless a test puts a fake clock there). Injected latency
is spent inside the in-flight window, so slow requests really do pile up against the concurrency limit. Token
calls carry no company and are never throttled.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

from emulator import errors, wire

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from emulator.errors import QboFault
    from emulator.state import EmulatorState

TOKEN_PATH = "/oauth2/v1/tokens/bearer"
_API_PATH = re.compile(r"^/v3/company/(?P<realm>[^/]+)/(?P<entity>[^/?]+)")
INJECTABLE_STATUSES = frozenset({0, 429, 500, 503})
SECOND = 1.0
MINUTE = 60.0

Limit = Literal["concurrent", "perMinute", "perSecond", "batchPerMinute"]
LIMITS: tuple[Limit, ...] = ("concurrent", "perMinute", "perSecond", "batchPerMinute")


@dataclass(frozen=True)
class Limits:
    """The throttling of one company; QuickBooks' own values (``qbo-api-facts.md`` §6 and §4.2) by default."""

    rate_per_minute: int = 500
    max_concurrent: int = 10
    rate_per_second: int = 10
    batch_per_minute: int = 40


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

    def clear_latency(self, scope: FaultRule) -> int:
        """Forget the standing latencies (rules without status or count) ``scope`` names; how many there were.

        A key ``scope`` leaves out (``None``) matches any value: ``{"realmId"}`` alone clears every standing
        latency of that company, nothing at all clears every one. Counted faults and statuses stay.
        """
        keys = ("realm_id", "method", "entity", "operation")
        gone = [
            rule
            for rule in self.rules
            if rule.count is None
            and rule.status is None
            and all(getattr(scope, key) is None or getattr(scope, key) == getattr(rule, key) for key in keys)
        ]
        for rule in gone:
            self.rules.remove(rule)
        return len(gone)

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
class AppTraffic:
    """What one app (OAuth client) has going with one company: QuickBooks counts most limits per realm and app."""

    in_flight: int = 0
    second: deque[float] = field(default_factory=deque)
    batch_minute: deque[float] = field(default_factory=deque)


@dataclass
class RealmTraffic:
    total: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    throttled_by: Counter[str] = field(default_factory=Counter)
    max_concurrent: int = 0
    in_flight: int = 0
    # When the requests the company was answered started, kept as long as a limit still looks back at them.
    minute: deque[float] = field(default_factory=deque)
    apps: dict[str, AppTraffic] = field(default_factory=dict)

    def admit(self, limits: Limits, now: float, *, app: str, batch: bool) -> Limit | None:
        """None when one more request of ``app`` may start at ``now`` (it is then counted), else the limit exceeded.

        The minute is the company's, whatever the app; in flight, the second and the batches are per app.
        """
        own = self.apps.setdefault(app, AppTraffic())
        if own.in_flight >= limits.max_concurrent:
            return "concurrent"
        _forget_before(self.minute, now - MINUTE)
        _forget_before(own.second, now - SECOND)
        _forget_before(own.batch_minute, now - MINUTE)
        if len(self.minute) >= limits.rate_per_minute:
            return "perMinute"
        if len(own.second) >= limits.rate_per_second:
            return "perSecond"
        if batch and len(own.batch_minute) >= limits.batch_per_minute:
            return "batchPerMinute"
        self.minute.append(now)
        own.second.append(now)
        if batch:
            own.batch_minute.append(now)
        return None

    def started(self, app: str) -> None:
        self.apps.setdefault(app, AppTraffic()).in_flight += 1
        self.in_flight += 1
        self.max_concurrent = max(self.max_concurrent, self.in_flight)

    def finished(self, app: str) -> None:
        self.apps[app].in_flight -= 1
        self.in_flight -= 1


def _forget_before(window: deque[float], horizon: float) -> None:
    """Drop what started at or before ``horizon``: a request exactly one period ago no longer counts."""
    while window and window[0] <= horizon:
        window.popleft()


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
        throttled_by: Counter[str] = Counter()
        for bucket in buckets:
            by_endpoint.update(bucket.by_endpoint)
            throttled_by.update(bucket.throttled_by)
        return {
            "total": sum(b.total for b in buckets),
            "byEndpoint": dict(sorted(by_endpoint.items())),
            "throttled": sum(b.throttled for b in buckets),
            "throttledBy": {limit: throttled_by[limit] for limit in LIMITS},
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
        app = self._app(scope)
        if realm_id is not None:
            exceeded = traffic.admit(
                self._limits(realm_id),
                self.state.throttle_clock(),
                app=app,
                batch=method == "POST" and entity == "batch",
            )
            if exceeded is not None:
                traffic.throttled += 1
                traffic.throttled_by[exceeded] += 1
                await _answer(tagged, 429, fault_response_body(errors.throttled(), self.state.clock()))
                return
        traffic.started(app)
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
            traffic.finished(app)

    def _app(self, scope: Scope) -> str:
        """The app (OAuth client) the bearer token was issued to; ``""`` without a token the emulator knows."""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and token.strip():
                    return self.state.oauth.app_of(token.strip()) or ""
        return ""

    def _limits(self, realm_id: str) -> Limits:
        """The company's own limits (``POST /_admin/companies {"limits"}``), else the configured ones."""
        limits = getattr(self.state.companies.get(realm_id), "limits", None)
        return limits if isinstance(limits, Limits) else self.state.config.limits()


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

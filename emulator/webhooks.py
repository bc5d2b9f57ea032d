"""Signed webhook deliveries, as Intuit sends them (qbo-api-facts.md §8), and their admin routes.

How a change travels: ``record()`` queues an event; a background task (started on the event loop when an endpoint is
registered, or when ``record()`` runs on a loop) waits ``batch_window`` seconds so a burst of changes goes out in one
POST, then delivers. Each POST body is built once, so a retried delivery carries the same bytes, signature and
CloudEvents ids (receivers can dedupe on them).

Retries: Intuit retries after 10 s, 20 s, 30 s, 5 min, ... ; the emulator keeps the shape but not the wait, retrying
after ``retry_delays`` (default 0.5 s, 1 s, 2 s) so tests see it happen. After the last automatic retry the delivery is
marked ``failed`` and stays in the log with its body; ``POST /_admin/webhooks/flush`` tries it again, so no event is
ever lost silently. Events recorded while no endpoint is registered are dropped and counted, as Intuit only sends to a
configured endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from emulator.state import EmulatorConfig, EmulatorState, Operation

logger = logging.getLogger(__name__)

WebhookFormat = Literal["classic", "cloudevents"]
DeliveryStatus = Literal["pending", "retrying", "delivered", "failed"]

DEFAULT_BATCH_WINDOW = 0.3
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0)
# Intuit wants the 200 within 3 seconds; a slower answer counts as a failed delivery.
DEFAULT_TIMEOUT = httpx.Timeout(3.0)
MAX_EVENTS_PER_DELIVERY = 100
DELIVERED_LOG_LIMIT = 200
FLUSH_WAIT_LIMIT = 30.0
ACTIONS: dict[str, str] = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Merge": "merged",
    "Void": "voided",
    "Emailed": "emailed",
}
FORMATS: tuple[WebhookFormat, ...] = ("classic", "cloudevents")


def sign(verifier_token: str, body: bytes) -> str:
    """Intuit's ``intuit-signature``: base64(HMAC-SHA256(key=verifier token, message=raw body))."""
    digest = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _iso(at: float, timespec: str) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


@dataclass(frozen=True)
class Registration:
    url: str
    verifier_token: str
    format: WebhookFormat


@dataclass(frozen=True)
class _Event:
    realm_id: str
    entity: str
    entity_id: str
    operation: Operation
    deleted_id: str | None
    at: float
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Attempt:
    at: float
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Delivery:
    """One POST body and what happened to it."""

    delivery_id: str
    body: bytes
    event_count: int
    created_at: float
    next_attempt_at: float
    status: DeliveryStatus = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    in_flight: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.delivery_id,
            "status": self.status,
            "eventCount": self.event_count,
            "createdAt": _iso(self.created_at, "milliseconds"),
            "nextAttemptAt": _iso(self.next_attempt_at, "milliseconds") if self.status == "retrying" else None,
            "attempts": [
                {"at": _iso(a.at, "milliseconds"), "status": a.status_code, "error": a.error} for a in self.attempts
            ],
            "body": json.loads(self.body),
        }


def _classic_body(events: list[_Event]) -> Any:
    by_realm: dict[str, list[dict[str, str]]] = {}
    for event in events:
        entity = {
            "name": event.entity,
            "id": event.entity_id,
            "operation": event.operation,
            "lastUpdated": _iso(event.at, "milliseconds"),
        }
        if event.deleted_id is not None:
            entity["deletedId"] = event.deleted_id
        by_realm.setdefault(event.realm_id, []).append(entity)
    return {
        "eventNotifications": [
            {"realmId": realm_id, "dataChangeEvent": {"entities": entities}} for realm_id, entities in by_realm.items()
        ]
    }


def _cloudevents_body(events: list[_Event], source: str) -> Any:
    return [
        {
            "specversion": "1.0",
            "id": event.event_id,
            "source": source,
            "type": f"qbo.{event.entity.lower()}.{ACTIONS[event.operation]}.v1",
            "datacontenttype": "application/json",
            "time": _iso(event.at, "microseconds"),
            "intuitentityid": event.entity_id,
            "intuitaccountid": event.realm_id,
            "data": {} if event.deleted_id is None else {"deletedid": event.deleted_id},
        }
        for event in events
    ]


class WebhookHub:
    """The app's one webhook endpoint, its queue of changes and its delivery log; thread safe."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        batch_window: float = DEFAULT_BATCH_WINDOW,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.batch_window = batch_window
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.transport = transport
        self.clock = clock
        # Intuit's source looks like "intuit.<base64 of 32 bytes>"; derive a stable one from the app.
        app_hash = hashlib.sha256(config.client_id.encode("utf-8")).digest()
        self.source = f"intuit.{base64.b64encode(app_hash).decode('ascii')}"
        self._lock = threading.Lock()
        self._registration: Registration | None = None
        self._events: list[_Event] = []
        self._deliveries: list[Delivery] = []
        self._dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def registration(self) -> Registration | None:
        return self._registration

    def register(self, url: str, verifier_token: str, fmt: WebhookFormat) -> None:
        """Set (replace) the endpoint; deliveries not yet made go to the new one."""
        with self._lock:
            self._registration = Registration(url, verifier_token, fmt)

    def unregister(self) -> None:
        with self._lock:
            self._registration = None
            self._dropped += len(self._events)
            self._events.clear()

    def reset(self) -> None:
        with self._lock:
            self._registration = None
            self._events.clear()
            self._deliveries.clear()
            self._dropped = 0
        self._notify()

    def record(
        self, realm_id: str, entity: str, entity_id: str, operation: Operation, deleted_id: str | None = None
    ) -> None:
        """Queue one change for delivery; dropped when no endpoint is registered."""
        if operation not in ACTIONS:
            raise ValueError(f"unknown webhook operation {operation!r}")
        with self._lock:
            if self._registration is None:
                self._dropped += 1
                return
            self._events.append(_Event(realm_id, entity, entity_id, operation, deleted_id, self.clock()))
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            self.ensure_worker()
        self._notify()

    def ensure_worker(self) -> None:
        """Start the delivery task on the running loop unless one already runs there."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._task is not None and not self._task.done() and self._loop is loop:
                return
            self._loop = loop
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="webhook-deliveries")
        self._notify()

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        # record() may run in a worker thread (sync handlers); asyncio.Event is only safe from its loop.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(wake.set)

    async def flush(self) -> dict[str, int]:
        """Deliver now everything not yet delivered (failed ones included) and wait for the outcome."""
        self._batch_events()
        with self._lock:
            targets = [d for d in self._deliveries if d.status != "delivered"]
        await self._send(due_only=False)
        deadline = time.monotonic() + FLUSH_WAIT_LIMIT
        while any(d.in_flight for d in targets) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        delivered = [d for d in targets if d.status == "delivered"]
        return {
            "delivered": len(delivered),
            "failed": len(targets) - len(delivered),
            "events": sum(d.event_count for d in delivered),
        }

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            registration = self._registration
            return {
                "registration": None
                if registration is None
                else {"url": registration.url, "format": registration.format},
                "pendingEvents": len(self._events),
                "droppedEvents": self._dropped,
                "deliveries": [d.summary() for d in self._deliveries],
            }

    async def _run(self) -> None:
        while True:
            try:
                await self._wait_for_work()
                with self._lock:
                    window_over = bool(self._events) and self._events[0].at + self.batch_window <= self.clock()
                if window_over:
                    self._batch_events()
                await self._send(due_only=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("webhook delivery loop failed; continuing")
                await asyncio.sleep(0.1)

    async def _wait_for_work(self) -> None:
        """Sleep until the oldest queued event's batch window ends, a retry is due, or ``record()`` wakes us."""
        wake = self._wake
        if wake is None:
            return
        with self._lock:
            deadlines = [
                d.next_attempt_at for d in self._deliveries if d.status in ("pending", "retrying") and not d.in_flight
            ]
            if self._events:
                deadlines.append(self._events[0].at + self.batch_window)
        timeout = max(0.0, min(deadlines) - self.clock()) if deadlines else None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)
        wake.clear()

    def _batch_events(self) -> None:
        with self._lock:
            registration = self._registration
            events, self._events = self._events, []
            if registration is None:
                self._dropped += len(events)
                return
            now = self.clock()
            for start in range(0, len(events), MAX_EVENTS_PER_DELIVERY):
                chunk = events[start : start + MAX_EVENTS_PER_DELIVERY]
                payload = (
                    _classic_body(chunk) if registration.format == "classic" else _cloudevents_body(chunk, self.source)
                )
                body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
                self._deliveries.append(Delivery(str(uuid.uuid4()), body, len(chunk), now, now))

    async def _send(self, *, due_only: bool) -> None:
        now = self.clock()
        with self._lock:
            targets = [
                d
                for d in self._deliveries
                if d.status != "delivered"
                and not d.in_flight
                and (not due_only or (d.status in ("pending", "retrying") and d.next_attempt_at <= now))
            ]
            for delivery in targets:
                delivery.in_flight = True
        if not targets:
            return
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                for delivery in targets:
                    await self._attempt(client, delivery)
        finally:
            with self._lock:
                for delivery in targets:
                    delivery.in_flight = False
                self._trim_log()

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        registration = self._registration
        if registration is None:
            return
        headers = {
            "Content-Type": "application/json",
            "intuit-signature": sign(registration.verifier_token, delivery.body),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            response = await client.post(registration.url, content=delivery.body, headers=headers)
            status_code = response.status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        attempt = Attempt(self.clock(), status_code, error)
        with self._lock:
            delivery.attempts.append(attempt)
            failures = sum(1 for a in delivery.attempts if not a.ok)
            if attempt.ok:
                delivery.status = "delivered"
            elif failures <= len(self.retry_delays):
                delivery.status = "retrying"
                delivery.next_attempt_at = attempt.at + self.retry_delays[failures - 1]
            else:
                delivery.status = "failed"
        if not attempt.ok:
            logger.warning(
                "webhook delivery failed",
                extra={"delivery_id": delivery.delivery_id, "status": status_code, "error": error},
            )

    def _trim_log(self) -> None:
        # Caller holds the lock. Only delivered entries are trimmed: an undelivered one is never forgotten.
        delivered = [d for d in self._deliveries if d.status == "delivered"]
        excess = len(delivered) - DELIVERED_LOG_LIMIT
        if excess > 0:
            drop = {id(d) for d in delivered[:excess]}
            self._deliveries = [d for d in self._deliveries if id(d) not in drop]


def _hub(request: Request) -> WebhookHub:
    state: EmulatorState = request.app.state.emulator
    if not isinstance(state.webhooks, WebhookHub):
        raise TypeError("the emulator's webhooks half must be an emulator.webhooks.WebhookHub")
    return state.webhooks


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "message": message}, status_code=400)


def _is_http_url(url: str) -> bool:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


async def _register(request: Request) -> Response:
    try:
        data = json.loads(await request.body())
    except ValueError:
        return _bad_request("body is not JSON")
    if not isinstance(data, dict):
        return _bad_request("body must be a JSON object")
    url, token, fmt = data.get("url"), data.get("verifierToken"), data.get("format", "cloudevents")
    if not isinstance(url, str) or not _is_http_url(url):
        return _bad_request("url must be an absolute http(s) URL")
    if not isinstance(token, str) or not token:
        return _bad_request("verifierToken is required")
    if fmt not in FORMATS:
        return _bad_request("format must be classic or cloudevents")
    hub = _hub(request)
    hub.register(url, token, "classic" if fmt == "classic" else "cloudevents")
    hub.ensure_worker()
    return JSONResponse({"url": url, "format": fmt})


async def _unregister(request: Request) -> Response:
    _hub(request).unregister()
    return JSONResponse({"registration": None})


async def _show(request: Request) -> Response:
    return JSONResponse(_hub(request).snapshot())


async def _flush(request: Request) -> Response:
    hub = _hub(request)
    hub.ensure_worker()
    return JSONResponse(await hub.flush())


def routes() -> list[Route]:
    """The webhook admin routes: register, inspect, unregister and flush."""
    return [
        Route("/_admin/webhooks", _register, methods=["POST"]),
        Route("/_admin/webhooks", _show, methods=["GET"]),
        Route("/_admin/webhooks", _unregister, methods=["DELETE"]),
        Route("/_admin/webhooks/flush", _flush, methods=["POST"]),
    ]

"""The local front: the template's HTTP API on one port, plus the stack's own ``/_local/*`` routes.

Everything outside ``/_local/`` is routed as API Gateway would route it: JWT authorizer, payload 2.0 event, the
function's answer turned back into HTTP. ``/_local/`` holds what AWS does on its own (EventBridge deliveries,
schedules), a stand-in for the Books360 UI, and debugging aids.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from local import docs
from local.config import DEMO_TENANT
from local.httpapi import (
    PROBLEM_JSON,
    MalformedResponse,
    Router,
    authorize,
    build_event,
    gateway_message,
    request_id,
    to_http,
    unauthorized,
)
from local.tokens import InvalidToken, mint_token

if TYPE_CHECKING:
    from starlette.requests import Request

    from local.config import LocalConfig
    from local.eventbridge import EventBus
    from local.runtime import Outcome, Runtime
    from local.schedules import Scheduler
    from local.template import StackPlan

log = logging.getLogger("local")
# API Gateway HTTP API gives up on an integration after 30 s (the function itself keeps running).
INTEGRATION_TIMEOUT = 30.0


@dataclass
class Front:
    """What the front's routes need: the plan, the runtime, and the other servers' addresses."""

    config: LocalConfig
    plan: StackPlan
    runtime: Runtime
    bus: EventBus
    scheduler: Scheduler
    demo_realm_id: str | None = None
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(64, thread_name_prefix="invoke"))

    def __post_init__(self) -> None:
        self.router = Router(self.plan.routes)

    async def blocking(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _raw_response(status: int, headers: list[tuple[str, str]], body: bytes, request_id: str) -> Response:
    response = Response(content=body, status_code=status)
    for name, value in headers:
        if name.lower() in ("content-length", "transfer-encoding", "connection"):
            continue
        response.raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1", "replace")))
    response.raw_headers.append((b"apigw-requestid", request_id.encode("latin-1")))
    return response


def _front(request: Request) -> Front:
    front: Front = request.app.state.front
    return front


async def api(request: Request) -> Response:
    """Any request outside ``/_local/``: routed to the template's functions as HTTP API does."""
    front = _front(request)
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    method = request.method
    match = front.router.match(method, raw_path)
    if match is None:
        log.info("http %s %s status=404 (no route)", method, raw_path)
        return _raw_response(*gateway_message(404, "Not Found"), request_id=request_id())
    authorizer = None
    if match.route.authorized:
        try:
            authorizer = authorize(request.headers.get("authorization"), front.config.jwt_secret)
        except InvalidToken as exc:
            log.info("http %s %s status=401 (%s)", method, raw_path, exc)
            return _raw_response(*unauthorized(str(exc)), request_id=request_id())
    client = request.client
    event = build_event(
        match,
        method=method,
        raw_path=raw_path,
        raw_query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
        body=await request.body(),
        source_ip=client.host if client else "127.0.0.1",
        server_port=front.config.api_port,
        authorizer=authorizer,
    )
    route = match.route
    trigger = f"{method} {raw_path}"

    def call() -> tuple[int, list[tuple[str, str]], bytes]:
        outcome: Outcome = front.runtime.pools[route.function].invoke(event)
        if outcome.ok:
            try:
                answer = to_http(outcome.result)
            except MalformedResponse as exc:
                log.error("function %s gave a malformed response: %s", route.function, exc)
                answer = gateway_message(500, "Internal Server Error")
        else:
            answer = gateway_message(500, "Internal Server Error")
        details = {"routeKey": route.route_key, "apiRequestId": event["requestContext"]["requestId"]}
        front.runtime.record(route.function, trigger, str(answer[0]), outcome, details)
        return answer

    future = asyncio.get_running_loop().run_in_executor(front.executor, call)
    timeout = min(INTEGRATION_TIMEOUT, float(front.plan.functions[route.function].timeout) + 1.0)
    try:
        status, headers, body = await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        log.warning("http %s %s status=503 (no answer within %.0f s)", method, raw_path, timeout)
        status, headers, body = gateway_message(503, "Service Unavailable")
    return _raw_response(status, headers, body, event["requestContext"]["requestId"])


async def health(request: Request) -> Response:
    front = _front(request)
    services: dict[str, str] = {"front": "up"}
    async with httpx.AsyncClient(timeout=2.0) as http:
        for name, url in (
            ("moto", front.config.moto_url),
            ("emulator", f"{front.config.emulator_url}/_admin/companies"),
        ):
            try:
                await http.get(url)
                services[name] = "up"
            except httpx.HTTPError as exc:
                services[name] = f"down ({type(exc).__name__})"
    ok = all(state == "up" for state in services.values())
    body = {"status": "ok" if ok else "degraded", "services": services, "demoRealmId": front.demo_realm_id}
    return JSONResponse(body, status_code=200 if ok else 503)


async def put_events(request: Request) -> Response:
    front = _front(request)
    try:
        data = json.loads(await request.body())
    except ValueError:
        return problem(400, "Bad Request", "the body is not JSON")
    entries = data.get("Entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        return problem(400, "Bad Request", "Entries must be a non-empty list")
    if len(entries) > 10:
        return problem(400, "Bad Request", "PutEvents takes at most 10 entries")
    answer = await front.blocking(front.bus.put_events, entries)
    return JSONResponse(answer)


async def run_schedule(request: Request) -> Response:
    front = _front(request)
    name = request.path_params["name"]
    schedule = front.scheduler.find(name)
    if schedule is None:
        known = ", ".join(s.name for s in front.scheduler.schedules)
        return problem(404, "Not Found", f"no schedule named {name!r} (known: {known})")
    ran_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    outcome: Outcome = await front.blocking(front.scheduler.run, schedule)
    body: dict[str, Any] = {"name": schedule.name, "ranAt": ran_at, "status": "succeeded" if outcome.ok else "failed"}
    if not outcome.ok:
        body["error"] = {"errorType": outcome.error_type, "errorMessage": outcome.error.get("errorMessage")}
    return JSONResponse(body)


async def list_schedules(request: Request) -> Response:
    schedules = _front(request).scheduler.schedules
    return JSONResponse(
        {
            "items": [
                {
                    "name": s.name,
                    "event": s.event,
                    "function": s.function,
                    "expression": s.expression,
                    "enabled": s.enabled,
                }
                for s in schedules
            ]
        }
    )


async def invocations(request: Request) -> Response:
    runtime = _front(request).runtime
    if request.method == "DELETE":
        runtime.clear_history()
        return Response(status_code=204)
    return JSONResponse({"items": runtime.history(request.query_params.get("function") or None)})


async def queues(request: Request) -> Response:
    """Depth of every queue of the template (a dead-letter queue that fills up is worth seeing)."""
    front = _front(request)

    def depths() -> list[dict[str, Any]]:
        from local.resources import client

        sqs = client("sqs", front.config.moto_url)
        items = []
        for queue in front.plan.queues:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue.url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            items.append(
                {
                    "logicalId": queue.logical_id,
                    "name": queue.name,
                    "url": queue.url,
                    "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
                    "inFlight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                    "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
                }
            )
        return items

    return JSONResponse({"items": await front.blocking(depths)})


async def routes(request: Request) -> Response:
    plan = _front(request).plan
    items = [
        {"routeKey": r.route_key, "function": r.function, "event": r.event, "authorized": r.authorized}
        for r in plan.routes
    ]
    return JSONResponse({"items": items})


UI_TOKEN_COOKIE = "books360_token"
CONFIRM_PATH = "/integrations/quickbooks"


async def ui(request: Request) -> Response:
    """A stand-in page for the Books360 UI: shows where the browser was sent (e.g. ``?result=connected``).

    Landing with ``result=confirm&ticket=...`` (Intuit's consent came back), it does what the UI does: posts the
    ticket to ``POST /quickbooks/connection/confirm`` under its signed-in user's token, then shows the outcome
    (``result=connected``, or ``result=error&reason=confirm_refused`` with the problem's status). The signed-in
    user is the ``books360_token`` cookie's (a JWT), else the demo tenant's."""
    path = "/" + request.path_params.get("path", "")
    query = request.query_params
    if path == CONFIRM_PATH and query.get("result") == "confirm" and query.get("ticket"):
        return await _confirm(request, query["ticket"])
    params = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in request.query_params.multi_items()
    )
    message = (
        "<p id='message'>QuickBooks is connected.</p>"
        if path == CONFIRM_PATH and query.get("result") == "connected"
        else ""
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Books360 (local)</title></head><body>"
        "<h1>Books360 UI (local stand-in)</h1>"
        f"<p>Path: <code id='path'>{html.escape(path)}</code></p>"
        f"{message}"
        f"<table id='query'>{params}</table>"
        "</body></html>"
    )
    return HTMLResponse(page)


async def _confirm(request: Request, ticket: str) -> Response:
    front = _front(request)
    token = request.cookies.get(UI_TOKEN_COOKIE) or mint_token(
        DEMO_TENANT, sub="demo-user", secret=front.config.jwt_secret
    )
    async with httpx.AsyncClient(timeout=INTEGRATION_TIMEOUT + 5) as client:
        answer = await client.post(
            f"{front.config.api_url}/quickbooks/connection/confirm",
            json={"ticket": ticket},
            headers={"Authorization": f"Bearer {token}"},
        )
    if answer.status_code == 200:
        outcome = "result=connected"
    else:
        log.info("ui stand-in: confirm refused with %d: %s", answer.status_code, answer.text[:200])
        outcome = f"result=error&reason=confirm_refused&status={answer.status_code}"
    return RedirectResponse(f"/_local/ui{CONFIRM_PATH}?{outcome}", status_code=303)


class AnyPathConvertor(PathConvertor):
    """Starlette's ``path`` is ``.*``, which stops at a newline: ``/quickbooks/customers/a%0Ab`` then matched no
    route and got Starlette's own ``404 text/plain``, where API Gateway hands the decoded id to the function (found
    by tests/e2e/test_fuzz_openapi.py). Any character, newlines included."""

    regex = "[\\s\\S]*"


register_url_convertor("anypath", AnyPathConvertor())


def create_app(front: Front) -> Starlette:
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/_local/health", health, methods=["GET"]),
            Route("/_local/events", put_events, methods=["POST"]),
            Route("/_local/schedules", list_schedules, methods=["GET"]),
            Route("/_local/schedules/{name}/run", run_schedule, methods=["POST"]),
            Route("/_local/invocations", invocations, methods=["GET", "DELETE"]),
            Route("/_local/routes", routes, methods=["GET"]),
            Route("/_local/queues", queues, methods=["GET"]),
            Route("/_local/ui", ui, methods=["GET"]),
            Route("/_local/ui/{path:path}", ui, methods=["GET"]),
            *docs.routes(),
            Route("/{path:anypath}", api, methods=methods),
        ]
    )
    app.state.front = front
    return app

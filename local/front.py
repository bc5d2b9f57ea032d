"""The local front: the template's HTTP API on one port, plus the stack's own ``/_local/*`` routes.

Everything outside ``/_local/`` is routed as API Gateway would route it: JWT authorizer, payload 2.0 event, the
function's answer turned back into HTTP. ``/_local/`` holds what AWS does on its own (EventBridge deliveries,
schedules), the local console (a stand-in for the Books360 UI, `local/console/`), and debugging aids.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
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
from local.tokens import DEFAULT_TTL, InvalidToken, mint_token

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
CONSOLE_DIR = Path(__file__).resolve().parent / "console"
# The console's static files, by suffix; anything else under /_local/ui/ is a landing page (the console's shell).
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
LANDING_MARK = "<!-- landing -->"
# What the console says on landing, by the callback's (or the confirm's) ``reason``.
LANDING_REASONS = {
    "access_denied": "The connection was cancelled on the QuickBooks consent page; nothing was connected.",
    "invalid_state": "The QuickBooks sign-in link was used already or has expired; select Enabled and Save again.",
    "token_exchange_failed": "QuickBooks did not accept the sign-in; select Enabled and Save to try again.",
    "confirm_refused": "Books360 refused to finish the connection for this account; nothing was connected.",
}
TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


async def ui(request: Request) -> Response:
    """The local console (a stand-in for the Books360 UI): its static files, or its page for any other path.

    Landing with ``result=confirm&ticket=...`` (Intuit's consent came back), it does what the UI does: posts the
    ticket to ``POST /quickbooks/connection/confirm`` under its signed-in user's token, then shows the outcome
    (``result=connected``, or ``result=error&reason=confirm_refused`` with the problem's status). The signed-in
    user is the ``books360_token`` cookie's (a JWT, which the console keeps equal to its current token), else the
    demo tenant's. Any other path is the console's page, with the landing's path, query and message written in."""
    path = "/" + request.path_params.get("path", "")
    query = request.query_params
    if path == CONFIRM_PATH and query.get("result") == "confirm" and query.get("ticket"):
        return await _confirm(request, query["ticket"])
    suffix = PurePosixPath(path).suffix
    if suffix in STATIC_TYPES:
        return _static(path, STATIC_TYPES[suffix])
    shell = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(shell.replace(LANDING_MARK, _landing(path, request)), headers={"Cache-Control": "no-cache"})


def _static(path: str, media_type: str) -> Response:
    file = (CONSOLE_DIR / path.lstrip("/")).resolve()
    if not file.is_relative_to(CONSOLE_DIR) or not file.is_file():
        return problem(404, "Not Found", f"the console has no file {path!r}")
    # no-cache: the browser revalidates, so an edited module shows on the next reload without a restart.
    return FileResponse(file, media_type=media_type, headers={"Cache-Control": "no-cache"})


def _landing(path: str, request: Request) -> str:
    """Where the browser landed (path, query) and, back from the connect, the outcome's message."""
    query = request.query_params
    params = "".join(
        f"<tr><th scope='row'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in query.multi_items()
    )
    message = ""
    if path == CONFIRM_PATH and query.get("result") == "connected":
        message = "<p id='message' class='message ok' role='status'>QuickBooks is connected.</p>"
    elif path == CONFIRM_PATH and query.get("result") == "error":
        reason = query.get("reason", "")
        text = LANDING_REASONS.get(reason, f"The connection failed ({reason or 'no reason given'}).")
        status = query.get("status")
        if status:
            text += f" (HTTP {status})"
        message = f"<p id='message' class='message error' role='alert'>{html.escape(text)}</p>"
    if not params:
        return ""
    return (
        f"{message}<details class='landing-details'><summary>Landing</summary>"
        f"<p>Path: <code id='path'>{html.escape(path)}</code></p>"
        f"<table id='query'><caption>Query</caption>{params}</table></details>"
    )


async def local_token(request: Request) -> Response:
    """``POST /_local/tokens {"tenantId"}``: a 12-hour token of that tenant, for the console's tenant switcher."""
    try:
        data = json.loads(await request.body())
    except ValueError:
        return problem(400, "Bad Request", "the body is not JSON")
    tenant_id = data.get("tenantId") if isinstance(data, dict) else None
    if not isinstance(tenant_id, str) or not TENANT_ID.match(tenant_id):
        body = {
            "type": "/problems/invalid-input",
            "title": "Invalid input",
            "status": 422,
            "detail": "tenantId must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            "errors": [{"field": "tenantId", "message": "1 to 64 letters, digits, '.', '_' or '-'"}],
        }
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)
    front = _front(request)
    token = mint_token(tenant_id, sub=f"console-{tenant_id}", secret=front.config.jwt_secret)
    return JSONResponse({"tenantId": tenant_id, "token": token, "expiresIn": DEFAULT_TTL})


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
            Route("/_local/tokens", local_token, methods=["POST"]),
            Route("/_local/ui", ui, methods=["GET"]),
            Route("/_local/ui/{path:path}", ui, methods=["GET"]),
            *docs.routes(),
            Route("/{path:anypath}", api, methods=methods),
        ]
    )
    app.state.front = front
    return app

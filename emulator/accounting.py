"""The Accounting API v3 routes under ``/v3/company/{realmId}/``: entities, query and batch."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from emulator import errors, query, wire
from emulator.entities import SPEC_BY_PATH, SPECS, Change, Company, EntitySpec, Record
from emulator.errors import QboFault

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request

    from emulator.state import EmulatorState

MAX_REQUEST_ID = 50
MAX_BATCH_REQUEST_ID = 36
MAX_BATCH_ID_WITH_REQUEST_ID = 10
MAX_BATCH_ITEMS = 30
JSON = "application/json;charset=UTF-8"


class _Denied(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _json_response(status: int, body: Any) -> Response:
    return Response(wire.dumps(body), status_code=status, media_type=JSON)


def _fault_response(state: EmulatorState, fault: QboFault) -> Response:
    return _json_response(fault.status, {"Fault": fault.fault(), "time": wire.server_time(state.clock())})


def _envelope(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "time": wire.server_time(state.clock())}


def _authentication_failure(detail: str) -> Response:
    """QuickBooks' 401 comes in a lower-camel shape of its own."""
    body: dict[str, Any] = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }
    return _json_response(401, body)


def _company(request: Request) -> Company:
    """The company of the URL, once the bearer token proves the caller may use it."""
    state = _state(request)
    realm_id = request.path_params["realm"]
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _Denied(_authentication_failure("Authorization header missing or not of type Bearer"))
    check = state.oauth.check_access_token(token, realm_id)
    company = state.companies.get(realm_id)
    if check == "ok" and isinstance(company, Company):
        return company
    if check == "expired":
        raise _Denied(_authentication_failure(f"Token expired: {token[:12]}..."))
    if check == "ok" or any(state.oauth.check_access_token(token, other) == "ok" for other in state.companies):
        fault = QboFault(
            "3100",
            "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
            f"The application is not authorized to access company {realm_id}",
            status=403,
            fault_type="AuthorizationFault",
        )
        raise _Denied(_fault_response(state, fault))
    raise _Denied(_authentication_failure("Token invalid: the bearer token is unknown, revoked or malformed"))


async def _guarded(request: Request, work: Callable[[Company], Response]) -> Response:
    try:
        company = _company(request)
        return work(company)
    except _Denied as denied:
        return denied.response
    except QboFault as fault:
        return _fault_response(_state(request), fault)


def _replayed(company: Company, request_id: str | None, produce: Callable[[], Response]) -> Response:
    """The first answer to a ``requestid`` is the answer to every later request carrying it."""
    if request_id is None:
        return produce()
    remembered = company.replies.get(request_id)
    if remembered is not None:
        status, body = remembered
        return Response(body, status_code=status, media_type=JSON)
    response = produce()
    company.replies[request_id] = (response.status_code, bytes(response.body))
    return response


def _request_id(request: Request, maximum: int) -> str | None:
    request_id = request.query_params.get("requestid")
    if request_id is None:
        return None
    if not request_id or len(request_id) > maximum:
        raise QboFault(
            "2010",
            "Request has invalid or unsupported property",
            f"Invalid requestid: at most {maximum} characters are allowed. Supplied length:{len(request_id)}",
            element="requestid",
        )
    return request_id


def _spec(path: str) -> EntitySpec:
    spec = SPEC_BY_PATH.get(path.lower())
    if spec is None:
        raise QboFault(
            "500",
            "Unsupported Operation",
            f"Operation {path} is not supported by this emulator",
            fault_type="ValidationFault",
        )
    return spec


def _notify(state: EmulatorState, realm_id: str, change: Change) -> None:
    state.webhooks.record(realm_id, change.entity, str(change.record["Id"]), change.operation)


def perform(company: Company, spec: EntitySpec, operation: str, body: Any, include: str = "") -> Change:
    """One write as QuickBooks routes it: the ``operation`` parameter, else update when the body has an Id."""
    if not isinstance(body, dict):
        raise errors.bad_request(f"Request body must be a {spec.name} object")
    operation = operation.lower()
    if operation == "delete":
        return company.delete(spec, body)
    if operation == "void" or (include.lower() == "void" and operation in ("", "update")):
        return company.void(spec, body)
    if operation not in ("", "create", "update"):
        raise errors.bad_request(f"Operation {operation} is not supported for {spec.name}")
    has_id = body.get("Id") not in (None, "")
    if operation == "update" or (operation == "" and has_id):
        return company.update(spec, body)
    if has_id:
        raise errors.bad_request("Id must not be given when creating an entity", "Id")
    return company.create(spec, body)


# --- handlers ------------------------------------------------------------------------------------


async def write_entity(request: Request) -> Response:
    state = _state(request)
    body = await request.body()
    params = request.query_params

    def work(company: Company) -> Response:
        spec = _spec(request.path_params["entity"])

        def produce() -> Response:
            try:
                change = perform(company, spec, params.get("operation", ""), _parse(body), params.get("include", ""))
            except QboFault as fault:
                return _fault_response(state, fault)
            _notify(state, company.realm_id, change)
            return _json_response(200, _envelope(state, {spec.name: change.record}))

        return _replayed(company, _request_id(request, MAX_REQUEST_ID), produce)

    return await _guarded(request, work)


def _parse(raw: bytes) -> Any:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise QboFault("500", "Unsupported Operation", "The request body is not UTF-8 encoded") from exc
    try:
        return wire.loads(raw)
    except wire.BadJson as exc:
        raise errors.bad_request(f"Request body is not valid JSON: {exc}") from exc


async def read_entity(request: Request) -> Response:
    state = _state(request)

    def work(company: Company) -> Response:
        spec = _spec(request.path_params["entity"])
        record = company.read(spec, request.path_params["id"])
        return _json_response(200, _envelope(state, {spec.name: record}))

    return await _guarded(request, work)


async def company_info(request: Request) -> Response:
    state = _state(request)

    def work(company: Company) -> Response:
        if request.path_params["id"] != company.realm_id:
            raise errors.not_found("CompanyInfo", request.path_params["id"])
        return _json_response(200, _envelope(state, {"CompanyInfo": company.company_info}))

    return await _guarded(request, work)


async def preferences(request: Request) -> Response:
    state = _state(request)
    return await _guarded(
        request, lambda company: _json_response(200, _envelope(state, {"Preferences": company.preferences}))
    )


async def run_query(request: Request) -> Response:
    state = _state(request)
    if request.method == "GET":
        text = request.query_params.get("query", "")
    else:
        text = (await request.body()).decode("utf-8", errors="replace")

    def work(company: Company) -> Response:
        if not text.strip():
            raise errors.query_parse("The query is empty")
        answer = query.run(company, query.parse(text))
        return _json_response(200, _envelope(state, {"QueryResponse": answer}))

    return await _guarded(request, work)


async def batch(request: Request) -> Response:
    state = _state(request)
    raw = await request.body()

    def work(company: Company) -> Response:
        request_id = _request_id(request, MAX_BATCH_REQUEST_ID)

        def produce() -> Response:
            try:
                items = _batch_items(_parse(raw), request_id is not None)
            except QboFault as fault:
                return _fault_response(state, fault)
            with company.batch():
                answers = [_batch_item(state, company, item) for item in items]
            return _json_response(200, _envelope(state, {"BatchItemResponse": answers}))

        return _replayed(company, request_id, produce)

    return await _guarded(request, work)


def _batch_items(body: Any, with_request_id: bool) -> list[Record]:
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
        raise errors.required("BatchItemRequest")
    if len(items) > MAX_BATCH_ITEMS:
        raise QboFault(
            "6000",
            "A business validation error has occurred while processing your request",
            f"Business Validation Error: The batch has {len(items)} items; at most {MAX_BATCH_ITEMS} are allowed.",
        )
    if with_request_id:
        for item in items:
            if len(str(item.get("bId", ""))) > MAX_BATCH_ID_WITH_REQUEST_ID:
                raise errors.bad_request(
                    f"bId {item.get('bId')} is too long: with a requestid each bId may have at most "
                    f"{MAX_BATCH_ID_WITH_REQUEST_ID} characters",
                    "bId",
                )
    return items


def _batch_item(state: EmulatorState, company: Company, item: Record) -> Record:
    bid = item.get("bId")
    try:
        if "Query" in item:
            return {"bId": bid, "QueryResponse": query.run(company, query.parse(str(item["Query"])))}
        names = [name for name in SPECS if name in item]
        if len(names) != 1:
            raise errors.bad_request("A batch item needs exactly one entity or a Query")
        spec = SPECS[names[0]]
        operation = str(item.get("operation", "create"))
        if operation.lower() not in ("create", "update", "delete"):
            raise errors.bad_request(f"Batch operation {operation} is not supported", "operation")
        change = perform(company, spec, operation, item[spec.name])
    except QboFault as fault:
        return {"bId": bid, "Fault": fault.fault()}
    _notify(state, company.realm_id, change)
    return {"bId": bid, spec.name: change.record}


async def send_invoice(request: Request) -> Response:
    state = _state(request)

    def work(company: Company) -> Response:
        change = company.send_invoice(request.path_params["id"], request.query_params.get("sendTo"))
        _notify(state, company.realm_id, change)
        return _json_response(200, _envelope(state, {"Invoice": change.record}))

    return await _guarded(request, work)


async def change_data_capture(request: Request) -> Response:
    state = _state(request)
    params = request.query_params

    def work(company: Company) -> Response:
        answer = query.changes(company, params.get("entities", ""), params.get("changedSince", ""))
        return _json_response(200, _envelope(state, {"CDCResponse": [{"QueryResponse": answer}]}))

    return await _guarded(request, work)


async def unknown(request: Request) -> Response:
    fault = QboFault("500", "Unsupported Operation", f"Operation {request.url.path} is not supported", status=400)
    return _fault_response(_state(request), fault)


def routes() -> list[Route]:
    base = "/v3/company/{realm}"
    return [
        Route(f"{base}/companyinfo/{{id}}", company_info, methods=["GET"]),
        Route(f"{base}/preferences", preferences, methods=["GET"]),
        Route(f"{base}/query", run_query, methods=["GET", "POST"]),
        Route(f"{base}/batch", batch, methods=["POST"]),
        Route(f"{base}/cdc", change_data_capture, methods=["GET"]),
        Route(f"{base}/invoice/{{id}}/send", send_invoice, methods=["POST"]),
        Route(f"{base}/{{entity}}/{{id}}", read_entity, methods=["GET"]),
        Route(f"{base}/{{entity}}", write_entity, methods=["POST"]),
        Route(f"{base}/{{path:path}}", unknown, methods=["GET", "POST"]),
    ]

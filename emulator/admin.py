"""Test-only routes (no auth): companies, injected faults, request statistics, reset.

* ``POST /_admin/companies {"companyName", "customFields": [up to 3 names], "realmId", "limits"}`` -> ``{"realmId"}``.
  ``limits: {"ratePerMinute": n, "maxConcurrent": n, "ratePerSecond": n, "batchPerMinute": n}`` replaces the
  configured throttling (QuickBooks' 500 a minute, 10 at once, 10 a second, 40 batches a minute) for that company
  only; an omitted key keeps the configured value. Only a test or bench that means to exceed QuickBooks' limits
  lifts them (the throughput bench does). A taken ``realmId`` is a 409.
* ``PUT /_admin/companies/{realmId}/limits {"ratePerMinute", ...}`` -> the company's limits now (same keys): the
  same setting for a company that exists already; ``{}`` gives it the configured limits back. Unknown realm: 404.
* ``POST /_admin/faults {"realmId", "method", "entity", "operation", "status", "count", "latencyMs"}``: omitted
  keys match anything; ``entity`` is the lower-case path segment (``customer``, ``query``, ``batch``) or ``token``;
  ``operation`` is the ``?operation=`` parameter (``delete``, ``void``, ``update``), so
  ``{"method": "POST", "entity": "invoice", "operation": "delete"}`` fails invoice deletes only, while a rule
  without ``operation`` matches every ``POST invoice`` (creates, updates, deletes, voids and ``/send`` alike).
  A ``status`` (429, 500, 503, or 0 = carry out, then drop the connection) without ``count`` applies once;
  ``latencyMs`` without ``count`` delays every matching request until reset, or until ``latencyMs: 0`` (no
  ``status``, no ``count``) clears the standing latencies it names (``{"realmId", "latencyMs": 0}``: that company's)
  and answers ``{"cleared": n}``. ``GET /_admin/faults`` lists them.
* ``GET /_admin/requests?realmId`` -> ``{"total", "byEndpoint", "throttled", "throttledBy", "maxConcurrent"}``;
  ``throttled`` counts every 429 the throttling answered (not injected ones), ``throttledBy`` splits it by the limit
  exceeded (``concurrent``, ``perMinute``, ``perSecond``, ``batchPerMinute``); token calls
  carry no realm, so ``POST token`` appears only in the report without ``realmId``. Keys are method and path
  entity only: ``POST /invoice?operation=delete`` and ``POST /invoice/{id}/send`` count as ``POST invoice``.
* ``POST /_admin/reset``: companies, faults, statistics, tokens and webhooks are forgotten.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse
from starlette.routing import Route

from emulator.entities import Company
from emulator.faults import INJECTABLE_STATUSES, FaultRule, Limits

if TYPE_CHECKING:
    from starlette.requests import Request

    from emulator.state import EmulatorState


LIMIT_KEYS = {
    "ratePerMinute": "rate_per_minute",
    "maxConcurrent": "max_concurrent",
    "ratePerSecond": "rate_per_second",
    "batchPerMinute": "batch_per_minute",
}


class AdminError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def _object(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise AdminError("body is not JSON") from exc
    if not isinstance(data, dict):
        raise AdminError("body must be a JSON object")
    return data


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminError(f"{key} must be an integer")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise AdminError(f"{key} must be a non-empty string")
    return value


def new_company(state: EmulatorState, data: dict[str, Any]) -> Company:
    """A company as a new QuickBooks sandbox has one (chart of accounts, payment methods, items)."""
    name = _optional_str(data, "companyName") or "Sandbox Company_US_1"
    realm_id = _optional_str(data, "realmId")
    if realm_id is None:
        realm_id = "9341455" + "".join(secrets.choice("0123456789") for _ in range(9))
        while realm_id in state.companies:
            realm_id = "9341455" + "".join(secrets.choice("0123456789") for _ in range(9))
    elif realm_id in state.companies:
        raise AdminError(f"a company with realmId {realm_id} already exists", status=409)
    custom_fields = data.get("customFields")
    if custom_fields is not None and (
        not isinstance(custom_fields, list) or not all(isinstance(n, str) and n for n in custom_fields)
    ):
        raise AdminError("customFields must be a list of names")
    limits_data = data.get("limits")
    limits = None if limits_data is None else company_limits(state, limits_data)
    extra: dict[str, Any] = {} if custom_fields is None else {"custom_fields": list(custom_fields)[:3]}
    company = Company(realm_id=realm_id, name=name, clock=state.clock, limits=limits, **extra)
    state.companies[realm_id] = company
    return company


def company_limits(state: EmulatorState, data: Any) -> Limits:
    """``{"ratePerMinute", "maxConcurrent", "ratePerSecond", "batchPerMinute"}``; omitted keys: configured values."""
    if not isinstance(data, dict):
        raise AdminError("limits must be an object")
    configured = state.config.limits()
    values: dict[str, int] = {}
    for key, name in LIMIT_KEYS.items():
        value = _optional_int(data, key)
        if value is not None and value < 1:
            raise AdminError(f"{key} must be at least 1")
        values[name] = getattr(configured, name) if value is None else value
    return Limits(**values)


def limits_json(limits: Limits) -> dict[str, int]:
    return {key: getattr(limits, name) for key, name in LIMIT_KEYS.items()}


async def create_company(request: Request) -> JSONResponse:
    state = _state(request)
    try:
        company = new_company(state, await _object(request))
    except AdminError as error:
        return JSONResponse({"error": str(error)}, status_code=error.status)
    return JSONResponse({"realmId": company.realm_id, "companyName": company.name})


async def set_limits(request: Request) -> JSONResponse:
    state = _state(request)
    company = state.companies.get(request.path_params["realm"])
    if not isinstance(company, Company):
        return JSONResponse({"error": f"no company with realmId {request.path_params['realm']}"}, status_code=404)
    try:
        company.limits = company_limits(state, await _object(request))
    except AdminError as error:
        return JSONResponse({"error": str(error)}, status_code=error.status)
    return JSONResponse({"realmId": company.realm_id, "limits": limits_json(company.limits)})


async def list_companies(request: Request) -> JSONResponse:
    companies = [
        {"realmId": c.realm_id, "companyName": c.name}
        for c in _state(request).companies.values()
        if isinstance(c, Company)
    ]
    return JSONResponse({"companies": companies})


def fault_rule(data: dict[str, Any]) -> FaultRule:
    status = _optional_int(data, "status")
    if status is not None and status not in INJECTABLE_STATUSES:
        raise AdminError(f"status must be one of {sorted(INJECTABLE_STATUSES)}")
    count = _optional_int(data, "count")
    if count is not None and count < 1:
        raise AdminError("count must be at least 1")
    latency = _optional_int(data, "latencyMs")
    if latency is not None and latency < 0:
        raise AdminError("latencyMs must not be negative")
    if status is None and latency is None:
        raise AdminError("give a status, a latencyMs, or both")
    if status is None and latency == 0 and count is not None:
        raise AdminError("latencyMs 0 without a status clears a latency; it takes no count")
    latency = latency or 0
    if status is not None and count is None:
        count = 1  # a status without a count answers the next matching request only
    method = _optional_str(data, "method")
    entity = _optional_str(data, "entity")
    operation = _optional_str(data, "operation")
    return FaultRule(
        realm_id=_optional_str(data, "realmId"),
        method=method.upper() if method else None,
        entity=entity.lower() if entity else None,
        operation=operation.lower() if operation else None,
        status=status,
        count=count,
        latency_ms=latency,
    )


async def add_fault(request: Request) -> JSONResponse:
    try:
        rule = fault_rule(await _object(request))
    except AdminError as error:
        return JSONResponse({"error": str(error)}, status_code=error.status)
    if rule.status is None and not rule.latency_ms:
        # ``latencyMs: 0`` alone clears the standing latency of what it names (a company, say).
        return JSONResponse({"cleared": _state(request).faults.clear_latency(rule)})
    _state(request).faults.add(rule)
    return JSONResponse({"rule": rule.to_json()})


async def list_faults(request: Request) -> JSONResponse:
    return JSONResponse({"rules": [rule.to_json() for rule in _state(request).faults.rules]})


async def requests_report(request: Request) -> JSONResponse:
    realm_id = request.query_params.get("realmId") or None
    return JSONResponse(_state(request).traffic.report(realm_id))


async def reset(request: Request) -> JSONResponse:
    _state(request).reset()
    return JSONResponse({"reset": True})


def routes() -> list[Route]:
    return [
        Route("/_admin/companies", create_company, methods=["POST"]),
        Route("/_admin/companies", list_companies, methods=["GET"]),
        Route("/_admin/companies/{realm}/limits", set_limits, methods=["PUT"]),
        Route("/_admin/faults", add_fault, methods=["POST"]),
        Route("/_admin/faults", list_faults, methods=["GET"]),
        Route("/_admin/requests", requests_report, methods=["GET"]),
        Route("/_admin/reset", reset, methods=["POST"]),
    ]

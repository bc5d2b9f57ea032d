"""No input makes a 500 (issue 10): every body, id and storage conflict is answered as a problem, through the
handlers, with DynamoDB in moto and QuickBooks the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import wiring
from shared.domain.parties import PARTY_KINDS, PartyKind
from shared.services.books360_events import apply_event
from tests.conftest import load_function
from tests.integration.conftest import Stack
from tools.openapi import ROOT

PROBLEM = "application/problem+json"
KINDS = list(PARTY_KINDS.values())

# Every route that takes a body, and the function that serves it (template.yaml).
BODY_ROUTES = [
    ("api", "PUT", "/quickbooks/connection"),
    ("api", "PUT", "/quickbooks/settings"),
    ("api", "POST", "/quickbooks/customers/p-1/sync"),
    ("api", "POST", "/quickbooks/vendors/p-1/sync"),
    ("bulk_sync", "POST", "/quickbooks/customers/bulk-sync"),
    ("bulk_sync", "POST", "/quickbooks/vendors/bulk-sync"),
    ("bulk_sync", "POST", "/quickbooks/invoices/bulk-sync"),
]
ROUTE_IDS = [f"{method} {path}" for _, method, path in BODY_ROUTES]


@pytest.fixture
def api(stack: Stack) -> Stack:
    stack.functions["bulk_sync"] = load_function("bulk_sync")
    return stack


def answer_of(stack: Stack, function: str, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    answer = stack.call(function, method, path, **kwargs)
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    return answer["statusCode"], headers, json.loads(answer["body"]) if answer.get("body") else None


def assert_problem(status: int, headers: dict[str, str], problem: Any, expected: int) -> None:
    assert status == expected, problem
    assert headers.get("content-type") == PROBLEM, headers
    assert problem["status"] == expected and problem["type"].startswith("/problems/"), problem


def seed(kind: PartyKind, party_id: str, name: str, tenant: str = "t1") -> None:
    detail = {"tenantId": tenant, "version": 1, kind.id_field: party_id, "name": name}
    assert apply_event(wiring.books360_store(), kind.upsert_event, detail, event_id=f"{party_id}-1").status == "applied"


# -- bodies ------------------------------------------------------------------------------------------------------


def test_body_routes_listed_here_are_every_route_openapi_documents_with_a_body():
    document = json.loads((ROOT / "openapi.json").read_text())
    documented = {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    listed = {f"{method} {path}".replace("p-1", "{clientId}", 1) for _, method, path in BODY_ROUTES}
    listed = {r.replace("vendors/{clientId}", "vendors/{vendorId}") for r in listed}

    assert listed == documented


@pytest.mark.parametrize(("function", "method", "path"), BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "body",
    ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000, '{"a": ' + "[" * 40 + "]" * 40 + "}"],
    ids=["arrays-5000-deep", "objects-5000-deep", "object-with-arrays-40-deep"],
)
def test_deeply_nested_body_is_400_problem_on_every_route(api, function, method, path, body):
    status, headers, problem = answer_of(api, function, method, path, body=body)

    assert_problem(status, headers, problem, 400)
    assert "nests deeper" in problem["detail"]


@pytest.mark.parametrize(("function", "method", "path"), BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ('[{"create": true}]', "an array"),
        ('[{"active": true}]', "an array"),
        ("[]", "an array"),
        ('"x"', "a string"),
        ("42", "a number"),
        ("true", "a boolean"),
        ("null", "null"),
    ],
)
def test_body_that_is_not_a_json_object_is_422_naming_body_on_every_route(api, function, method, path, body, kind):
    status, headers, problem = answer_of(api, function, method, path, body=body)

    assert_problem(status, headers, problem, 422)
    assert problem["errors"] == [{"field": "body", "message": f"must be a JSON object, not {kind}"}]


@pytest.mark.parametrize("kind", KINDS, ids=[k.plural for k in KINDS])
def test_sync_with_array_body_is_422_and_creates_nothing(api, kind):
    # GIVEN a connected company and an unlinked party
    realm = api.connect()
    seed(kind, "p-1", "Acme Corp")
    before = dict(api.requests(realm)["byEndpoint"])

    # WHEN the create body comes wrapped in an array
    status, headers, problem = answer_of(
        api, "api", "POST", f"/quickbooks/{kind.plural}/p-1/sync", body=[{"create": True}]
    )

    # THEN it is refused, nothing is sent to QuickBooks and the party stays unsynced
    assert_problem(status, headers, problem, 422)
    assert dict(api.requests(realm)["byEndpoint"]) == before
    status, page = api.api("GET", f"/quickbooks/{kind.plural}")
    assert [(i[kind.id_field], i["status"]) for i in page["items"]] == [("p-1", "unsynced")]


def test_settings_array_of_the_document_is_422_and_stores_nothing(api):
    status, settings = api.api("GET", "/quickbooks/settings")
    assert status == 200
    changed = {**settings, "syncCustomFields": not settings["syncCustomFields"]}

    status, headers, problem = answer_of(api, "api", "PUT", "/quickbooks/settings", body=[changed])

    assert_problem(status, headers, problem, 422)
    assert api.api("GET", "/quickbooks/settings") == (200, settings)


def test_unreadable_body_is_400_not_valid_json(api):
    status, headers, problem = answer_of(api, "api", "PUT", "/quickbooks/settings", body='{"a": ')

    assert_problem(status, headers, problem, 400)
    assert problem["detail"] == "The request body is not valid JSON."

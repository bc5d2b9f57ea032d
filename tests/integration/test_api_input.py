"""No input makes a 500 (issue 10): every body, id and storage conflict is answered as a problem, through the
handlers, with DynamoDB in moto and QuickBooks the emulator."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared import wiring
from shared.domain.parties import PARTY_KINDS, PartyKind
from shared.services.books360_events import apply_event
from tests.conftest import load_function
from tests.integration.conftest import Stack
from tests.support.events import LambdaContext, http_event
from tools.openapi import ROOT

PROBLEM = "application/problem+json"
KINDS = list(PARTY_KINDS.values())

# Every route that takes a body, and the function that serves it (template.yaml).
BODY_ROUTES = [
    ("api", "PUT", "/quickbooks/connection"),
    ("api", "POST", "/quickbooks/connection/confirm"),
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


def multipart(**fields: str) -> tuple[str, str]:
    parts = "".join(f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
    return "multipart/form-data; boundary=b", parts + "--b--\r\n"


@pytest.mark.parametrize(("function", "method", "path"), BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/plain", '{"create": true}', {400}),
        # A form that misses required fields is refused for its type (400), not for the fields it lacks (422).
        ("application/x-www-form-urlencoded", "create=true&active=true", {400}),
        ("application/x-www-form-urlencoded", "x=1", {400}),
        (*multipart(create="true", active="true"), {400}),
        (*multipart(x="1"), {400}),
    ],
    ids=["text", "form", "form-missing-fields", "multipart", "multipart-missing-fields"],
)
def test_body_that_is_not_json_by_its_content_type_is_400_on_every_route(
    api, function, method, path, content_type, body, expected
):
    headers = {"content-type": content_type}
    status, headers, problem = answer_of(api, function, method, path, body=body, headers=headers)

    assert status in expected, problem
    assert_problem(status, headers, problem, status)
    assert problem["detail"] == "The request body must be JSON (Content-Type: application/json)."


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "application/json"])
def test_json_media_type_in_any_case_is_read_as_json(api, content_type):
    # GIVEN the settings document, changed
    status, settings = api.api("GET", "/quickbooks/settings")
    assert status == 200
    changed = {**settings, "syncCustomFields": not settings["syncCustomFields"]}

    # WHEN it is sent with the JSON media type in another case (media types are case-insensitive, RFC 9110 8.3.1)
    answer = api.call("api", "PUT", "/quickbooks/settings", body=changed, headers={"content-type": content_type})

    # THEN it is read as JSON and stored
    assert answer["statusCode"] == 200, answer["body"]
    assert api.api("GET", "/quickbooks/settings") == (200, changed)


@pytest.mark.parametrize("kind", KINDS, ids=[k.plural for k in KINDS])
def test_sync_with_multipart_body_is_400_and_links_nothing(api, kind):
    # GIVEN a connected company with an object the party could be linked to
    realm = api.connect()
    seed(kind, "p-1", "Acme Corp")
    token = api.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    created = api.http.post(
        f"/v3/company/{realm}/{kind.qb_entity.lower()}",
        json={"DisplayName": "Acme Corp"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert created.status_code == 200, created.text
    content_type, body = multipart(**{kind.qb_id_field: created.json()[kind.qb_entity]["Id"]})

    # WHEN the link comes as a form, not JSON
    status, headers, problem = answer_of(
        api, "api", "POST", f"/quickbooks/{kind.plural}/p-1/sync", body=body, headers={"content-type": content_type}
    )

    # THEN it is refused and the party stays unsynced
    assert_problem(status, headers, problem, 400)
    status, page = api.api("GET", f"/quickbooks/{kind.plural}")
    assert [(i[kind.id_field], i["status"]) for i in page["items"]] == [("p-1", "unsynced")]


def base64_event(method: str, path: str, body: str) -> dict[str, Any]:
    return {**http_event(method, path, body=body, claims={"sub": "user", "tenant_id": "t1"}), "isBase64Encoded": True}


NOT_UTF8 = base64.b64encode(b'{"a": "\xff\xfe"}').decode()


@pytest.mark.parametrize(
    ("function", "method", "path", "body"),
    [
        *((*route, NOT_UTF8) for route in BODY_ROUTES),
        *((*route, "!!!not base64") for route in BODY_ROUTES),
        # The webhook reads its body as bytes (a bad signature over any bytes is a 401), but they must be base64.
        ("webhook", "POST", "/quickbooks/webhooks", "!!!not base64"),
    ],
    ids=[*(f"not-utf8-{r}" for r in ROUTE_IDS), *(f"not-base64-{r}" for r in ROUTE_IDS), "not-base64-webhook"],
)
def test_base64_body_that_is_not_utf8_text_is_400(api, function, method, path, body):
    answer = api.functions[function].lambda_handler(base64_event(method, path, body), LambdaContext())
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}

    assert_problem(answer["statusCode"], headers, json.loads(answer["body"]), 400)


# -- DynamoDB transaction conflicts ------------------------------------------------------------------------------


@pytest.fixture
def transaction_conflicts(aws, monkeypatch):
    """Every transaction meets another writer's, as two "Update Lists" at once do in DynamoDB (moto runs them one
    after the other and never cancels one): the count of transactions tried is kept."""
    tried: list[int] = []

    def cancelled(**arguments: Any) -> None:
        tried.append(len(arguments["TransactItems"]))
        reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(arguments["TransactItems"]) - 1)
        error = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": reasons,
        }
        raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]

    return lambda: monkeypatch.setattr(wiring.dynamodb_client(), "transact_write_items", cancelled) or tried


def transacting_requests(stack: Stack) -> dict[str, tuple[str, str, str, Any]]:
    settings = stack.api("GET", "/quickbooks/settings")[1]
    assert settings["autoCreateInvoices"] is False
    return {
        "update-lists": ("list_refresh", "POST", "/quickbooks/lists/refresh", None),
        "bulk-sync": ("bulk_sync", "POST", "/quickbooks/customers/bulk-sync", {"clientIds": ["p-1"]}),
        # Turning automatic sync on marks the tenant for catch-up in the same transaction.
        "settings": ("api", "PUT", "/quickbooks/settings", {**settings, "autoCreateInvoices": True}),
    }


@pytest.mark.parametrize("request_name", ["update-lists", "bulk-sync", "settings"])
def test_transaction_conflict_is_503_problem_with_retry_after(api, transaction_conflicts, request_name):
    # GIVEN a connected tenant, and DynamoDB cancelling every transaction for a conflict with another writer
    api.connect()
    seed(PARTY_KINDS["customer"], "p-1", "Acme Corp")
    function, method, path, body = transacting_requests(api)[request_name]
    tried = transaction_conflicts()

    # WHEN the request writes its transaction
    status, headers, problem = answer_of(api, function, method, path, body=body)

    # THEN it is the 503 other conflicts get, to be retried in a moment (never a 500)
    assert tried, "the request wrote no transaction"
    assert_problem(status, headers, problem, 503)
    assert problem["type"] == "/problems/storage-busy"
    assert headers["retry-after"] == "1"


# -- ids in paths and filters ------------------------------------------------------------------------------------

# Every id a route takes from its path or a filter, with where it goes: (name, function, method, path, query, body).
# "{id}" stands for the id sent.
ID_ROUTES = [
    ("clientId", "api", "GET", "/quickbooks/customers/{id}", None, None),
    ("clientId", "api", "POST", "/quickbooks/customers/{id}/sync", None, {"create": True}),
    ("clientId", "api", "DELETE", "/quickbooks/customers/{id}/sync", None, None),
    ("vendorId", "api", "GET", "/quickbooks/vendors/{id}", None, None),
    ("vendorId", "api", "POST", "/quickbooks/vendors/{id}/sync", None, {"create": True}),
    ("vendorId", "api", "DELETE", "/quickbooks/vendors/{id}/sync", None, None),
    ("invoiceId", "api", "GET", "/quickbooks/invoices/{id}/sync-preview", None, None),
    ("invoiceId", "api", "GET", "/quickbooks/invoices/{id}/qb", None, None),
    ("invoiceId", "api", "DELETE", "/quickbooks/invoices/{id}/qb-link", None, None),
    ("invoiceId", "sync_invoice", "POST", "/quickbooks/invoices/{id}/sync", None, None),
    ("jobId", "api", "GET", "/quickbooks/jobs/{id}", None, None),
    ("client", "api", "GET", "/quickbooks/customers", "client", None),
    ("vendor", "api", "GET", "/quickbooks/vendors", "vendor", None),
    ("client", "api", "GET", "/quickbooks/invoices", "client", None),
]
ID_ROUTE_IDS = [f"{method} {path}{'?' + query if query else ''}" for _, _, method, path, query, _ in ID_ROUTES]


def call_with_id(stack: Stack, route: tuple[Any, ...], given: str) -> tuple[int, dict[str, str], Any]:
    _, function, method, path, query, body = route
    if query:
        return answer_of(stack, function, method, path, query={query: given}, body=body)
    return answer_of(stack, function, method, path.replace("{id}", given), body=body)


def test_id_routes_listed_here_are_every_id_parameter_openapi_documents():
    document = json.loads((ROOT / "openapi.json").read_text())
    names = {"clientId", "vendorId", "invoiceId", "jobId", "client", "vendor"}
    documented = {
        (parameter["name"], method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["name"] in names and parameter["in"] in {"path", "query"}
    }
    listed = {
        (name, method, path.replace("{id}", "{" + name + "}") if not query else path)
        for name, _, method, path, query, _ in ID_ROUTES
    }

    assert listed == documented


@pytest.mark.parametrize("route", ID_ROUTES, ids=ID_ROUTE_IDS)
def test_every_id_parameter_documents_at_most_128_characters(route):
    name, _, method, path, query, _ = route
    document = json.loads((ROOT / "openapi.json").read_text())
    path = path if query else path.replace("{id}", "{" + name + "}")
    (parameter,) = [p for p in document["paths"][path][method.lower()]["parameters"] if p["name"] == name]
    schema = parameter["schema"]
    strings = [s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"]

    assert [s["maxLength"] for s in strings] == [128]


@pytest.mark.parametrize("route", ID_ROUTES, ids=ID_ROUTE_IDS)
@pytest.mark.parametrize("length", [129, 1025, 4000])
def test_id_over_128_characters_is_422_naming_it_and_writes_nothing(api, dynamodb_key_limits, route, length):
    # GIVEN a connected tenant with a linked client (so there is something to write), and DynamoDB's key limits
    realm = api.connect()
    seed(PARTY_KINDS["customer"], "p-1", "Acme Corp")
    assert api.api("POST", "/quickbooks/customers/p-1/sync", body={"create": True})[0] == 200
    before = dict(api.requests(realm)["byEndpoint"])

    # WHEN the id is longer than any Books360 id
    status, headers, problem = call_with_id(api, route, "x" * length)

    # THEN the route refuses it before it becomes a key DynamoDB refuses (a 500), and nothing changed
    assert_problem(status, headers, problem, 422)
    assert [e["field"] for e in problem["errors"]] == [route[0]]
    assert dict(api.requests(realm)["byEndpoint"]) == before
    assert [i["status"] for i in api.api("GET", "/quickbooks/customers")[1]["items"]] == ["synced"]


@pytest.mark.parametrize("route", ID_ROUTES, ids=ID_ROUTE_IDS)
def test_id_of_128_characters_is_looked_up(api, dynamodb_key_limits, route):
    api.connect()

    status, headers, answer = call_with_id(api, route, "x" * 128)

    # A filter matches nothing; an id names nothing the tenant has.
    if route[4]:
        assert (status, answer["items"]) == (200, []), answer
    else:
        assert_problem(status, headers, answer, 404)

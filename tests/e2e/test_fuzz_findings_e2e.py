"""What the schemathesis fuzz (test_fuzz_openapi.py) found, kept as plain requests through the local stack.

Found and fixed (issue 10, "Fuzz it"), each a 500 or an answer outside the contract before:

- a JSON body sent as ``text/plain``, ``application/xml`` or ``multipart/form-data`` without a boundary: 500, now
  400 (every body route; the issue: any body a 400 unreadable or a 422 invalid);
- a body whose bytes are not UTF-8 (``B\\xff``): 500, now 400;
- an id with a newline (``/quickbooks/customers/a%0Ab``): the local front's 404 ``text/plain``, now the function's
  404 problem;
- a signed webhook whose CloudEvent ``time`` is not a string, or whose classic ``dataChangeEvent``, ``entities``,
  ``name`` or ``operation`` has another shape: 500, now 400;
- ``GET /quickbooks/invoices?dateFrom=0``: read as a Unix time (200), now a 422 naming ``dateFrom``;
- openapi.json itself: errors documented as ``application/json`` validation errors, no 400/401/404/409/502/503, the
  unlinks' 204, the callback's 302 and the webhook's 200 missing (tools/openapi.py documents them now).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e

# Every route that reads a JSON body, with a body it would accept.
BODY_ROUTES = [
    ("PUT", "/quickbooks/connection", b'{"active": false}'),
    ("PUT", "/quickbooks/settings", b'{"splitInvoice": false}'),
    ("POST", "/quickbooks/customers/c-1/sync", b'{"qbCustomerId": "1"}'),
    ("POST", "/quickbooks/vendors/v-1/sync", b'{"qbVendorId": "1"}'),
    ("POST", "/quickbooks/customers/bulk-sync", b'{"clientIds": ["c-1"]}'),
    ("POST", "/quickbooks/vendors/bulk-sync", b'{"vendorIds": ["v-1"]}'),
    ("POST", "/quickbooks/invoices/bulk-sync", b'{"invoiceIds": ["i-1"]}'),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in BODY_ROUTES]


def problem(answer) -> dict:
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    body: dict = answer.json()
    assert body["status"] == answer.status_code
    return body


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", "application/xml"])
def test_a_body_that_is_not_json_is_a_400(local_stack, method, path, body, content_type):
    # Found: text/plain was a 500 (Powertools' RequestUnsupportedContentType), multipart/form-data without a
    # boundary a 500 (its parser's ValueError).
    with local_stack.client(f"fuzz-{uuid.uuid4().hex[:8]}") as api:
        answer = api.request(method, path, content=body, headers={"Content-Type": content_type})

    assert answer.status_code == 400, answer.text
    assert problem(answer)["type"] == "/problems/bad-request"


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_a_body_that_is_not_utf8_is_a_400(local_stack, method, path, body):
    # Found: the bytes b'B\xff' as application/json were a 500 (UnicodeDecodeError before JSON parsing).
    with local_stack.client(f"fuzz-{uuid.uuid4().hex[:8]}") as api:
        answer = api.request(method, path, content=b"B\xff", headers={"Content-Type": "application/json"})

    assert answer.status_code == 400, answer.text
    assert problem(answer)["type"] == "/problems/bad-request"


@pytest.mark.parametrize(
    "path",
    [
        "/quickbooks/customers/a%0Ab",
        "/quickbooks/vendors/a%0Ab/sync",
        "/quickbooks/invoices/a%0Ab/sync-preview",
        "/quickbooks/jobs/a%0D%0Ab",
    ],
)
def test_an_id_with_a_newline_reaches_the_function(local_stack, path):
    # Found: the local front's catch-all route (Starlette's `path`, `.*`) stopped at a newline, so such a path
    # matched no route and got Starlette's own 404 text/plain; API Gateway hands it to the function.
    with local_stack.client(f"fuzz-{uuid.uuid4().hex[:8]}") as api:
        answer = api.get(path)

    assert answer.status_code == 404, answer.text
    assert problem(answer)["type"] == "/problems/not-found"


def post_signed(stack, body) -> httpx.Response:
    """Intuit's delivery of ``body``, signed with the local stack's verifier token."""
    raw = json.dumps(body).encode()
    verifier = stack.env.get("QBO_WEBHOOK_VERIFIER") or "local-verifier-token"
    signature = base64.b64encode(hmac.new(verifier.encode(), raw, hashlib.sha256).digest()).decode()
    return httpx.post(
        f"{stack.api_url}/quickbooks/webhooks",
        content=raw,
        headers={"Content-Type": "application/json", "intuit-signature": signature},
        timeout=30.0,
    )


def cloudevent(**fields) -> list[dict]:
    return [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.fuzz",
            "type": "qbo.customer.created.v1",
            "time": "2026-11-30T10:00:00.000Z",
            "intuitentityid": "1",
            "intuitaccountid": "9341455533954647",
            **fields,
        }
    ]


def classic(change) -> dict:
    return {"eventNotifications": [{"realmId": "9341455533954647", "dataChangeEvent": change}]}


@pytest.mark.parametrize(
    "body",
    [
        # a CloudEvent whose time is not a string: pydantic's ValidationError building the event
        *(cloudevent(time=time) for time in ([], {}, 5, 1.5, True)),
        # a classic notification of another shape: AttributeError / TypeError while reading it
        classic(True),
        classic("x"),
        classic({"entities": 5}),
        classic({"entities": {"name": "Customer"}}),
        classic({"entities": [{"name": 7, "id": "1", "operation": "Delete"}]}),
        classic({"entities": [{"name": "Customer", "id": "1", "operation": ["Delete"]}]}),
    ],
)
def test_a_signed_payload_of_another_shape_is_a_400(local_stack, body):
    # Found: each of these, correctly signed, was a 500.
    answer = post_signed(local_stack, body)

    assert answer.status_code == 400, answer.text
    assert problem(answer)["type"] == "/problems/bad-request"


@pytest.mark.parametrize(("name", "value"), [("dateFrom", "0"), ("dateTo", "86400"), ("dateFrom", "2026-6-1")])
def test_a_list_date_that_is_not_yyyy_mm_dd_is_a_422_naming_it(local_stack, name, value):
    # Found (schemathesis' negative_data_rejection, run once by hand): dateFrom=0 was read as a Unix time
    # (1970-01-01) and answered 200.
    with local_stack.client(f"fuzz-{uuid.uuid4().hex[:8]}") as api:
        answer = api.get("/quickbooks/invoices", params={name: value})

    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in problem(answer)["errors"]] == [name]

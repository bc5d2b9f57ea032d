"""Fuzzing every operation of openapi.json over the local stack with schemathesis (issue 10, "Fuzz it").

Each operation gets schemathesis' examples, coverage and fuzzing phases (valid and invalid input), a bounded,
derandomized number of examples (the same cases every run), sent with a valid token of a tenant of its own, so
nothing it writes, unlinks or disconnects touches the demo tenant or another test's. Each answer must be:

- no 5xx but a 503 (busy, retry), and none of those unless documented;
- a documented status and Content-Type, with a body that matches its documented schema (openapi.json);
- every 4xx an ``application/problem+json``.

Any failure fails the test (the 500s issue 10 named, and what this fuzz found, are fixed); what it found stays as
plain regression tests in test_fuzz_findings_e2e.py, and the issue's own bullets have theirs in
tests/integration/test_api_input.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.demo import books360_entries
from tests.e2e.oauth import connect

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# Per operation and phase (27 operations), plus 300 webhook payloads: the module takes about 70 s on two busy cores
# (load 3-4), the local stack's start included.
MAX_EXAMPLES = 50
REQUEST_TIMEOUT = 35.0  # above the HTTP API's 30 s integration limit: a hung function is its 503, not ours

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True},
        "phases": {
            # Methods no route has (TRACE, QUERY...) are API Gateway's own answer, not one of our functions'.
            "coverage": {"unexpected-methods": []},
            "stateful": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_path(ROOT / "openapi.json", config=CONFIG)


def problem_json_on_4xx(ctx: Any, response: Any, case: Any) -> bool | None:
    """api-contract.md, Conventions: every error is an RFC 9457 problem."""
    if 400 <= response.status_code < 500:
        content_type = (response.headers.get("content-type") or [""])[0]
        if not content_type.startswith("application/problem+json"):
            raise Failure(
                operation=case.operation.label,
                title="4xx is not application/problem+json",
                message=f"{response.status_code} with Content-Type {content_type!r}: {response.text[:200]}",
            )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json_on_4xx,
]


# --- known findings: issue 10's "No input makes a 500" bullets, being fixed elsewhere -------------------------


# --- the fuzz ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_company(local_stack) -> dict[str, Any]:
    """A tenant of its own with a few Books360 clients, vendors and invoices (lists answer items, not only []),
    connected to a QuickBooks company of its own (the calls that reach QuickBooks are fuzzed too)."""
    tenant = f"fuzz-{uuid.uuid4().hex[:12]}"
    entries = books360_entries(tenant)
    clients = [e for e in entries if e["DetailType"] == "ClientUpserted"][:6]
    client_ids = {json.loads(e["Detail"])["clientId"] for e in clients}
    vendors = [e for e in entries if e["DetailType"] == "VendorUpserted"][:3]
    invoices = [
        e for e in entries if e["DetailType"] == "InvoiceUpserted" and json.loads(e["Detail"])["clientId"] in client_ids
    ][:6]
    seed = clients + vendors + invoices
    for start in range(0, len(seed), 10):  # PutEvents takes at most 10 entries
        answer = httpx.post(
            f"{local_stack.api_url}/_local/events", json={"Entries": seed[start : start + 10]}, timeout=60
        )
        assert answer.status_code == 200 and answer.json()["FailedEntryCount"] == 0, answer.text
    realm_id = connect(local_stack, tenant)
    known_ids = {
        "clientId": sorted(client_ids),
        "vendorId": [json.loads(e["Detail"])["vendorId"] for e in vendors],
        "invoiceId": [json.loads(e["Detail"])["invoiceId"] for e in invoices],
        "jobId": JOB_IDS,
    }
    return {"tenant": tenant, "realmId": realm_id, "knownIds": known_ids}


JOB_IDS: list[str] = []  # the jobs the fuzz's bulk syncs started (the bulk operations run before GET /jobs/{jobId})


def use_known_ids(case: Any, known_ids: dict[str, list[str]]) -> None:
    """Random ids only ever meet a 404: every other path id (chosen by its hash, so the run stays the same) is
    replaced by one the tenant has, so View Info, the preview, the syncs and the unlinks answer for real too."""
    for name, value in list((case.path_parameters or {}).items()):
        pool = known_ids.get(name)
        digest = zlib.crc32(str(value).encode())
        if pool and digest % 2 == 0:
            case.path_parameters[name] = pool[digest // 2 % len(pool)]


@pytest.fixture
def fuzz_tenant(local_stack, fuzz_company) -> dict[str, Any]:
    """The fuzz tenant, connected again before each operation (PUT /quickbooks/connection may have disconnected it)."""
    tenant, realm_id = fuzz_company["tenant"], fuzz_company["realmId"]
    with local_stack.client(tenant) as api:
        status = api.get("/quickbooks/connection").json().get("status")
    if status != "connected":
        connect(local_stack, tenant, realm_id)
    return {"base_url": local_stack.api_url, "headers": {"Authorization": f"Bearer {local_stack.token(tenant)}"}}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, fuzz_tenant, fuzz_company):
    use_known_ids(case, fuzz_company["knownIds"])
    response = case.call(
        base_url=fuzz_tenant["base_url"],
        headers=fuzz_tenant["headers"],
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT,
    )
    if response.status_code == 202 and case.path.endswith("/bulk-sync"):
        JOB_IDS.append(str(response.json().get("jobId")))
    case.validate_response(response, checks=CHECKS, headers=fuzz_tenant["headers"])


# --- the webhook's payloads ------------------------------------------------------------------------------------
# openapi.json cannot describe the webhook's body (it is read raw, under a signature), so schemathesis only ever
# meets its 401. Here Intuit's two formats are generated with any JSON in any place, signed as Intuit signs them.

WEBHOOK_EXAMPLES = 300

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _or_any(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, valid, JSON)


def webhook_bodies(realm_id: str) -> st.SearchStrategy[Any]:
    realm = _or_any(st.sampled_from([realm_id, "9130000000000000"]))
    entity_id = _or_any(st.sampled_from(["1", "58", "9999"]) | st.text(min_size=1, max_size=20))
    when = _or_any(st.just("2026-11-30T10:00:00.000Z"))
    entity = st.fixed_dictionaries(
        {
            "name": _or_any(st.sampled_from(["Customer", "Vendor", "Invoice", "Payment", "Employee"])),
            "id": entity_id,
            "operation": _or_any(st.sampled_from(["Create", "Update", "Delete", "Merge", "Void", "Emailed"])),
        },
        optional={"lastUpdated": when, "deletedId": entity_id},
    )
    classic = st.fixed_dictionaries(
        {
            "eventNotifications": _or_any(
                st.lists(
                    _or_any(
                        st.fixed_dictionaries(
                            {
                                "realmId": realm,
                                "dataChangeEvent": _or_any(
                                    st.fixed_dictionaries({"entities": _or_any(st.lists(_or_any(entity), max_size=3))})
                                ),
                            }
                        )
                    ),
                    max_size=3,
                )
            )
        }
    )
    kinds = st.sampled_from(["customer", "vendor", "invoice", "payment"])
    actions = st.sampled_from(["created", "updated", "deleted", "merged", "voided", "emailed"])
    cloudevent = st.fixed_dictionaries(
        {
            "specversion": st.just("1.0"),
            "id": _or_any(st.uuids().map(str)),
            "source": st.just("intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU="),
            "type": _or_any(st.builds(lambda k, a: f"qbo.{k}.{a}.v1", kinds, actions)),
            "time": when,
            "intuitentityid": entity_id,
            "intuitaccountid": realm,
        },
        optional={"data": _or_any(st.fixed_dictionaries({}, optional={"deletedid": entity_id}))},
    )
    return st.one_of(classic, st.lists(_or_any(cloudevent), max_size=3), JSON)


def sign(stack, raw: bytes) -> str:
    """Intuit's ``intuit-signature``: under the stack's verifier token (``QBO_WEBHOOK_VERIFIER``, or its default)."""
    verifier = stack.env.get("QBO_WEBHOOK_VERIFIER") or "local-verifier-token"
    return base64.b64encode(hmac.new(verifier.encode(), raw, hashlib.sha256).digest()).decode()


@settings(
    max_examples=WEBHOOK_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_signed_webhook_payloads_answer_as_documented(local_stack, fuzz_company, data):
    body = data.draw(webhook_bodies(fuzz_company["realmId"]), label="body")
    raw = json.dumps(body).encode()
    answer = httpx.post(
        f"{local_stack.api_url}/quickbooks/webhooks",
        content=raw,
        headers={"Content-Type": "application/json", "intuit-signature": sign(local_stack, raw)},
        timeout=REQUEST_TIMEOUT,
    )
    content_type = answer.headers.get("content-type", "")
    seen = f"{raw[:400]!r} -> {answer.status_code} {content_type} {answer.text[:300]}"
    assert answer.status_code in (200, 400, 503), seen
    if answer.status_code == 200:
        ack = answer.json()
        assert content_type.startswith("application/json"), seen
        assert set(ack) == {"events", "new", "ignored"} and all(type(v) is int for v in ack.values()), seen
    else:
        assert content_type.startswith("application/problem+json"), seen
        assert answer.json()["status"] == answer.status_code, seen
    if answer.status_code == 503:
        assert answer.headers.get("retry-after"), seen

"""The local stack over HTTP, as the Books360 UI, Books360 and Intuit reach it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from local.demo import books360_entries
from tests.e2e.conftest import ROOT, LocalStack, free_ports
from tests.e2e.oauth import connect, new_tenant

pytestmark = pytest.mark.e2e

PROBLEM_FIELDS = {"type", "title", "status", "detail"}


def fresh_tenant() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


def test_connection_new_tenant_not_connected(local_stack: LocalStack) -> None:
    # GIVEN a tenant that never connected QuickBooks
    with local_stack.client(fresh_tenant()) as api:
        # WHEN it asks for its connection
        answer = api.get("/quickbooks/connection")
    # THEN it is not connected
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["active"] is False
    assert body["status"] == "not_connected"


@pytest.mark.parametrize(
    ("headers", "detail_word"),
    [
        ({}, "missing"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
        ({"Authorization": "Bearer not-a-jwt"}, "malformed"),
    ],
    ids=["no-token", "not-bearer", "garbage"],
)
def test_connection_without_valid_token_is_401_problem(
    local_stack: LocalStack, headers: dict[str, str], detail_word: str
) -> None:
    with local_stack.client(headers=headers) as api:
        answer = api.get("/quickbooks/connection")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert PROBLEM_FIELDS <= body.keys()
    assert body["status"] == 401
    assert detail_word in body["detail"]


def test_connection_with_bad_signature_is_401_and_handler_not_invoked(local_stack: LocalStack) -> None:
    # GIVEN a token signed with another secret
    from local.tokens import mint_token

    forged = mint_token(fresh_tenant(), secret="not-the-stack-secret")
    # WHEN it is used
    answer = httpx.get(f"{local_stack.api_url}/quickbooks/connection", headers={"Authorization": f"Bearer {forged}"})
    # THEN the authorizer refuses it and the function never runs
    assert answer.status_code == 401
    assert "signature" in answer.json()["detail"]
    request_id = answer.headers["apigw-requestid"]
    assert not [i for i in local_stack.invocations() if i.get("apiRequestId") == request_id]


def test_connection_with_expired_token_is_401(local_stack: LocalStack) -> None:
    expired = local_stack.token(fresh_tenant(), ttl=-60)
    answer = httpx.get(f"{local_stack.api_url}/quickbooks/connection", headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "expired" in answer.json()["detail"]


@pytest.mark.parametrize("path", ["/nowhere", "/quickbooks", "/"])
def test_unknown_route_is_404(local_stack: LocalStack, path: str) -> None:
    with local_stack.client("demo") as api:
        answer = api.get(path)
    assert answer.status_code == 404
    assert answer.json() == {"message": "Not Found"}


def _signed_webhook(local_stack: LocalStack, realm_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        [
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
                "type": "qbo.customer.updated.v1",
                "datacontenttype": "application/json",
                "time": "2026-11-25T10:00:00Z",
                "intuitentityid": "1",
                "intuitaccountid": realm_id,
                "data": {},
            }
        ]
    ).encode()
    verifier = local_stack.env.get("QBO_WEBHOOK_VERIFIER") or "local-verifier-token"
    signature = base64.b64encode(hmac.new(verifier.encode(), body, hashlib.sha256).digest()).decode()
    return body, {"intuit-signature": signature, "content-type": "application/cloudevents-batch+json"}


def test_webhook_route_is_public(local_stack: LocalStack) -> None:
    # GIVEN no Authorization header at all
    body, headers = _signed_webhook(local_stack, "4620816365000000000")
    # WHEN Intuit posts a webhook
    answer = httpx.post(f"{local_stack.api_url}/quickbooks/webhooks", content=body, headers=headers)
    # THEN the webhook function itself answered (the JWT authorizer does not guard this route)
    request_id = answer.headers["apigw-requestid"]
    runs = [i for i in local_stack.invocations("WebhookFunction") if i.get("apiRequestId") == request_id]
    assert len(runs) == 1
    assert runs[0]["trigger"] == "POST /quickbooks/webhooks"


def test_webhook_of_unknown_company_is_acknowledged(local_stack: LocalStack) -> None:
    body, headers = _signed_webhook(local_stack, "4620816365000000001")
    answer = httpx.post(f"{local_stack.api_url}/quickbooks/webhooks", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


def test_emulator_change_reaches_the_webhook_function(local_stack: LocalStack) -> None:
    # GIVEN the demo company, whose webhooks the stack registered at start
    assert local_stack.demo_realm_id
    emulator = httpx.Client(base_url=local_stack.emulator_url, timeout=10.0)
    token = emulator.post("/_admin/tokens", json={"realmId": local_stack.demo_realm_id}).json()["access_token"]
    before = len(local_stack.invocations("WebhookFunction"))
    # WHEN a QuickBooks user creates a customer there and the emulator delivers its webhooks
    created = emulator.post(
        f"/v3/company/{local_stack.demo_realm_id}/customer",
        params={"minorversion": "75"},
        json={"DisplayName": f"E2E Webhook {uuid.uuid4().hex[:8]}"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert created.status_code == 200, created.text
    flushed = emulator.post("/_admin/webhooks/flush")
    assert flushed.status_code == 200, flushed.text
    # THEN the stack's webhook function ran on it
    assert len(local_stack.invocations("WebhookFunction")) > before


def test_events_are_delivered_to_books360_events(local_stack: LocalStack) -> None:
    # GIVEN a Books360 change and an entry that is not an event
    detail = {
        "tenantId": fresh_tenant(),
        "version": 1,
        "clientId": "c-1",
        "name": "Acme Corp",
        "email": "billing@acme.example",
        "companyName": "Acme Corp",
        "phone": None,
        "billingAddress": None,
    }
    entries = [
        {"Source": "books360.accounting", "DetailType": "ClientUpserted", "Detail": json.dumps(detail)},
        {"Source": "books360.accounting", "DetailType": "ClientUpserted", "Detail": "not json"},
    ]
    # WHEN they are put on the bus
    answer = httpx.post(f"{local_stack.api_url}/_local/events", json={"Entries": entries}, timeout=60.0)
    # THEN the good one reached the function before the answer, the bad one is an entry error
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["FailedEntryCount"] == 1
    event_id = body["Entries"][0]["EventId"]
    assert body["Entries"][1]["ErrorCode"] == "MalformedDetail"
    runs = [i for i in local_stack.invocations("Books360EventsFunction") if i.get("eventId") == event_id]
    assert runs, local_stack.output(50)
    assert runs[0]["status"] == "ok"


def test_events_of_another_source_reach_no_function(local_stack: LocalStack) -> None:
    entry = {"Source": "somebody.else", "DetailType": "ClientUpserted", "Detail": "{}"}
    answer = httpx.post(f"{local_stack.api_url}/_local/events", json={"Entries": [entry]})
    event_id = answer.json()["Entries"][0]["EventId"]
    assert not [i for i in local_stack.invocations() if i.get("eventId") == event_id]


def test_schedule_run_answers_name_and_ran_at(local_stack: LocalStack) -> None:
    answer = httpx.post(f"{local_stack.api_url}/_local/schedules/auto-invoice-sync/run", timeout=120.0)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["name"] == "auto-invoice-sync"
    assert body["ranAt"].endswith("Z")
    runs = [i for i in local_stack.invocations("AutoSyncFunction") if i.get("schedule") == "auto-invoice-sync"]
    assert runs


def test_schedule_run_by_logical_id(local_stack: LocalStack) -> None:
    answer = httpx.post(f"{local_stack.api_url}/_local/schedules/Sweep/run", timeout=120.0)
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "auto-invoice-sync"


def test_unknown_schedule_is_404_problem(local_stack: LocalStack) -> None:
    answer = httpx.post(f"{local_stack.api_url}/_local/schedules/nope/run")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_ui_stand_in_shows_path_and_query(local_stack: LocalStack) -> None:
    answer = httpx.get(f"{local_stack.api_url}/_local/ui/integrations/quickbooks", params={"result": "connected"})
    assert answer.status_code == 200
    assert "/integrations/quickbooks" in answer.text
    assert "connected" in answer.text


def test_resources_exist_in_moto(local_stack: LocalStack) -> None:
    import boto3

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    tables = session.client("dynamodb", endpoint_url=local_stack.moto_url).list_tables()["TableNames"]
    assert "books360-local-Table" in tables
    sqs = session.client("sqs", endpoint_url=local_stack.moto_url)
    url = sqs.get_queue_url(QueueName="books360-local-BulkQueue")["QueueUrl"]
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":books360-local-BulkDeadLetterQueue")
    secret = session.client("secretsmanager", endpoint_url=local_stack.moto_url).get_secret_value(
        SecretId="books360-qbo/app"
    )
    assert set(json.loads(secret["SecretString"])) == {"clientId", "clientSecret", "webhookVerifier"}


@pytest.mark.parametrize("variable", ["LOCAL_API_PORT", "MOTO_PORT"])
def test_port_in_use_gives_one_line_error(variable: str) -> None:
    # GIVEN a port something already listens on
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        others = dict(zip(["LOCAL_API_PORT", "QBO_EMULATOR_PORT", "MOTO_PORT"], free_ports(3), strict=True))
        env = {**os.environ, **{k: str(v) for k, v in others.items()}, variable: str(port)}
        # WHEN the stack is started on it
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "local"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
        )
    # THEN it stops at once with one line naming the variable to change
    assert result.returncode != 0
    assert result.stderr.strip() == f"port {port} is in use: set {variable} to another port"
    assert result.stdout == ""


def test_queues_listing_shows_the_template_queues(local_stack: LocalStack) -> None:
    answer = httpx.get(f"{local_stack.api_url}/_local/queues")
    assert answer.status_code == 200
    names = {item["logicalId"]: item for item in answer.json()["items"]}
    assert set(names) == {
        "BulkQueue",
        "BulkDeadLetterQueue",
        "Books360EventsDeadLetterQueue",
        "ListRefreshQueue",
        "ListRefreshDeadLetterQueue",
    }
    assert names["BulkQueue"]["url"].startswith(local_stack.moto_url)


def test_bulk_queue_is_drained_by_its_function(local_stack: LocalStack) -> None:
    import boto3

    # GIVEN a message put on the bulk queue by someone else than the stack
    sqs = boto3.client(
        "sqs",
        endpoint_url=local_stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = sqs.get_queue_url(QueueName="books360-local-BulkQueue")["QueueUrl"]
    message_id = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"probe": uuid.uuid4().hex}))["MessageId"]
    # WHEN the event source mapping polls it
    deadline = time.monotonic() + 20
    runs: list[dict[str, object]] = []
    while not runs and time.monotonic() < deadline:
        runs = [i for i in local_stack.invocations("BulkSyncFunction") if message_id in i.get("messageIds", [])]
        time.sleep(0.2)
    # THEN the bulk function received it in an SQS batch
    assert runs, local_stack.output(50)
    assert runs[0]["trigger"] == "sqs Items"


def test_demo_tenant_data_was_published_at_start(local_stack: LocalStack) -> None:
    # GIVEN the stack loaded the demo tenant's Books360 data at start
    published = len(books360_entries("demo"))
    assert f"demo Books360 data loaded: {published} events for tenant demo" in local_stack.output(last=100_000)

    # THEN the demo tenant's tab shows its 40 clients
    with local_stack.client("demo") as api:
        seen, cursor = 0, None
        while True:
            page = api.get("/quickbooks/customers", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
            seen += len(page.json()["items"])
            cursor = page.json()["nextCursor"]
            if cursor is None:
                break
    assert seen >= 40


def test_nightly_list_refresh_queues_each_tenant_and_the_queue_refreshes_it(local_stack: LocalStack) -> None:
    # GIVEN a connected tenant
    tenant = new_tenant()
    connect(local_stack, tenant)

    # WHEN the nightly schedule runs
    answer = httpx.post(f"{local_stack.api_url}/_local/schedules/list-refresh/run", timeout=120.0)
    assert answer.status_code == 200, answer.text

    # THEN its message, drained from the list-refresh queue, refreshes that tenant's lists
    with local_stack.client(tenant) as api:
        deadline = time.monotonic() + 30
        while api.get("/quickbooks/lists").json()["updatedAt"] is None:
            assert time.monotonic() < deadline, local_stack.output()
            time.sleep(0.2)

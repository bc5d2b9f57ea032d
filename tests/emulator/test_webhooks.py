"""Signed webhook deliveries from the emulator to a tiny HTTP receiver on a loopback port."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from emulator import webhooks
from emulator.app import create_app
from emulator.state import EmulatorConfig, EmulatorState
from tests.support.live import serve

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

VERIFIER = "local-verifier-token"
REALM = "9341455000000001"
OTHER_REALM = "9341455000000002"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers ``fail_status`` to the next ``fail_next`` of them."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        wait_until(lambda: len(self.requests) >= count, timeout)
        return self.requests


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                failing = receiver.fail_next > 0
                receiver.fail_next -= 1 if failing else 0
            self.send_response(receiver.fail_status if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    http_server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{http_server.server_address[1]}/quickbooks/webhooks"
    thread = threading.Thread(target=http_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        http_server.shutdown()
        http_server.server_close()


@dataclass
class Emulator:
    url: str
    state: EmulatorState
    http: httpx.Client

    @property
    def hub(self) -> webhooks.WebhookHub:
        assert isinstance(self.state.webhooks, webhooks.WebhookHub)
        return self.state.webhooks

    def register(self, receiver_url: str, fmt: str = "classic", token: str = VERIFIER) -> None:
        response = self.http.post("/_admin/webhooks", json={"url": receiver_url, "verifierToken": token, "format": fmt})
        assert response.status_code == 200, response.text

    def flush(self) -> dict[str, int]:
        response = self.http.post("/_admin/webhooks/flush")
        assert response.status_code == 200
        result: dict[str, int] = response.json()
        return result

    def deliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.http.get("/_admin/webhooks").json()["deliveries"]
        return result


@contextmanager
def serve_emulator() -> Iterator[Emulator]:
    app = create_app(EmulatorConfig())
    state: EmulatorState = app.state.emulator
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        state.config.base_url = url  # the discovery document names the emulator's own address
        yield Emulator(url, state, http)


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with serve_emulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(server: Emulator) -> Emulator:
    server.hub.reset()
    server.hub.batch_window = 0.1
    server.hub.retry_delays = (0.1, 0.2, 0.3)
    return server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as running:
        yield running


def assert_signed(received: Received, token: str = VERIFIER) -> None:
    expected = base64.b64encode(hmac.new(token.encode(), received.body, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(received.headers["intuit-signature"], expected)
    assert received.headers["content-type"] == "application/json"


def test_webhook_classic_burst_arrives_as_one_signed_post(emulator: Emulator, receiver: Receiver) -> None:
    # GIVEN a classic endpoint and a burst of changes in two companies (recorded from a non-loop thread)
    emulator.register(receiver.url, "classic")
    emulator.hub.batch_window = 0.3
    emulator.hub.record(REALM, "Customer", "58", "Create")
    emulator.hub.record(REALM, "Invoice", "130", "Update")
    emulator.hub.record(OTHER_REALM, "Customer", "12", "Merge", deleted_id="27")

    # WHEN the batch window passes
    requests = receiver.wait_for(1)

    # THEN one signed POST carries Intuit's legacy payload, one notification per company
    time.sleep(0.2)
    assert len(requests) == 1
    assert_signed(requests[0])
    notifications = requests[0].json()["eventNotifications"]
    assert [n["realmId"] for n in notifications] == [REALM, OTHER_REALM]
    first, second = notifications[0]["dataChangeEvent"]["entities"]
    assert {k: first[k] for k in ("name", "id", "operation")} == {"name": "Customer", "id": "58", "operation": "Create"}
    assert second["name"] == "Invoice" and second["operation"] == "Update"
    assert "deletedId" not in first
    assert ISO_Z.match(first["lastUpdated"])
    merged = notifications[1]["dataChangeEvent"]["entities"][0]
    assert merged == {**merged, "name": "Customer", "id": "12", "operation": "Merge", "deletedId": "27"}


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("Create", "created"),
        ("Update", "updated"),
        ("Delete", "deleted"),
        ("Merge", "merged"),
        ("Void", "voided"),
        ("Emailed", "emailed"),
    ],
)
def test_webhook_cloudevents_operation_maps_to_event_type(
    emulator: Emulator, receiver: Receiver, operation: str, action: str
) -> None:
    # GIVEN a CloudEvents endpoint and one change
    emulator.register(receiver.url, "cloudevents")
    deleted_id = "27" if operation == "Merge" else None
    emulator.hub.record(REALM, "PaymentMethod", "7", operation, deleted_id=deleted_id)  # type: ignore[arg-type]

    # WHEN pending deliveries are flushed
    result = emulator.flush()

    # THEN one signed array of CloudEvents arrived, with Intuit's fields
    assert result == {"delivered": 1, "failed": 0, "events": 1}
    [received] = receiver.requests
    assert_signed(received)
    [event] = received.json()
    assert event["specversion"] == "1.0"
    assert event["type"] == f"qbo.paymentmethod.{action}.v1"
    assert event["source"].startswith("intuit.")
    assert event["datacontenttype"] == "application/json"
    assert ISO_Z.match(event["time"])
    assert event["intuitentityid"] == "7"
    assert event["intuitaccountid"] == REALM
    assert event["data"] == ({"deletedid": "27"} if operation == "Merge" else {})
    assert len(event["id"]) == 36


def test_webhook_flush_delivers_before_batch_window_ends(emulator: Emulator, receiver: Receiver) -> None:
    # GIVEN a long batch window and two recorded changes
    emulator.hub.batch_window = 30
    emulator.register(receiver.url, "cloudevents")
    emulator.hub.record(REALM, "Customer", "1", "Create")
    emulator.hub.record(REALM, "Customer", "2", "Create")

    # WHEN the test flushes
    started = time.monotonic()
    result = emulator.flush()

    # THEN both events were delivered in one POST before flush answered, each with its own id
    assert time.monotonic() - started < 5
    assert result == {"delivered": 1, "failed": 0, "events": 2}
    [received] = receiver.requests
    ids = [event["id"] for event in received.json()]
    assert len(set(ids)) == 2


def test_webhook_receiver_failure_is_retried_with_same_body(emulator: Emulator, receiver: Receiver) -> None:
    # GIVEN a receiver that fails twice
    receiver.fail_next = 2
    emulator.register(receiver.url, "cloudevents")

    # WHEN a change is recorded
    emulator.hub.record(REALM, "Invoice", "130", "Void")

    # THEN it is retried until accepted, with identical bytes and signature, and the log shows each attempt
    requests = receiver.wait_for(3)
    assert requests[0].body == requests[1].body == requests[2].body
    assert requests[0].headers["intuit-signature"] == requests[2].headers["intuit-signature"]
    wait_until(lambda: emulator.deliveries()[0]["status"] == "delivered")
    [delivery] = emulator.deliveries()
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]


def test_webhook_retries_exhausted_marked_failed_then_flush_delivers(emulator: Emulator, receiver: Receiver) -> None:
    # GIVEN a receiver failing longer than the retry schedule
    receiver.fail_next = 100
    emulator.register(receiver.url, "classic")
    emulator.hub.record(REALM, "Payment", "9", "Delete")
    wait_until(lambda: bool(emulator.deliveries()) and emulator.deliveries()[0]["status"] == "failed")
    attempts = len(receiver.requests)

    # WHEN the receiver recovers and the test flushes
    receiver.fail_next = 0
    result = emulator.flush()

    # THEN the delivery was kept (1 try + 3 retries) and is now delivered
    assert attempts == 1 + len(emulator.hub.retry_delays)
    assert result == {"delivered": 1, "failed": 0, "events": 1}
    assert emulator.deliveries()[0]["status"] == "delivered"


def test_webhook_unreachable_endpoint_flush_reports_failed(emulator: Emulator) -> None:
    # GIVEN an endpoint on a port nobody listens to
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    emulator.hub.batch_window = 30
    emulator.register(dead_url, "classic")
    emulator.hub.record(REALM, "Customer", "1", "Update")

    # WHEN the test flushes
    result = emulator.flush()

    # THEN the failure is reported and logged, not lost
    assert result == {"delivered": 0, "failed": 1, "events": 0}
    [delivery] = emulator.deliveries()
    assert delivery["status"] == "retrying"
    assert delivery["attempts"][0]["error"] == "ConnectError"
    assert delivery["body"]["eventNotifications"][0]["realmId"] == REALM


def test_webhook_without_registration_drops_events(emulator: Emulator, receiver: Receiver) -> None:
    # GIVEN no registered endpoint

    # WHEN a change is recorded and the test flushes
    emulator.hub.record(REALM, "Customer", "1", "Create")
    result = emulator.flush()

    # THEN nothing is sent and the drop is counted
    assert result == {"delivered": 0, "failed": 0, "events": 0}
    assert emulator.http.get("/_admin/webhooks").json()["droppedEvents"] == 1
    assert receiver.requests == []


def test_webhook_registration_replaced_uses_new_url_and_token(emulator: Emulator, receiver: Receiver) -> None:
    # GIVEN an endpoint registered, then replaced by another URL with another verifier token
    emulator.register("http://127.0.0.1:9/old", "classic")
    emulator.register(receiver.url, "cloudevents", token="new-token")

    # WHEN a change is flushed
    emulator.hub.record(REALM, "Item", "3", "Create")
    emulator.flush()

    # THEN it went to the new endpoint, in its format, signed with its token
    [received] = receiver.requests
    assert_signed(received, token="new-token")
    assert isinstance(received.json(), list)
    shown = emulator.http.get("/_admin/webhooks").json()["registration"]
    assert shown == {"url": receiver.url, "format": "cloudevents"}


@pytest.mark.parametrize(
    "body",
    [
        {"url": "not a url", "verifierToken": VERIFIER},
        {"url": "ftp://127.0.0.1/x", "verifierToken": VERIFIER},
        {"url": "http://127.0.0.1:1/x", "verifierToken": ""},
        {"url": "http://127.0.0.1:1/x", "verifierToken": VERIFIER, "format": "xml"},
        ["not", "an", "object"],
    ],
)
def test_webhook_register_invalid_body_returns_400(emulator: Emulator, body: Any) -> None:
    # GIVEN a bad registration

    # WHEN it is posted
    response = emulator.http.post("/_admin/webhooks", json=body)

    # THEN it is refused and nothing is registered
    assert response.status_code == 400
    assert emulator.hub.registration is None


def test_webhook_reset_clears_registration_and_log(emulator: Emulator, receiver: Receiver) -> None:
    # GIVEN a registration and a delivery in the log
    emulator.register(receiver.url)
    emulator.hub.record(REALM, "Customer", "1", "Create")
    emulator.flush()

    # WHEN the emulator is reset
    emulator.hub.reset()

    # THEN registration and log are gone
    shown = emulator.http.get("/_admin/webhooks").json()
    assert shown == {"registration": None, "pendingEvents": 0, "droppedEvents": 0, "deliveries": []}


def test_webhook_record_unknown_operation_raises(emulator: Emulator) -> None:
    # GIVEN a registered endpoint
    emulator.register("http://127.0.0.1:9/x")

    # WHEN the accounting half records an operation Intuit does not have
    # THEN it fails loudly
    with pytest.raises(ValueError, match="Archive"):
        emulator.hub.record(REALM, "Customer", "1", "Archive")  # type: ignore[arg-type]


def test_sign_matches_python_quickbooks_validation() -> None:
    # GIVEN a body signed by the emulator
    from quickbooks.client import QuickBooks

    body = b'{"eventNotifications":[]}'
    signature = webhooks.sign(VERIFIER, body)

    # WHEN python-quickbooks validates it as Intuit's signature
    client = SimpleNamespace(verifier_token=VERIFIER)
    valid = QuickBooks.validate_webhook_signature(client, body.decode(), signature)

    # THEN it is accepted
    assert valid is True


def test_webhook_customer_created_through_api_is_delivered(emulator: Emulator, receiver: Receiver) -> None:
    # GIVEN a CloudEvents endpoint and a company with a token
    emulator.register(receiver.url, "cloudevents")
    realm = emulator.http.post("/_admin/companies", json={"companyName": "Hooked Co"}).json()["realmId"]
    token = emulator.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]

    # WHEN a customer is created through the Accounting API
    created = emulator.http.post(
        f"/v3/company/{realm}/customer",
        json={"DisplayName": "Webhook Customer"},
        params={"minorversion": 75},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert created.status_code == 200, created.text
    emulator.flush()

    # THEN a signed qbo.customer.created.v1 event for it arrived
    events = [event for received in receiver.requests for event in received.json()]
    assert_signed(receiver.requests[0])
    assert {(e["type"], e["intuitaccountid"], e["intuitentityid"]) for e in events} >= {
        ("qbo.customer.created.v1", realm, created.json()["Customer"]["Id"])
    }

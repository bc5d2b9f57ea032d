"""Accounting writes reach a registered webhook endpoint, signed, through the real webhook half."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from quickbooks import QuickBooks

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from tests.emulator.conftest import Company

VERIFIER = "test-verifier-token"


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append((body, self.headers.get("intuit-signature", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/quickbooks/webhooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [event for body, _ in self.deliveries for event in json.loads(body)]


@pytest.fixture
def receiver(http: httpx.Client) -> Iterator[Receiver]:
    receiver = Receiver()
    http.post("/_admin/webhooks", json={"url": receiver.url, "verifierToken": VERIFIER, "format": "cloudevents"})
    yield receiver
    http.delete("/_admin/webhooks")
    receiver.server.shutdown()


def test_customer_create_and_inactivation_are_delivered_signed(
    company: Company, receiver: Receiver, http: httpx.Client
) -> None:
    # GIVEN a registered CloudEvents endpoint
    # WHEN a customer is created and then made inactive
    created = company.create("Customer", {"DisplayName": "Webhooked"})
    company.create("Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    http.post("/_admin/webhooks/flush")

    # THEN both changes arrive, inactivation as a delete, and every delivery carries a valid signature
    kinds = [(e["type"], e["intuitentityid"], e["intuitaccountid"]) for e in receiver.events()]
    assert kinds == [
        ("qbo.customer.created.v1", created["Id"], company.realm_id),
        ("qbo.customer.deleted.v1", created["Id"], company.realm_id),
    ]
    checker = QuickBooks(minorversion=75)
    for body, signature in receiver.deliveries:
        assert checker.validate_webhook_signature(body.decode(), signature, VERIFIER)

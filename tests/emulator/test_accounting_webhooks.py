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


def _changes(receiver: Receiver, realm_id: str, fmt: str) -> list[tuple[str, str, str]]:
    """(entity, id, operation) of every delivered change of one company, in order, whatever the format."""
    changes: list[tuple[str, str, str]] = []
    for body, _ in receiver.deliveries:
        payload = json.loads(body)
        if fmt == "classic":
            for notification in payload["eventNotifications"]:
                if notification["realmId"] == realm_id:
                    entities = notification["dataChangeEvent"]["entities"]
                    changes += [(e["name"], e["id"], e["operation"]) for e in entities]
        else:
            for event in payload:
                if event["intuitaccountid"] == realm_id:
                    _, entity, action, _ = event["type"].split(".")
                    changes.append((entity, event["intuitentityid"], action))
    return changes


@pytest.mark.parametrize("fmt", ["classic", "cloudevents"])
def test_invoice_and_payment_create_update_delete_are_delivered(
    company: Company, receiver: Receiver, http: httpx.Client, fmt: str
) -> None:
    # GIVEN an endpoint registered in the format
    http.post("/_admin/webhooks", json={"url": receiver.url, "verifierToken": VERIFIER, "format": fmt})
    customer = company.create("Customer", {"DisplayName": "Hooked Payer"})
    line = {"Amount": 100, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    link = {"TxnId": "", "TxnType": "Invoice"}

    # WHEN an invoice and a payment are each created, updated and deleted
    invoice = company.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})
    link["TxnId"] = invoice["Id"]
    payment = company.create(
        "Payment",
        {"TotalAmt": 40, "CustomerRef": {"value": customer["Id"]}, "Line": [{"Amount": 40, "LinkedTxn": [link]}]},
    )
    invoice_token = company.get(f"invoice/{invoice['Id']}").json()["Invoice"]["SyncToken"]
    company.create("Invoice", {"Id": invoice["Id"], "SyncToken": invoice_token, "sparse": True, "PrivateNote": "x"})
    company.create("Payment", {"Id": payment["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "y"})
    assert company.post("payment", {"Id": payment["Id"], "SyncToken": "1"}, operation="delete").status_code == 200
    invoice_token = company.get(f"invoice/{invoice['Id']}").json()["Invoice"]["SyncToken"]
    gone = {"Id": invoice["Id"], "SyncToken": invoice_token}
    assert company.post("invoice", gone, operation="delete").status_code == 200
    http.post("/_admin/webhooks/flush")

    # THEN each write arrived once, signed, in QuickBooks' words for the format
    expected = [
        ("Invoice", invoice["Id"], "Create"),
        ("Payment", payment["Id"], "Create"),
        ("Invoice", invoice["Id"], "Update"),
        ("Payment", payment["Id"], "Update"),
        ("Payment", payment["Id"], "Delete"),
        ("Invoice", invoice["Id"], "Delete"),
    ]
    if fmt == "cloudevents":
        actions = {"Create": "created", "Update": "updated", "Delete": "deleted"}
        expected = [(entity.lower(), entity_id, actions[operation]) for entity, entity_id, operation in expected]
    changes = _changes(receiver, company.realm_id, fmt)
    assert [change for change in changes if change[0].lower() != "customer"] == expected
    checker = QuickBooks(minorversion=75)
    for body, signature in receiver.deliveries:
        assert checker.validate_webhook_signature(body.decode(), signature, VERIFIER)

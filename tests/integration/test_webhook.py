"""POST /quickbooks/webhooks: signature over the raw body, both Intuit formats, each event once per tenant."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from shared import wiring
from shared.services.books360_events import apply_event
from shared.store.webhook_events import WebhookEventStore

VERIFIER = "v"  # the app secret the stack fixture stores


def sign(body: bytes, key: str = VERIFIER) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def cloudevent(realm: str, entity_id: str = "58", kind: str = "qbo.customer.deleted.v1", event_id: str = "ev-1"):
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "intuit.test",
        "type": kind,
        "datacontenttype": "application/json",
        "time": "2026-11-25T10:00:00Z",
        "intuitentityid": entity_id,
        "intuitaccountid": realm,
        "data": {},
    }


def fail_once(monkeypatch: Any, owner: type, method: str, message: str) -> list[int]:
    """``owner.method`` raises once (a crash at that point), then works; the list counts the failures."""
    original = getattr(owner, method)
    failures: list[int] = []

    def failing_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(1)
            raise RuntimeError(message)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, failing_once)
    return failures


def deliver(stack, payload, *, signature: str | None = None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"intuit-signature": signature if signature is not None else sign(body)}
    answer = stack.call("webhook", "POST", "/quickbooks/webhooks", tenant=None, body=body.decode(), headers=headers)
    return answer["statusCode"], json.loads(answer["body"])


def test_webhook_cloudevent_of_connected_company_is_recorded_once(stack):
    # GIVEN a tenant connected to a company
    realm = stack.connect()
    payload = [cloudevent(realm)]

    # WHEN Intuit delivers an event, then delivers it again
    first = deliver(stack, payload)
    second = deliver(stack, payload)

    # THEN it is acknowledged both times and recorded once
    assert first == (200, {"events": 1, "new": 1, "ignored": 0})
    assert second == (200, {"events": 1, "new": 0, "ignored": 0})
    recorded = wiring.webhook_event_store().recorded("t1")
    assert [(e["entity"], e["entityId"], e["operation"]) for e in recorded] == [("customer", "58", "Delete")]


def test_webhook_classic_format_is_understood(stack):
    realm = stack.connect()
    payload = {
        "eventNotifications": [
            {
                "realmId": realm,
                "dataChangeEvent": {
                    "entities": [
                        {"name": "Invoice", "id": "145", "operation": "Delete", "lastUpdated": "2026-11-25T10:00:00Z"},
                        {
                            "name": "Customer",
                            "id": "12",
                            "operation": "Merge",
                            "lastUpdated": "2026-11-25T10:00:01Z",
                            "deletedId": "27",
                        },
                    ]
                },
            }
        ]
    }

    status, ack = deliver(stack, payload)

    assert (status, ack["new"]) == (200, 2)
    merged = [e for e in wiring.webhook_event_store().recorded("t1") if e["operation"] == "Merge"]
    assert merged[0]["deletedId"] == "27"


def test_webhook_with_bad_signature_is_401_and_records_nothing(stack):
    realm = stack.connect()

    status, problem = deliver(stack, [cloudevent(realm)], signature=sign(b"something else"))

    assert status == 401
    assert problem["status"] == 401
    assert wiring.webhook_event_store().recorded("t1") == []


def test_webhook_without_signature_is_401(stack):
    body = json.dumps([cloudevent("1")]).encode()
    answer = stack.call("webhook", "POST", "/quickbooks/webhooks", tenant=None, body=body.decode())

    assert answer["statusCode"] == 401


@pytest.mark.parametrize(
    "signature", ["é" * 44, "sïgnature", "\u2603", "\ud800"], ids=["accents", "mixed", "snowman", "surrogate"]
)
def test_webhook_with_non_ascii_signature_is_401_problem_and_records_nothing(stack, signature):
    realm = stack.connect()
    body = json.dumps([cloudevent(realm)]).encode()
    headers = {"intuit-signature": signature}

    answer = stack.call("webhook", "POST", "/quickbooks/webhooks", tenant=None, body=body.decode(), headers=headers)

    assert answer["statusCode"] == 401, answer
    assert answer["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(answer["body"])["type"] == "/problems/unauthorized"
    assert wiring.webhook_event_store().recorded("t1") == []


def test_webhook_signed_body_nested_thousands_deep_is_400_problem(stack):
    status, problem = deliver(stack, None, raw=b"[" * 5000 + b"]" * 5000)

    assert status == 400, problem
    assert problem["type"] == "/problems/bad-request"


def test_webhook_of_unknown_company_is_acknowledged_and_ignored(stack):
    status, ack = deliver(stack, [cloudevent("999999")])

    assert (status, ack) == (200, {"events": 1, "new": 0, "ignored": 1})


def test_webhook_unreadable_body_is_400_problem(stack):
    status, problem = deliver(stack, None, raw=b"not json at all")

    assert status == 400
    assert "Intuit payload" in problem["detail"]


def test_webhook_after_disconnect_is_ignored(stack):
    realm = stack.connect()
    stack.api("PUT", "/quickbooks/connection", body={"active": False})

    assert deliver(stack, [cloudevent(realm, event_id="ev-late")])[1]["ignored"] == 1


def test_webhook_of_the_company_left_behind_after_reauthorization_is_ignored(stack):
    # GIVEN a tenant whose first company revoked the app, and who then connected a second company
    first = stack.connect()
    stack.http.post("/_admin/expire-tokens", json={"realmId": first, "refreshToo": True})
    stack.call("list_refresh", "POST", "/quickbooks/lists/refresh")
    assert stack.api("GET", "/quickbooks/connection")[1]["status"] == "reauthorization_required"
    second = stack.connect(realm_id=stack.company("Second Co"))

    # WHEN both companies send an event
    old = deliver(stack, [cloudevent(first, event_id="ev-old")])[1]
    new = deliver(stack, [cloudevent(second, event_id="ev-new")])[1]

    # THEN only the connected company's event concerns the tenant
    assert (old["ignored"], new["new"]) == (1, 1)


def test_webhook_delete_of_a_linked_customer_shows_deleted_in_qb_and_keeps_the_link(stack):
    # GIVEN a client linked to a QuickBooks customer it created
    realm = stack.connect()
    detail = {"tenantId": "t1", "version": 1, "clientId": "c-1", "name": "Gone Corp", "email": "a@gone.example"}
    apply_event(wiring.books360_store(), "ClientUpserted", detail, event_id="e1")
    status, linked = stack.api("POST", "/quickbooks/customers/c-1/sync", body={"create": True})
    assert status == 200, linked

    # WHEN QuickBooks reports it deleted (made inactive), twice
    payload = [cloudevent(realm, entity_id=linked["qbCustomerId"], event_id="ev-del")]
    deliver(stack, payload)
    deliver(stack, payload)

    # THEN the tab shows it deleted in QuickBooks, still naming the QuickBooks id
    (row,) = stack.api("GET", "/quickbooks/customers", query={"client": "c-1"})[1]["items"]
    assert (row["status"], row["qbCustomerId"]) == ("deleted_in_qb", linked["qbCustomerId"])


def test_webhook_merge_that_takes_a_linked_vendor_away_shows_deleted_in_qb(stack):
    realm = stack.connect()
    detail = {"tenantId": "t1", "version": 1, "vendorId": "v-1", "name": "Merged Supplies"}
    apply_event(wiring.books360_store(), "VendorUpserted", detail, event_id="e2")
    _, linked = stack.api("POST", "/quickbooks/vendors/v-1/sync", body={"create": True})
    merged = {
        "eventNotifications": [
            {
                "realmId": realm,
                "dataChangeEvent": {
                    "entities": [
                        {
                            "name": "Vendor",
                            "id": "999",
                            "operation": "Merge",
                            "lastUpdated": "2026-11-25T10:00:00Z",
                            "deletedId": linked["qbVendorId"],
                        }
                    ]
                },
            }
        ]
    }

    deliver(stack, merged)

    (row,) = stack.api("GET", "/quickbooks/vendors", query={"vendor": "v-1"})[1]["items"]
    assert row["status"] == "deleted_in_qb"


def test_webhook_vendor_merge_is_applied_before_it_is_recorded_and_a_retry_changes_nothing(stack, monkeypatch):
    # GIVEN a linked vendor, and recording the event fails once, after its effect
    realm = stack.connect()
    detail = {"tenantId": "t1", "version": 1, "vendorId": "v-2", "name": "Lost Supplies"}
    apply_event(wiring.books360_store(), "VendorUpserted", detail, event_id="e3")
    _, linked = stack.api("POST", "/quickbooks/vendors/v-2/sync", body={"create": True})
    fail_once(monkeypatch, WebhookEventStore, "record", "lost before recording")
    entity = {"name": "Vendor", "id": "998", "operation": "Merge", "lastUpdated": "2026-11-25T10:00:00Z"}
    entity["deletedId"] = linked["qbVendorId"]
    merged = {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [entity]}}]}

    # WHEN Intuit delivers it (an error: nothing recorded, the mark made), then retries twice
    first = stack.call("webhook", "POST", "/quickbooks/webhooks", tenant=None, **_signed(merged))
    assert (first["statusCode"], wiring.webhook_event_store().recorded("t1")) == (500, [])
    (after_first,) = stack.api("GET", "/quickbooks/vendors", query={"vendor": "v-2"})[1]["items"]
    retried = deliver(stack, merged)
    again = deliver(stack, merged)

    # THEN the mark stands, the first retry records it, the second is a no-op
    assert after_first["status"] == "deleted_in_qb"
    assert (retried[0], retried[1]["new"], again[1]["new"]) == (200, 1, 0)
    (row,) = stack.api("GET", "/quickbooks/vendors", query={"vendor": "v-2"})[1]["items"]
    assert row == after_first
    assert len(wiring.webhook_event_store().recorded("t1")) == 1


def _signed(payload) -> dict:
    body = json.dumps(payload).encode()
    return {"body": body.decode(), "headers": {"intuit-signature": sign(body)}}

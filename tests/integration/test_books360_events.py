"""Books360 events: version-guarded upserts, repeats and old versions change nothing, malformed ones are rejected."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from shared import wiring
from tests.conftest import load_function
from tests.support.events import eventbridge_event

events_function = load_function("books360_events")


def client(version: int, **changes) -> dict:
    return {
        "tenantId": "t1",
        "version": version,
        "clientId": "c-1",
        "name": "Acme Corp",
        "email": "ap@acme.example",
        "companyName": "Acme Corp",
        "phone": "555-0100",
        "billingAddress": {
            "line1": "1 Main St",
            "city": "Springfield",
            "region": "CA",
            "postalCode": "94000",
            "country": "USA",
        },
        **changes,
    }


def invoice(version: int, **changes) -> dict:
    return {
        "tenantId": "t1",
        "version": version,
        "invoiceId": "inv-1",
        "clientId": "c-1",
        "number": "69-BIZ1-1",
        "createdAt": "2026-02-27T10:00:00Z",
        "dateFrom": "2026-02-01",
        "dateTo": "2026-02-28",
        "dueDate": "2026-03-29",
        "currency": "USD",
        "customFields": {"CampaignId": "CMP-42", "Clicks": 1200},
        "transactions": [
            {"id": "t1", "date": "2026-02-03", "description": "Ad spend", "amount": "1000.10"},
            {"id": "t2", "date": "2026-02-20", "description": "Fee", "amount": 250.4},
        ],
        "payments": [
            {"id": "p1", "date": "2026-03-02", "amount": "100.00", "paymentSystem": "stripe", "brokerId": None}
        ],
        **changes,
    }


def send(detail_type: str, detail: dict, lambda_context) -> dict:
    return events_function.lambda_handler(eventbridge_event(detail_type, detail), lambda_context)


def stored(sk: str, tenant: str = "t1"):
    return wiring.books360_store().get(tenant, sk)


def test_client_upserted_is_stored(aws, lambda_context):
    outcome = send("ClientUpserted", client(1), lambda_context)

    assert outcome == {"status": "applied", "objectId": "c-1"}
    copy = stored("CLIENT#c-1")
    assert (copy["name"], copy["email"], copy["version"]) == ("Acme Corp", "ap@acme.example", 1)
    assert copy["billingAddress"]["postalCode"] == "94000"


def test_older_version_never_overwrites_newer(aws, lambda_context):
    # GIVEN version 2 arrived first
    send("ClientUpserted", client(2, name="Acme Corporation"), lambda_context)

    # WHEN version 1 arrives late
    outcome = send("ClientUpserted", client(1, name="Acme Old"), lambda_context)

    # THEN it is ignored
    assert outcome["status"] == "stale"
    assert stored("CLIENT#c-1")["name"] == "Acme Corporation"


def test_repeated_delivery_changes_nothing(aws, lambda_context):
    send("ClientUpserted", client(3), lambda_context)

    assert send("ClientUpserted", client(3, name="Changed"), lambda_context)["status"] == "stale"
    assert stored("CLIENT#c-1")["name"] == "Acme Corp"


def test_upsert_keeps_link_fields(aws, lambda_context):
    # GIVEN a client already linked to a QuickBooks customer
    send("ClientUpserted", client(1), lambda_context)
    wiring.table().update("TENANT#t1", "CLIENT#c-1", set_values={"qbCustomerId": "58", "realmId": "9341"})

    # WHEN Books360 changes the client
    send("ClientUpserted", client(2, email=None), lambda_context)

    # THEN the link stays
    copy = stored("CLIENT#c-1")
    assert (copy["qbCustomerId"], copy.get("email")) == ("58", None)


def test_vendor_upserted_is_stored(aws, lambda_context):
    vendor = {
        "tenantId": "t1",
        "version": 1,
        "vendorId": "v-1",
        "name": "Paper Supply LLC",
        "email": None,
        "companyName": "Paper",
        "phone": None,
    }

    assert send("VendorUpserted", vendor, lambda_context)["status"] == "applied"
    assert stored("VENDOR#v-1")["name"] == "Paper Supply LLC"


def test_invoice_amounts_are_exact_decimals(aws, lambda_context):
    send("InvoiceUpserted", invoice(1), lambda_context)

    copy = stored("INVOICE#inv-1")
    assert copy["amount"] == Decimal("1250.50")
    assert copy["paid"] == Decimal("100.00")
    assert [t["amount"] for t in copy["transactions"]] == [Decimal("1000.10"), Decimal("250.4")]
    assert copy["customFields"] == {"CampaignId": "CMP-42", "Clicks": "1200"}


def test_invoice_deleted_removes_our_copy_and_old_upsert_cannot_bring_it_back(aws, lambda_context):
    send("InvoiceUpserted", invoice(1), lambda_context)

    assert (
        send("InvoiceDeleted", {"tenantId": "t1", "version": 2, "invoiceId": "inv-1"}, lambda_context)["status"]
        == "applied"
    )
    assert stored("INVOICE#inv-1") is None
    assert send("InvoiceUpserted", invoice(1), lambda_context)["status"] == "stale"
    assert stored("INVOICE#inv-1") is None


@pytest.mark.parametrize(
    ("detail_type", "detail"),
    [
        ("ClientUpserted", {"tenantId": "t1", "version": 1, "name": "No id"}),
        ("ClientUpserted", {"tenantId": "t1", "version": "one", "clientId": "c", "name": "x"}),
        ("InvoiceUpserted", invoice(1, transactions=[{"id": "t", "date": "not a date", "amount": "1"}])),
        ("SomethingElse", {"tenantId": "t1", "version": 1}),
    ],
    ids=["missing-id", "bad-version", "bad-transaction", "unknown-type"],
)
def test_malformed_event_is_rejected_without_raising(aws, lambda_context, detail_type, detail):
    outcome = send(detail_type, detail, lambda_context)

    assert outcome["status"] == "rejected"


def test_malformed_event_does_not_stop_the_next_one(aws, lambda_context):
    send("ClientUpserted", {"tenantId": "t1"}, lambda_context)

    assert send("ClientUpserted", client(1), lambda_context)["status"] == "applied"


@pytest.mark.parametrize(
    "tenant",
    ["t1#CLIENT#c-9", "t1 ", "../t2", "t\n1", "x" * 129, "", 42, None],
    ids=["key-separator", "space", "path", "newline", "too-long", "empty", "number", "null"],
)
@pytest.mark.parametrize("detail_type", ["ClientUpserted", "VendorUpserted", "InvoiceUpserted", "InvoiceDeleted"])
def test_a_malformed_tenant_id_is_rejected_like_the_tokens_and_writes_nothing(aws, lambda_context, detail_type, tenant):
    # GIVEN an otherwise valid event whose tenantId the JWT check would refuse (shared.domain.types.TenantId)
    detail = {
        "ClientUpserted": client(1),
        "VendorUpserted": {"tenantId": "t1", "version": 1, "vendorId": "v-1", "name": "Paper Co"},
        "InvoiceUpserted": invoice(1),
        "InvoiceDeleted": {"tenantId": "t1", "version": 1, "invoiceId": "inv-1"},
    }[detail_type]

    # WHEN it arrives
    outcome = send(detail_type, {**detail, "tenantId": tenant}, lambda_context)

    # THEN it is rejected (logged, not raised) before any key is built: nothing is written, nothing queued
    assert outcome["status"] == "rejected"
    assert aws.scan(TableName=wiring.settings().table_name)["Items"] == []


def test_events_are_kept_per_tenant(aws, lambda_context):
    send("ClientUpserted", client(1), lambda_context)

    assert stored("CLIENT#c-1", tenant="t2") is None


# --- replaying the dead-letter queue (Lambda's on-failure destination records, redriven as SQS) ----------------


def dead_letter(event: dict, message_id: str) -> dict:
    """One SQS record of ``Books360EventsDeadLetterQueue``: the record Lambda sends once every try failed."""
    record = {
        "version": "1.0",
        "timestamp": "2026-11-25T12:03:00.000Z",
        "requestContext": {
            "requestId": "r-1",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:events:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "ClientError", "errorMessage": "ProvisionedThroughputExceededException"},
    }
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": json.dumps(record),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:Books360EventsDeadLetterQueue",
        "awsRegion": "us-east-1",
    }


def test_replayed_dead_letters_are_applied_and_a_repeat_changes_nothing(aws, lambda_context):
    # GIVEN two events that failed every try, and a newer version of the second applied since
    first = eventbridge_event("ClientUpserted", client(1))
    second = eventbridge_event("VendorUpserted", {"tenantId": "t1", "version": 1, "vendorId": "v-1", "name": "Old"})
    send("VendorUpserted", {"tenantId": "t1", "version": 2, "vendorId": "v-1", "name": "New"}, lambda_context)
    batch = {"Records": [dead_letter(first, "m-1"), dead_letter(second, "m-2")]}

    # WHEN the dead-letter queue is replayed through the function, twice
    answers = [events_function.lambda_handler(batch, lambda_context) for _ in range(2)]

    # THEN the client is stored, the older vendor version left the newer one alone, and nothing failed
    assert answers == [{"batchItemFailures": []}] * 2
    assert stored("CLIENT#c-1")["version"] == 1
    assert stored("VENDOR#v-1")["name"] == "New"


def test_a_dead_letter_that_fails_again_stays_on_the_queue_alone(aws, lambda_context, monkeypatch):
    # GIVEN the second of two replayed events fails again
    calls: list[int] = []
    apply = events_function.apply_event

    def failing_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("DynamoDB said no")
        return apply(*args, **kwargs)

    monkeypatch.setattr(events_function, "apply_event", failing_second)
    first = eventbridge_event("ClientUpserted", client(1))
    second = eventbridge_event("ClientUpserted", client(1, clientId="c-2"))

    answer = events_function.lambda_handler(
        {"Records": [dead_letter(first, "m-1"), dead_letter(second, "m-2")]}, lambda_context
    )

    # THEN only that one is reported failed (it stays on the queue), the other is applied
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert stored("CLIENT#c-1") is not None


def test_an_unreadable_dead_letter_is_reported_failed_not_lost(aws, lambda_context):
    record = dead_letter({}, "m-9")
    record["body"] = "not json"
    answer = events_function.lambda_handler({"Records": [record]}, lambda_context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-9"}]}

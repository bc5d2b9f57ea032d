"""EventBridge emulation: content filtering, PutEvents entries, delivery to matching rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.eventbridge import EntryError, EventBus, build_event, matches
from local.runtime import Outcome
from local.template import AsyncInvokeConfig, EventRule, FunctionSpec

EVENT = {
    "source": "books360.accounting",
    "detail-type": "InvoiceUpserted",
    "resources": ["arn:a", "arn:b"],
    "detail": {
        "tenantId": "t-1",
        "version": 7,
        "amount": 12.5,
        "paid": False,
        "note": None,
        "currency": "USD",
        "tags": ["red", "blue"],
        "client": {"email": "Billing@Acme.example", "ip": "10.0.1.7"},
    },
}


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["books360.accounting"]},
        {"source": ["x", "books360.accounting"], "detail-type": ["InvoiceUpserted"]},
        {"detail": {"tenantId": ["t-1"]}},
        {"detail": {"version": [7]}},
        {"detail": {"amount": [12.5]}},
        {"detail": {"paid": [False]}},
        {"detail": {"note": [None]}},
        {"detail": {"tags": ["blue"]}},
        {"resources": ["arn:b"]},
        {"source": [{"prefix": "books360."}]},
        {"source": [{"suffix": ".accounting"}]},
        {"detail": {"client": {"email": [{"equals-ignore-case": "billing@acme.EXAMPLE"}]}}},
        {"detail": {"client": {"email": [{"prefix": {"equals-ignore-case": "BILLING"}}]}}},
        {"detail": {"client": {"email": [{"wildcard": "*@Acme.*"}]}}},
        {"detail": {"client": {"ip": [{"cidr": "10.0.0.0/16"}]}}},
        {"detail": {"currency": [{"anything-but": "EUR"}]}},
        {"detail": {"currency": [{"anything-but": ["EUR", "GBP"]}]}},
        {"detail": {"currency": [{"anything-but": {"prefix": "E"}}]}},
        {"detail": {"tenantId": [{"exists": True}]}},
        {"detail": {"missing": [{"exists": False}]}},
        {"detail": {"version": [{"numeric": [">", 5, "<=", 7]}]}},
        {"detail": {"amount": [{"numeric": ["=", 12.5]}]}},
        {"$or": [{"source": ["nope"]}, {"detail": {"version": [7]}}]},
    ],
)
def test_pattern_matches(pattern: dict[str, Any]) -> None:
    assert matches(pattern, EVENT)


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["books360.other"]},
        {"source": ["books360.accounting"], "detail-type": ["ClientUpserted"]},
        {"detail": {"version": ["7"]}},
        {"detail": {"paid": [0]}},
        {"detail": {"missing": [None]}},
        {"detail": {"tenantId": [{"exists": False}]}},
        {"detail": {"missing": [{"exists": True}]}},
        {"detail": {"missing": [{"anything-but": "x"}]}},
        {"detail": {"currency": [{"anything-but": ["USD"]}]}},
        {"detail": {"version": [{"numeric": [">", 7]}]}},
        {"detail": {"tenantId": [{"numeric": [">", 0]}]}},
        {"detail": {"client": {"email": [{"prefix": "billing"}]}}},
        {"detail": {"client": {"ip": [{"cidr": "10.1.0.0/16"}]}}},
        {"detail": {"nested": {"key": ["v"]}}},
        {"source": {"nested": ["v"]}},
        {"$or": [{"source": ["nope"]}, {"detail": {"version": [8]}}]},
    ],
)
def test_pattern_does_not_match(pattern: dict[str, Any]) -> None:
    assert not matches(pattern, EVENT)


def test_build_event_shape() -> None:
    entry = {"Source": "books360.accounting", "DetailType": "ClientUpserted", "Detail": '{"tenantId": "t"}'}
    event, bus = build_event(entry, now=1795608000)
    assert bus == "default"
    assert event["version"] == "0"
    assert event["detail-type"] == "ClientUpserted"
    assert event["source"] == "books360.accounting"
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    assert event["time"] == "2026-11-25T12:00:00Z"
    assert event["resources"] == []
    assert event["detail"] == {"tenantId": "t"}
    assert len(event["id"]) == 36


def test_build_event_takes_the_entry_time() -> None:
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}", "Time": "2026-01-02T03:04:05Z"}
    event, _ = build_event(entry)
    assert event["time"] == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        ("not an object", "InvalidArgument"),
        ({"DetailType": "X", "Detail": "{}"}, "InvalidArgument"),
        ({"Source": "s", "Detail": "{}"}, "InvalidArgument"),
        ({"Source": "s", "DetailType": "X"}, "InvalidArgument"),
        ({"Source": "s", "DetailType": "X", "Detail": "[1]"}, "MalformedDetail"),
        ({"Source": "s", "DetailType": "X", "Detail": "{nope"}, "MalformedDetail"),
        ({"Source": "s", "DetailType": "X", "Detail": {"a": 1}}, "InvalidArgument"),
        ({"Source": "s", "DetailType": "X", "Detail": "{}", "Time": "yesterday"}, "InvalidArgument"),
    ],
)
def test_build_event_rejects_malformed_entries(entry: Any, code: str) -> None:
    with pytest.raises(EntryError) as caught:
        build_event(entry)
    assert caught.value.code == code


class FakeRuntime:
    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[tuple[str, Any, str]] = []
        self.fail_times = fail_times

    def invoke(self, function: str, event: Any, trigger: str, **_: Any) -> Outcome:
        self.calls.append((function, event, trigger))
        if self.fail_times:
            self.fail_times -= 1
            return Outcome(False, error={"errorType": "Boom"})
        return Outcome(True)


RULES = [
    EventRule("Books", "Changes", "r1", {"source": ["books360.accounting"], "detail-type": ["ClientUpserted"]}),
    EventRule("Audit", "All", "r2", {"source": [{"prefix": "books360."}]}),
    EventRule("Other", "Bus", "r3", {"source": ["books360.accounting"]}, bus="custom"),
]


def test_put_events_delivers_to_every_matching_rule_in_order() -> None:
    runtime = FakeRuntime()
    bus = EventBus(runtime, RULES, retries=2)  # type: ignore[arg-type]
    entries = [
        {"Source": "books360.accounting", "DetailType": "ClientUpserted", "Detail": '{"n": 1}'},
        {"Source": "books360.accounting", "DetailType": "VendorUpserted", "Detail": '{"n": 2}'},
        {"Source": "books360.accounting", "DetailType": "ClientUpserted", "Detail": "oops"},
        {"Source": "books360.accounting", "DetailType": "X", "Detail": "{}", "EventBusName": "custom"},
    ]
    answer = bus.put_events(entries)
    assert answer["FailedEntryCount"] == 1
    assert [set(e) for e in answer["Entries"]] == [{"EventId"}, {"EventId"}, {"ErrorCode", "ErrorMessage"}, {"EventId"}]
    assert [(f, e["detail"]) for f, e, _ in runtime.calls] == [
        ("Books", {"n": 1}),
        ("Audit", {"n": 1}),
        ("Audit", {"n": 2}),
        ("Other", {}),
    ]
    assert runtime.calls[0][1]["id"] == answer["Entries"][0]["EventId"]


def test_put_events_retries_a_failing_function_like_async_invoke() -> None:
    runtime = FakeRuntime(fail_times=2)
    bus = EventBus(runtime, RULES[:1], retries=2)  # type: ignore[arg-type]
    entry = {"Source": "books360.accounting", "DetailType": "ClientUpserted", "Detail": "{}"}
    answer = bus.put_events([entry])
    assert answer["FailedEntryCount"] == 0
    assert len(runtime.calls) == 3


def test_rule_input_replaces_the_event() -> None:
    runtime = FakeRuntime()
    rule = EventRule("Books", "Changes", "r1", {"source": ["s"]}, input=json.dumps({"fixed": True}))
    EventBus(runtime, [rule], retries=0).put_events([{"Source": "s", "DetailType": "d", "Detail": "{}"}])  # type: ignore[arg-type]
    assert runtime.calls[0][1] == {"fixed": True}


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        self.sent.append((QueueUrl, json.loads(MessageBody)))
        return {"MessageId": "m-1"}


DLQ_URL = "http://127.0.0.1:5999/123456789012/dlq"
ON_FAILURE = {
    "Books": FunctionSpec(
        "Books",
        "books360-local-Books",
        Path("."),
        "app.lambda_handler",
        3,
        128,
        {},
        AsyncInvokeConfig(max_retries=2, on_failure_url=DLQ_URL, on_failure_arn="arn:dlq"),
    )
}
CHANGE = {"Source": "books360.accounting", "DetailType": "ClientUpserted", "Detail": '{"clientId": "c-1"}'}


def test_an_event_failing_every_retry_goes_to_the_functions_on_failure_queue() -> None:
    # GIVEN a function that fails every time, with an on-failure destination
    runtime, sqs = FakeRuntime(fail_times=10), FakeSqs()
    bus = EventBus(runtime, RULES[:1], retries=2, functions=ON_FAILURE, sqs=sqs)  # type: ignore[arg-type]

    # WHEN an event reaches it
    answer = bus.put_events([CHANGE])

    # THEN after the first run and two retries, Lambda's destination record lands on the queue, naming the event
    assert len(runtime.calls) == 3
    ((url, record),) = sqs.sent
    assert url == DLQ_URL
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(":function:books360-local-Books:$LATEST")
    assert record["requestPayload"]["id"] == answer["Entries"][0]["EventId"]
    assert record["requestPayload"]["detail"] == {"clientId": "c-1"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "Boom"


def test_an_event_that_succeeds_on_a_retry_goes_nowhere_else() -> None:
    runtime, sqs = FakeRuntime(fail_times=2), FakeSqs()
    EventBus(runtime, RULES[:1], retries=2, functions=ON_FAILURE, sqs=sqs).put_events([CHANGE])  # type: ignore[arg-type]
    assert (len(runtime.calls), sqs.sent) == (3, [])


def test_the_stacks_retries_bound_the_templates() -> None:
    # LOCAL_ASYNC_RETRIES=0 (tests, the demo load): no retries, then the destination at once
    runtime, sqs = FakeRuntime(fail_times=10), FakeSqs()
    EventBus(runtime, RULES[:1], retries=0, functions=ON_FAILURE, sqs=sqs).put_events([CHANGE])  # type: ignore[arg-type]
    assert len(runtime.calls) == 1
    assert sqs.sent[0][1]["requestContext"]["approximateInvokeCount"] == 1

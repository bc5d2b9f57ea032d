"""The SQS event source: batches, partial batch failures, retries after the short local delay, the DLQ; and the
fair delivery between tenants (``MessageGroupId``) of SQS standard queues."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from local_stack_fixtures import write_tiny_stack

from local.config import LocalConfig
from local.resources import client, provision
from local.runtime import Outcome, Runtime
from local.sqs import Held, QueuePoller, TenantLedger, failed_ids, sqs_record
from local.template import SqsSource, StackPlan, plan


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class TinyAws:
    config: LocalConfig
    plan: StackPlan
    runtime: Runtime
    sqs: Any
    dlq_url: str

    @property
    def source(self) -> SqsSource:
        return self.plan.sqs_sources[0]

    def purge(self) -> None:
        """Delete what is visible (SQS's PurgeQueue may run once a minute only); tests leave nothing in flight."""
        for url in (self.source.queue_url, self.dlq_url):
            while messages := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
                for message in messages:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def send(self, *bodies: str) -> None:
        for body in bodies:
            self.sqs.send_message(QueueUrl=self.source.queue_url, MessageBody=body)

    def send_as(self, group: str, bodies: list[str]) -> set[str]:
        """Send as the product does: in batches of 10, each message in its tenant's group; their ids."""
        ids: set[str] = set()
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(i), "MessageBody": body, "MessageGroupId": group}
                for i, body in enumerate(bodies[start : start + 10])
            ]
            answer = self.sqs.send_message_batch(QueueUrl=self.source.queue_url, Entries=entries)
            assert not answer.get("Failed")
            ids |= {s["MessageId"] for s in answer["Successful"]}
        return ids

    def depth(self) -> tuple[int, int]:
        """Visible and in-flight (or held) messages of the source queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.source.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyAws]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    config = LocalConfig(template_path=write_tiny_stack(tmp_path_factory.mktemp("sqs")), moto_port=port)
    stack_plan = plan(config)
    provision(stack_plan, config.moto_url)
    runtime = Runtime(stack_plan.functions, config, {"One": 2})
    dlq = next(q for q in stack_plan.queues if q.logical_id == "Dlq")
    try:
        yield TinyAws(config, stack_plan, runtime, client("sqs", config.moto_url), dlq.url)
    finally:
        runtime.close()
        server.stop()


@pytest.fixture
def tiny_aws(aws: TinyAws) -> TinyAws:
    aws.purge()
    return aws


def test_provision_creates_template_resources(aws: TinyAws) -> None:
    dynamodb = client("dynamodb", aws.config.moto_url)
    table = dynamodb.describe_table(TableName="books360-local-Table")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    ttl = dynamodb.describe_time_to_live(TableName="books360-local-Table")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt"
    attributes = aws.sqs.get_queue_attributes(QueueUrl=aws.source.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "30"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:books360-local-Dlq",
        "maxReceiveCount": 2,
    }
    rules = client("events", aws.config.moto_url).list_rules()["Rules"]
    assert {r["Name"] for r in rules} == {"books360-local-One-Changes", "tiny-tick"}
    secret = client("secretsmanager", aws.config.moto_url).get_secret_value(SecretId="tiny/app")
    assert json.loads(secret["SecretString"])["webhookVerifier"] == "local-verifier-token"


def _settle(tiny_aws: TinyAws, poller: QueuePoller) -> tuple[list[str], set[str]]:
    batch = poller.gather()
    return [m["Body"] for m in batch], {m["Body"] for m in batch if m["MessageId"] in poller.process(batch)}


def test_partial_batch_failure_keeps_only_reported_messages_then_dead_letters_them(tiny_aws: TinyAws) -> None:
    # GIVEN a batch where one message fails every time
    poller = QueuePoller(tiny_aws.source, tiny_aws.runtime, tiny_aws.sqs, retry_seconds=0)
    tiny_aws.send("ok-1", "fail-1", "ok-2")
    # WHEN the function reports it as a batch item failure
    bodies, failed = _settle(tiny_aws, poller)
    # THEN only it stays, and comes back at once (retry delay 0) with its receive count raised
    assert sorted(bodies) == ["fail-1", "ok-1", "ok-2"]
    assert failed == {"fail-1"}
    again = poller.gather()
    assert [m["Body"] for m in again] == ["fail-1"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    poller.process(again)
    # AND after maxReceiveCount (2) receives it is in the dead-letter queue, not delivered again
    assert poller.gather() == []
    dead = tiny_aws.sqs.receive_message(QueueUrl=tiny_aws.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ["fail-1"]


def test_handler_exception_fails_the_whole_batch(tiny_aws: TinyAws) -> None:
    poller = QueuePoller(tiny_aws.source, tiny_aws.runtime, tiny_aws.sqs, retry_seconds=0)
    tiny_aws.send("crash", "ok-1")
    bodies, failed = _settle(tiny_aws, poller)
    assert failed == set(bodies) == {"crash", "ok-1"}
    assert tiny_aws.runtime.history("One")[-1]["status"] == "error"


def test_report_naming_unknown_message_fails_the_whole_batch(tiny_aws: TinyAws) -> None:
    poller = QueuePoller(tiny_aws.source, tiny_aws.runtime, tiny_aws.sqs, retry_seconds=0)
    tiny_aws.send("bogus", "ok-1")
    _, failed = _settle(tiny_aws, poller)
    assert failed == {"bogus", "ok-1"}


def test_failed_message_waits_the_local_retry_delay(tiny_aws: TinyAws) -> None:
    poller = QueuePoller(tiny_aws.source, tiny_aws.runtime, tiny_aws.sqs, retry_seconds=2)
    tiny_aws.send("fail-x")
    _settle(tiny_aws, poller)
    started = time.monotonic()
    assert tiny_aws.sqs.receive_message(QueueUrl=tiny_aws.source.queue_url).get("Messages") is None
    again = poller.gather()
    while not again and time.monotonic() - started < 5:
        again = poller.gather()
    assert [m["Body"] for m in again] == ["fail-x"]
    assert 1.0 <= time.monotonic() - started < 5
    tiny_aws.sqs.delete_message(QueueUrl=tiny_aws.source.queue_url, ReceiptHandle=again[0]["ReceiptHandle"])


def test_running_poller_drains_the_queue(tiny_aws: TinyAws) -> None:
    # GIVEN a started event source mapping
    poller = QueuePoller(tiny_aws.source, tiny_aws.runtime, tiny_aws.sqs, retry_seconds=0)
    poller.start()
    try:
        # WHEN messages arrive
        tiny_aws.send(*(f"ok-{i}" for i in range(7)))
        deadline = time.monotonic() + 15
        attributes: dict[str, str] = {}
        while time.monotonic() < deadline:
            attributes = tiny_aws.sqs.get_queue_attributes(
                QueueUrl=tiny_aws.source.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}:
                break
            time.sleep(0.1)
        # THEN every one was handled and deleted, in batches of at most BatchSize
        assert attributes["ApproximateNumberOfMessages"] == "0"
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    finally:
        poller.stop()
    batches = [i for i in tiny_aws.runtime.history("One") if i["trigger"] == "sqs Items"][-3:]
    assert all(len(b["messageIds"]) <= 3 for b in batches)


def test_sqs_record_shape() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "MessageAttributes": {
            "kind": {"StringValue": "item", "DataType": "String"},
            "b": {"BinaryValue": b"\x01", "DataType": "Binary"},
        },
    }
    record = sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:q")
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:q"
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "item"
    assert record["messageAttributes"]["b"]["binaryValue"] == "AQ=="


@pytest.mark.parametrize(
    ("outcome", "report", "expected"),
    [
        (Outcome(True, result=None), True, set()),
        (Outcome(True, result={"batchItemFailures": []}), True, set()),
        (Outcome(True, result={"batchItemFailures": [{"itemIdentifier": "b"}]}), True, {"b"}),
        (Outcome(True, result={"batchItemFailures": [{"itemIdentifier": "b"}]}), False, set()),
        (Outcome(True, result={"batchItemFailures": [{"itemIdentifier": ""}]}), True, {"a", "b"}),
        (Outcome(True, result={"batchItemFailures": [{}]}), True, {"a", "b"}),
        (Outcome(False, error={"errorType": "X"}), True, {"a", "b"}),
    ],
)
def test_failed_ids_follow_lambda_rules(outcome: Outcome, report: bool, expected: set[str]) -> None:
    source = SqsSource("F", "E", "url", "arn", report_failures=report)
    assert failed_ids(source, outcome, ["a", "b"]) == expected


# -- fair queues ------------------------------------------------------------------------------------------------


def _run_until(poller: QueuePoller, done: Any, *, most: int) -> list[list[dict[str, Any]]]:
    """Deliver batch after batch (one at a time) until ``done(batches)``; the batches delivered."""
    batches: list[list[dict[str, Any]]] = []
    while not done(batches) and len(batches) < most:
        batch = poller.gather()
        assert batch, "the queue ran dry"
        poller.process(batch)
        batches.append(batch)
    return batches


def _bodies(batch: list[dict[str, Any]]) -> list[str]:
    return [m["Body"] for m in batch]


def test_fair_queue_delivers_a_quiet_tenant_before_a_noisy_tenants_backlog(tiny_aws: TinyAws) -> None:
    # GIVEN tenant A's burst of 200 messages queued, then tenant B's 10 (in moto's order B is behind all of A)
    poller = QueuePoller(tiny_aws.source, tiny_aws.runtime, tiny_aws.sqs, retry_seconds=0)
    tiny_aws.send_as("tenant-a", [f"ok-a-{i}" for i in range(200)])
    tiny_aws.send_as("tenant-b", [f"ok-b-{i}" for i in range(10)])

    # WHEN the mapping delivers batches of 3 until B's are all delivered
    def b_done(batches: list[list[dict[str, Any]]]) -> bool:
        return sum(1 for b in batches for body in _bodies(b) if body.startswith("ok-b")) == 10

    try:
        batches = _run_until(poller, b_done, most=70)
        # THEN A's first batch goes as in any queue; once A has used the consumers' time it is noisy, and B's
        # messages come next, ahead of A's 197 others (oldest first, they would have been batches 67 to 70)
        assert _bodies(batches[0]) == ["ok-a-0", "ok-a-1", "ok-a-2"]
        assert _bodies(batches[1]) == ["ok-b-0", "ok-b-1", "ok-b-2"]
        assert len(batches) <= 8
        # AND each tenant's messages keep their order, every message was delivered once, on its first receive
        delivered = [body for b in batches for body in _bodies(b)]
        assert [d for d in delivered if d.startswith("ok-a")] == [f"ok-a-{i}" for i in range(len(delivered) - 10)]
        assert [d for d in delivered if d.startswith("ok-b")] == [f"ok-b-{i}" for i in range(10)]
        assert {m["Attributes"]["ApproximateReceiveCount"] for b in batches for m in b} == {"1"}
        assert {m["Attributes"]["MessageGroupId"] for m in batches[1]} == {"tenant-b"}
        # AND the rest of A's backlog is held by the mapping, not lost: deleted + held + in moto = 200
        visible, hidden = tiny_aws.depth()
        assert poller.held == hidden
        assert len(delivered) - 10 + poller.held + visible == 200
    finally:
        poller.stop()
    # AND once the mapping stops, what it held is visible again at once
    assert tiny_aws.depth() == (200 - (len(delivered) - 10), 0)


def test_without_groups_delivery_is_unchanged(tiny_aws: TinyAws) -> None:
    # GIVEN messages without MessageGroupId (each a tenant of its own, so never noisy)
    poller = QueuePoller(tiny_aws.source, tiny_aws.runtime, tiny_aws.sqs, retry_seconds=0)
    tiny_aws.send(*(f"ok-{i}" for i in range(8)))
    try:
        # WHEN batches are delivered
        first = poller.gather()
        # THEN each is the next messages in the queue's order, received when needed and none held back
        assert _bodies(first) == ["ok-0", "ok-1", "ok-2"]
        assert (poller.held, tiny_aws.depth()) == (0, (5, 3))
        poller.process(first)
        rest = _run_until(poller, lambda batches: sum(len(b) for b in batches) == 5, most=5)
        assert [_bodies(b) for b in rest] == [["ok-3", "ok-4", "ok-5"], ["ok-6", "ok-7"]]
        assert poller.held == 0
    finally:
        poller.stop()


def test_held_messages_stay_hidden_while_held_and_each_is_received_once(tiny_aws: TinyAws) -> None:
    # GIVEN a noisy tenant A whose backlog the mapping holds (a 2 s hold, so renewal is seen), and a quiet B
    poller = QueuePoller(tiny_aws.source, tiny_aws.runtime, tiny_aws.sqs, retry_seconds=0, hold_seconds=2)
    tiny_aws.send_as("tenant-a", [f"ok-a-{i}" for i in range(12)])
    try:
        poller.process(poller.gather())
        tiny_aws.send_as("tenant-b", ["ok-b-0"])
        with_b = poller.gather()
        poller.process(with_b)
        assert _bodies(with_b)[0] == "ok-b-0"
        held = poller.held
        assert held == 7

        # WHEN the mapping waits well past the hold, renewing as its loop does
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            poller.keep_held()
            time.sleep(0.2)

        # THEN moto never showed the held messages to anyone, and each is delivered later on its first receive
        assert tiny_aws.sqs.receive_message(QueueUrl=tiny_aws.source.queue_url).get("Messages") is None
        later = poller.gather()
        poller.process(later)
        assert [m["Attributes"]["ApproximateReceiveCount"] for m in later] == ["1", "1", "1"]
        assert poller.held == held - 3
    finally:
        poller.stop()


def test_running_mapping_serves_the_quiet_tenant_among_its_first_batches(tiny_aws: TinyAws) -> None:
    # GIVEN a started mapping (2 batches of 3 at once) and A's backlog of 90 queued before B's 6
    poller = QueuePoller(tiny_aws.source, tiny_aws.runtime, tiny_aws.sqs, retry_seconds=0)

    def runs() -> list[dict[str, Any]]:
        return [r for r in tiny_aws.runtime.history("One") if r["trigger"] == "sqs Items"]

    before = len(runs())
    tiny_aws.send_as("tenant-a", [f"ok-a-{i}" for i in range(90)])
    b_ids = tiny_aws.send_as("tenant-b", [f"ok-b-{i}" for i in range(6)])
    poller.start()
    try:
        # WHEN it drains the queue
        deadline = time.monotonic() + 30
        while tiny_aws.depth() != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tiny_aws.depth() == (0, 0)
    finally:
        poller.stop()
    # THEN every message went once, and B's were all among the first 8 of the 32 batches
    batches = runs()[before:]
    ids = [i for r in batches for i in r["messageIds"]]
    assert len(ids) == len(set(ids)) == 96
    assert len(batches) == 32
    first = {i for r in batches[:8] for i in r["messageIds"]}
    assert b_ids <= first


def _held(seq: int, group: str | None) -> Held:
    return Held({"MessageId": f"m-{seq}"}, group, seq, until=0.0)


def test_ledger_noisy_by_processing_time_or_by_messages_in_flight() -> None:
    now = [0.0]
    ledger = TenantLedger(window=60, clock=lambda: now[0])
    # Nothing processed, nothing in flight: nobody is noisy
    assert ledger.noisy() == set()
    # A tenant over 10% of the last minute's processing time is noisy; one under it is not
    ledger.settled(["a"] * 10, 9.5)
    ledger.settled(["b"], 0.5)
    assert ledger.noisy() == {"a"}
    # ... until that time is older than the window
    now[0] = 61
    assert ledger.noisy() == set()
    # 30 in flight and over 10% of all in flight is noisy too; 29 is not
    ledger.delivered(["c"] * 29 + [None] * 100)
    assert ledger.noisy() == set()
    ledger.delivered(["c"])
    assert ledger.noisy() == {"c"}


def test_ledger_choice_quiet_first_then_the_noisy_tenant_with_fewest_in_flight() -> None:
    ledger = TenantLedger(window=60, clock=lambda: 0.0)
    ledger.settled(["a"] * 5 + ["b"] * 5, 10.0)  # a and b each over 10% of the time: both noisy
    ledger.delivered(["a", "a"])  # a has 2 in flight, b none
    held = [_held(1, "a"), _held(2, "a"), _held(3, "b"), _held(4, "a"), _held(5, None), _held(6, "c")]
    chosen = [h.seq for h in ledger.choose(held, 5)]
    # quiet c and the ungrouped message first, in order; then b (0 in flight), then a and b level at 2 vs 1 ...
    assert chosen == [5, 6, 3, 1, 2]

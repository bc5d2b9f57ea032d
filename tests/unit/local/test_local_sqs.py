"""The SQS event source: batches, partial batch failures, retries after the short local delay, the DLQ."""

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
from local.sqs import QueuePoller, failed_ids, sqs_record
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

"""The local stack's moto server (``local.moto_server``): DynamoDB's transaction semantics, no whole-table copies."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.moto_server import dynamodb_patches

ROOT = Path(__file__).resolve().parents[3]


TABLE = {
    "TableName": "t",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[object]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.list_tables()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        client.create_table(**TABLE)
        client.endpoint = f"http://127.0.0.1:{port}"  # for the SQS test, on the same server
        yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _item(client, pk: str, sk: str) -> dict | None:
    return client.get_item(TableName="t", Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True).get("Item")


def _put(pk: str, sk: str, n: int, condition: str | None = None) -> dict:
    put: dict = {"TableName": "t", "Item": {"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(n)}}}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def test_a_failed_transaction_leaves_every_item_as_it_was(dynamodb):
    # GIVEN an item a, and b absent
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "p1"}, "sk": {"S": "a"}, "n": {"N": "1"}})

    # WHEN a transaction writes a new a, a new c, and then b on a condition that fails (a is written first)
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[
                _put("p1", "a", 2),
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "p1"}, "sk": {"S": "c"}},
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "3"}},
                    }
                },
                _put("p1", "b", 4, condition="attribute_exists(pk)"),
            ]
        )

    # THEN DynamoDB's answer, and nothing of the transaction is left: a as before, c never created
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _item(dynamodb, "p1", "a")["n"] == {"N": "1"}
    assert _item(dynamodb, "p1", "c") is None
    assert _item(dynamodb, "p1", "b") is None


def test_a_transaction_that_holds_writes_every_item(dynamodb):
    dynamodb.transact_write_items(
        TransactItems=[_put("p2", "a", 1), _put("p2", "b", 2, condition="attribute_not_exists(pk)")]
    )
    assert _item(dynamodb, "p2", "a")["n"] == {"N": "1"}
    assert _item(dynamodb, "p2", "b")["n"] == {"N": "2"}


def test_concurrent_transactions_and_writes_lose_nothing(dynamodb):
    # GIVEN many threads: each a transaction of two new items, and a plain put, all at once
    def work(i: int) -> None:
        dynamodb.transact_write_items(TransactItems=[_put("p3", f"t{i}-a", i), _put("p3", f"t{i}-b", i)])
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "p3"}, "sk": {"S": f"p{i}"}, "n": {"N": str(i)}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(40)))

    # THEN every write is there (a snapshot restored under another write would have wiped some out)
    items = dynamodb.query(
        TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p3"}}
    )["Items"]
    assert len(items) == 120


@pytest.fixture
def patched_moto(monkeypatch) -> Iterator[object]:
    """moto in-process with the local stack's patches (where a race is easiest to meet), and the table."""
    for owner, name, replacement in dynamodb_patches():
        monkeypatch.setattr(owner, name, replacement)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**TABLE)
        yield client


@contextmanager
def racing(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A pool whose threads switch every 10 µs (not every 5 ms) while the block runs: a race is met in seconds."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield pool
    finally:
        sys.setswitchinterval(interval)


def test_reads_are_answered_while_other_reads_and_writes_run(patched_moto):
    # GIVEN a partition of a few hundred items, and threads that read absent items (moto adds an empty partition
    # for each) and write new ones without pause
    client = patched_moto
    for n in range(300):
        client.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"S": f"{n:04}"}})
    stop = time.monotonic() + 4

    def churn(worker: int) -> None:
        n = 0
        while time.monotonic() < stop:
            client.get_item(TableName="t", Key={"pk": {"S": f"absent-{worker}-{n}"}, "sk": {"S": "x"}})
            client.put_item(TableName="t", Item={"pk": {"S": f"new-{worker}"}, "sk": {"S": str(n)}})
            n += 1

    def query(_: int) -> int:
        answered = 0
        while time.monotonic() < stop:
            items = client.query(
                TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}
            )["Items"]
            assert len(items) == 300
            answered += 1
        return answered

    # WHEN queries run meanwhile
    with racing(5) as pool:
        churning = [pool.submit(churn, n) for n in range(3)]
        answered = sum(future.result() for future in [pool.submit(query, n) for n in range(2)])
        for future in churning:
            future.result()

    # THEN every read is answered, as DynamoDB answers it (without the isolation, moto's walk of a table that
    # changes under it raises "dictionary changed size during iteration": a 500 behind its server)
    assert answered > 0


def test_updates_of_one_item_and_reads_of_it_at_once_are_all_answered(patched_moto):
    # GIVEN one item (a job head)
    client = patched_moto
    key = {"pk": {"S": "p"}, "sk": {"S": "JOB#1"}}
    client.put_item(TableName="t", Item={**key, "done": {"N": "0"}})
    stop = time.monotonic() + 3

    def update(worker: int) -> int:
        n = 0
        while time.monotonic() < stop:  # an attribute added, then removed: the item's attributes change size
            client.update_item(
                TableName="t",
                Key=key,
                UpdateExpression=f"SET w{worker}x{n % 20} = :one ADD done :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_OLD",
            )
            client.update_item(TableName="t", Key=key, UpdateExpression=f"REMOVE w{worker}x{n % 20}")
            n += 1
        return n

    def read(kind: int) -> int:
        n = 0
        while time.monotonic() < stop:
            if kind:
                client.query(
                    TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}
                )
            else:
                client.get_item(TableName="t", Key=key)
            n += 1
        return n

    # WHEN two workers update it while others read it
    with racing(5) as pool:
        updates = [pool.submit(update, n) for n in range(2)]
        reads = [pool.submit(read, n % 2) for n in range(3)]
        counted = sum(future.result() for future in updates)
        assert all(future.result() > 0 for future in reads)

    # THEN every request was answered (moto changing the stored item in place while another request copied it:
    # "dictionary changed size during iteration"), and every update counted
    item = client.get_item(TableName="t", Key=key)["Item"]
    assert item["done"] == {"N": str(counted)}


def _answers(client) -> list[object]:
    """Queries of one partition as the product makes them: prefix, order, paging, a filter, an index."""
    by_partition = {
        "TableName": "t",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "b"}},
    }
    prefixed = {
        **by_partition,
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "b"}, ":s": {"S": "JOB#"}},
    }
    pages, start = [], None
    while True:
        page = client.query(**by_partition, Limit=7, **({"ExclusiveStartKey": start} if start else {}))
        pages.append(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return [
        client.query(**by_partition)["Items"],
        client.query(**prefixed)["Items"],
        client.query(**prefixed, ScanIndexForward=False)["Items"],
        pages,
        client.query(
            **{**by_partition, "ExpressionAttributeValues": {":p": {"S": "b"}, ":n": {"N": "10"}}},
            FilterExpression="n > :n",
        )["Items"],
        client.query(
            TableName="t",
            IndexName="by_n",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "b"}},
        )["Items"],
        client.query(**{**by_partition, "ExpressionAttributeValues": {":p": {"S": "absent"}}})["Items"],
    ]


def test_a_query_of_a_partition_answers_as_moto_walking_the_whole_table(monkeypatch):
    # GIVEN a table of several partitions (with an index), the same items once in plain moto and once patched
    def answers_of(patched: bool) -> list[object]:
        with mock_aws(), monkeypatch.context() as patch:
            if patched:
                for owner, name, replacement in dynamodb_patches():
                    patch.setattr(owner, name, replacement)
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                **{
                    **TABLE,
                    "AttributeDefinitions": [
                        *TABLE["AttributeDefinitions"],
                        {"AttributeName": "g", "AttributeType": "S"},
                    ],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "by_n",
                            "KeySchema": [
                                {"AttributeName": "g", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    ],
                }
            )
            for n in range(60):
                pk = "abc"[n % 3]
                sk = f"{'JOB#' if n % 2 else 'CLIENT#'}{n:03}"
                client.put_item(
                    TableName="t", Item={"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(n)}, "g": {"S": pk}}
                )
            # WHEN the product's kinds of Query run
            return _answers(client)

    # THEN the answers are moto's own, item for item and in the same order
    assert answers_of(patched=True) == answers_of(patched=False)


def test_a_long_poll_returns_a_delayed_message_as_soon_as_it_is_visible(dynamodb):
    # GIVEN a long poll waiting on an empty queue
    sqs = boto3.client(
        "sqs",
        endpoint_url=dynamodb.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        poll = pool.submit(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=5)
        # WHEN, half a second in, a message is sent with a delay of one second (a deferred bulk item)
        time.sleep(0.5)
        sqs.send_message(QueueUrl=url, MessageBody="deferred", DelaySeconds=1)
        visible_at = time.monotonic() - started + 1
        messages = poll.result(timeout=10).get("Messages", [])
        received_at = time.monotonic() - started

    # THEN the poll returns it as it becomes visible, as SQS does (moto alone: at the next whole second of the wait,
    # half a second late here)
    assert [m["Body"] for m in messages] == ["deferred"]
    assert received_at - visible_at < 0.3, (visible_at, received_at)

"""Plumbing of the in-process benchmarks: the emulator in a subprocess, moto and the functions in this process.

Importing this module makes the process a bench process (as each bench did at its top before): fake AWS
credentials, no ``AWS_ENDPOINT_URL`` (moto runs in-process), Powertools quiet. Import it before anything of
``shared``: Powertools reads its settings when its objects are made.

* ``InProcess``: the emulator (``python -m emulator``) on a free port, moto with the table (from template.yaml), the
  bulk queue and the Intuit app secret, the functions' environment, and the named functions loaded as Lambda would.
* ``call`` / ``ok`` / ``connect``: a function invoked with an HTTP API event; the OAuth dance as the admin's browser.
* ``MotoTime``: AWS calls serialized (moto in-process is not thread-safe) and the time spent in them summed.
* ``poll_queue``: one Lambda container fed by the SQS event source.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
import httpx  # noqa: E402
from botocore.client import BaseClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.emulator_throughput import free_port, start_emulator  # noqa: E402
from local.sqs import sqs_record  # noqa: E402
from shared import wiring  # noqa: E402
from shared.observability import metrics  # noqa: E402
from tests.conftest import load_function  # noqa: E402
from tests.support.events import LambdaContext, http_event  # noqa: E402
from tests.support.template import load_template, table_definition  # noqa: E402

if TYPE_CHECKING:
    import subprocess
    from types import TracebackType

__all__ = [
    "APP_SECRET",
    "InProcess",
    "MotoTime",
    "bulk_batch_size",
    "call",
    "connect",
    "load_function",
    "ok",
    "poll_queue",
    "requests_of",
]

APP_SECRET = "books360-qbo/app"


def call(function: Any, method: str, path: str, tenant: str | None, **kwargs: Any) -> dict[str, Any]:
    """``function`` invoked with an HTTP API event, as ``tenant``'s user (no token when None); its answer."""
    claims = {"sub": "bench", "tenant_id": tenant} if tenant else None
    answer: dict[str, Any] = function.lambda_handler(http_event(method, path, claims=claims, **kwargs), LambdaContext())
    # Metrics are switched off, but Powertools still prints a metric that reaches 100 values (the events').
    metrics.clear_metrics()
    return answer


def ok(answer: dict[str, Any], status: int = 200) -> dict[str, Any]:
    if answer["statusCode"] != status:
        raise RuntimeError(f"HTTP {answer['statusCode']}: {answer.get('body')}")
    body: dict[str, Any] = json.loads(answer["body"])
    return body


def connect(api: Any, callback: Any, emulator: httpx.Client, tenant: str, realm: str) -> None:
    """The OAuth dance: switch on, consent at the emulator as the admin's browser, follow the callback."""
    started = ok(call(api, "PUT", "/quickbooks/connection", tenant, body={"active": True}))
    query = {k: v[0] for k, v in parse_qs(urlparse(started["authorizeUrl"]).query).items()}
    consent = emulator.post("/connect/oauth2", data={**query, "realmId": realm, "decision": "approve"})
    back = {k: v[0] for k, v in parse_qs(urlparse(consent.headers["location"]).query).items()}
    landing = call(callback, "GET", "/quickbooks/oauth/callback", None, query=back)["headers"]["Location"]
    ticket = {k: v[0] for k, v in parse_qs(urlparse(landing).query).items()}.get("ticket")
    assert ticket, landing
    ok(call(api, "POST", "/quickbooks/connection/confirm", tenant, body={"ticket": ticket}))


def requests_of(emulator: httpx.Client, realm: str) -> dict[str, Any]:
    """``GET /_admin/requests?realmId``: the calls the emulator answered for the company."""
    report: dict[str, Any] = emulator.get("/_admin/requests", params={"realmId": realm}).json()
    return report


def bulk_batch_size() -> int:
    """The bulk worker's SQS ``BatchSize`` in template.yaml."""
    events = load_template()["Resources"]["BulkSyncFunction"]["Properties"]["Events"]
    return int(events["Items"]["Properties"]["BatchSize"])


class MotoTime:
    """Every AWS call of this process, one at a time, counted by operation and timed (moto is in-process).

    moto in-process is not thread-safe (a transaction deep-copies the table), so parallel workers must take turns;
    deployed, DynamoDB answers in milliseconds and in parallel, so the time summed here is what the bench spends on
    emulating AWS rather than what the code would spend.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._original = BaseClient._make_api_call

    def install(self) -> None:
        original, clock = self._original, self

        def serialized(client: Any, operation: str, params: Any) -> Any:
            with clock._lock:
                started = time.perf_counter()
                try:
                    return original(client, operation, params)
                finally:
                    clock.calls[operation] += 1
                    clock.seconds += time.perf_counter() - started

        BaseClient._make_api_call = serialized  # type: ignore[method-assign]

    def take(self) -> tuple[Counter[str], float]:
        """What was counted since the last ``take``."""
        taken = self.calls, self.seconds
        self.calls, self.seconds = Counter(), 0.0
        return taken


def poll_queue(worker: Any, sqs: Any, queue: tuple[str, str], batch_size: int, done: threading.Event) -> None:
    """One Lambda container fed by the event source: receive a batch, invoke, delete what succeeded."""
    url, arn = queue
    while not done.is_set():
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=batch_size, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            time.sleep(0.02)
            continue
        result = worker.lambda_handler({"Records": [sqs_record(m, arn) for m in messages]}, LambdaContext())
        metrics.clear_metrics()
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:  # the local stack's short retry instead of the minute a 429 asks for
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=1)


class InProcess:
    """The emulator in a subprocess; moto, the resources and ``functions`` in this process (a context manager).

    Attributes once entered: ``emulator`` (an httpx client on it), ``url``, ``functions`` (name -> module),
    ``sqs`` (a client) and ``queue`` (``(url, arn)`` of the bulk queue).
    """

    def __init__(self, functions: tuple[str, ...]) -> None:
        self.function_names = functions
        self.functions: dict[str, Any] = {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._mock = mock_aws()
        self.emulator = httpx.Client(base_url=self.url, timeout=30)
        self.sqs: Any = None
        self.queue = ("", "")

    def __enter__(self) -> InProcess:
        self._process = start_emulator(self.port)
        try:
            self._mock.start()
            boto3.client("dynamodb").create_table(TableName="bench", **table_definition())
            self.sqs = boto3.client("sqs")
            queue_url = self.sqs.create_queue(QueueName="bulk", Attributes={"VisibilityTimeout": "180"})["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
            self.queue = (queue_url, arn["QueueArn"])
            secret = {"clientId": "local-client-id", "clientSecret": "local-client-secret", "webhookVerifier": "v"}
            boto3.client("secretsmanager").create_secret(Name=APP_SECRET, SecretString=json.dumps(secret))
            os.environ.update(
                {
                    "TABLE_NAME": "bench",
                    "BULK_QUEUE_URL": queue_url,
                    "QBO_API_BASE_URL": self.url,
                    "QBO_DISCOVERY_URL": f"{self.url}/.well-known/openid_configuration",
                    "PUBLIC_API_URL": "http://127.0.0.1:3999",
                    "UI_BASE_URL": "http://ui.bench",
                    "QBO_APP_SECRET_NAME": APP_SECRET,
                }
            )
            wiring.reset()
            self.functions = {name: load_function(name) for name in self.function_names}
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.emulator.close()
        try:
            self._mock.stop()
        except RuntimeError:  # never started
            pass
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)

    def company(self, name: str, **extra: Any) -> str:
        """A new company in the emulator (QuickBooks' own limits unless ``limits`` says otherwise); its realmId."""
        answer = self.emulator.post("/_admin/companies", json={"companyName": name, **extra})
        answer.raise_for_status()
        return str(answer.json()["realmId"])

    def connect(self, tenant: str, realm: str) -> None:
        connect(self.functions["api"], self.functions["oauth_callback"], self.emulator, tenant, realm)

    def latency(self, realm: str, ms: int) -> None:
        """Every request of the company takes ``ms`` more (QuickBooks' own answer time)."""
        self.emulator.post("/_admin/faults", json={"realmId": realm, "latencyMs": ms}).raise_for_status()

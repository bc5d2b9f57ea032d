"""One QuickBooks budget per company across containers (issue 9): the emulator at QuickBooks' real limits.

Many clients of one company (threads standing for Lambda containers: they share nothing but DynamoDB) never meet
a 429; a bulk worker defers a message instead of starting an item when the company's calls are booked more than a
second ahead (re-sent with a delay, this delivery acknowledged, no SQS receive spent), and the item finishes later;
a "Sync with QB" keeps its share while a backlog of the same company runs.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from shared import wiring
from shared.quickbooks.pacing import LocalPacer
from shared.services.pacing import (
    BACKGROUND_MAX_WAIT,
    BACKLOG_HORIZON,
    CALL_RESERVE,
    CALL_SPACING,
    CallLatency,
    Deferred,
    background_pacer,
)
from tests.integration.test_bulk_invoices import TENANT, client, invoice, job, start
from tests.integration.test_bulk_jobs import Bulk, bulk, fault  # noqa: F401 - the fixture behind ``queue``
from tests.support.events import LambdaContext
from tests.support.template import load_template

WORKERS = int(load_template()["Parameters"]["BulkMaxConcurrency"]["Default"])
"""The bulk workers the template runs at most, all tenants together (the SQS event source's MaximumConcurrency)."""


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> Bulk:
    queue: Bulk = request.getfixturevalue("bulk")
    return queue


@contextmanager
def running(work: Callable[[threading.Event], None], count: int = WORKERS) -> Iterator[None]:
    """``count`` threads doing ``work(stop)`` until the block ends, however it ends (a failed assertion inside
    must not leave them running until pytest's timeout); a thread's own exception fails the test."""
    stop = threading.Event()
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(work, stop) for _ in range(count)]
        try:
            yield
        finally:
            stop.set()
    for future in futures:
        future.result()


class DynamoCount:
    """The DynamoDB requests the product's client makes, by operation, and those on the pacing items."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.pacing: Counter[str] = Counter()
        self._lock = threading.Lock()
        wiring.dynamodb_client().meta.events.register("before-parameter-build.dynamodb", self._seen)

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self._lock:
            self.operations[model.name] += 1
            if str(params.get("Key", {}).get("pk", {}).get("S", "")).startswith("PACE#"):
                self.pacing[model.name] += 1


def throttled(stack: Any, realm: str) -> dict[str, Any]:
    found = stack.requests(realm)
    return {"throttled": found["throttled"], "by": found["throttledBy"]}


def test_many_clients_of_one_company_at_once_never_meet_a_429(stack):
    # GIVEN a connected company at QuickBooks' real limits, and 6 "containers" of 6 requests of a call each, at once
    realm = stack.connect()
    count = DynamoCount()
    before = stack.requests(realm)["total"]
    started = time.monotonic()

    def container(_: int) -> None:
        for _ in range(6):
            with wiring.quickbooks_for(TENANT) as qbo:
                qbo.company_info()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(container, range(6)))
    elapsed = time.monotonic() - started

    # THEN all 36 went through without one 429, spaced by the shared calendar (not faster than 8 a second) ...
    assert throttled(stack, realm) == {
        "throttled": 0,
        "by": {"concurrent": 0, "perMinute": 0, "perSecond": 0, "batchPerMinute": 0},
    }
    assert stack.requests(realm)["total"] - before == 36
    assert elapsed >= 35 * CALL_SPACING - 0.05
    # ... at one DynamoDB write a call on the pacing item (a lost restart race may cost one more, rarely)
    assert count.pacing["GetItem"] == 0
    assert 36 <= count.pacing["UpdateItem"] <= 40, count.pacing


def test_a_slow_company_gets_no_more_than_10_calls_at_once_from_all_the_workers(stack):
    # GIVEN a company QuickBooks answers in 1.5 s a call (calls 125 ms apart would keep 12 in flight, over its 10
    # at once), and the template's bulk workers, each a container of its own (its own guard of 10, its own view of
    # the company's latency, which its earlier calls showed it), calling the company back to back
    realm = stack.connect()
    fault(stack, realm, latencyMs=1500)
    before = stack.requests(realm)["total"]
    stop = time.monotonic() + 6

    def container() -> None:
        latency = CallLatency()
        latency.observed(realm, 1.5)
        pacer = background_pacer(wiring.call_calendar(), LocalPacer(max_concurrent=10), latency=latency)
        while time.monotonic() < stop:
            try:
                with wiring.quickbooks_for(TENANT, pacer=pacer) as qbo:
                    qbo.company_info()
            except Deferred:
                time.sleep(0.2)  # the message would come back later

    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(container) for _ in range(WORKERS)]:
            future.result()

    # THEN QuickBooks never said 429 (the calls were booked 1.5 s / 9 apart across containers), and the company
    # was kept busy all the same
    made = stack.requests(realm)["total"] - before
    assert throttled(stack, realm)["throttled"] == 0, throttled(stack, realm)
    assert made >= 6 * 9 / 1.5 * 0.75, made


def sent_with_delay(queue: Bulk) -> list[int]:
    """Hook the queue's client: the DelaySeconds of every message the worker sends."""
    delays: list[int] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        delays.extend(int(e.get("DelaySeconds", 0)) for e in params.get("Entries", []))

    wiring.sqs_client().meta.events.register("before-parameter-build.sqs.SendMessageBatch", seen)
    return delays


def book_ahead(realm: str, seconds: float) -> None:
    """Other containers' calls (the UI's, another tenant's) booked on the company's calendar that far ahead."""
    for _ in range(round(seconds / CALL_SPACING)):
        wiring.call_calendar().book(realm)


def attributes(queue: Bulk) -> dict[str, int]:
    found = queue.sqs.get_queue_attributes(QueueUrl=queue.queue_url, AttributeNames=["All"])["Attributes"]
    keys = (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    )
    return {k.removeprefix("ApproximateNumberOfMessages") or "visible": int(found[k]) for k in keys}


def test_worker_defers_items_while_the_company_is_booked_ahead_and_they_finish_later(queue):
    # GIVEN a job of three invoices, and the company's calls booked 4 s ahead by other containers
    realm = queue.stack.connect()
    client("c1", "Acme Corp")
    job_id = start(queue, [invoice(f"i{n}", "c1") for n in range(3)])
    delays = sent_with_delay(queue)
    book_ahead(realm, 4.0)
    before = queue.stack.requests(realm)["total"]

    # WHEN a worker receives the three messages
    messages = queue.receive(10)
    assert len(messages) == 3
    dynamodb = DynamoCount()
    failed = queue.deliver(messages)

    # THEN none started: no QuickBooks call, nothing failed (so the deliveries are deleted: no receive spent) and
    # each message was sent again, out of sight for about the time the calendar needs, spread by the deferrals
    assert failed == set()
    assert queue.stack.requests(realm)["total"] == before
    # AND deferring them read nothing but the company's calendars (the messages name the company): no job item,
    # connection or invoice read for work that does not start
    assert sum(dynamodb.operations.values()) == sum(dynamodb.pacing.values()) > 0, dynamodb.operations
    assert len(delays) == 3 and all(3 <= d <= 5 for d in delays), delays
    assert attributes(queue) == {"visible": 0, "NotVisible": 0, "Delayed": 3}
    assert job(queue, job_id)["status"] == "queued"

    # WHEN the delays are over and the messages are delivered again
    deadline = time.monotonic() + 15
    received: list[dict[str, Any]] = []
    while len(received) < 3 and time.monotonic() < deadline:
        batch = queue.receive(10)
        received += batch
        if batch:
            assert queue.deliver(batch) == set()
        else:
            time.sleep(0.2)

    # THEN each is on its first receive, and the job succeeded without a 429
    assert sorted(int(m["Attributes"]["ApproximateReceiveCount"]) for m in received) == [1, 1, 1]
    found = job(queue, job_id)
    assert (found["status"], found["succeeded"]) == ("succeeded", 3), found
    assert queue.stack.requests(realm)["throttled"] == 0


def test_item_whose_calls_would_wait_too_long_is_deferred_not_failed(queue, monkeypatch):
    # GIVEN a worker that was admitted (say the calendar filled just after its look) and a calendar 5 s ahead
    realm = queue.stack.connect()
    client("c1", "Acme Corp")
    job_id = start(queue, [invoice("i0", "c1")])
    monkeypatch.setattr(wiring.backlog_admission(), "deferral", lambda realm_id: None)
    delays = sent_with_delay(queue)
    booked = time.monotonic()
    book_ahead(realm, 5.0)
    before = queue.stack.requests(realm)["total"]

    # WHEN it runs the item
    messages = queue.receive(10)
    started = time.monotonic()
    failed = queue.deliver(messages)
    elapsed = time.monotonic() - booked

    # THEN its first call waited no more than a started item's few seconds (BACKGROUND_MAX_WAIT), then the message
    # went back with a delay until the calendar is back within the backlog's share; the item is still pending
    assert time.monotonic() - started < BACKGROUND_MAX_WAIT + 1
    assert failed == set()
    # (the time the calendar needs from when it gave up: less what a loaded machine took to book and get there)
    assert len(delays) == 1 and math.ceil(5.0 - BACKLOG_HORIZON - elapsed) <= delays[0] <= 5.0 - BACKLOG_HORIZON + 1
    assert attributes(queue)["Delayed"] == 1
    assert json.loads(messages[0]["Body"])["itemId"] == "i0"
    found = job(queue, job_id)
    assert (found["status"], found["items"][0]["status"]) == ("queued", "pending")
    assert found["items"][0].get("error") is None
    assert queue.stack.requests(realm)["total"] == before


def test_worker_starts_no_call_it_could_not_finish_before_its_lambda_times_out(queue, monkeypatch):
    # GIVEN an admitted worker with 11.5 s of its Lambda left, and a calendar 2 s ahead (a wait it may take)
    realm = queue.stack.connect()
    client("c1", "Acme Corp")
    job_id = start(queue, [invoice("i0", "c1")])
    monkeypatch.setattr(wiring.backlog_admission(), "deferral", lambda realm_id: None)
    monkeypatch.setattr(LambdaContext, "get_remaining_time_in_millis", lambda self: 11_500)
    delays = sent_with_delay(queue)
    book_ahead(realm, 2.0)
    before = queue.stack.requests(realm)["total"]

    # WHEN it runs the item
    messages = queue.receive(10)
    started = time.monotonic()
    failed = queue.deliver(messages)

    # THEN it did not wait past its time less a call's reserve (1.5 s): the message is deferred, nothing was sent
    assert time.monotonic() - started < 11.5 - CALL_RESERVE + 0.5
    assert failed == set()
    assert len(delays) == 1
    found = job(queue, job_id)
    assert (found["status"], found["items"][0]["status"]) == ("queued", "pending")
    assert queue.stack.requests(realm)["total"] == before


def test_ui_sync_keeps_its_share_while_a_backlog_of_the_same_company_runs(queue):
    # GIVEN a job of 30 invoices worked by the template's workers (BulkMaxConcurrency: 16), the company at
    # QuickBooks' limits and latency (100 ms a call)
    realm = queue.stack.connect()
    fault(queue.stack, realm, latencyMs=100)
    client("c1", "Acme Corp")
    client("c2", "Other Corp")
    ui_invoice = invoice("ui", "c2")
    job_id = start(queue, [invoice(f"i{n}", "c1") for n in range(30)])
    count = DynamoCount()

    def worker(stop: threading.Event) -> None:
        while not stop.is_set():
            batch = queue.receive(5)
            if batch:
                failed = queue.deliver(batch)  # once: the batch is one invocation
                queue.retry_now([m for m in batch if m["MessageId"] in failed])
            else:
                time.sleep(0.1)

    with running(worker):
        # the backlog is running: its first items are done
        wait_until = time.monotonic() + 30
        while job(queue, job_id)["succeeded"] < 3 and time.monotonic() < wait_until:
            time.sleep(0.1)

        # WHEN the user clicks "Sync with QB" on a new invoice of another client: the whole first sync (customer,
        # the company's Item, invoice, payment) is one request
        before = queue.stack.requests(realm)["total"]
        started = time.monotonic()
        answer = queue.stack.call("sync_invoice", "POST", f"/quickbooks/invoices/{ui_invoice}/sync")
        ui_seconds = time.monotonic() - started
        during_ui = queue.stack.requests(realm)["total"] - before
        deadline = time.monotonic() + 90
        while job(queue, job_id)["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)

    # THEN the UI's sync answered within 5 s while the backlog ran (its calls and the backlog's both went on), the
    # job succeeded, and QuickBooks never said 429
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    assert body["customerCreated"] and body["qbInvoiceIds"] and body["qbPaymentIds"], body
    print(f"UI sync {ui_seconds:.2f} s; {during_ui} QuickBooks calls meanwhile; pacing writes {dict(count.pacing)}")
    assert ui_seconds < 5.0, ui_seconds
    found = job(queue, job_id)
    assert (found["status"], found["succeeded"]) == ("succeeded", 30), [i for i in found["items"] if i["error"]]
    assert queue.stack.requests(realm)["throttled"] == 0, queue.stack.requests(realm)


def test_ui_sync_answers_within_5_s_while_workers_keep_the_company_busy(queue):
    # GIVEN the template's bulk workers (16) calling the company back to back, as fast as their pacing lets them,
    # at QuickBooks' limits and latency (100 ms a call)
    realm = queue.stack.connect()
    fault(queue.stack, realm, latencyMs=100)
    client("c2", "Other Corp")
    ui_invoice = invoice("ui", "c2")
    backlog_calls = Counter[str]()

    def worker(stop: threading.Event) -> None:
        while not stop.is_set():
            with wiring.bulk_quickbooks_for(TENANT) as qbo:
                try:
                    qbo.company_info()
                except Deferred:  # a bulk worker's message would go back to SQS with a delay; this one tries again
                    continue
                backlog_calls["done"] += 1

    with running(worker):
        time.sleep(1.5)

        # WHEN the user clicks "Sync with QB" on a new invoice of a new client (customer, Item, invoice, payment)
        started = time.monotonic()
        during = backlog_calls["done"]
        answer = queue.stack.call("sync_invoice", "POST", f"/quickbooks/invoices/{ui_invoice}/sync")
        ui_seconds = time.monotonic() - started
        during = backlog_calls["done"] - during

    # THEN the whole request answered within 5 s (the backlog keeps only half a second of the calendar booked),
    # the backlog kept going meanwhile, and QuickBooks never said 429
    print(f"UI sync {ui_seconds:.2f} s; {during} backlog calls meanwhile")
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["qbPaymentIds"]
    assert ui_seconds < 5.0, ui_seconds
    assert during >= ui_seconds * 4
    assert queue.stack.requests(realm)["throttled"] == 0, queue.stack.requests(realm)

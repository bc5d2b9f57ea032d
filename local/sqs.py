"""Lambda's SQS event source mapping, locally: long-poll a queue, hand batches to the function, settle the result;
and the fair delivery of SQS standard queues between tenants (``MessageGroupId``), which moto does not do.

As Lambda does: batches of ``BatchSize`` gathered for up to ``MaximumBatchingWindowInSeconds``, at most
``ScalingConfig.MaximumConcurrency`` batches in flight, the batch deleted when the function succeeds, nothing
deleted when it raises, and with ``ReportBatchItemFailures`` all but the reported messages deleted (a report naming
a message that is not in the batch fails the whole batch). Unlike Lambda, a failed message is made visible again
after ``LOCAL_SQS_RETRY_SECONDS`` (1 s) instead of the queue's own visibility timeout (360 s for BulkQueue), so
retries and the dead-letter queue are reached in seconds; moto itself moves a message to the queue's
dead-letter queue on the receive after ``maxReceiveCount``, exactly as SQS does.

Fair queues, as the SQS Developer Guide describes them ("Amazon SQS fair queues", "How Amazon SQS fair queues
work"): on a standard queue a message's ``MessageGroupId`` names its tenant; a message without one is a tenant of
its own. A tenant is *noisy* while it has more than 10% of the queue's messages in flight and at least 30 of its
own, or more than 10% of the consumers' recent processing time. While some tenant is noisy, a receive returns
quiet tenants' messages whenever any wait; noisy tenants' messages are neither dropped nor throttled, they come
when no quiet message waits, the noisy tenant with the fewest messages in flight first (we then take the one with
less recent processing time, the balance that rule is for). Consumers change nothing. moto stores and returns
``MessageGroupId`` on a standard queue but always delivers oldest first, so this mapping, the queue's only
consumer, makes SQS's choice itself::

    moto --receive--> held here (invisible in moto) --choose--> batch --> function --> delete / retry
                                                       ^                                   |
                                     TenantLedger: in flight and last minute's processing time per tenant

1. Receive what one batch needs, as Lambda does. When none of it belongs to a noisy tenant, it is the batch, in
   moto's order: without groups, or without a noisy tenant, delivery is what it was (Lambda over moto).
2. When a noisy tenant's message is among them, look further: receive what moto has, up to ``LOOKAHEAD`` held
   messages, and choose the batch from everything held, as SQS would. The rest stays held for the next batches.
3. A held message was received once, and that receive is the one its delivery uses: it is never handed back
   between batches, so ``ApproximateReceiveCount`` (and the dead-letter queue behind it) counts deliveries only.
   It is received with a short visibility (``HOLD_SECONDS``), renewed while held, so a stack that dies leaves
   nothing invisible for long; delivered, it gets the queue's own visibility timeout from that moment, as a
   message Lambda has just received; when the mapping stops, whatever it holds is made visible at once.

Not modelled: SQS also calls a noisy tenant quiet again after 5 minutes without a send (here shares decide
alone), and SQS's thresholds are approximate where these are exact. A tenant behind more than ``LOOKAHEAD``
messages of noisy tenants is seen once the backlog ahead of it is under that.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.config import REGION

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from local.runtime import Outcome, Runtime
    from local.template import SqsSource

log = logging.getLogger("local")
RECEIVE_WAIT_SECONDS = 1
SQS_BATCH = 10  # ReceiveMessage's, DeleteMessageBatch's and ChangeMessageVisibilityBatch's limit

FAIR_SHARE = 0.10  # a tenant over 10% of the messages in flight (with NOISY_IN_FLIGHT of its own) or of the time
NOISY_IN_FLIGHT = 30
PROCESSING_WINDOW_SECONDS = 60.0  # "recent" processing time: SQS does not say how recent; we take a minute
LOOKAHEAD = 1_000  # the most messages held to find quiet tenants behind a noisy one's backlog
HOLD_SECONDS = 30  # a held message's visibility in moto, renewed while held


def group_of(message: dict[str, Any]) -> str | None:
    """The message's tenant for fair queues: its ``MessageGroupId`` (None: a tenant of its own)."""
    group = message.get("Attributes", {}).get("MessageGroupId")
    return str(group) if group else None


@dataclass
class Held:
    """A message received from moto and not yet delivered: ``until`` is when moto would show it again."""

    message: dict[str, Any]
    group: str | None
    seq: int
    until: float


class TenantLedger:
    """What SQS fair queues judge a tenant by, for one queue: its messages in flight and its recent processing
    time; and the choice of the next messages that follows from them."""

    def __init__(self, window: float = PROCESSING_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._in_flight_total = 0
        self._work: deque[tuple[float, dict[str, float], float]] = deque()  # (ended, seconds per tenant, seconds)

    def delivered(self, groups: Sequence[str | None]) -> None:
        with self._lock:
            self._in_flight.update(g for g in groups if g is not None)
            self._in_flight_total += len(groups)

    def settled(self, groups: Sequence[str | None], seconds: float) -> None:
        """A batch is done (deleted or handed back): its messages leave the flight, its time counts to its tenants."""
        if not groups:
            return
        each = seconds / len(groups)
        with self._lock:
            self._in_flight.subtract(g for g in groups if g is not None)
            self._in_flight = +self._in_flight
            self._in_flight_total = max(0, self._in_flight_total - len(groups))
            shares: dict[str, float] = {}
            for group in groups:
                if group is not None:
                    shares[group] = shares.get(group, 0.0) + each
            self._work.append((self.clock(), shares, seconds))

    def _recent_work(self) -> tuple[dict[str, float], float]:
        """Processing seconds per tenant in the last ``window`` seconds, and in all (call under the lock)."""
        horizon = self.clock() - self.window
        while self._work and self._work[0][0] < horizon:
            self._work.popleft()
        busy: dict[str, float] = {}
        total = 0.0
        for _, shares, seconds in self._work:
            for group, spent in shares.items():
                busy[group] = busy.get(group, 0.0) + spent
            total += seconds
        return busy, total

    def noisy(self) -> set[str]:
        """The tenants over their share now: of the messages in flight (and 30 of their own), or of recent time."""
        with self._lock:
            busy, total = self._recent_work()
            by_flight = {
                g for g, n in self._in_flight.items() if n >= NOISY_IN_FLIGHT and n > FAIR_SHARE * self._in_flight_total
            }
            by_time = {g for g, seconds in busy.items() if total > 0 and seconds > FAIR_SHARE * total}
            return by_flight | by_time

    def choose(self, held: Iterable[Held], count: int) -> list[Held]:
        """Up to ``count`` of the held messages (oldest first), as a fair queue's receive returns them: every quiet
        tenant's message first; then the noisy tenants', the one with the fewest in flight first (then the one
        with less recent processing time)."""
        noisy = self.noisy()
        chosen: list[Held] = []
        waiting: dict[str, deque[Held]] = {}
        for entry in held:
            if entry.group is None or entry.group not in noisy:
                if len(chosen) < count:
                    chosen.append(entry)
            else:
                waiting.setdefault(entry.group, deque()).append(entry)
        if len(chosen) >= count or not waiting:
            return chosen
        with self._lock:
            in_flight = Counter(self._in_flight)
            busy, _ = self._recent_work()
        while len(chosen) < count and waiting:
            group = min(waiting, key=lambda g: (in_flight[g], busy.get(g, 0.0), waiting[g][0].seq))
            chosen.append(waiting[group].popleft())
            in_flight[group] += 1
            if not waiting[group]:
                del waiting[group]
        return chosen


def _attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    def b64(raw: Any) -> str:
        return base64.b64encode(raw).decode() if isinstance(raw, (bytes, bytearray)) else str(raw)

    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [b64(v) for v in value.get("BinaryListValues", [])],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = b64(value["BinaryValue"])
    return converted


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of the Lambda SQS event, from a ``ReceiveMessage`` message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {k: _attribute_value(v) for k, v in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(source: SqsSource, outcome: Outcome, batch_ids: list[str]) -> set[str]:
    """The messages of the batch that must stay in the queue, by Lambda's rules."""
    if not outcome.ok:
        return set(batch_ids)
    if not source.report_failures or not isinstance(outcome.result, dict):
        return set()
    reported = outcome.result.get("batchItemFailures")
    if not reported:
        return set()
    if not isinstance(reported, list):
        return set(batch_ids)
    identifiers: set[str] = set()
    for item in reported:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return set(batch_ids)
        identifiers.add(identifier)
    return identifiers


class QueuePoller:
    """Drains one queue into one function, as one SQS event source mapping over a fair queue."""

    def __init__(
        self,
        source: SqsSource,
        runtime: Runtime,
        client: Any,
        retry_seconds: int,
        *,
        hold_seconds: int = HOLD_SECONDS,
        lookahead: int = LOOKAHEAD,
    ) -> None:
        self.source = source
        self.runtime = runtime
        self.client = client
        self.retry_seconds = retry_seconds
        self.hold_seconds = hold_seconds
        self.lookahead = max(lookahead, source.batch_size)
        self.ledger = TenantLedger()
        self._held: dict[str, Held] = {}  # by MessageId, oldest received first; only the polling thread's
        self._received = 0
        self._visibility: int | None = None
        self._slots = threading.BoundedSemaphore(max(1, source.max_concurrency))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sqs-{source.function}-{source.event}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def signal_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling and make the held messages visible again; batches in flight are not waited for (their
        workers are stopped with the stack)."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self.release_held()

    @property
    def held(self) -> int:
        """How many messages this mapping holds, received and not yet delivered."""
        return len(self._held)

    def queue_visibility(self) -> int:
        """The queue's own visibility timeout, which a delivered message gets."""
        if self._visibility is None:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.source.queue_url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
            self._visibility = int(attributes["VisibilityTimeout"])
        return self._visibility

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        answer = self.client.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=max(1, min(SQS_BATCH, count)),
            WaitTimeSeconds=wait,
            VisibilityTimeout=self._hold(),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def _hold(self) -> int:
        return max(1, min(self.hold_seconds, self.queue_visibility()))

    def _fill(self, target: int, wait: int) -> None:
        """Receive until ``target`` messages are held or moto has no more; a long poll only when nothing is held."""
        while len(self._held) < target and not self._stop.is_set():
            messages = self._receive(target - len(self._held), 0 if self._held else wait)
            if not messages:
                return
            until = time.monotonic() + self._hold()
            for message in messages:
                self._received += 1
                # A message held already (its visibility lapsed) keeps its place, with the newest receipt handle.
                place = self._held.get(message["MessageId"])
                seq = place.seq if place else self._received
                self._held[message["MessageId"]] = Held(message, group_of(message), seq, until)

    def _take(self, count: int) -> list[Held]:
        """The next ``count`` messages at most, chosen as a fair queue would; a noisy tenant held makes us look
        further first, for quiet tenants' messages behind its backlog."""
        noisy = self.ledger.noisy()
        if any(h.group in noisy for h in self._held.values() if h.group is not None):
            self._fill(self.lookahead, 0)
        chosen = self.ledger.choose(self._held.values(), count)
        for entry in chosen:
            del self._held[entry.message["MessageId"]]
        return chosen

    def _change_visibility(self, entries: Sequence[Held], seconds: int) -> None:
        for start in range(0, len(entries), SQS_BATCH):
            chunk = entries[start : start + SQS_BATCH]
            answer = self.client.change_message_visibility_batch(
                QueueUrl=self.source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h.message["ReceiptHandle"], "VisibilityTimeout": seconds}
                    for i, h in enumerate(chunk)
                ],
            )
            for failure in answer.get("Failed", []):
                log.warning("sqs visibility not changed queue=%s: %s", self.source.event, failure.get("Code"))

    def keep_held(self) -> None:
        """Renew the visibility of held messages halfway through it, so moto never shows them to anyone else."""
        now = time.monotonic()
        due = [h for h in self._held.values() if h.until - now < self._hold() / 2]
        if due:
            self._change_visibility(due, self._hold())
            for entry in due:
                entry.until = now + self._hold()

    def release_held(self) -> None:
        """Make every held message visible again (best effort: else it shows again after its short hold)."""
        held, self._held = list(self._held.values()), {}
        try:
            self._change_visibility(held, 0)
        except Exception as exc:
            log.warning("sqs held messages not released queue=%s: %s", self.source.event, exc)

    def gather(self) -> list[dict[str, Any]]:
        """One batch: whatever the first long poll brings, topped up until full or the batching window closes,
        chosen fairly between tenants; delivered, each message gets the queue's visibility timeout."""
        size = self.source.batch_size
        self.keep_held()
        self._fill(size, RECEIVE_WAIT_SECONDS)
        if not self._held:
            return []
        window_ends = time.monotonic() + self.source.batching_window
        batch = self._take(size)
        while len(batch) < size and time.monotonic() < window_ends and not self._stop.is_set():
            self._fill(size - len(batch), 0)
            more = self._take(size - len(batch))
            if more:
                batch.extend(more)
            else:
                self._stop.wait(0.1)
        self._change_visibility(batch, self.queue_visibility())
        self.ledger.delivered([h.group for h in batch])
        return [h.message for h in batch]

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.5):
                self._keep_held_quietly()
                continue
            try:
                batch = self.gather()
            except Exception as exc:
                self._slots.release()
                if not self._stop.is_set():
                    log.warning(
                        "sqs poll failed function=%s queue=%s: %s", self.source.function, self.source.event, exc
                    )
                    self._stop.wait(1.0)
                continue
            if not batch:
                self._slots.release()
                continue
            threading.Thread(target=self._run_batch, args=(batch,), daemon=True).start()

    def _keep_held_quietly(self) -> None:
        try:
            self.keep_held()
        except Exception as exc:
            if not self._stop.is_set():
                log.warning("sqs held messages not renewed queue=%s: %s", self.source.event, exc)

    def _run_batch(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.process(batch)
        except Exception:
            if not self._stop.is_set():
                log.exception("sqs batch settlement failed function=%s", self.source.function)
        finally:
            self._slots.release()

    def process(self, batch: list[dict[str, Any]]) -> set[str]:
        """Invoke the function with one batch and settle it; the ids of the messages left in the queue."""
        started = time.monotonic()
        try:
            return self._invoke_and_settle(batch)
        finally:
            self.ledger.settled([group_of(m) for m in batch], time.monotonic() - started)

    def _invoke_and_settle(self, batch: list[dict[str, Any]]) -> set[str]:
        ids = [m["MessageId"] for m in batch]
        event = {"Records": [sqs_record(m, self.source.queue_arn) for m in batch]}

        def status_of(outcome: Outcome) -> str:
            failures = failed_ids(self.source, outcome, ids)
            if not outcome.ok:
                return "error"
            return f"partial {len(failures)}/{len(ids)} failed" if failures else "ok"

        outcome = self.runtime.invoke(
            self.source.function,
            event,
            f"sqs {self.source.event}",
            status_of=status_of,
            details={"messageIds": ids},
        )
        failures = failed_ids(self.source, outcome, ids)
        done = [m for m in batch if m["MessageId"] not in failures]
        retry = [m for m in batch if m["MessageId"] in failures]
        for start in range(0, len(done), SQS_BATCH):
            chunk = done[start : start + SQS_BATCH]
            self.client.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        for start in range(0, len(retry), SQS_BATCH):
            chunk = retry[start : start + SQS_BATCH]
            self.client.change_message_visibility_batch(
                QueueUrl=self.source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_seconds}
                    for i, m in enumerate(chunk)
                ],
            )
        return failures

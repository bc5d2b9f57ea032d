"""The bulk queue (SQS): one message an item of a job (or an invoice deletion), and the delay a throttled message
waits before its retry.

Every message is sent with ``MessageGroupId`` = its tenant. On a standard queue that makes it an SQS *fair queue*:
when one tenant builds a backlog (the month-end burst), SQS delivers the other tenants' messages first, so one
company's thousands of invoices do not queue everyone else's bulk job behind them. The group orders nothing and
limits nothing on a standard queue (that is FIFO's meaning of the attribute, not ours).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from shared.observability import logger

if TYPE_CHECKING:
    from collections.abc import Sequence


class TenantMessage(Protocol):
    """What the bulk queue needs of a message model: its JSON body, and the tenant whose work it is."""

    @property
    def tenant_id(self) -> str: ...

    def model_dump_json(self, *, by_alias: bool | None = None) -> str: ...


M = TypeVar("M", bound=TenantMessage)

SEND_BATCH = 10  # SendMessageBatch's limit
SEND_ATTEMPTS = 3
MAX_VISIBILITY_SECONDS = 43_200  # SQS's upper bound for a message's visibility timeout


@dataclass(frozen=True)
class Unsent(Generic[M]):
    message: M
    reason: str


class BulkQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def send(self, messages: Sequence[M], *, delay_seconds: int = 0) -> list[Unsent[M]]:
        """Send in batches of 10, each message in its tenant's group, retrying what SQS did not take; what still
        failed after that, with why.

        ``delay_seconds`` (up to SQS's 900) keeps the messages out of sight that long (a deferred item).
        """
        unsent: list[Unsent[M]] = []
        for start in range(0, len(messages), SEND_BATCH):
            unsent += self._send_batch(list(messages[start : start + SEND_BATCH]), delay_seconds)
        return unsent

    def _send_batch(self, batch: list[M], delay_seconds: int) -> list[Unsent[M]]:
        waiting = dict(enumerate(batch))
        reasons: dict[int, str] = {}
        delay = {"DelaySeconds": delay_seconds} if delay_seconds else {}
        for _ in range(SEND_ATTEMPTS):
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": message.model_dump_json(by_alias=True),
                    "MessageGroupId": message.tenant_id,
                    **delay,
                }
                for i, message in waiting.items()
            ]
            try:
                answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                reasons |= dict.fromkeys(waiting, f"the bulk queue refused the message ({type(exc).__name__})")
                continue
            failed = {int(f["Id"]): f for f in answer.get("Failed", [])}
            for i in waiting.keys() - failed.keys():
                reasons.pop(i, None)
            reasons |= {i: f"the bulk queue refused the message ({f.get('Code', 'error')})" for i, f in failed.items()}
            # A sender fault (a malformed entry) fails the same way every time: no point in sending it again.
            waiting = {i: waiting[i] for i, f in failed.items() if not f.get("SenderFault")}
            if not waiting:
                break
        return [Unsent(batch[i], reason) for i, reason in sorted(reasons.items())]

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Keep a received message invisible for ``seconds`` more (the retry of a throttled item waits that long).

        Best effort: should the change fail, the message comes back after the queue's own visibility timeout.
        """
        try:
            self.client.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("bulk message delay not set", error_type=type(exc).__name__)

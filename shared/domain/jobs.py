"""Bulk jobs ("Bulk Change", contract: "Bulk jobs"): one job of up to 30 items, each item ending exactly once.

A job kind names what its items are (``customers``, ``vendors``, ``invoices``); everything here is the same for
every kind, so a new kind only brings the function that runs one of its items.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime  # noqa: TC003 - pydantic needs it at run time
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag
from pydantic.alias_generators import to_camel

from shared.domain.types import BooksId, QbId, TenantId  # noqa: TC001 - pydantic needs it at run time

MAX_BULK_ITEMS = 30
"""The guide's "Bulk Change" limit: at most 30 objects in one request."""

ItemId = BooksId


def _distinct(ids: list[str]) -> list[str]:
    repeated = sorted(item for item, times in Counter(ids).items() if times > 1)
    if repeated:
        raise ValueError(f"ids must be distinct; repeated: {', '.join(repeated)}")
    return ids


BulkIds = Annotated[
    list[ItemId],
    Field(min_length=1, max_length=MAX_BULK_ITEMS, description=f"1 to {MAX_BULK_ITEMS} distinct ids"),
    AfterValidator(_distinct),
]
"""The ids of one bulk request (rule: 1 to 30, no id twice)."""


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"


class ItemStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ItemOutcome:
    """How one item ended: ``qb_id`` of what it created or linked, ``error`` in words a user can act on."""

    status: ItemStatus
    qb_id: str | None = None
    error: str | None = None

    @classmethod
    def succeeded(cls, qb_id: str) -> ItemOutcome:
        return cls(ItemStatus.SUCCEEDED, qb_id=qb_id)

    @classmethod
    def skipped(cls, reason: str, qb_id: str | None = None) -> ItemOutcome:
        return cls(ItemStatus.SKIPPED, qb_id=qb_id, error=reason)

    @classmethod
    def failed(cls, error: str) -> ItemOutcome:
        return cls(ItemStatus.FAILED, error=error)


@dataclass(frozen=True)
class JobItem:
    id: str
    position: int
    status: ItemStatus
    qb_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str
    status: JobStatus
    total: int
    succeeded: int
    failed: int
    skipped: int
    created_at: datetime
    finished_at: datetime | None
    items: tuple[JobItem, ...] = ()


def final_status(*, total: int, succeeded: int, failed: int, skipped: int) -> JobStatus | None:
    """The job's end once every item has an outcome, else None.

    Rule ("Bulk jobs"): ``succeeded`` when nothing failed (skipped items count as fine), ``failed`` when every
    item failed, ``partially_failed`` in between.
    """
    if succeeded + failed + skipped < total:
        return None
    if failed == 0:
        return JobStatus.SUCCEEDED
    if failed == total:
        return JobStatus.FAILED
    return JobStatus.PARTIALLY_FAILED


class _Message(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    realm_id: QbId | None = None
    """The company the work was for when it was queued: the worker paces the message by it before reading
    anything (a deferral then costs no read). A hint only: the work reads the connection again, and a message
    without one (queued before, or by whom did not know) is paced once the connection is read."""


class BulkItemMessage(_Message):
    """The body of one SQS message: one item of one job (camelCase on the wire)."""

    type: Literal["job-item"] = "job-item"
    tenant_id: TenantId
    job_id: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Annotated[str, Field(min_length=1, max_length=32)]
    item_id: ItemId


class InvoiceDeletionMessage(_Message):
    """Books360 deleted a linked invoice: what was written for it in QuickBooks is deleted by the queue's worker,
    paced and retried like every other write (contract: "InvoiceDeleted")."""

    type: Literal["invoice-deletion"] = "invoice-deletion"
    tenant_id: TenantId
    invoice_id: ItemId


class InvoiceSyncMessage(_Message):
    """Automatic sync: one Books360 invoice to sync as "Sync with QB" would, without a job (contract: "Automatic
    sync"); queued after its ``InvoiceUpserted`` or by the ``auto-invoice-sync`` sweep."""

    type: Literal["invoice-sync"] = "invoice-sync"
    tenant_id: TenantId
    invoice_id: ItemId


def _message_type(value: Any) -> str:
    # Messages queued before ``type`` existed are job items.
    found = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return str(found or "job-item")


QueueMessage = Annotated[
    Annotated[BulkItemMessage, Tag("job-item")]
    | Annotated[InvoiceDeletionMessage, Tag("invoice-deletion")]
    | Annotated[InvoiceSyncMessage, Tag("invoice-sync")],
    Discriminator(_message_type),
]
"""Every message body of the bulk queue, told apart by ``type`` at the edge (the worker's record model)."""

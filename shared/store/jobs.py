"""Bulk jobs: a head ``sk = JOB#{jobId}`` with counters, and one ``sk = JOBITEM#{jobId}#{itemId}`` per item.

An item moves from ``pending`` to its outcome once, and the head's counters move with it, in one transaction::

    item  pending ──(status = :pending ?)──▶ succeeded | failed | skipped
    head  ADD <outcome> 1, done 1; status running                  (same transaction: both or neither)

A second delivery of the same SQS message finds the item final: the transaction is cancelled and nothing is
counted twice. A worker that dies between the transaction and ``finish_if_done`` leaves a job whose counters are
complete; the next look (a redelivery, the last item of another worker) finishes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.jobs import ItemStatus, Job, JobItem, JobStatus, final_status
from shared.store.table import ConditionFailed, TransactionRefused, tenant_pk

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.domain.jobs import ItemOutcome
    from shared.store.table import Table

JOB_PREFIX = "JOB#"
ITEM_PREFIX = "JOBITEM#"
JOB_RETENTION = timedelta(days=30)
"""Jobs are progress reports, not history: DynamoDB's TTL removes them a month after they were created."""
_COUNTERS = {ItemStatus.SUCCEEDED: "succeeded", ItemStatus.FAILED: "failed", ItemStatus.SKIPPED: "skipped"}


def job_sk(job_id: str) -> str:
    return f"{JOB_PREFIX}{job_id}"


def item_sk(job_id: str, item_id: str) -> str:
    return f"{ITEM_PREFIX}{job_id}#{item_id}"


class JobStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, tenant_id: str, job_id: str, kind: str, item_ids: Sequence[str], *, now: datetime) -> Job:
        """Write the job and all its items, pending, in one transaction (at most 30 items: well under 100)."""
        expires_at = int((now + JOB_RETENTION).timestamp())
        pk = tenant_pk(tenant_id)
        head = {
            "pk": pk,
            "sk": job_sk(job_id),
            "jobId": job_id,
            "kind": kind,
            "status": JobStatus.QUEUED.value,
            "total": len(item_ids),
            "succeeded": 0,
            "failed": 0,
            "skipped": 0,
            "done": 0,
            "createdAt": now.isoformat(),
            "expiresAt": expires_at,
            # Unfinished jobs carry a sparse index entry so a sweep can find one whose messages were lost.
            "gsi1pk": OPEN_JOBS,
            "gsi1sk": f"{now.isoformat()}#{tenant_id}#{job_id}",
        }
        items = [
            {
                "pk": pk,
                "sk": item_sk(job_id, item_id),
                "itemId": item_id,
                "position": position,
                "status": ItemStatus.PENDING.value,
                "createdAt": now.isoformat(),
                "expiresAt": expires_at,
            }
            for position, item_id in enumerate(item_ids)
        ]
        self.table.write_together([head, *items])
        return _job(head, items)

    def get(self, tenant_id: str, job_id: str) -> Job | None:
        """The job with its items in request order, or None when the tenant has no such job."""
        head = self.table.get(tenant_pk(tenant_id), job_sk(job_id))
        if head is None:
            return None
        return _job(head, self.table.query_prefix(tenant_pk(tenant_id), f"{ITEM_PREFIX}{job_id}#"))

    def item_state(self, tenant_id: str, job_id: str, item_id: str) -> tuple[ItemStatus, datetime] | None:
        """Where one item stands, and when its job was created (None: no such item, e.g. its job expired)."""
        item = self.table.get(tenant_pk(tenant_id), item_sk(job_id, item_id))
        if item is None:
            return None
        return ItemStatus(item["status"]), datetime.fromisoformat(str(item["createdAt"]))

    def record(self, tenant_id: str, job_id: str, item_id: str, outcome: ItemOutcome, *, now: datetime) -> bool:
        """Move a pending item to ``outcome`` and count it on the job; False when it had an outcome already."""
        pk = tenant_pk(tenant_id)
        fields: dict[str, Any] = {"finishedAt": now.isoformat(), "qbId": outcome.qb_id, "error": outcome.error}
        present = {name: value for name, value in fields.items() if value is not None}
        item_update = self.table.update_action(
            pk,
            item_sk(job_id, item_id),
            set_values={"status": outcome.status.value, **present},
            condition="#status = :pending",
            values={"pending": ItemStatus.PENDING.value},
        )
        job_update = self.table.update_action(
            pk,
            job_sk(job_id),
            set_values={"status": JobStatus.RUNNING.value},
            add={_COUNTERS[outcome.status]: 1, "done": 1},
            condition="attribute_exists(#pk) AND attribute_not_exists(#finishedAt)",
        )
        try:
            self.table.transact([{"Update": item_update}, {"Update": job_update}])
        except TransactionRefused:
            return False  # the item had its outcome already (a repeated delivery) or the job finished
        return True

    def open_jobs(self, *, created_before: datetime) -> list[tuple[str, str, str]]:
        """``(tenant, job id, kind)`` of every unfinished job created before the given time, oldest first."""
        found = []
        for head in self.table.query_index(OPEN_JOBS):
            if datetime.fromisoformat(str(head["createdAt"])) < created_before:
                found.append((str(head["pk"]).removeprefix("TENANT#"), str(head["jobId"]), str(head["kind"])))
        return found

    def pending_items(self, tenant_id: str, job_id: str) -> list[str]:
        items = self.table.query_prefix(tenant_pk(tenant_id), item_sk(job_id, ""))
        return [str(i["itemId"]) for i in items if i.get("status") == ItemStatus.PENDING.value]

    def finish_if_done(self, tenant_id: str, job_id: str, *, now: datetime) -> JobStatus | None:
        """Give the job its final status once every item has an outcome (idempotent); None while items remain."""
        head = self.table.get(tenant_pk(tenant_id), job_sk(job_id))
        if head is None:
            return None
        if head.get("finishedAt"):
            return JobStatus(head["status"])
        status = final_status(
            total=int(head["total"]),
            succeeded=int(head["succeeded"]),
            failed=int(head["failed"]),
            skipped=int(head["skipped"]),
        )
        if status is None:
            return None
        try:
            self.table.update(
                tenant_pk(tenant_id),
                job_sk(job_id),
                set_values={"status": status.value, "finishedAt": now.isoformat()},
                remove=["gsi1pk", "gsi1sk"],
                condition="attribute_not_exists(#finishedAt)",
            )
        except ConditionFailed:
            pass  # another worker finished it a moment ago, with the same counts
        return status


OPEN_JOBS = "OPENJOB"


def _job(head: dict[str, Any], items: list[dict[str, Any]]) -> Job:
    finished_at = head.get("finishedAt")
    return Job(
        job_id=str(head["jobId"]),
        kind=str(head["kind"]),
        status=JobStatus(head["status"]),
        total=int(head["total"]),
        succeeded=int(head["succeeded"]),
        failed=int(head["failed"]),
        skipped=int(head["skipped"]),
        created_at=datetime.fromisoformat(str(head["createdAt"])),
        finished_at=datetime.fromisoformat(str(finished_at)) if finished_at else None,
        items=tuple(
            JobItem(
                id=str(item["itemId"]),
                position=int(item["position"]),
                status=ItemStatus(item["status"]),
                qb_id=item.get("qbId"),
                error=item.get("error"),
            )
            for item in sorted(items, key=lambda i: int(i["position"]))
        ),
    )

"""Short leases in DynamoDB (``sk = LOCK#{name}``): one holder at a time across every Lambda container."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shared.store.table import ConditionFailed, tenant_pk

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.store.table import Table


class LeaseStore:
    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock

    def acquire(self, tenant_id: str, name: str, owner: str, *, seconds: int) -> bool:
        """Take the lease unless someone holds an unexpired one.

        A holder that crashed leaves its lease behind; it lapses at ``leaseUntil`` (the TTL attribute only
        cleans up later, so the condition compares times itself)::

            holder A ──acquire──[ work ]──release           (normal)
            holder A ──acquire──[ crash ........ leaseUntil ]── holder B may acquire
        """
        now = self.clock()
        try:
            self.table.put(
                {
                    "pk": tenant_pk(tenant_id),
                    "sk": f"LOCK#{name}",
                    "owner": owner,
                    "leaseUntil": int(now + seconds),
                    "expiresAt": int(now + seconds + 3600),
                },
                ConditionExpression="attribute_not_exists(pk) OR leaseUntil < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, tenant_id: str, name: str, owner: str) -> None:
        """Give the lease back, only if it is still ours.

        An update, not a delete (the webhook, which holds invoice leases, may not delete): the lease is left
        lapsed (``leaseUntil`` 0) with no owner, which ``acquire`` and ``seconds_left`` take exactly as no lease;
        the TTL removes the item later::

            holder A ──acquire──[ work ]──release (leaseUntil 0, no owner) ── holder B may acquire at once
        """
        try:
            self.table.update(
                tenant_pk(tenant_id),
                f"LOCK#{name}",
                set_values={"leaseUntil": 0},
                remove=["owner"],
                condition="#owner = :owner",
                values={"owner": owner},
            )
        except ConditionFailed:
            return  # lapsed and taken by another holder, or already released: not ours to give back

    def seconds_left(self, tenant_id: str, name: str) -> int | None:
        """Seconds until the current holder's lease lapses; None when nobody holds it (a consistent read)."""
        item = self.table.get(tenant_pk(tenant_id), f"LOCK#{name}")
        if item is None:
            return None
        left = int(item.get("leaseUntil", 0)) - int(self.clock())
        return left if left >= 0 else None

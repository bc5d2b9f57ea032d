"""A tenant's QuickBooks lists ("Update Lists"): a head item ``sk = LISTS`` and chunks ``sk = LISTS#0000``, ...

A company may have thousands of accounts, and a DynamoDB item holds at most 400 KB. The lists are therefore
stored as their JSON, zlib-compressed (account records compress about tenfold), cut into chunks of at most
``chunk_bytes``. Head and chunks are written in one transaction, with surplus chunks of a longer earlier
version deleted in it, so a reader never sees half a refresh, and no orphaned chunk is left behind.

A Query is only read-committed against a transaction: it could return chunks from either side of a
concurrent refresh. Every chunk therefore carries the head's ``revision``; a read that finds chunks of another
revision (or a missing one) reads again. Chunks past the head's count (left by two refreshes racing) are ignored.

Limits: one transaction carries at most 4 MB, so the compressed lists may be about 3.5 MB, some hundreds of
thousands of accounts; beyond that ``ListsTooLarge`` is raised rather than anything half-written.
"""

from __future__ import annotations

import uuid
import zlib
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import Binary

from shared.domain.lists import CompanyLists
from shared.errors import QuickBooksRejected, StorageBusy
from shared.store.table import tenant_pk

if TYPE_CHECKING:
    from shared.store.table import Table

LISTS_SK = "LISTS"
CHUNK_BYTES = 350_000
"""Compressed bytes per chunk item: under 400 KB with its keys and attributes."""
MAX_TRANSACTION_BYTES = 3_800_000
"""What the chunks of one write may weigh in all: DynamoDB's 4 MB per transaction, less headroom."""
READ_ATTEMPTS = 3
ENCODING = "zlib+json"


class ListsTooLarge(QuickBooksRejected):
    """The compressed lists do not fit in one DynamoDB transaction (a company with an enormous chart)."""

    def __init__(self, message: str) -> None:
        super().__init__("lists-too-large", message)


class ListsReadConflict(StorageBusy):
    """The lists kept changing under every read attempt (refreshes writing back to back)."""


class ListsStore:
    """Reads and writes ``CompanyLists`` of the one table, chunked and compressed (see the module docstring)."""

    def __init__(self, table: Table, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.table = table
        self.chunk_bytes = chunk_bytes

    def get(self, tenant_id: str) -> CompanyLists | None:
        """The tenant's lists as last stored, or None when they were never refreshed."""
        for _ in range(READ_ATTEMPTS):
            items = self.table.query_prefix(tenant_pk(tenant_id), LISTS_SK)
            head = next((item for item in items if item["sk"] == LISTS_SK), None)
            if head is None:
                return None
            chunks = {int(item["index"]): item for item in items if item["sk"].startswith(f"{LISTS_SK}#")}
            wanted = [chunks.get(index) for index in range(int(head["chunks"]))]
            if all(chunk is not None and chunk["revision"] == head["revision"] for chunk in wanted):
                payload = b"".join(_bytes(chunk["data"]) for chunk in wanted if chunk is not None)
                return CompanyLists.model_validate_json(zlib.decompress(payload))
        raise ListsReadConflict(f"The lists of tenant {tenant_id} changed during {READ_ATTEMPTS} reads.")

    def put(self, tenant_id: str, lists: CompanyLists) -> None:
        """Replace the tenant's lists, head and chunks together."""
        pk = tenant_pk(tenant_id)
        payload = zlib.compress(lists.model_dump_json().encode(), level=9)
        if len(payload) > MAX_TRANSACTION_BYTES:
            raise ListsTooLarge(f"The lists compress to {len(payload)} bytes; one write holds {MAX_TRANSACTION_BYTES}.")
        pieces = [payload[i : i + self.chunk_bytes] for i in range(0, len(payload), self.chunk_bytes)]
        revision = uuid.uuid4().hex
        previous = self.table.get(pk, LISTS_SK)
        previous_count = int(previous["chunks"]) if previous else 0
        head: dict[str, Any] = {
            "pk": pk,
            "sk": LISTS_SK,
            "revision": revision,
            "chunks": len(pieces),
            "encoding": ENCODING,
            "realmId": lists.realm_id,
            "updatedAt": lists.updated_at.isoformat().replace("+00:00", "Z"),
            "bankAccounts": len(lists.bank_accounts),
            "paymentMethods": len(lists.payment_methods),
        }
        chunks = [
            {"pk": pk, "sk": _chunk_sk(i), "revision": revision, "index": i, "data": piece}
            for i, piece in enumerate(pieces)
        ]
        surplus = [(pk, _chunk_sk(i)) for i in range(len(pieces), previous_count)]
        self.table.write_together([head, *chunks], surplus)


def _chunk_sk(index: int) -> str:
    return f"{LISTS_SK}#{index:04d}"


def _bytes(value: Any) -> bytes:
    return bytes(value.value) if isinstance(value, Binary) else bytes(value)

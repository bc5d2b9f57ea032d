"""``python -m local.moto_server``: moto's server, with DynamoDB's isolation, a transaction rollback that costs what
the transaction touched and a Query that reads its partition, served over kept-alive connections.

moto stands in for AWS locally, and seven of its shortcuts would make the local stack measure moto instead of
the product (the month-end benchmark runs hundreds of transactions against a table of thousands of items):

* **Every request is a new connection, a new thread and a log line**: moto serves with Werkzeug's development
  server, which answers ``Connection: close`` to every request (so each AWS call of every function connects
  again, as no AWS endpoint makes it) and writes an access-log line under a lock. Here the same WSGI application
  is served by waitress: connections kept alive, a fixed pool of threads, no access log. Measured with
  ``bench/month_end.py``'s stack under py-spy: request logging was an eighth of the server's time, connection
  set-up and teardown about as much; 2,000 DynamoDB calls one after another cost the server 3.4 ms each with
  Werkzeug and 2.5 ms with waitress.

* **A transaction snapshots every table it names** (``copy.deepcopy`` of the whole table, once per item of the
  transaction) to roll back on a failed condition: O(table) per transaction, where DynamoDB costs O(items
  written). Here the items the transaction names are saved instead, and restored if it fails::

      TransactWriteItems  save each named item (or "absent") ── moto applies the items one by one
                              │                                        │ a condition fails / a validation error
                              │                                        ▼
                              └──────────────────────────────▶ restore the saved items, re-raise (same answer)

* **Every request looks its service up again** (``get_backend_for_host``: the list of moto's modules and a regular
  expression per service, up to a sixth of the server's time under the month-end burst, by py-spy): the answer
  for a host never changes while the server runs, so it is kept.

* **A long poll sees a message that became visible without a send only at the end of a second**: moto's
  ``ReceiveMessage`` with ``WaitTimeSeconds`` waits on a condition that only a send wakes, one second at a time,
  so a delayed message (``DelaySeconds``: every deferred bulk item) or one whose visibility timeout ran out (a
  retry) came up to a second late, where SQS returns it as it becomes receivable. Here the wait looks again every
  ``LONG_POLL_TICK``.

* **A Query reads the whole table**: moto answers a Query of one partition by walking and sorting every item of
  the table, then keeping that partition's: O(table) where DynamoDB costs O(partition), and under the month-end
  burst the table holds thousands of items. Here a base-table Query walks its partition only (the same items,
  filters and order; a Query of an index still walks the table).

* **Writes are not isolated**: moto's threaded server lets a transaction's snapshot and another request's write
  interleave (a lost write, or a 500 when the table changes during the copy). DynamoDB serialises a transaction
  against other writes to its items; one lock around moto's writes gives that back.

* **A read can fail while another read or a write runs**: moto answers a Query or a Scan by walking the table's
  dictionaries (every item of the table, even for one partition), and a GetItem of a partition that has no item
  *adds* an empty one (the table is a ``defaultdict``); a walk in one thread while another adds a key raises
  ``dictionary changed size during iteration``: a 500 for a read DynamoDB always answers (seen as an ``Internal
  error`` on ``GET /quickbooks/jobs/{id}`` while bulk workers ran, and as a transaction's snapshot failing). The
  walk and the get take the same lock; the rest of a read (filters, paging, serialising) stays concurrent. An
  UpdateItem changes the stored item in place while other requests copy or serialise it outside the lock (two
  workers counting on one job head), so an update first puts a copy in the item's place (copy on write): an
  item a reader holds never changes under it.

``dynamodb_patches()`` lists the transaction's rollback and the last three, for the tests' moto in-process too
(``tests/conftest.py``'s ``aws``: tests race threads).

Nothing else changes: the answers, errors and their codes are moto's own.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import threading
import time
from typing import Any

import waitress
from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.models import Queue

_TABLE_LOCK = threading.RLock()
_ABSENT = object()


class _TablesNotCopied:
    """Stands in for the ``copy`` module inside ``moto.dynamodb.models``: a table "copy" is the table itself (the
    rollback below restores the items instead); every other deep copy is a real one."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _key_of(table: Table, operation: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    attributes = operation.get("Key") or operation.get("Item") or {}
    if table.hash_key_attr not in attributes:
        return None  # moto refuses it with its own validation error; nothing to save
    range_attr = table.range_key_attr
    if range_attr is not None and range_attr not in attributes:
        return None
    hash_key = DynamoType(attributes[table.hash_key_attr])
    return hash_key, DynamoType(attributes[range_attr]) if range_attr is not None else None


def _current(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Any:
    if range_key is None:
        return table.items.get(hash_key, _ABSENT)
    return table.items.get(hash_key, {}).get(range_key, _ABSENT)


def _restore(table: Table, hash_key: DynamoType, range_key: DynamoType | None, saved: Any) -> None:
    if range_key is None:
        if saved is _ABSENT:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = saved
    elif saved is _ABSENT:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = saved


def _transact_write_items(original: Any) -> Any:
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with _TABLE_LOCK:
            saved: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
            for entry in transact_items:
                operation = next(iter(entry.values()), None)
                if not isinstance(operation, dict):
                    continue  # moto answers it with its own validation error
                table = self.tables.get(str(operation.get("TableName")))
                key = _key_of(table, operation) if table is not None else None
                if table is not None and key is not None:
                    item = _current(table, *key)
                    saved.append((table, *key, item if item is _ABSENT else copy.deepcopy(item)))
            try:
                original(self, transact_items)
            except Exception:
                for table, hash_key, range_key, item in reversed(saved):
                    _restore(table, hash_key, range_key, item)
                raise

    return transact_write_items


def _serialised(original: Any) -> Any:
    def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _TABLE_LOCK:
            return original(self, *args, **kwargs)

    return serialised


def _copied_on_write(original: Any) -> Any:
    def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with _TABLE_LOCK:
            table = self.tables.get(table_name)
            found = _key_of(table, {"Key": key}) if table is not None else None
            if table is not None and found is not None:
                current = _current(table, *found)
                if current is not _ABSENT:
                    _restore(table, *found, copy.deepcopy(current))
            return original(self, table_name, key, *args, **kwargs)

    return update_item


def _remembered(original: Any) -> Any:
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in found:
            found[host] = original(self, host)
        return found[host]

    return get_backend_for_host


LONG_POLL_TICK = 0.05
"""How often a waiting long poll looks for a message that became visible without a send (delay or visibility over)."""


def _wait_for_messages(self: Queue, timeout: int) -> None:
    """moto's ``Queue.wait_for_messages``, looking again every ``LONG_POLL_TICK`` (a send still wakes it at once)."""
    deadline = time.monotonic() + timeout
    with self._messages_lock:
        while not self.messages:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._messages_lock.wait(min(left, LONG_POLL_TICK))


_QUERIED = threading.local()
"""The partition the current thread's base-table Query asks for, while it runs."""


def _query_by_partition(original: Any) -> Any:
    def query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")  # moto's 8th parameter
        if index_name is not None or hash_key is None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        _QUERIED.partition = hash_key
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            _QUERIED.partition = None

    return query


def _partition_items(original: Any) -> Any:
    def all_items(self: Table) -> list[Any]:
        partition = getattr(_QUERIED, "partition", None)
        if partition is None:
            return list(original(self))
        # .get, not [...]: the table is a defaultdict, and a lookup must not add a partition
        return sorted(self.items.get(partition, {}).values(), key=lambda item: item.range_key)

    return all_items


def dynamodb_patches() -> list[tuple[object, str, Any]]:
    """(owner, attribute, replacement) for DynamoDB as it behaves: writes one at a time, the table's dictionaries
    read (a walk, a get that may add a partition) while nothing else changes them, a transaction rolled back by
    item, a base-table Query reading its partition only."""
    # Under the lock: every write (BatchWriteItem is put/delete one by one in moto's responses, PartiQL and imports
    # write through the Table's own put/delete, backups deep-copy the table) and every read of the dictionaries.
    locked = [
        *(
            (DynamoDBBackend, name)
            for name in ("put_item", "delete_item", "create_backup", "restore_table_to_point_in_time")
        ),
        *((Table, name) for name in ("put_item", "delete_item", "get_item", "has_idx_items", "__len__")),
    ]
    transaction = _transact_write_items(DynamoDBBackend.transact_write_items)
    return [
        (models, "copy", _TablesNotCopied()),
        (DynamoDBBackend, "transact_write_items", transaction),
        (DynamoDBBackend, "update_item", _copied_on_write(DynamoDBBackend.update_item)),
        *((owner, name, _serialised(getattr(owner, name))) for owner, name in locked if hasattr(owner, name)),
        (Table, "all_items", _serialised(_partition_items(Table.all_items))),
        (Table, "query", _query_by_partition(Table.query)),
    ]


def patch_moto() -> None:
    Queue.wait_for_messages = _wait_for_messages  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _remembered(  # type: ignore[method-assign]
        DomainDispatcherApplication.get_backend_for_host
    )
    for owner, name, replacement in dynamodb_patches():
        setattr(owner, name, replacement)


THREADS = 32
"""Requests served at once: every function's warm workers (up to a few dozen) and the stack's own pollers, so a
long poll (SQS ``WaitTimeSeconds``) never makes another request wait for a thread."""


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.moto_server", description=__doc__.split("\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    args = parser.parse_args(argv)
    patch_moto()
    application = DomainDispatcherApplication(create_backend_app)
    waitress.serve(
        application,
        host=args.host,
        port=args.port,
        threads=THREADS,
        connection_limit=1000,
        asyncore_use_poll=True,
        ident="moto",
        _quiet=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])

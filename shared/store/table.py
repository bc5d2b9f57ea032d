"""The one DynamoDB table: items keyed ``pk = TENANT#{tenantId}`` and a sort key per kind of record."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared.errors import StorageBusy

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from decimal import Decimal

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


GSI1 = "gsi1"
# A filtered listing (``Table.query_budgeted``) reads Query pages of growing size up to MAX_READ items a call
# (DynamoDB stops at 1 MB anyway), and at most READ_BUDGET items for one page of the UI: a rare filter over
# 20,000 items costs a few Query calls a page, never a Scan.
MAX_READ = 2000
READ_BUDGET = 10_000


BUSY_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
"""Cancellation reasons that mean "another writer or too much at once": the same transaction may be retried."""


class ConditionFailed(Exception):
    """A conditional write found the item in another state than the condition required.

    ``item`` is what the write found (``Table.update(..., old_on_failure=True)``), None when not asked or absent.
    """

    def __init__(self, message: str, *, item: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.item = item


class TransactionRefused(ConditionFailed):
    """A transaction was cancelled; ``reasons`` holds one code per action (``ConditionalCheckFailed``, ``None``)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons


def tenant_pk(tenant_id: str) -> str:
    """Partition key of everything one tenant owns: tenant first, so no query can cross tenants."""
    return f"TENANT#{tenant_id}"


class Table:
    """A thin adapter over a boto3 DynamoDB *client* (the test seam), speaking plain Python values."""

    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self.client = client

    def get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        answer = self.client.get_item(TableName=self.name, Key=self._key(pk, sk), ConsistentRead=consistent)
        item = answer.get("Item")
        return self.from_dynamo(item) if item else None

    def put(self, item: Mapping[str, Any], **conditions: Any) -> None:
        self.client.put_item(TableName=self.name, Item=self.to_dynamo(item), **conditions)

    def delete(self, pk: str, sk: str) -> None:
        self.client.delete_item(TableName=self.name, Key=self._key(pk, sk))

    def delete_if(
        self,
        pk: str,
        sk: str,
        *,
        condition: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> bool:
        """Delete the item only if ``condition`` holds; False when it did not (or there was no item to test).

        ``#attr`` in the condition names the attribute ``attr``, as in ``update``; ``values`` are given without
        their colon (``{"owner": ...}`` for ``:owner``).
        """
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "Key": self._key(pk, sk),
            "ConditionExpression": condition,
        }
        aliases = _aliases(condition, names)
        if aliases:
            arguments["ExpressionAttributeNames"] = aliases
        if values:
            arguments["ExpressionAttributeValues"] = {f":{k}": _serializer.serialize(v) for k, v in values.items()}
        try:
            self.client.delete_item(**arguments)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def pop(self, pk: str, sk: str) -> dict[str, Any] | None:
        """Delete the item and return what it held; None when there was none. One DeleteItem: of two callers
        popping the same item, only one gets it (single use)."""
        answer = self.client.delete_item(TableName=self.name, Key=self._key(pk, sk), ReturnValues="ALL_OLD")
        old = answer.get("Attributes")
        return self.from_dynamo(old) if old else None

    def put_new(self, item: Mapping[str, Any]) -> bool:
        """Put ``item`` only if no item has its key yet; False when one had (a repeat)."""
        try:
            self.put(item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def update(
        self,
        pk: str,
        sk: str,
        *,
        set_values: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        add: Mapping[str, int | Decimal] | None = None,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        old_on_failure: bool = False,
    ) -> dict[str, Any]:
        """SET, REMOVE and ADD attributes, only if ``condition`` holds (``#name``/``:value`` placeholders as usual).

        ``set_values`` maps attributes to their new values (None removes the attribute), ``remove`` names more
        attributes to remove, ``add`` adds numbers to numeric attributes (an absent one counts from 0): counters
        that concurrent writers move without reading first. Attribute names are always aliased (``#s0``, ``#r0``,
        ``#a0``...), so reserved words need no care; the condition refers to attributes as ``#attr`` where
        ``attr`` is the attribute's own name, or by the placeholders of ``names`` (for names that are no valid
        placeholder, and nested paths ``#a.#b``); ``values`` are given without their colon. Raises
        ``ConditionFailed`` (carrying the item the condition was tested on with ``old_on_failure``, at no extra
        request); answers the item as it is after the update.
        """
        arguments = {
            **self.update_action(
                pk,
                sk,
                set_values=set_values,
                remove=remove,
                add=add,
                condition=condition,
                values=values,
                names=names,
            ),
            "ReturnValues": "ALL_NEW",
        }
        if old_on_failure:
            arguments["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            answer = self.client.update_item(**arguments)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                old = exc.response.get("Item")
                raise ConditionFailed(f"{pk} {sk}: {condition}", item=self.from_dynamo(old) if old else None) from exc
            raise
        return self.from_dynamo(answer.get("Attributes", {}))

    def update_action(
        self,
        pk: str,
        sk: str,
        *,
        set_values: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        add: Mapping[str, int | Decimal] | None = None,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The arguments of one update as ``update`` describes it: for ``update_item`` or a ``transact`` action."""
        aliases: dict[str, str] = dict(names or {})
        expression_values = {f":{k}": _serializer.serialize(v) for k, v in (values or {}).items()}
        sets: list[str] = []
        removes: list[str] = []
        adds: list[str] = []
        for attr, value in (set_values or {}).items():
            if value is None:
                remove = [*remove, attr]
                continue
            alias = f"#s{len(sets)}"
            aliases[alias] = attr
            expression_values[f":s{len(sets)}"] = _serializer.serialize(value)
            sets.append(f"{alias} = :s{len(sets)}")
        for attr in remove:
            alias = f"#r{len(removes)}"
            aliases[alias] = attr
            removes.append(alias)
        for attr, number in (add or {}).items():
            alias = f"#a{len(adds)}"
            aliases[alias] = attr
            expression_values[f":a{len(adds)}"] = _serializer.serialize(number)
            adds.append(f"{alias} :a{len(adds)}")
        aliases = _aliases(condition, aliases)
        clauses = [
            f"SET {', '.join(sets)}" if sets else "",
            f"REMOVE {', '.join(removes)}" if removes else "",
            f"ADD {', '.join(adds)}" if adds else "",
        ]
        expression = " ".join(c for c in clauses if c)
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "Key": self._key(pk, sk),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": aliases,
        }
        if expression_values:
            arguments["ExpressionAttributeValues"] = expression_values
        if condition:
            arguments["ConditionExpression"] = condition
        return arguments

    def query_prefix(self, pk: str, sk_prefix: str, *, consistent: bool = True) -> list[dict[str, Any]]:
        """Every item of ``pk`` whose sort key starts with ``sk_prefix``, in sort-key order, over all pages."""
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
            "ConsistentRead": consistent,
        }
        items: list[dict[str, Any]] = []
        while True:
            answer = self.client.query(**arguments)
            items.extend(self.from_dynamo(item) for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return items
            arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def query_index(self, partition: str, sk_prefix: str | None = None) -> list[dict[str, Any]]:
        """Every item whose ``gsi1pk`` is ``partition`` (and ``gsi1sk`` starts with ``sk_prefix``), over all
        pages: the QuickBooks-to-Books360 index, and the sparse indexes of open jobs and pending work."""
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
        }
        if sk_prefix:
            arguments["KeyConditionExpression"] += " AND begins_with(gsi1sk, :prefix)"
            arguments["ExpressionAttributeValues"][":prefix"] = {"S": sk_prefix}
        items: list[dict[str, Any]] = []
        while True:
            answer = self.client.query(**arguments)
            items.extend(self.from_dynamo(item) for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return items
            arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def query_index_page(
        self, partition: str, *, sk_prefix: str | None = None, after: Mapping[str, str] | None = None, limit: int
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """One page (at most ``limit`` items) of the items whose ``gsi1pk`` is ``partition`` (and ``gsi1sk`` starts
        with ``sk_prefix``), after the key
        ``after`` (a previous page's; None: from the start): the items and the key to continue after (None: the
        end). The key is the index's and the table's attributes as strings, to be kept as it is."""
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "Limit": limit,
        }
        if sk_prefix:
            arguments["KeyConditionExpression"] += " AND begins_with(gsi1sk, :prefix)"
            arguments["ExpressionAttributeValues"][":prefix"] = {"S": sk_prefix}
        if after:
            arguments["ExclusiveStartKey"] = {name: {"S": value} for name, value in after.items()}
        answer = self.client.query(**arguments)
        last = answer.get("LastEvaluatedKey")
        items = [self.from_dynamo(item) for item in answer.get("Items", [])]
        return items, ({name: str(value["S"]) for name, value in last.items()} if last else None)

    def write_together(self, puts: Iterable[Mapping[str, Any]], deletes: Iterable[tuple[str, str]] = ()) -> None:
        """Put and delete items in one transaction, all or none (DynamoDB: at most 100 items and 4 MB)."""
        self.transact([*(self.put_action(item) for item in puts), *(self.delete_action(pk, sk) for pk, sk in deletes)])

    def transact(self, actions: Iterable[Mapping[str, Any]]) -> None:
        """Run ``{"Update": update_action(...)}`` / ``{"Put": ...}`` / ``{"Delete": ...}`` actions all or none.

        Every transaction of the table runs here, so a cancellation is told apart in this one place: a condition of
        ours that failed raises ``TransactionRefused`` naming which actions' conditions failed (in the order
        given); a conflict with another writer or a throttle (two "Update Lists" at once) raises ``StorageBusy``,
        the 503 with ``Retry-After`` the caller may simply retry; anything else (a key DynamoDB refuses) is raised
        as it came, a defect of ours.
        """
        try:
            self.client.transact_write_items(TransactItems=list(actions))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                raise TransactionRefused(reasons) from exc
            if not reasons or BUSY_REASONS.intersection(reasons):
                raise StorageBusy() from exc
            raise

    def put_action(self, item: Mapping[str, Any], *, new: bool = False) -> dict[str, Any]:
        """A ``transact`` action putting ``item``; with ``new``, only if no item has its key yet."""
        action: dict[str, Any] = {"TableName": self.name, "Item": self.to_dynamo(item)}
        if new:
            action["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": action}

    def delete_action(self, pk: str, sk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": self.name, "Key": self._key(pk, sk)}}

    def get_many(self, pk: str, sks: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The items of ``pk`` among ``sks`` that exist, by sort key (BatchGetItem, 100 keys a call)."""
        wanted = list(dict.fromkeys(sks))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {
                self.name: {"Keys": [self._key(pk, sk) for sk in wanted[start : start + 100]], "ConsistentRead": True}
            }
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                for raw in answer.get("Responses", {}).get(self.name, []):
                    item = self.from_dynamo(raw)
                    found[str(item["sk"])] = item
                request = answer.get("UnprocessedKeys") or {}
        return found

    def query_page(
        self,
        pk: str,
        sk_prefix: str,
        *,
        after_sk: str | None = None,
        limit: int | None = None,
        where: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One Query page of ``pk`` under ``sk_prefix``, after ``after_sk``: the matching items and the sort key
        to continue after (None at the end). ``limit`` counts items read, before ``where`` (a FilterExpression,
        ``#attr`` naming the attribute ``attr`` as in ``update``) drops any."""
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                ":prefix": {"S": sk_prefix},
                **{f":{k}": _serializer.serialize(v) for k, v in (values or {}).items()},
            },
        }
        aliases = _aliases(where, names)
        if aliases:
            arguments["ExpressionAttributeNames"] = aliases
        if where:
            arguments["FilterExpression"] = where
        if limit:
            arguments["Limit"] = limit
        if after_sk:
            arguments["ExclusiveStartKey"] = self._key(pk, after_sk)
        answer = self.client.query(**arguments)
        last = answer.get("LastEvaluatedKey")
        return [self.from_dynamo(item) for item in answer.get("Items", [])], (last["sk"]["S"] if last else None)

    def query_budgeted(
        self,
        pk: str,
        sk_prefix: str,
        *,
        want: int,
        after_sk: str | None = None,
        where: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        budget: int = READ_BUDGET,
        max_read: int = MAX_READ,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a filtered listing: up to ``want`` items of ``pk`` under ``sk_prefix`` after ``after_sk``
        (None or "": from the start) that match ``where``, reading at most about ``budget`` items; never a Scan.

        Answers the items, in sort-key order, and the sort key to continue after (the next call's ``after_sk``)::

            Query Limit=want+1 ──▶ ×4 ──▶ ×4 ... (at most max_read a call) until:
              want+1 matched     → the first want items, the last one's sk     more matches exist
              budget items read  → what matched (maybe nothing), the sk the    a short page; the caller
                                   last Query reached (LastEvaluatedKey)       continues from there
              the prefix ends    → what matched, None                          the last page

        One more item than wanted tells whether another page exists, so the last page never carries a position.
        A filter that matches much fills the page in the first read; a rare one reads on, four times more each
        time, until ``budget`` items were read: then the page is answered short, so no request grows with the
        size of the partition (``Limit`` counts items read, before ``where`` drops any).

        With ``want`` 0 and a match ahead, the position is ``after_sk`` itself ("" for the very start).
        """
        if want < 0:
            raise ValueError(f"want must be 0 or more, not {want}")
        read, start = want + 1, after_sk or None
        found: list[dict[str, Any]] = []
        while len(found) <= want and budget > 0:
            items, start = self.query_page(
                pk, sk_prefix, after_sk=start, limit=read, where=where, names=names, values=values
            )
            found.extend(items)
            if start is None:
                break
            budget -= read
            read = min(read * 4, max_read, max(budget, 1))
        if len(found) > want:
            return found[:want], (str(found[want - 1]["sk"]) if want else (after_sk or ""))
        return found, start

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    @staticmethod
    def to_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}

    @staticmethod
    def from_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _aliases(condition: str | None, names: Mapping[str, str] | None) -> dict[str, str]:
    """``names``, and ``#attr`` -> ``attr`` for every other ``#attr`` placeholder of ``condition``."""
    aliases = dict(names or {})
    for placeholder in re.findall(r"#[A-Za-z0-9_]+", condition or ""):
        aliases.setdefault(placeholder, placeholder[1:])
    return aliases

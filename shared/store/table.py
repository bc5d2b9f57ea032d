"""The one DynamoDB table: items keyed ``pk = TENANT#{tenantId}`` and a sort key per kind of record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


GSI1 = "gsi1"


class ConditionFailed(Exception):
    """A conditional write found the item in another state than the condition required."""


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
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """SET and REMOVE attributes, only if ``condition`` holds (``#name``/``:value`` placeholders as usual).

        Attribute names are always aliased (``#a0``...), so reserved words need no care; the condition refers to
        attributes as ``#attr`` where ``attr`` is the attribute's own name. Raises ``ConditionFailed``.
        """
        names: dict[str, str] = {}
        expression_values = {f":{k}": _serializer.serialize(v) for k, v in (values or {}).items()}
        sets: list[str] = []
        removes: list[str] = []
        for attr, value in (set_values or {}).items():
            if value is None:
                remove = [*remove, attr]
                continue
            alias = f"#s{len(sets)}"
            names[alias] = attr
            expression_values[f":s{len(sets)}"] = _serializer.serialize(value)
            sets.append(f"{alias} = :s{len(sets)}")
        for attr in remove:
            alias = f"#r{len(removes)}"
            names[alias] = attr
            removes.append(alias)
        for word in (condition or "").replace("(", " ").replace(")", " ").replace(",", " ").split():
            if word.startswith("#"):
                names[word] = word[1:]
        clauses = [f"SET {', '.join(sets)}" if sets else "", f"REMOVE {', '.join(removes)}" if removes else ""]
        expression = " ".join(c for c in clauses if c)
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "Key": self._key(pk, sk),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ReturnValues": "ALL_NEW",
        }
        if expression_values:
            arguments["ExpressionAttributeValues"] = expression_values
        if condition:
            arguments["ConditionExpression"] = condition
        try:
            answer = self.client.update_item(**arguments)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailed(f"{pk} {sk}: {condition}") from exc
            raise
        return self.from_dynamo(answer.get("Attributes", {}))

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

    def query_index(self, partition: str) -> list[dict[str, Any]]:
        """Every item whose ``gsi1pk`` is ``partition`` (the QuickBooks-to-Books360 index), over all pages."""
        arguments: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
        }
        items: list[dict[str, Any]] = []
        while True:
            answer = self.client.query(**arguments)
            items.extend(self.from_dynamo(item) for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return items
            arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def write_together(self, puts: Iterable[Mapping[str, Any]], deletes: Iterable[tuple[str, str]] = ()) -> None:
        """Put and delete items in one transaction, all or none (DynamoDB: at most 100 items and 4 MB)."""
        actions: list[dict[str, Any]] = [{"Put": {"TableName": self.name, "Item": self.to_dynamo(i)}} for i in puts]
        actions += [{"Delete": {"TableName": self.name, "Key": self._key(pk, sk)}} for pk, sk in deletes]
        self.client.transact_write_items(TransactItems=actions)

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    @staticmethod
    def to_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}

    @staticmethod
    def from_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _deserializer.deserialize(v) for k, v in item.items()}

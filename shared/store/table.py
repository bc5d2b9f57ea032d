"""The one DynamoDB table: items keyed ``pk = TENANT#{tenantId}`` and a sort key per kind of record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

if TYPE_CHECKING:
    from collections.abc import Mapping

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


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

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    @staticmethod
    def to_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}

    @staticmethod
    def from_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _deserializer.deserialize(v) for k, v in item.items()}

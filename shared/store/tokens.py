"""QuickBooks tokens in Secrets Manager: one secret per tenant under the project's prefix, nothing in DynamoDB."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.quickbooks.oauth import TokenSet

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class StoredTokens:
    realm_id: str
    tokens: TokenSet


CACHE_SECONDS = 60.0


class TokenVault:
    """Reads and writes a tenant's token secret (``{prefix}{tenantId}``), keeping what it read for a minute, and
    the secrets of tokens pending a connect's confirm (``{pending_prefix}{ticket digest}``).

    A warm container reuses the tokens it read or wrote for ``CACHE_SECONDS``; the refresh path asks for
    ``fresh`` reads (another container may have rotated them), and a rejected token leads there anyway.
    """

    def __init__(
        self,
        client: Any,
        prefix: str,
        *,
        pending_prefix: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.pending_prefix = pending_prefix
        self.clock = clock
        self._cache: dict[str, tuple[float, StoredTokens | None]] = {}

    def name(self, tenant_id: str) -> str:
        return f"{self.prefix}{tenant_id}"

    def get(self, tenant_id: str, *, fresh: bool = False) -> StoredTokens | None:
        cached = self._cache.get(tenant_id)
        if not fresh and cached is not None and cached[0] > self.clock():
            return cached[1]
        stored = self._read(tenant_id)
        self._cache[tenant_id] = (self.clock() + CACHE_SECONDS, stored)
        return stored

    def _read(self, tenant_id: str) -> StoredTokens | None:
        return self._read_name(self.name(tenant_id))

    def _read_name(self, name: str) -> StoredTokens | None:
        try:
            answer = self.client.get_secret_value(SecretId=name)
        except ClientError as exc:
            if _code(exc) in ("ResourceNotFoundException", "InvalidRequestException"):
                return None  # never stored, or deleted on disconnect
            raise
        document = json.loads(answer["SecretString"])
        return StoredTokens(
            realm_id=document["realmId"],
            tokens=TokenSet(
                access_token=document["accessToken"],
                refresh_token=document["refreshToken"],
                access_expires_at=datetime.fromisoformat(document["accessExpiresAt"]),
                refresh_expires_at=datetime.fromisoformat(document["refreshExpiresAt"]),
            ),
        )

    def pending_name(self, ticket_digest: str) -> str:
        """The secret of tokens held pending for a connect ticket: under its own prefix, beside the tenants' (IAM
        grants the refreshers the tenants' prefix, and the pending tokens must stay out of it)."""
        return f"{self.pending_prefix}{ticket_digest}"

    def put_pending(self, ticket_digest: str, realm_id: str, tokens: TokenSet) -> None:
        """Hold the callback's tokens until the tenant that started the connect confirms (never cached)."""
        self._write(self.pending_name(ticket_digest), _document(realm_id, tokens), "QuickBooks tokens awaiting confirm")

    def get_pending(self, ticket_digest: str) -> StoredTokens | None:
        return self._read_name(self.pending_name(ticket_digest))

    def delete_pending(self, ticket_digest: str) -> None:
        self._delete_name(self.pending_name(ticket_digest))

    def put(self, tenant_id: str, realm_id: str, tokens: TokenSet) -> None:
        self._write(
            self.name(tenant_id), _document(realm_id, tokens), "QuickBooks Online tokens of one Books360 tenant"
        )
        self._cache[tenant_id] = (self.clock() + CACHE_SECONDS, StoredTokens(realm_id, tokens))

    def _write(self, name: str, secret: str, description: str) -> None:
        try:
            self.client.put_secret_value(SecretId=name, SecretString=secret)
        except ClientError as exc:
            if _code(exc) not in ("ResourceNotFoundException", "InvalidRequestException"):
                raise
            self.client.create_secret(Name=name, SecretString=secret, Description=description)

    def delete(self, tenant_id: str) -> None:
        self._cache.pop(tenant_id, None)
        self._delete_name(self.name(tenant_id))

    def _delete_name(self, name: str) -> None:
        try:
            self.client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise


def _document(realm_id: str, tokens: TokenSet) -> str:
    return json.dumps(
        {
            "realmId": realm_id,
            "accessToken": tokens.access_token,
            "refreshToken": tokens.refresh_token,
            "accessExpiresAt": tokens.access_expires_at.isoformat(),
            "refreshExpiresAt": tokens.refresh_expires_at.isoformat(),
        }
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))

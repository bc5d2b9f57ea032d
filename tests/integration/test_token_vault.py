"""TokenVault keeps what it read for a minute, and reads afresh when asked (the refresh path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from shared.quickbooks.oauth import TokenSet
from shared.store.tokens import CACHE_SECONDS, TokenVault


class CountingClient:
    def __init__(self, client) -> None:
        self.client = client
        self.reads = 0

    def get_secret_value(self, **kwargs):
        self.reads += 1
        return self.client.get_secret_value(**kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def tokens(access: str) -> TokenSet:
    now = datetime.now(UTC)
    return TokenSet(access, f"RT-{access}", now + timedelta(hours=1), now + timedelta(days=100))


def test_vault_serves_recent_reads_from_memory_and_fresh_reads_from_secrets_manager(aws):
    # GIVEN tokens another container stored
    boto3.client("secretsmanager").create_secret(Name="p/t1", SecretString="{}")
    TokenVault(boto3.client("secretsmanager"), "p/", pending_prefix="pp/").put("t1", "9341", tokens("a1"))
    clock = [0.0]
    client = CountingClient(boto3.client("secretsmanager"))
    vault = TokenVault(client, "p/", pending_prefix="pp/", clock=lambda: clock[0])

    # WHEN this container reads twice, then another container rotates them, then it reads fresh and late
    first, second = vault.get("t1"), vault.get("t1")
    TokenVault(boto3.client("secretsmanager"), "p/", pending_prefix="pp/").put("t1", "9341", tokens("a2"))
    cached = vault.get("t1")
    fresh = vault.get("t1", fresh=True)
    clock[0] += CACHE_SECONDS + 1
    late = vault.get("t1")

    # THEN memory answered the repeats, and fresh or late reads saw the rotation
    assert (first.tokens.access_token, second.tokens.access_token, cached.tokens.access_token) == ("a1", "a1", "a1")
    assert (fresh.tokens.access_token, late.tokens.access_token) == ("a2", "a2")
    assert client.reads == 3


def test_vault_forgets_deleted_tokens_at_once(aws):
    vault = TokenVault(boto3.client("secretsmanager"), "p/", pending_prefix="pp/")
    vault.put("t1", "9341", tokens("a1"))

    vault.delete("t1")

    assert vault.get("t1") is None

"""Builds settings, AWS clients and stores once per warm container; tests build their own instead."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3

from shared.settings import Settings
from shared.store.connection import ConnectionStore
from shared.store.table import Table


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=1)
def dynamodb_client() -> Any:
    return boto3.client("dynamodb")


@lru_cache(maxsize=1)
def table() -> Table:
    return Table(settings().table_name, dynamodb_client())


@lru_cache(maxsize=1)
def connection_store() -> ConnectionStore:
    return ConnectionStore(table())


def reset() -> None:
    """Forget everything built (tests that change the environment call this)."""
    for built in (settings, dynamodb_client, table, connection_store):
        built.cache_clear()

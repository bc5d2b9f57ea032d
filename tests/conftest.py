"""Fixtures every test folder may use."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shared import wiring
from tests.support.events import LambdaContext
from tests.support.template import table_definition

ROOT = Path(__file__).resolve().parents[1]
TABLE_NAME = "books360-test"


STACK_FOLDERS = ("e2e", "browser")
"""Tests that start the local stack (once a session each): all on one xdist worker, so each starts once."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With pytest-xdist (``make test``: ``-n``, ``--dist loadgroup``) a test file runs whole on one worker (its
    module and session fixtures built once, its tests in their order), and the local-stack tests together."""
    for item in items:
        group = "local-stack" if item.path.parent.name in STACK_FOLDERS else str(item.path)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto in-process, with the table built from template.yaml, and the function environment set.

    With the local stack's DynamoDB (``local.moto_server.dynamodb_patches``), as tests race threads:
    moto applies a transaction item by item and rolls back by restoring a snapshot of the whole table (wiping out
    what another thread wrote meanwhile), and a read walking the table raises when another thread adds a key;
    DynamoDB does neither. The races under test (ours) are unchanged.
    """
    from local.moto_server import dynamodb_patches

    for owner, name, replacement in dynamodb_patches():
        monkeypatch.setattr(owner, name, replacement)
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "TABLE_NAME": TABLE_NAME,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Test",
        "POWERTOOLS_SERVICE_NAME": "test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName=TABLE_NAME, **table_definition())
        wiring.reset()
        yield client
        wiring.reset()


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` as Lambda would: its folder first on the path."""
    folder = ROOT / "functions" / name
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"functions_{name}_app", folder / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # pydantic resolves postponed annotations through sys.modules
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(folder))

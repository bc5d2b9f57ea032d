"""Reads template.yaml for tests, so test resources are built from the deployed definition."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from local.cfn import load_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@lru_cache(maxsize=1)
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return load_yaml(path)


def table_definition() -> dict[str, Any]:
    """``create_table`` arguments from the template's ``Table`` resource."""
    props = load_template()["Resources"]["Table"]["Properties"]
    return {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"],
        "BillingMode": props["BillingMode"],
    }

"""Prints the OpenAPI document of the UI's API (functions/api) as committed in openapi.json."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def openapi_document() -> dict[str, object]:
    """Build the document from the routes themselves, so it cannot drift from the code."""
    os.environ.setdefault("TABLE_NAME", "unused")
    folder = ROOT / "functions" / "api"
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("functions_api_openapi", folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schema = module.app.get_openapi_json_schema(
        title="Books360 QuickBooks sync API",
        version="1.0.0",
        description="The routes the Books360 UI calls (api-contract.md). Errors are application/problem+json.",
    )
    document: dict[str, object] = json.loads(schema)
    return document


if __name__ == "__main__":
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))

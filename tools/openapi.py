"""Prints the OpenAPI document of every HTTP function (api, bulk_sync, ...) merged, as committed in openapi.json."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

ROOT = Path(__file__).resolve().parents[1]
TITLE = "Books360 QuickBooks sync API"
DESCRIPTION = "The routes the Books360 UI and Intuit call (api-contract.md). Errors are application/problem+json."


def _resolver(function: str) -> APIGatewayHttpResolver | None:
    folder = ROOT / "functions" / function
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"functions_{function}_openapi", folder / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    app = getattr(module, "app", None)
    return app if isinstance(app, APIGatewayHttpResolver) else None


def openapi_document() -> dict[str, Any]:
    """Built from the routes themselves, function by function, so it cannot drift from the code."""
    os.environ.setdefault("TABLE_NAME", "unused")
    document: dict[str, Any] = {}
    for folder in sorted(p for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()):
        app = _resolver(folder.name)
        if app is None:
            continue
        part = json.loads(app.get_openapi_json_schema(title=TITLE, version="1.0.0", description=DESCRIPTION))
        if not document:
            document = part
            continue
        document.setdefault("paths", {}).update(part.get("paths", {}))
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(part.get("components", {}).get("schemas", {}))
    return document


if __name__ == "__main__":
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))

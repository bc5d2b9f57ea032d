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


# What Powertools cannot see, added to every operation from api-contract.md's Conventions (so a client, and the
# schemathesis fuzz in tests/e2e/test_fuzz_openapi.py, knows every answer): every error is an RFC 9457 problem.
PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem; a conflict may add the id it names (qbCustomerId, qbVendorId)",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
# The problems any route of the UI's API may answer (Conventions).
PROBLEMS = {
    400: "Unreadable body (not JSON, not UTF-8, nested too deep), or an altered or foreign cursor",
    401: "No token, or a bad or expired one (the JWT authorizer)",
    404: "Unknown object (another tenant's too)",
    409: "State conflict: already linked, not connected, reauthorization required",
    422: "Invalid input; errors names each field or query parameter",
    502: "QuickBooks refused or failed the request; detail carries its message and code",
    503: "QuickBooks or storage busy; retry after Retry-After",
}
# Public routes (template.yaml: Auth Authorizer NONE): they document their own problems.
PUBLIC_PATHS = frozenset({"/quickbooks/oauth/callback", "/quickbooks/webhooks"})
# A route returning ``Response[None]`` answers without a body; Powertools documents it as a 200 with a null.
REDIRECT_PATHS = frozenset({"/quickbooks/oauth/callback"})


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _document_answers(document: dict[str, Any]) -> None:
    """Every error as a problem, the contract's problems on every guarded route, 204 and 302 where they are."""
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses: dict[str, Any] = operation["responses"]
            for code, response in list(responses.items()):
                if int(code) >= 400:
                    responses[code] = _problem(response.get("description") or PROBLEMS.get(int(code), "Problem"))
            if path not in PUBLIC_PATHS:
                for status, description in PROBLEMS.items():
                    responses[str(status)] = _problem(description)
            empty = responses.get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if empty.get("type") == "null" or path in REDIRECT_PATHS:
                del responses["200"]
                if path in REDIRECT_PATHS:
                    responses["302"] = {
                        "description": "To the UI: result=confirm|connected|error (api-contract.md, Connection)",
                        "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
                    }
                else:
                    responses["204"] = {"description": "Done; no body"}


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
    _document_answers(document)
    return document


if __name__ == "__main__":
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))

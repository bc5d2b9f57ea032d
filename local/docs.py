"""``/_local/docs``: the API's ``openapi.json`` in Swagger UI, served from the ``swagger-ui-bundle-v2`` package.

No CDN: the page and its assets come from the package's files (a dev dependency; the local stack is dev-only).
``/_local/openapi.json`` is the committed document with two local additions Swagger UI needs to be usable: the
front as its server (so "Try it out" calls this stack) and a bearer scheme on every route the template's JWT
authorizer guards (so the Authorize box sends the token the banner prints).
"""

from __future__ import annotations

import copy
import json
import mimetypes
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from local.config import ROOT
from local.httpapi import Router

if TYPE_CHECKING:
    from starlette.requests import Request

    from local.template import StackPlan

OPENAPI_PATH = ROOT / "openapi.json"
BEARER = "bearerAuth"
# Only the files the page loads; the rest of the bundle (source maps, ES builds, its own index) is not served.
ASSETS = {
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-16x16.png",
    "favicon-32x32.png",
    "oauth2-redirect.html",
    "oauth2-redirect.js",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Books360 QuickBooks sync API (local)</title>
  <link rel="stylesheet" href="/_local/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/_local/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/_local/docs/swagger-ui-bundle.js"></script>
  <script src="/_local/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/_local/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      plugins: [SwaggerUIBundle.plugins.DownloadUrl],
      layout: "StandaloneLayout",
    });
  </script>
</body>
</html>
"""


def swagger_ui_dir() -> Path:
    """The Swagger UI dist folder shipped inside the ``swagger-ui-bundle-v2`` wheel."""
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


@lru_cache(maxsize=1)
def _committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    return document


def local_openapi(plan: StackPlan, api_url: str) -> dict[str, Any]:
    """The committed document, served by this front, with the JWT authorizer as a bearer scheme where it applies."""
    document = copy.deepcopy(_committed())
    document["servers"] = [{"url": api_url, "description": "the local stack's front"}]
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "HS256 JWT signed with LOCAL_JWT_SECRET (`make up` prints one for tenant demo)",
    }
    router = Router(plan.routes)
    for path, operations in document.get("paths", {}).items():
        # The template routes by proxy (`ANY /quickbooks/{proxy+}`): ask the front's own router, with a sample value
        # in each of the document's path variables, whether the authorizer guards this operation.
        sample = re.sub(r"\{[^}]+\}", "x", path)
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            match = router.match(method.upper(), sample)
            if match is not None and match.route.authorized:
                operation["security"] = [{BEARER: []}]
    return document


async def docs_page(request: Request) -> Response:
    return HTMLResponse(PAGE)


async def docs_redirect(request: Request) -> Response:
    return RedirectResponse("/_local/docs/", status_code=307)


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return JSONResponse({"message": "Not Found"}, status_code=404)
    path = swagger_ui_dir() / name
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


async def openapi(request: Request) -> Response:
    front = request.app.state.front
    return JSONResponse(local_openapi(front.plan, front.config.api_url))


def routes() -> list[Route]:
    """The front's routes for the docs (added before its catch-all API route)."""
    return [
        Route("/_local/openapi.json", openapi, methods=["GET"]),
        Route("/_local/docs", docs_redirect, methods=["GET"]),
        Route("/_local/docs/", docs_page, methods=["GET"]),
        Route("/_local/docs/{name}", docs_asset, methods=["GET"]),
    ]

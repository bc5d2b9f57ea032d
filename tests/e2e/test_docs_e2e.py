"""``/_local/docs``: Swagger UI from the package, no CDN, on the local front, with the token box working."""

from __future__ import annotations

import re

import httpx
import pytest
from openapi_spec_validator import validate

from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def test_docs_page_and_every_asset_it_loads_are_served_locally(local_stack: LocalStack) -> None:
    # WHEN a person opens /_local/docs
    page = httpx.get(f"{local_stack.api_url}/_local/docs", follow_redirects=True, timeout=10)

    # THEN it is Swagger UI on the spec of this front, and everything it loads comes from this front (no CDN)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text and '"/_local/openapi.json"' in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/_local/docs/") for a in assets), assets
    for asset in assets:
        answer = httpx.get(f"{local_stack.api_url}{asset}", timeout=10)
        assert answer.status_code == 200 and len(answer.content) > 100, asset
    assert (
        httpx.get(f"{local_stack.api_url}/_local/docs/swagger-ui.css", timeout=10)
        .headers["content-type"]
        .startswith("text/css")
    )
    assert httpx.get(f"{local_stack.api_url}/_local/docs/package.json", timeout=10).status_code == 404


def test_local_openapi_is_valid_and_targets_this_front_with_the_jwt_as_bearer(local_stack: LocalStack) -> None:
    # WHEN Swagger UI reads the spec
    spec = httpx.get(f"{local_stack.api_url}/_local/openapi.json", timeout=10).json()

    # THEN it is a valid OpenAPI 3.1 document whose server is this front
    validate(spec)
    assert spec["servers"][0]["url"] == local_stack.api_url
    # AND the routes the JWT authorizer guards ask for the bearer token; the public ones (Intuit's) do not
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["paths"]["/quickbooks/connection"]["get"]["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/quickbooks/invoices/{invoiceId}/sync"]["post"]["security"] == [{"bearerAuth": []}]
    assert "security" not in spec["paths"]["/quickbooks/webhooks"]["post"]
    assert "security" not in spec["paths"]["/quickbooks/oauth/callback"]["get"]

    # AND a call made as "Try it out" makes it, with the token given in the Authorize box, is answered
    server = spec["servers"][0]["url"]
    answer = httpx.get(
        f"{server}/quickbooks/connection", headers={"Authorization": f"Bearer {local_stack.token()}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text

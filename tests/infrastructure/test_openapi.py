"""The committed openapi.json is what the routes produce (run `make openapi` after changing a route)."""

from __future__ import annotations

import json

from tools.openapi import ROOT, openapi_document


def test_committed_openapi_matches_the_routes():
    committed = json.loads((ROOT / "openapi.json").read_text())

    assert committed == openapi_document(), "openapi.json is stale: run `make openapi` and commit it"


def test_openapi_lists_the_routes_of_every_http_function():
    paths = openapi_document()["paths"]

    assert "/quickbooks/connection" in paths  # functions/api
    assert "/quickbooks/customers/bulk-sync" in paths  # functions/bulk_sync
    assert "/quickbooks/oauth/callback" in paths  # functions/oauth_callback
    assert "/quickbooks/lists/refresh" in paths  # functions/list_refresh

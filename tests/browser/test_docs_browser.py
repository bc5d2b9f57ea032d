"""Swagger UI at ``/_local/docs`` in Chromium: the spec renders, the Authorize box takes the token, Try it out works."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_docs_authorize_then_try_it_out_answers_200_with_the_connection(page, browser_stack, screenshot) -> None:
    # GIVEN a person opens the API docs the banner points to
    page.goto("/_local/docs")
    expect(page.get_by_role("heading", name=re.compile("Books360 QuickBooks sync API"))).to_be_visible()
    operation = page.locator("#operations-default-get_quickbooks_connection_get, [id*='quickbooks_connection_get']")
    expect(operation.first).to_be_visible()
    screenshot("docs")

    # WHEN they paste the banner's token into the Authorize box
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")  # Swagger UI's modal has no dialog role
    expect(dialog.get_by_role("heading", name="Available authorizations")).to_be_visible()
    dialog.get_by_role("textbox").fill(browser_stack.token("demo"))
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    screenshot("authorized")
    dialog.get_by_role("button", name="Close").click()

    # AND try GET /quickbooks/connection
    operation.first.locator(".opblock-summary").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()

    # THEN the answer shown is this stack's 200 for the demo tenant, sent with the token to this front
    responses = page.locator(".responses-wrapper .live-responses-table")
    expect(responses.locator("tbody .response-col_status").first).to_have_text(re.compile("200"))
    expect(page.locator(".request-url").first).to_contain_text(f"{browser_stack.api_url}/quickbooks/connection")
    expect(page.locator(".curl-command").first).to_contain_text("Authorization: Bearer ")
    screenshot("try-it-out")

"""The console by keyboard (issue 11): a dialog opened from a row closes with Escape and gives focus back, and a
list that reloads under a focused row control keeps the focus on that row (not lost to the top of the page)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

FOCUSED = """() => {
  const e = document.activeElement;
  const row = e.closest("tr");
  return { name: e.getAttribute("aria-label") || e.textContent.trim(), row: row ? row.dataset.id : null,
           old: Boolean(e.dataset.old) };
}"""


def test_row_dialog_escape_returns_focus_and_a_reload_keeps_it_on_the_row(page: Page) -> None:
    page.goto("/_local/ui/#customers")
    customers = page.get_by_role("tabpanel", name="Customers")
    acme = customers.get_by_role("row", name=re.compile("Acme Corp"))
    view_info = acme.get_by_role("button", name="View Info")

    # WHEN a keyboard user opens View Info with Enter and closes it with Escape
    view_info.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="View Info")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Escape")

    # THEN the dialog is gone and the focus is back on the button that opened it
    expect(dialog).to_have_count(0)
    expect(view_info).to_be_focused()

    # WHEN the list reloads under that focus (as after a Sync, Unsync or Delete)
    page.evaluate("() => { document.activeElement.dataset.old = 'yes'; }")
    page.evaluate("() => document.querySelector('#panel-customers form.filters').requestSubmit()")

    # THEN the focus is on the same control of the same row of the new rows
    page.wait_for_function("() => !document.activeElement.dataset.old && document.activeElement !== document.body")
    focused = page.evaluate(FOCUSED)
    assert focused == {"name": "View Info", "row": acme.get_attribute("data-id"), "old": False}, focused


def test_sync_with_qb_opens_on_its_search_box(page: Page) -> None:
    page.goto("/_local/ui/#customers")
    customers = page.get_by_role("tabpanel", name="Customers")
    sync = customers.get_by_role("button", name="Sync with QB").first

    # WHEN a keyboard user opens "Sync with QB" on a client with Enter
    sync.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Sync with QB")
    expect(dialog).to_be_visible()

    # THEN they can type at once: the focus is on the dialog's Search box (not on Cancel); Escape gives it back
    expect(dialog.get_by_role("searchbox", name="Search")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(sync).to_be_focused()

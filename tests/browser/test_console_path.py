"""A person's path through the local console (``/_local/ui/``) in Chromium, with the guide's own words.

Open the console, enable the integration (Active Enabled + Save), approve on the emulator's consent page, see the
success message, Update Lists, save Additional Settings with a payment-method mapping (a 422 shown next to its field
first), sync a customer by creating it, bulk-sync three invoices and watch the progress bar reach done, View QB Info,
a QuickBooks user deletes an invoice (the emulator sends Intuit's webhook to the stack) and the console marks it,
then Delete unlinks it. A screenshot of each screen goes to ``.local/screenshots/<test>/``.

One test, in order: each step needs the one before (the connection, the customer, the synced invoices).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlparse

import httpx
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect

DEMO = "demo"
JOB_TIMEOUT_MS = 60_000
VIEWPORT_WIDTH = 1280  # conftest's VIEWPORT


def books360_publishes_a_client_with_three_invoices(stack) -> tuple[str, list[str]]:
    """Books360 publishes (as its EventBridge events) a new client of the demo tenant with three unpaid invoices."""
    suffix = uuid.uuid4().hex[:6]
    client_id, name = f"cl-browser-{suffix}", f"Browser Path Client {suffix}"
    client = {"clientId": client_id, "name": name, "email": f"billing@browser-{suffix}.example", "companyName": name}
    invoices = [
        {
            "invoiceId": f"inv-browser-{suffix}-{n}",
            "clientId": client_id,
            "number": f"BR-{suffix}-{n}",
            "createdAt": "2026-10-28T09:00:00Z",
            "dateFrom": "2026-10-01",
            "dateTo": "2026-10-28",
            "dueDate": "2026-12-15",
            "currency": "USD",
            "customFields": {},
            "transactions": [
                {
                    "id": f"inv-browser-{suffix}-{n}-t1",
                    "date": "2026-10-05",
                    "description": "Ad spend",
                    "amount": "120.00",
                }
            ],
            "payments": [],
        }
        for n in (1, 2, 3)
    ]
    entries = [("ClientUpserted", client)] + [("InvoiceUpserted", invoice) for invoice in invoices]
    stack.put_events(
        *(
            {
                "Source": "books360.accounting",
                "DetailType": kind,
                "Detail": json.dumps({"tenantId": DEMO, "version": 1, **detail}),
            }
            for kind, detail in entries
        )
    )
    return name, [invoice["number"] for invoice in invoices]


def quickbooks_user_deletes_invoice(stack, realm_id: str, qb_invoice_id: str) -> None:
    """The company's own user deletes the invoice in QuickBooks; the emulator delivers Intuit's webhook now."""

    def emulator(method: str, path: str, **kwargs) -> dict:
        answer = httpx.request(method, f"{stack.emulator_url}{path}", timeout=30.0, **kwargs)
        assert answer.status_code == 200, answer.text
        return answer.json()

    token = emulator("POST", "/_admin/tokens", json={"realmId": realm_id})["access_token"]
    user = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    current = emulator(
        "GET", f"/v3/company/{realm_id}/invoice/{qb_invoice_id}", params={"minorversion": 75}, headers=user
    )
    emulator(
        "POST",
        f"/v3/company/{realm_id}/invoice",
        params={"operation": "delete", "minorversion": 75},
        json={"Id": qb_invoice_id, "SyncToken": current["Invoice"]["SyncToken"]},
        headers=user,
    )
    emulator("POST", "/_admin/webhooks/flush")


def status_message(where: Page | Locator, text: str | re.Pattern[str]) -> Locator:
    """A message of role=status saying ``text`` (successes and progress are said so)."""
    return where.get_by_role("status").filter(has_text=text)


def watch_progress_bars(page: Page) -> None:
    """Record every [value, max] a <progress> bar shows from now on (``window.progressSeen``), as a person watches."""
    page.evaluate(
        """() => {
          window.progressSeen = [];
          const note = (bar) => {
            const last = window.progressSeen[window.progressSeen.length - 1];
            const now = [Number(bar.value), Number(bar.max)];
            if (!last || last[0] !== now[0] || last[1] !== now[1]) window.progressSeen.push(now);
          };
          new MutationObserver((changes) => {
            for (const change of changes) {
              const nodes = change.type === "attributes" ? [change.target] : [...change.addedNodes];
              for (const node of nodes) {
                if (node.nodeType !== 1) continue;
                if (node.matches("progress")) note(node);
                node.querySelectorAll("progress").forEach(note);
              }
            }
          }).observe(document.body, {
            subtree: true, childList: true, attributes: true, attributeFilter: ["value", "max"],
          });
        }"""
    )


class FirstPageHeldBack:
    """Hold the tab's own first load (its list without a ``client`` filter) until released: a person who types a
    filter and clicks Search at once, on a slow network, gets the filtered answer before the tab's first page.

    The console must show the answer to the last request (the filtered one) whichever arrives last; before the fix
    it showed the last answer, so the unfiltered page replaced the filtered one. ``release()`` lets the held
    answers through (the console may have cancelled them: then there is nothing to let through)."""

    def __init__(self, page: Page, route: str) -> None:
        self.page, self.pattern, self.held = page, re.compile(rf"/quickbooks/{route}\?"), []
        page.route(self.pattern, self._route)

    def _route(self, route) -> None:
        if "client" in parse_qs(urlparse(route.request.url).query):
            route.continue_()
        else:
            self.held.append(route)

    def wait_held(self) -> None:
        deadline = time.monotonic() + 10
        while not self.held and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        assert self.held, "the tab did not load its first page"

    def release(self) -> None:
        self.page.unroute(self.pattern, self._route)
        for route in self.held:
            try:
                route.continue_()
            except PlaywrightError:  # the console aborted it (a newer request replaced it)
                pass
        # Time for a late answer to land and be (wrongly) shown.
        self.page.wait_for_timeout(700)


def only_rows(table: Locator, *names: str) -> None:
    """The table shows exactly these data rows (one per name), nothing of the unfiltered page."""
    expect(table.locator("tbody tr")).to_have_count(len(names))
    for name in names:
        expect(table.get_by_role("row", name=re.compile(re.escape(name)))).to_be_visible()


def test_console_path_connect_lists_settings_customer_bulk_invoices_deleted_in_qb_unlink(
    page: Page, browser_stack, screenshot
) -> None:
    stack = browser_stack
    client_name, invoice_numbers = books360_publishes_a_client_with_three_invoices(stack)

    # GIVEN a person opens the console at the address the banner prints first
    page.goto("/_local/ui/")
    expect(page.get_by_role("tab", name="Integration")).to_have_attribute("aria-selected", "true")
    quickbooks_row = page.get_by_role("row", name=re.compile("QuickBooks"))
    expect(quickbooks_row).to_contain_text("Not connected")
    screenshot("integration")

    # WHEN they click Configure, select Active "Enabled" and Save
    quickbooks_row.get_by_role("button", name="Configure").click()
    setup = page.get_by_role("region", name="QuickBooks connection")
    setup.get_by_label("Active").select_option(label="Enabled")
    setup.get_by_role("button", name="Save").click()

    # THEN they are on QuickBooks' consent page, where they pick the demo company and Connect
    expect(page.get_by_role("heading", name="Connect Books360 to QuickBooks")).to_be_visible()
    page.get_by_label("Company").select_option(value=stack.demo_realm_id)
    screenshot("consent")
    page.get_by_role("button", name="Connect").click()

    # AND back in the console, the success message, and the row says connected to the demo company
    expect(status_message(page, "QuickBooks is connected.")).to_be_visible()
    expect(quickbooks_row).to_contain_text("Connected")
    expect(quickbooks_row).to_contain_text(stack.demo_realm_id)
    screenshot("connected")

    # WHEN they click Update Lists and answer Yes
    page.get_by_role("button", name="Update Lists").click()
    page.get_by_role("dialog", name="Update Lists").get_by_role("button", name="Yes").click()

    # THEN the lists are loaded: bank accounts (linkable ones marked) and payment methods
    expect(
        status_message(page, re.compile(r"Lists updated: \d+ bank accounts and \d+ payment methods"))
    ).to_be_visible()
    bank_accounts = page.get_by_role("table", name="Bank Accounts")
    expect(bank_accounts.get_by_role("row").filter(has_text="Yes").first).to_be_visible()
    expect(
        page.get_by_role("table", name="Payment Methods").get_by_role("row", name=re.compile("Visa"))
    ).to_be_visible()
    screenshot("lists")

    # WHEN they open Additional Settings, add a mapping whose bank account cannot take payments, and Save
    page.get_by_role("button", name="Additional Settings").click()
    settings = page.get_by_role("dialog", name="Additional Settings")
    expect(settings).to_be_visible()
    settings.get_by_role("button", name="Add mapping").click()
    settings.get_by_label("Payment System, row 1").fill("stripe")
    not_linkable = settings.get_by_label("Bank Account, row 1").locator("option", has_text="not linkable").first
    settings.get_by_label("Bank Account, row 1").select_option(value=not_linkable.get_attribute("value"))
    settings.get_by_label("Payment Method, row 1").select_option(label="Visa")
    settings.get_by_role("button", name="Save", exact=True).click()

    # THEN the API's 422 is shown, and its message sits next to the bank account field it names
    expect(settings.get_by_role("alert")).to_be_visible()
    bank = settings.get_by_label("Bank Account, row 1")
    expect(bank).to_have_attribute("aria-invalid", "true")
    note = bank.locator("xpath=following-sibling::*[@data-testid='field-error']")
    expect(note).to_have_attribute("data-for", "paymentMethodMappings[0].bankAccountId")
    expect(note).to_contain_text("only Bank and Other Current Asset accounts can take payments")
    screenshot("settings-422")

    # WHEN they pick a linkable account instead and Save
    options = bank.locator("option").evaluate_all("(all) => all.map((o) => [o.value, o.textContent])")
    linkable = next(value for value, text in options if value and "not linkable" not in text)
    bank.select_option(value=linkable)
    settings.get_by_role("button", name="Save", exact=True).click()

    # THEN the settings are saved
    expect(settings).to_be_hidden()
    expect(status_message(page, "Additional settings saved.")).to_be_visible()
    stored = httpx.get(
        f"{stack.api_url}/quickbooks/settings", headers={"Authorization": f"Bearer {stack.token(DEMO)}"}, timeout=30
    ).json()
    assert [(m["paymentSystem"], m["bankAccountId"]) for m in stored["paymentMethodMappings"]] == [("stripe", linkable)]
    screenshot("settings-saved")

    # WHEN, on Customers, they find the new client and Sync with QB by creating the QuickBooks customer
    # (without waiting for the tab's first page, which arrives after the filtered one: see FirstPageHeldBack)
    held = FirstPageHeldBack(page, "customers")
    page.get_by_role("tab", name="Customers").click()
    customers = page.get_by_role("tabpanel", name="Customers")
    held.wait_held()
    customers.get_by_label("Client").fill(client_name)
    customers.get_by_role("button", name="Search").click()
    client_row = customers.get_by_role("row", name=re.compile(client_name))
    expect(client_row).to_be_visible()
    held.release()
    only_rows(customers.get_by_role("table"), client_name)
    client_row.get_by_role("button", name="Sync with QB").click()
    sync_dialog = page.get_by_role("dialog", name="Sync with QB")
    screenshot("customer-sync")
    sync_dialog.get_by_role("button", name="Create QB Customer").click()

    # THEN the customer was created and synced, and its row shows the QuickBooks CustomerID
    expect(status_message(customers, re.compile(f"was created and synced with {client_name}"))).to_be_visible()
    expect(client_row.get_by_role("button", name="Unsync")).to_be_visible()
    expect(client_row.get_by_role("cell").nth(2)).to_have_text(re.compile(r"\d+"))
    screenshot("customer-synced")

    # WHEN, on Invoices, they Bulk Change the client's three invoices and confirm
    held = FirstPageHeldBack(page, "invoices")
    page.get_by_role("tab", name="Invoices").click()
    invoices = page.get_by_role("tabpanel", name="Invoices")
    held.wait_held()
    invoices.get_by_label("Client").fill(client_name)
    invoices.get_by_role("button", name="Search").click()
    for number in invoice_numbers:
        expect(invoices.get_by_role("row", name=re.compile(number))).to_be_visible()
    held.release()
    only_rows(invoices.get_by_role("table", name="Invoices"), *invoice_numbers)
    invoices.get_by_role("button", name="Bulk Change").click()
    for number in invoice_numbers:
        invoices.get_by_role("checkbox", name=f"Select {number} ({client_name})").check()
    expect(invoices.get_by_text("3 selected (limit 30)")).to_be_visible()
    invoices.get_by_role("button", name="Sync invoice").click()
    watch_progress_bars(page)
    page.get_by_role("dialog", name="Sync invoice").get_by_role("button", name="Confirm").click()

    # THEN the progress bar fills until the job is done: all three synced
    progress = invoices.get_by_role("progressbar", name="Bulk change progress")
    expect(progress).to_be_visible()
    # (the button that started it is hidden now: the focus is on the progress, not lost to the top of the page)
    expect(invoices.get_by_test_id("bulk-progress")).to_be_focused()
    screenshot("bulk-progress")
    expect(
        invoices.get_by_text(re.compile(r"Finished \(succeeded\): 3 succeeded, 0 failed, 0 skipped of 3"))
    ).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(progress).to_have_attribute("value", "3")
    expect(progress).to_have_attribute("max", "3")
    # (readable at 1280×800: the ten columns fit, nothing scrolls sideways)
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT_WIDTH
    seen = page.evaluate("window.progressSeen")
    assert seen and seen[-1] == [3, 3], seen
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:], strict=False)), f"the bar went backwards: {seen}"
    screenshot("bulk-done")

    # WHEN they open View QB Info on the first invoice
    first = invoices.get_by_role("row", name=re.compile(invoice_numbers[0]))
    first.get_by_role("button", name="View QB Info").click()
    info = page.get_by_role("dialog", name="View QB Info")

    # THEN QuickBooks' invoice is shown, with its QuickBooks InvoiceID
    qb_invoices = info.get_by_role("table", name="QuickBooks invoices")
    expect(qb_invoices.get_by_role("row").nth(1)).to_contain_text(invoice_numbers[0])
    qb_invoice_id = qb_invoices.get_by_role("row").nth(1).get_by_role("cell").first.inner_text().strip()
    assert qb_invoice_id.isdigit(), qb_invoice_id
    screenshot("view-qb-info")
    info.get_by_role("button", name="Close").click()

    # WHEN the QuickBooks company's user deletes that invoice in QuickBooks (Intuit's webhook reaches the stack)
    quickbooks_user_deletes_invoice(stack, stack.demo_realm_id, qb_invoice_id)

    # THEN, searching again (the console does not push), the row is marked deleted in QuickBooks
    marked = first.get_by_text("Deleted in QuickBooks", exact=True)
    deadline = time.monotonic() + 15
    while True:
        invoices.get_by_role("button", name="Search").click()
        page.wait_for_load_state("networkidle")
        if marked.count() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(marked).to_be_visible()
    expect(first).to_contain_text(f"QuickBooks invoice {qb_invoice_id} was deleted in QuickBooks.")
    # AND View QB Info says so and offers Delete
    first.get_by_role("button", name="View QB Info").click()
    info = page.get_by_role("dialog", name="View QB Info")
    expect(info.get_by_role("alert")).to_contain_text("This invoice was deleted in QuickBooks")
    screenshot("deleted-in-qb")

    # WHEN they click Delete
    info.get_by_role("button", name="Delete", exact=True).click()

    # THEN the invoice is unlinked: unsynced again, and can be synced again
    expect(status_message(invoices, f"Invoice {invoice_numbers[0]} is unlinked from QuickBooks")).to_be_visible()
    expect(first.get_by_text("Deleted in QuickBooks", exact=True)).to_have_count(0)
    expect(first.get_by_role("button", name="Sync with QB")).to_be_visible()
    expect(first.get_by_role("button", name="View QB Info")).to_have_count(0)
    screenshot("unlinked")

"""The console never leaves a blank screen (issue 11): every failure shows as a problem's title and detail.

A 500 problem, an answer that is not a problem document, no answer at all (the stack is gone), a bug in the console
(an uncaught exception), a module that cannot be loaded before the screens are shown; and the tenant switcher shows
that another tenant sees none of the demo tenant's data, nor the progress of a bulk job it started before
switching. Failures are made in the browser (``page.route``); the demo tenant's data is left as it is.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid

from playwright.sync_api import Page, Route, expect

from tests.e2e.oauth import connect


def opened(page: Page, tab: str) -> None:
    page.goto(f"/_local/ui/#{tab}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def test_list_failures_show_the_problem_title_and_detail(page: Page, screenshot) -> None:
    # GIVEN the console on Customers, its first page shown
    opened(page, "customers")
    customers = page.get_by_role("tabpanel", name="Customers")
    expect(customers.locator("tbody tr").first).to_be_visible()
    search = customers.get_by_role("button", name="Search")

    # WHEN the API answers a search with a 500 problem
    problem = {"type": "about:blank", "title": "Internal Server Error", "status": 500, "detail": "Dynamo is down."}

    def answer_500(route: Route) -> None:
        route.fulfill(status=500, content_type="application/problem+json", body=json.dumps(problem))

    page.route(re.compile(r"/quickbooks/customers\?"), answer_500)
    search.click()
    # THEN its title and detail are shown as an alert
    expect(customers.get_by_role("alert")).to_have_text("Internal Server Error Dynamo is down.")
    page.unroute(re.compile(r"/quickbooks/customers\?"))

    # WHEN a gateway answers with an HTML page (not a problem document)
    def answer_502(route: Route) -> None:
        route.fulfill(status=502, content_type="text/html", body="<html><body><h1>Bad Gateway</h1></body></html>")

    page.route(re.compile(r"/quickbooks/customers\?"), answer_502)
    search.click()
    # THEN the status is the title and the page's text the detail
    expect(customers.get_by_role("alert")).to_have_text("HTTP 502 Bad Gateway")
    page.unroute(re.compile(r"/quickbooks/customers\?"))

    # WHEN the stack does not answer at all
    page.route(re.compile(r"/quickbooks/customers\?"), lambda route: route.abort("connectionrefused"))
    search.click()
    # THEN a network error says which request got no answer
    expect(customers.get_by_role("alert")).to_contain_text("Network error")
    expect(customers.get_by_role("alert")).to_contain_text("Is the local stack running?")
    screenshot("network-error")
    page.unroute(re.compile(r"/quickbooks/customers\?"))

    # AND the screens are still there, and work again
    search.click()
    expect(customers.get_by_role("alert")).to_have_count(0)
    expect(customers.locator("tbody tr").first).to_be_visible()


def test_a_bug_in_the_console_is_shown_not_swallowed(page: Page) -> None:
    opened(page, "integration")
    # WHEN a handler throws, and a promise is rejected with nobody to catch it
    page.evaluate("() => { setTimeout(() => { throw new Error('a handler failed'); }); }")
    messages = page.get_by_test_id("app-messages")
    # THEN each is shown as an alert
    expect(messages.get_by_role("alert")).to_have_text("The console failed a handler failed")
    page.evaluate("() => { Promise.reject(new Error('a promise failed')); }")
    expect(messages.get_by_role("alert")).to_have_text("The console failed a promise failed")


def test_a_module_that_cannot_be_loaded_is_said_instead_of_starting_forever(page: Page, screenshot) -> None:
    # GIVEN one of the console's modules cannot be loaded
    page.route("**/_local/ui/js/parties.js", lambda route: route.fulfill(status=404, body="gone"))
    page.goto("/_local/ui/")
    # THEN the page says the console did not start, and why
    failed = page.get_by_test_id("start-failed")
    expect(failed).to_be_visible()
    expect(failed).to_have_attribute("role", "alert")
    expect(failed).to_contain_text("The console did not start")
    expect(failed).to_contain_text("could not be loaded")
    screenshot("start-failed")


def test_another_tenant_sees_none_of_the_demo_tenants_data(page: Page, screenshot) -> None:
    # GIVEN the console as the demo tenant, its customers shown
    opened(page, "customers")
    customers = page.get_by_role("tabpanel", name="Customers")
    expect(customers.get_by_role("row", name=re.compile("Acme Corp"))).to_be_visible()

    # WHEN they switch to another tenant
    page.get_by_label("Tenant", exact=True).fill("tenant-apart")
    page.get_by_role("button", name="Switch tenant").click()

    # THEN every screen shows that tenant's (empty) data, none of the demo tenant's
    expect(page.get_by_test_id("tenant-current")).to_have_text("Signed in as tenant “tenant-apart”")
    expect(page.get_by_test_id("app-messages").get_by_role("status")).to_contain_text("Now working as tenant")
    expect(customers.get_by_text("No clients match these filters.")).to_be_visible()
    screenshot("other-tenant-customers")
    for tab, empty in (("Vendors", "No vendors match"), ("Invoices", "No invoices match")):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tabpanel", name=tab).get_by_text(empty)).to_be_visible()
    page.get_by_role("tab", name="Integration").click()
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-status", "not_connected")
    expect(page.get_by_text("No bank accounts loaded.")).to_be_visible()

    # AND back as the demo tenant, its data is there again
    page.get_by_label("Tenant", exact=True).fill("demo")
    page.get_by_role("button", name="Switch tenant").click()
    page.get_by_role("tab", name="Customers").click()
    expect(customers.get_by_role("row", name=re.compile("Acme Corp"))).to_be_visible()


def tenant_of(route: Route) -> str:
    token = route.request.headers["authorization"].removeprefix("Bearer ")
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["tenant_id"])


def test_a_tenant_switch_during_a_bulk_job_stops_following_it(page: Page, browser_stack) -> None:
    # GIVEN a tenant of its own, connected, with one Books360 client, signed in on the console's Customers tab
    tenant = f"tenant-bulk-{uuid.uuid4().hex[:6]}"
    connect(browser_stack, tenant)
    name = f"Switch Client {tenant[-6:]}"
    detail = {"tenantId": tenant, "version": 1, "clientId": f"cl-{tenant}", "name": name, "companyName": name}
    browser_stack.put_events(
        {"Source": "books360.accounting", "DetailType": "ClientUpserted", "Detail": json.dumps(detail)}
    )
    opened(page, "customers")
    page.get_by_label("Tenant", exact=True).fill(tenant)
    page.get_by_role("button", name="Switch tenant").click()
    expect(page.get_by_test_id("tenant-current")).to_have_text(f"Signed in as tenant “{tenant}”")
    customers = page.get_by_role("tabpanel", name="Customers")
    expect(customers.get_by_role("row", name=re.compile(name))).to_be_visible()
    # (the job's answers are held back until the switch, as on a slow network; every poll's tenant is noted)
    polled_as: list[str] = []
    held: list[Route] = []

    def job_answer(route: Route) -> None:
        polled_as.append(tenant_of(route))
        if len(polled_as) == 1:
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r"/quickbooks/jobs/"), job_answer)

    # WHEN they start a Bulk Change of the client, and switch to the demo tenant while it runs
    customers.get_by_role("button", name="Bulk Change").click()
    customers.get_by_role("checkbox", name=f"Select {name}").check()
    customers.get_by_role("button", name="Create and sync Customer").click()
    page.get_by_role("dialog", name="Create and sync Customer").get_by_role("button", name="Confirm").click()
    expect(customers.get_by_test_id("bulk-progress")).to_be_visible()
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert held, "the console did not poll the job"
    page.get_by_label("Tenant", exact=True).fill("demo")
    page.get_by_role("button", name="Switch tenant").click()
    expect(page.get_by_test_id("tenant-current")).to_have_text("Signed in as tenant “demo”")
    answer = held[0].fetch()  # answered now, as the job stood when asked: still running
    held[0].fulfill(response=answer, json={**answer.json(), "status": "running", "succeeded": 0})
    page.wait_for_timeout(2_000)  # a few polls' time: none may go out as the demo tenant

    # THEN the other tenant's job leaves the screen: no progress, no problem, and no poll of it as the demo tenant
    expect(customers.get_by_test_id("bulk-progress")).to_have_count(0)
    expect(customers.get_by_role("alert")).to_have_count(0)
    assert polled_as and set(polled_as) == {tenant}, polled_as

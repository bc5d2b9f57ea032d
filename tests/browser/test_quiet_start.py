"""``make up``'s terminal: the banner (console first, then Swagger), one short line per invocation, no JSON logs;
the functions' full logs in the log file. The browser tests' stack is started as ``make up`` starts it."""

from __future__ import annotations

import json
import re
import time

import httpx


def test_make_up_terminal_shows_banner_then_one_line_per_invocation_and_logs_go_to_file(browser_stack) -> None:
    # GIVEN the stack started without LOCAL_VERBOSE (its demo data loaded through the functions)
    def calls() -> list[str]:
        return [line for line in browser_stack.output(last=100_000).splitlines() if "GET /quickbooks/settings" in line]

    before = len(calls())
    # WHEN a person calls the API once
    with browser_stack.client("demo") as api:
        assert api.get("/quickbooks/settings").status_code in (200, 404, 409)
    deadline = time.monotonic() + 10
    while len(calls()) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    terminal = browser_stack.output(last=100_000).splitlines()

    # THEN the terminal starts with the banner, whose first address is the console, then Swagger
    addresses = [line.split() for line in terminal if re.search(r"\shttp://127\.0\.0\.1:\d+", line)]
    assert [a[-1] for a in addresses[:2]] == [
        f"{browser_stack.api_url}/_local/ui/",
        f"{browser_stack.api_url}/_local/docs",
    ], terminal[:20]
    banner_at = next(i for i, line in enumerate(terminal) if "local stack is up" in line)
    assert all("WARNING" in line or "ERROR" in line for line in terminal[:banner_at] if line.strip()), terminal
    # AND no function's JSON log or EMF metric reaches it
    relayed = [line for line in terminal if re.match(r"\[\w+\] ", line) or '"_aws"' in line or '"level"' in line]
    assert not relayed, relayed[:5]
    # AND the call is one short line: function, trigger, outcome, ms
    new = calls()[before:]
    assert len(new) == 1 and re.search(r"ApiFunction\s+GET /quickbooks/settings\s+\d{3}\s+\d+ ms$", new[0]), new

    # AND the full logs are in the file the banner names: the functions' JSON lines, moto's and the emulator's
    log_file = next(line.split(": ", 1)[1].split()[0] for line in terminal if line.startswith("Full logs"))
    full = open(log_file, encoding="utf-8").read().splitlines()
    json_lines = [json.loads(line.split("] ", 1)[1]) for line in full if re.match(r"\[\w+Function\] \{", line)]
    assert any(entry.get("level") == "INFO" for entry in json_lines), full[:20]
    assert any(line.startswith("[emulator]") for line in full)
    assert any("demo Books360 data loaded" in line for line in full)
    assert httpx.get(f"{browser_stack.api_url}/_local/health", timeout=5).status_code == 200

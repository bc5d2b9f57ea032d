"""Browser tests: Playwright for Python driving Debian's chromium (``/usr/bin/chromium``) against a fresh local stack.

One stack and one browser for the whole session (each test gets a fresh browser context, i.e. fresh cookies and
storage). Playwright's own browser download is not reachable, so the browser is started with ``executable_path``;
``make test`` installs Debian's chromium when it is missing (``make chromium``). Where Chromium cannot be started:
in CI (``CI`` set, other than 0/false/no, as the Makefile's IN_CI) every browser test fails with the one-line
reason; elsewhere they are skipped loudly (a warning and a line in the summary), never passed.

Screenshots of each screen go to ``.local/screenshots/<test>/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.stack import ROOT, LocalStack, StackDidNotStart, running_stack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("BROWSER_TESTS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / ".local" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
_skipped: list[str] = []


def _unavailable(reason: str) -> None:
    """Fail in CI, skip loudly elsewhere."""
    line = f"browser tests cannot run: {reason}"
    if IN_CI:
        pytest.fail(line, pytrace=False)
    if not _skipped:
        _skipped.append(line)
        warnings.warn(
            pytest.PytestWarning(f"{line} (outside CI they are SKIPPED; `make chromium` installs it)"), stacklevel=2
        )
    pytest.skip(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped:
        terminalreporter.write_sep("!", f"BROWSER TESTS SKIPPED: {_skipped[0]}", red=True, bold=True)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Debian chromium for the browser tests (Playwright gives each launch a fresh, empty profile).

    Package-scoped, so Playwright stops when the browser tests end: its sync API leaves its event loop as the main
    thread's running loop while it lives, and code that schedules on "the running loop" from the main thread (the
    emulator's webhook hub, in tests/emulator/test_webhooks.py) then waited forever on a loop nobody runs."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed ({exc})")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        _unavailable(f"{CHROMIUM} is missing (Debian package chromium: `make chromium`)")
    try:
        manager = sync_playwright().start()
    except Exception as exc:  # Playwright's driver (node, shipped in the wheel) could not start
        _unavailable(
            f"Playwright's driver does not start: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        )
    try:
        try:
            chromium = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        except Error as exc:
            _unavailable(f"{CHROMIUM} does not start: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()
    finally:
        manager.stop()


@pytest.fixture(scope="package")
def browser_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A fresh stack as ``make up`` starts it (quiet terminal, full log in its own folder)."""
    try:
        with running_stack(tmp_path_factory.mktemp("browser-stack"), verbose=False) as stack:
            yield stack
    except StackDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture
def page(browser: Browser, browser_stack: LocalStack) -> Iterator[Page]:
    """A fresh browser context (no cookies, no storage) at 1280×800 on the stack's front."""
    context = browser.new_context(base_url=browser_stack.api_url, viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, page: Page) -> Callable[[str], Path]:
    """``screenshot("consent")`` saves the page as ``.local/screenshots/<test>/NN-consent.png``."""
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken: list[Path] = []

    def take(name: str) -> Path:
        slug = re.sub(r"[^\w.-]+", "-", name)
        path = folder / f"{len(taken) + 1:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take

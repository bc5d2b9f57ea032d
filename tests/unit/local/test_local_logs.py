"""``local.logs``: what reaches the terminal of ``make up`` and what only the log file."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from local import logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("verbose", [False, True])
def test_logs_quiet_terminal_shows_warnings_and_invocations_after_ready_file_keeps_everything(
    tmp_path, capsys, restore_logging, verbose
) -> None:
    # GIVEN the stack's logging set up, quiet or verbose
    setup = logs.Logs(tmp_path, verbose=verbose)
    log = logging.getLogger("local")
    try:
        # WHEN the stack starts (its own lines, a function's JSON log, an invocation), is ready, and is invoked
        log.info("warm function=ApiFunction init_ms=900")
        logs.output_line('[ApiFunction] {"level":"INFO","message":"hello"}')
        logs.invocation("Books360EventsFunction", "event ClientUpserted", "ok", 12.0, None)
        log.warning("function X cannot start")
        setup.ready()
        logs.invocation("ApiFunction", "GET /quickbooks/connection", "200", 45.4, None)
        logs.invocation("ApiFunction", "GET /quickbooks/settings", "500", 3.0, "Runtime.ExitError: boom")
    finally:
        setup.close()
    terminal = capsys.readouterr().err.splitlines()
    written = (tmp_path / "functions.log").read_text(encoding="utf-8")

    # THEN the file has the stack's lines and the function's output, whatever the terminal shows
    assert "warm function=ApiFunction" in written and '[ApiFunction] {"level":"INFO"' in written
    assert "function X cannot start" in written
    if verbose:
        # AND verbose: the terminal shows all of it too, without the short lines (the full ones say the same)
        assert any("warm function=ApiFunction" in line for line in terminal)
        assert any(line.startswith("[ApiFunction] {") for line in terminal)
        assert not any("GET /quickbooks/connection" in line for line in terminal)
        return
    # AND quiet: the warning, then one short line per invocation once ready (none from before), nothing else
    assert len(terminal) == 3, terminal
    assert "WARNING function X cannot start" in terminal[0]
    assert terminal[1].split()[1:] == ["ApiFunction", "GET", "/quickbooks/connection", "200", "45", "ms"]
    assert terminal[2].split()[1:6] == ["ApiFunction", "GET", "/quickbooks/settings", "500", "3"]
    assert terminal[2].endswith("Runtime.ExitError: boom")

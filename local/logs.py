"""Where the stack's output goes: everything to a log file, the terminal only what a person reads.

The functions print JSON logs and EMF metrics (hundreds of lines while the demo data loads); moto and the emulator
print their own. All of it, with the stack's own log lines, goes to ``.local/logs/functions.log`` (``LOCAL_LOG_DIR``
moves the folder; the file is started anew at each start). The terminal shows warnings, the banner, then one short
line per invocation (function, trigger, outcome, ms). ``LOCAL_VERBOSE=1`` puts everything on the terminal as well.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pathlib import Path

# The short lines, one per invocation, for the terminal only once the banner is out.
invocations = logging.getLogger("local.invocations")
FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(message)s"
DATEFMT = "%H:%M:%S"


class _Output:
    """The sink for raw lines (function, moto and emulator output): the file, and the terminal when verbose."""

    def __init__(self) -> None:
        self.file: TextIO | None = None
        self.verbose = True
        self.lock = threading.Lock()

    def write(self, line: str) -> None:
        with self.lock:
            if self.file is not None:
                self.file.write(line + "\n")
                self.file.flush()
            if self.verbose or self.file is None:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()


_output = _Output()


def output_line(line: str) -> None:
    """One line of a child's output (a function's log, moto, the emulator)."""
    _output.write(line)


def invocation(function: str, trigger: str, status: str, ms: float, error: str | None) -> None:
    """The terminal's one line for an invocation: function, trigger, outcome, milliseconds."""
    reason = f"  {error[:160]}" if error else ""
    invocations.info("%-26s %-44s %-9s %6.0f ms%s", function, trigger, status, ms, reason)


class _Terminal(logging.Filter):
    """Quiet: warnings, and the invocation lines once the stack is ready. Verbose: all but the short lines."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose
        self.ready = False

    def filter(self, record: logging.LogRecord) -> bool:
        short = record.name == invocations.name
        if self.verbose:
            return not short
        if short:
            return self.ready
        return record.levelno >= logging.WARNING


class _NotShort(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != invocations.name


class _TerminalFormat(logging.Formatter):
    """The short invocation lines carry only their time; the stack's own lines their level too."""

    def __init__(self) -> None:
        super().__init__(FORMAT, DATEFMT)
        self._short = logging.Formatter("%(asctime)s %(message)s", DATEFMT)

    def format(self, record: logging.LogRecord) -> str:
        return self._short.format(record) if record.name == invocations.name else super().format(record)


class Logs:
    """The stack's logging, set up once by ``python -m local``."""

    def __init__(self, log_dir: Path, verbose: bool) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.path = log_dir / "functions.log"
        self._file = self.path.open("w", encoding="utf-8")
        self._terminal_filter = _Terminal(verbose)
        terminal = logging.StreamHandler(sys.stderr)
        terminal.setFormatter(_TerminalFormat())
        terminal.addFilter(self._terminal_filter)
        self._to_file = logging.StreamHandler(self._file)
        self._to_file.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        self._to_file.addFilter(_NotShort())
        root = logging.getLogger()
        root.handlers[:] = [terminal, self._to_file]
        root.setLevel(logging.INFO)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        _output.file = self._file
        _output.verbose = verbose

    def ready(self) -> None:
        """The banner is out: from now on the terminal shows one line per invocation."""
        self._terminal_filter.ready = True

    def close(self) -> None:
        with _output.lock:
            _output.file = None
        logging.getLogger().removeHandler(self._to_file)
        self._file.close()

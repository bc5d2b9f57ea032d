"""The stack's child servers (moto, the emulator): started in the stack's process group, stopped with it."""

from __future__ import annotations

import ctypes
import errno
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO

import httpx

from local import logs
from local.config import HOST

_PR_SET_PDEATHSIG = 1
# werkzeug's access log: one line per AWS call, far too many to be worth reading in the stack's output.
_ACCESS_LINE = re.compile(r'"(GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS) \S+ HTTP/1\.[01]" \d{3}')


class StartError(Exception):
    """A part of the stack did not come up; the message is the one line to print."""


def port_in_use(port: int) -> bool:
    """Whether something already listens on (or holds) ``HOST:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def _child_setup() -> None:
    # Ctrl-C reaches the whole process group; the stack itself decides when its children stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _pump(stream: IO[bytes], label: str, drop_access_log: bool) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if drop_access_log and _ACCESS_LINE.search(line):
            continue
        logs.output_line(f"[{label}] {line}")


def spawn(args: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    """Start a child server (call before any thread is started: ``preexec_fn`` is not thread-safe)."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and modules
        [sys.executable, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        # A process group of its own: moto and uvicorn catch SIGINT themselves, and a Ctrl-C must not stop them
        # before the stack has stopped what still uses them. PR_SET_PDEATHSIG stops them if the stack is killed.
        process_group=0,
        preexec_fn=_child_setup,  # noqa: PLW1509 - see the docstring
    )


def relay_output(process: subprocess.Popen[bytes], label: str, *, drop_access_log: bool = False) -> None:
    """Copy a child's output to the stack's stderr, each line labelled with ``label``."""
    assert process.stdout is not None
    threading.Thread(target=_pump, args=(process.stdout, label, drop_access_log), daemon=True).start()


def wait_http(label: str, url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until ``url`` answers anything over HTTP; ``StartError`` if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StartError(
                    f"{label} exited with status {process.returncode} while starting (its output is in the log)"
                )
            try:
                http.get(url)
                return
            except httpx.TransportError:
                time.sleep(0.05)
    raise StartError(f"{label} did not answer on {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

"""The local stack as the tests start it: ``python -m local`` on free ports, in its own process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from local.tokens import mint_token

ROOT = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
JWT_SECRET = "e2e-local-secret"


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on (held open together so the three differ)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for probe in sockets:
            probe.close()


@dataclass
class LocalStack:
    api_url: str
    emulator_url: str
    moto_url: str
    demo_realm_id: str
    jwt_secret: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def token(self, tenant_id: str = "demo", **claims: Any) -> str:
        """A valid HS256 token for ``tenant_id``; ``ttl=-60`` makes an expired one."""
        return mint_token(tenant_id, secret=self.jwt_secret, **claims)

    def client(self, tenant_id: str | None = None, *, base_url: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client on the HTTP API, carrying a token for ``tenant_id`` when one is given."""
        headers = dict(kwargs.pop("headers", {}))
        if tenant_id is not None:
            headers["Authorization"] = f"Bearer {self.token(tenant_id)}"
        return httpx.Client(
            base_url=base_url or self.api_url, headers=headers, timeout=kwargs.pop("timeout", 30.0), **kwargs
        )

    def put_events(self, *entries: dict[str, Any]) -> dict[str, Any]:
        """``POST /_local/events``: answers once every matching function has run."""
        answer = httpx.post(f"{self.api_url}/_local/events", json={"Entries": list(entries)}, timeout=120.0)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def run_schedule(self, name: str) -> dict[str, Any]:
        """``POST /_local/schedules/{name}/run``: answers once the scheduled function has run."""
        answer = httpx.post(f"{self.api_url}/_local/schedules/{name}/run", timeout=330.0)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def output(self, last: int = 200) -> str:
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-last:])

    def invocations(self, function: str | None = None) -> list[dict[str, Any]]:
        params = {"function": function} if function else {}
        answer = httpx.get(f"{self.api_url}/_local/invocations", params=params, timeout=10.0)
        answer.raise_for_status()
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left of the tree (a worker, a child server) shares the stack's process group.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


class StackDidNotStart(Exception):
    """The stack exited or was not healthy in time; the message carries its output."""


@contextmanager
def running_stack(log_dir: Path, *, verbose: bool = True, **extra_env: str) -> Iterator[LocalStack]:
    """A fresh stack for the duration; its terminal output in ``log_dir/stack.log``, its full log beside it.

    ``verbose`` (LOCAL_VERBOSE=1) puts the functions' logs on the terminal too, which is what ``output()`` reads."""
    api_port, emulator_port, moto_port = free_ports(3)
    env = {
        **os.environ,
        "LOCAL_API_PORT": str(api_port),
        "QBO_EMULATOR_PORT": str(emulator_port),
        "MOTO_PORT": str(moto_port),
        "LOCAL_JWT_SECRET": JWT_SECRET,
        "PYTHONUNBUFFERED": "1",
        "LOCAL_LOG_DIR": str(log_dir),
        "LOCAL_VERBOSE": "1" if verbose else "0",
        **extra_env,
    }
    log_path = log_dir / "stack.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "local"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = LocalStack(
        api_url=f"http://127.0.0.1:{api_port}",
        emulator_url=f"http://127.0.0.1:{emulator_port}",
        moto_url=f"http://127.0.0.1:{moto_port}",
        demo_realm_id="",
        jwt_secret=JWT_SECRET,
        process=process,
        log_path=log_path,
        env=env,
    )
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        health: dict[str, Any] | None = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(f"{stack.api_url}/_local/health", timeout=2.0)
                if answer.status_code == 200:
                    health = answer.json()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        if health is None:
            reason = f"exited with status {process.returncode}" if process.poll() is not None else "timed out"
            raise StackDidNotStart(f"the local stack did not become healthy ({reason}); its output:\n{stack.output()}")
        stack.demo_realm_id = str(health.get("demoRealmId") or "")
        yield stack
    finally:
        stop(process)

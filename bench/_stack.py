"""The real local stack (``python -m local``, as ``make up`` runs it) for a benchmark: free ports, spoken to over HTTP.

No demo data (``LOCAL_DEMO=off``) and no scheduled runs (``LOCAL_SCHEDULES=off``: the 15-minute sweep would blur a
measurement); everything else is the stack as it is: the front routing by template.yaml, the functions in worker
processes of their own ("warm containers"), EventBridge rules, the SQS event sources with the template's
``BatchSize`` and ``MaximumConcurrency``, moto server and the emulator in processes of their own. Its output goes
to a log file, shown when it fails to start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import httpx

from local.tokens import mint_token

if TYPE_CHECKING:
    from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-local-secret"
START_TIMEOUT = 90.0


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for probe in sockets:
            probe.close()


class LocalStack:
    """``python -m local`` in its own process group (a context manager); ``api``/``emulator`` are httpx clients."""

    def __init__(self, **env: str) -> None:
        api_port, emulator_port, moto_port = free_ports(3)
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.emulator_url = f"http://127.0.0.1:{emulator_port}"
        self.env = {
            **os.environ,
            "LOCAL_API_PORT": str(api_port),
            "QBO_EMULATOR_PORT": str(emulator_port),
            "MOTO_PORT": str(moto_port),
            "LOCAL_JWT_SECRET": JWT_SECRET,
            "LOCAL_DEMO": "off",
            "LOCAL_SCHEDULES": "off",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.env.pop("AWS_ENDPOINT_URL", None)
        self.log_path = Path(tempfile.mkdtemp(prefix="bench-stack-")) / "stack.log"
        # The functions' full logs beside the stack's own lines, per run (not the checkout's .local/logs).
        self.env.setdefault("LOCAL_LOG_DIR", str(self.log_path.parent))
        self.process: subprocess.Popen[bytes] | None = None
        self.emulator = httpx.Client(base_url=self.emulator_url, timeout=60.0)

    def __enter__(self) -> LocalStack:
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "local"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.api_url}/_local/health", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the local stack did not start; its output:\n{self.output()}")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.emulator.close()
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of the tree (a worker, a child server) shares the stack's process group
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def output(self, last: int = 60) -> str:
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-last:])

    def client(self, tenant: str, timeout: float = 60.0) -> httpx.Client:
        """An httpx client on the HTTP API as a user of ``tenant``."""
        token = mint_token(tenant, sub="bench", ttl=6 * 3600, secret=JWT_SECRET)
        return httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    def put_events(self, entries: list[dict[str, Any]]) -> None:
        """``POST /_local/events`` (at most 10 entries, as PutEvents): answers when the matching functions have run."""
        answer = httpx.post(f"{self.api_url}/_local/events", json={"Entries": entries}, timeout=300.0)
        if answer.status_code != 200 or answer.json().get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents failed: {answer.status_code} {answer.text[:300]}")

    def queues(self) -> dict[str, Any]:
        """``GET /_local/queues``: the depth of every queue."""
        answer: dict[str, Any] = httpx.get(f"{self.api_url}/_local/queues", timeout=30.0).json()
        return answer

    def company(self, name: str) -> str:
        answer = self.emulator.post("/_admin/companies", json={"companyName": name})
        answer.raise_for_status()
        return str(answer.json()["realmId"])

    def connect(self, tenant: str, realm: str) -> None:
        """The OAuth dance as the admin's browser: switch on, consent at the emulator, follow our callback."""
        with self.client(tenant) as api:
            started = api.put("/quickbooks/connection", json={"active": True})
        started.raise_for_status()
        url = started.json()["authorizeUrl"]
        form = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        consent = self.emulator.post("/connect/oauth2", data={**form, "realmId": realm, "decision": "approve"})
        landing = httpx.get(consent.headers["location"], timeout=60.0).headers["location"]
        ticket = {k: v[0] for k, v in parse_qs(urlparse(landing).query).items()}.get("ticket")
        if not ticket:
            raise RuntimeError(f"connecting {tenant} to {realm} failed: {landing}")
        with self.client(tenant) as api:
            confirmed = api.post("/quickbooks/connection/confirm", json={"ticket": ticket})
        if confirmed.status_code != 200:
            raise RuntimeError(f"confirming {tenant} to {realm} failed: {confirmed.text[:300]}")

    def limits(self, realm: str, limits: dict[str, int]) -> None:
        """``PUT /_admin/companies/{realm}/limits``; ``{}`` gives the company QuickBooks' own limits back."""
        self.emulator.put(f"/_admin/companies/{realm}/limits", json=limits).raise_for_status()

    def latency(self, realm: str, ms: int) -> None:
        self.emulator.post("/_admin/faults", json={"realmId": realm, "latencyMs": ms}).raise_for_status()

    def requests_of(self, realm: str) -> dict[str, Any]:
        report: dict[str, Any] = self.emulator.get("/_admin/requests", params={"realmId": realm}).json()
        return report

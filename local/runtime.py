"""Warm workers per function, as Lambda keeps containers: one subprocess each, a small pool per function.

Every function runs in processes of its own, so two functions' ``app`` modules (and same-named siblings) never
meet, and each sees only its own environment. A pool starts a worker when all are busy, up to its cap, and
retires workers whose code changed on disk so ``make up`` picks up edits without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from local import logs
from local.config import ROOT, LocalConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from local.template import FunctionSpec

log = logging.getLogger("local")
WORKER_SCRIPT = Path(__file__).resolve().with_name("worker.py")
INIT_TIMEOUT = 30.0


@dataclass
class Outcome:
    """The result of one invocation, as the Lambda service would report it to the caller."""

    ok: bool
    result: Any = None
    error: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    duration_ms: float = 0.0

    @property
    def error_type(self) -> str:
        return str(self.error.get("errorType", ""))


def function_environment(spec: FunctionSpec, config: LocalConfig) -> dict[str, str]:
    """The environment of one function's workers: what Lambda sets, the template's variables, the local endpoints."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONUNBUFFERED": "1",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{spec.logical_id}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": config.moto_url,
        # Lambda has no AWS config files and no instance metadata; a developer's own must not leak in.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "QBO_CLIENT_ID": config.qbo_client_id,
        "QBO_CLIENT_SECRET": config.qbo_client_secret,
        "QBO_WEBHOOK_VERIFIER": config.qbo_webhook_verifier,
        "LOCAL_JWT_SECRET": config.jwt_secret,
    }
    env.update(spec.environment)
    return env


def code_stamp(folders: Iterable[Path]) -> float:
    """The newest modification time of the Python files a worker imported its code from."""
    newest = 0.0
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
            for name in filenames:
                if name.endswith(".py"):
                    try:
                        newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
                    except OSError:
                        continue
    return newest


class Worker:
    """One warm container: a subprocess that imported the handler and answers one invocation at a time."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], stamp: float) -> None:
        self.spec = spec
        self.stamp = stamp
        config = {
            "codeDir": str(spec.code_dir),
            "layerDir": str(ROOT),
            "handler": spec.handler,
            "functionName": spec.name,
            "functionArn": spec.arn,
            "memory": spec.memory,
            "logStream": f"local/{spec.logical_id}/{uuid.uuid4().hex[:8]}",
        }
        self.process = subprocess.Popen(  # noqa: S603 - our own worker script with our own interpreter
            [sys.executable, "-u", str(WORKER_SCRIPT), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(spec.code_dir) if spec.code_dir.is_dir() else str(ROOT),
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin: IO[bytes] = self.process.stdin
        self._stdout: IO[bytes] = self.process.stdout
        threading.Thread(target=self._pump_logs, name=f"logs-{spec.logical_id}", daemon=True).start()

    def _pump_logs(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        prefix = f"[{self.spec.logical_id}] "
        for raw in iter(stream.readline, b""):
            logs.output_line(prefix + raw.decode("utf-8", "replace").rstrip("\n"))

    def _read(self, timeout: float) -> dict[str, Any] | None:
        """The next answer line, or None on timeout; EOFError when the process ended."""
        ready, _, _ = select.select([self._stdout], [], [], max(0.0, timeout))
        if not ready:
            return None
        line = self._stdout.readline()
        if not line:
            raise EOFError
        answer: dict[str, Any] = json.loads(line)
        return answer

    def wait_ready(self, timeout: float) -> dict[str, Any] | None:
        """None when the handler imported; the init error otherwise."""
        try:
            answer = self._read(timeout)
        except EOFError:
            return {"errorType": "Runtime.ExitError", "errorMessage": self._exit_message()}
        if answer is None:
            self.kill()
            return {"errorType": "Sandbox.Timedout", "errorMessage": f"Init timed out after {timeout:.0f} seconds"}
        if not answer.get("ready"):
            self.stop()
            return {k: answer.get(k) for k in ("errorType", "errorMessage", "stackTrace")}
        return None

    def invoke(self, event: Any, request_id: str, timeout: float) -> Outcome:
        deadline_ms = int((time.time() + timeout) * 1000)
        request = json.dumps({"requestId": request_id, "event": event, "deadlineMs": deadline_ms})
        try:
            self._stdin.write(request.encode("utf-8") + b"\n")
            self._stdin.flush()
            answer = self._read(timeout)
        except (EOFError, BrokenPipeError):
            self.stop()
            return Outcome(False, error={"errorType": "Runtime.ExitError", "errorMessage": self._exit_message()})
        if answer is None:
            self.kill()
            message = f"Task timed out after {timeout:.2f} seconds"
            return Outcome(False, error={"errorType": "Sandbox.Timedout", "errorMessage": message})
        if answer.get("ok"):
            return Outcome(True, result=answer.get("result"))
        return Outcome(False, error={k: answer.get(k) for k in ("errorType", "errorMessage", "stackTrace")})

    def _exit_message(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        return f"Runtime exited with error: exit status {code}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def kill(self) -> None:
        """As Lambda ends a sandbox that ran out of time: at once."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self._stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class FunctionPool:
    """The warm workers of one function; at most ``cap`` invocations run at once, the others wait their turn."""

    def __init__(self, spec: FunctionSpec, config: LocalConfig, cap: int) -> None:
        self.spec = spec
        self.cap = cap
        self._env = function_environment(spec, config)
        self._slots = threading.BoundedSemaphore(cap)
        self._lock = threading.Lock()
        self._idle: deque[Worker] = deque()
        self._all: set[Worker] = set()
        self._watched = [spec.code_dir, ROOT / "shared"]
        self._stamp = code_stamp(self._watched)
        self._closed = False

    def _spawn(self) -> Worker:
        worker = Worker(self.spec, self._env, self._stamp)
        with self._lock:
            closed = self._closed
            if not closed:
                self._all.add(worker)
        if closed:
            # Started while the stack was stopping (a prewarm thread): nobody would ever stop it.
            worker.kill()
        return worker

    def _discard(self, worker: Worker) -> None:
        worker.stop()
        with self._lock:
            self._all.discard(worker)

    def prewarm(self) -> dict[str, Any] | None:
        """Start one worker ahead of the first invocation; the init error if its import fails."""
        worker = self._spawn()
        error = worker.wait_ready(max(INIT_TIMEOUT, self.spec.timeout))
        if error is not None:
            self._discard(worker)
            return error
        self._release(worker)
        return None

    def refresh_stamp(self) -> None:
        """Retire idle workers whose code is older than the files on disk (busy ones retire when they finish)."""
        stamp = code_stamp(self._watched)
        if stamp == self._stamp:
            return
        with self._lock:
            self._stamp = stamp
            stale = [w for w in self._idle if w.stamp != stamp]
            for worker in stale:
                self._idle.remove(worker)
        for worker in stale:
            self._discard(worker)
        if stale:
            log.info("code changed function=%s retired=%d", self.spec.logical_id, len(stale))

    def _release(self, worker: Worker) -> None:
        with self._lock:
            keep = not self._closed and worker.alive and worker.stamp == self._stamp
            if keep:
                self._idle.append(worker)
        if not keep:
            self._discard(worker)

    def invoke(self, event: Any, timeout: float | None = None) -> Outcome:
        """Run the handler on ``event`` in a warm worker (starting one if none is free) and wait for it."""
        limit = float(self.spec.timeout if timeout is None else timeout)
        request_id = str(uuid.uuid4())
        with self._slots:
            started = time.monotonic()
            with self._lock:
                worker = self._idle.popleft() if self._idle else None
            if worker is None:
                worker = self._spawn()
                error = worker.wait_ready(max(INIT_TIMEOUT, limit))
                if error is not None:
                    self._discard(worker)
                    elapsed = (time.monotonic() - started) * 1000
                    return Outcome(False, error=error, request_id=request_id, duration_ms=elapsed)
                started = time.monotonic()
            outcome = worker.invoke(event, request_id, limit)
            outcome.request_id = request_id
            outcome.duration_ms = (time.monotonic() - started) * 1000
            self._release(worker)
            return outcome

    def close(self) -> list[Worker]:
        """Refuse new work and SIGTERM every worker; the workers, for the caller to reap."""
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._idle.clear()
        for worker in workers:
            worker.terminate()
        return workers

    @property
    def closed(self) -> bool:
        return self._closed


@dataclass
class Invocation:
    at: str
    function: str
    trigger: str
    status: str
    duration_ms: float
    request_id: str
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "at": self.at,
            "function": self.function,
            "trigger": self.trigger,
            "status": self.status,
            "durationMs": round(self.duration_ms, 1),
            "requestId": self.request_id,
        }
        if self.error:
            data["error"] = self.error
        data.update(self.details)
        return data


class Runtime:
    """All functions' pools, plus the record of recent invocations (``GET /_local/invocations``)."""

    def __init__(self, functions: dict[str, FunctionSpec], config: LocalConfig, caps: dict[str, int]) -> None:
        self.pools = {
            name: FunctionPool(spec, config, max(config.max_workers, caps.get(name, 0)))
            for name, spec in functions.items()
        }
        self._history: deque[Invocation] = deque(maxlen=5000)
        self._history_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def invoke(
        self,
        function: str,
        event: Any,
        trigger: str,
        *,
        timeout: float | None = None,
        status_of: Callable[[Outcome], str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> Outcome:
        """Invoke one function and record it (one log line: function, trigger, status, milliseconds)."""
        outcome = self.pools[function].invoke(event, timeout)
        status = status_of(outcome) if status_of else ("ok" if outcome.ok else "error")
        self.record(function, trigger, status, outcome, details)
        return outcome

    def record(
        self, function: str, trigger: str, status: str, outcome: Outcome, details: dict[str, Any] | None = None
    ) -> None:
        error = None if outcome.ok else f"{outcome.error_type}: {outcome.error.get('errorMessage', '')}"
        entry = Invocation(
            at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            function=function,
            trigger=trigger,
            status=status,
            duration_ms=outcome.duration_ms,
            request_id=outcome.request_id,
            error=error,
            details=dict(details or {}),
        )
        with self._history_lock:
            self._history.append(entry)
        suffix = f" error={error!r}" if error else ""
        log.info(
            "invoke function=%s trigger=%r status=%s ms=%.1f request_id=%s%s",
            function,
            trigger,
            status,
            outcome.duration_ms,
            outcome.request_id,
            suffix,
        )
        logs.invocation(function, trigger, status, outcome.duration_ms, error)

    def history(self, function: str | None = None) -> list[dict[str, Any]]:
        with self._history_lock:
            entries = list(self._history)
        return [e.to_json() for e in entries if function is None or e.function == function]

    def clear_history(self) -> None:
        with self._history_lock:
            self._history.clear()

    def prewarm(self, first: Iterable[str] = (), parallel: int = 2) -> None:
        """Start one worker per function in the background, ``first`` ones first; an import error is only logged.

        Two at a time: importing Powertools, pydantic and boto3 is CPU-bound, and the machine may have two cores.
        """
        leading = [name for name in first if name in self.pools]
        pending = deque(leading + [name for name in self.pools if name not in leading])
        lock = threading.Lock()

        def warm_next() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    name = pending.popleft()
                pool = self.pools[name]
                started = time.monotonic()
                error = pool.prewarm()
                if error is None:
                    log.info("warm function=%s init_ms=%.0f", name, (time.monotonic() - started) * 1000)
                elif not pool.closed:
                    log.warning(
                        "function %s cannot start: %s: %s", name, error.get("errorType"), error.get("errorMessage")
                    )

        for index in range(parallel):
            threading.Thread(target=warm_next, name=f"prewarm-{index}", daemon=True).start()

    def watch_code(self, interval: float = 1.0) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                for pool in self.pools.values():
                    pool.refresh_stamp()

        self._watcher = threading.Thread(target=loop, name="code-watch", daemon=True)
        self._watcher.start()

    def close(self, grace: float = 2.0) -> None:
        """Stop every worker of every function at once (a worker has nothing to clean up), killing stragglers."""
        self._stop.set()
        workers = [worker for pool in self.pools.values() for worker in pool.close()]
        deadline = time.monotonic() + grace
        for worker in workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()

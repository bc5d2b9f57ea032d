"""``python -m local``: moto, the QuickBooks emulator and the front, in one process tree, until Ctrl-C or SIGTERM.

Order of start: ports are checked before anything runs (one line naming the variable to change if one is taken),
moto and the emulator start side by side, the template's resources are created in moto, the demo company is
loaded into the emulator, the functions' first workers warm up in the background, then the front opens and the
banner is printed. Whatever was started is stopped on the way out, whatever the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from local.cfn import TemplateError
from local.config import DEMO_TENANT, HOST, ROOT, ConfigError, LocalConfig
from local.procs import StartError, port_in_use, relay_output, spawn, stop, wait_http

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Iterator
    from types import FrameType

    from local.eventbridge import EventBus
    from local.front import Front
    from local.runtime import Runtime
    from local.schedules import Scheduler
    from local.sqs import QueuePoller
    from local.template import StackPlan

log = logging.getLogger("local")
START_TIMEOUT = 60.0
TOKEN_HOURS = 12


def check_ports(config: LocalConfig) -> str | None:
    """The one line to print when a port cannot be used, else None."""
    seen: dict[int, str] = {}
    for variable, port in config.ports():
        if port in seen:
            return f"{seen[port]} and {variable} are both {port}: set {variable} to another port"
        seen[port] = variable
        if port_in_use(port):
            return f"port {port} is in use: set {variable} to another port"
    return None


class Stack:
    """One running local stack; ``close`` stops every part that was started."""

    def __init__(self, config: LocalConfig, plan: StackPlan) -> None:
        self.config = config
        self.plan = plan
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.runtime: Runtime | None = None
        self.pollers: list[QueuePoller] = []
        self.scheduler: Scheduler | None = None
        self.front: Front | None = None
        self.started = time.monotonic()
        self.log_path = config.log_dir / "functions.log"
        self.on_ready: list[Callable[[], None]] = []

    def start_servers(self) -> None:
        base_env = dict(os.environ)
        moto = spawn(["-m", "local.moto_server", "-H", HOST, "-p", str(self.config.moto_port)], base_env, str(ROOT))
        self.children.append(("moto", moto))
        emulator_env = {
            **base_env,
            "QBO_EMULATOR_HOST": HOST,
            "QBO_EMULATOR_PORT": str(self.config.emulator_port),
            "QBO_CLIENT_ID": self.config.qbo_client_id,
            "QBO_CLIENT_SECRET": self.config.qbo_client_secret,
            "QBO_REDIRECT_URIS": f"{self.config.api_url}/quickbooks/oauth/callback",
        }
        emulator = spawn(["-m", "emulator"], emulator_env, str(ROOT))
        self.children.append(("emulator", emulator))
        relay_output(moto, "moto", drop_access_log=True)
        relay_output(emulator, "emulator")

    def prepare(self) -> str | None:
        """Everything before the front opens; the demo company's realmId."""
        from local.eventbridge import EventBus
        from local.front import Front
        from local.resources import client, provision
        from local.runtime import Runtime
        from local.schedules import Scheduler
        from local.sqs import QueuePoller

        for warning in self.plan.warnings:
            log.warning("%s", warning)
        self.start_servers()
        caps = {s.function: s.max_concurrency for s in self.plan.sqs_sources if s.enabled}
        self.runtime = Runtime(self.plan.functions, self.config, caps)
        # Imports only (functions build their AWS clients at first use), so this overlaps moto's own start;
        # the functions the demo data goes through are needed first.
        self.runtime.prewarm(first=[rule.function for rule in self.plan.rules])
        self.runtime.watch_code()
        moto = dict(self.children)["moto"]
        wait_http("moto", self.config.moto_url, moto, START_TIMEOUT)
        provision(self.plan, self.config.moto_url)
        sqs = client("sqs", self.config.moto_url)
        bus = EventBus(self.runtime, self.plan.rules, self.config.async_retries, functions=self.plan.functions, sqs=sqs)
        # Books360's side of the demo (DynamoDB, through the functions) and QuickBooks' side (the emulator) are
        # independent: load them side by side.
        books360_demo = threading.Thread(target=self.load_books360_demo, args=(bus,), name="demo", daemon=True)
        if self.config.seed_demo:
            books360_demo.start()

        emulator = dict(self.children)["emulator"]
        wait_http("QuickBooks emulator", f"{self.config.emulator_url}/_admin/companies", emulator, START_TIMEOUT)
        realm_id = self.seed_demo()
        if books360_demo.is_alive():
            books360_demo.join()

        for source in self.plan.sqs_sources:
            if source.enabled:
                poller = QueuePoller(source, self.runtime, sqs, self.config.sqs_retry_seconds)
                poller.start()
                self.pollers.append(poller)
        self.scheduler = Scheduler(self.runtime, self.plan.schedules, self.config.async_retries)
        if self.config.schedules_enabled:
            for warning in self.scheduler.start():
                log.warning("%s", warning)
        self.front = Front(self.config, self.plan, self.runtime, bus, self.scheduler, demo_realm_id=realm_id)
        return realm_id

    def seed_demo(self) -> str | None:
        from local.demo import DemoSeedError, seed_quickbooks

        if not self.config.seed_demo:
            return None
        try:
            company = seed_quickbooks(
                self.config.emulator_url,
                f"{self.config.api_url}/quickbooks/webhooks",
                self.config.qbo_webhook_verifier,
            )
        except DemoSeedError as exc:
            raise StartError(f"demo data could not be loaded into the QuickBooks emulator: {exc}") from None
        return company.realm_id

    def load_books360_demo(self, bus: EventBus) -> None:
        """The demo tenant's Books360 data, published as Books360 would; a function failing it is a warning only."""
        from local.demo import books360_entries
        from local.eventbridge import build_event

        entries = books360_entries(DEMO_TENANT)
        for entry in entries:
            event, bus_name = build_event(entry)
            outcomes = bus.deliver(event, bus_name, retries=0)
            failed = next((o for o in outcomes if not o.ok), None)
            if not outcomes or failed is not None:
                reason = (
                    "no rule matches it"
                    if failed is None
                    else f"{failed.error_type}: {failed.error.get('errorMessage')}"
                )
                log.warning("demo Books360 data not loaded (%s failed: %s)", event["detail-type"], reason)
                return
        log.info("demo Books360 data loaded: %d events for tenant %s", len(entries), DEMO_TENANT)

    def banner(self, realm_id: str | None) -> str:
        from local.tokens import mint_token

        token = mint_token(DEMO_TENANT, sub="demo-user", ttl=TOKEN_HOURS * 3600, secret=self.config.jwt_secret)
        seconds = time.monotonic() - self.started
        realm = realm_id or "(not loaded: LOCAL_DEMO=off)"
        lines = [
            "",
            f"Books360 local stack is up ({seconds:.1f} s). Stop it with Ctrl-C.",
            f"  Console (open this)  {self.config.api_url}/_local/ui/",
            f"  API docs (Swagger)   {self.config.api_url}/_local/docs",
            f"  HTTP API             {self.config.api_url}",
            f"  QuickBooks emulator  {self.config.emulator_url}   demo company realmId {realm}",
            f"  AWS (moto)           {self.config.moto_url}",
            "",
            f"Token for tenant '{DEMO_TENANT}' (HS256, LOCAL_JWT_SECRET, valid {TOKEN_HOURS} h):",
            f"  export TOKEN={token}",
            "Try:",
            f'  curl -s -H "Authorization: Bearer $TOKEN" {self.config.api_url}/quickbooks/connection',
            "",
            f"Full logs (functions, moto, emulator): {self.log_path}"
            + ("" if self.config.verbose else "  (LOCAL_VERBOSE=1 shows them here)"),
            "One line per invocation follows: function, trigger, outcome, ms.",
            "",
        ]
        return "\n".join(lines)

    async def serve(self, realm_id: str | None) -> None:
        import uvicorn

        from local.front import create_app

        assert self.front is not None
        app = create_app(self.front)
        server = _QuietServer(
            uvicorn.Config(
                app, host=HOST, port=self.config.api_port, log_level="warning", access_log=False, lifespan="off"
            )
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _request_exit, server, signum)
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            print(self.banner(realm_id), flush=True)
            log.info("ready in %.1f s", time.monotonic() - self.started)
            for callback in self.on_ready:
                callback()
        await task
        if not server.started:
            raise StartError(f"the front could not listen on {HOST}:{self.config.api_port}")

    def close(self) -> None:
        """Stop every part that was started, and log how long each took (a slow stop is worth seeing)."""
        steps: list[str] = []
        mark = time.monotonic()

        def step(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            steps.append(f"{name} {now - mark:.1f}s")
            mark = now

        for poller in self.pollers:
            poller.signal_stop()
        for poller in self.pollers:
            poller.stop()
        step("pollers")
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.runtime is not None:
            self.runtime.close()
        step("workers")
        if self.front is not None:
            self.front.executor.shutdown(wait=False, cancel_futures=True)
        for name, process in reversed(self.children):
            stop(process, timeout=3.0)
            step(name)
        log.info("stopping took %s", ", ".join(steps))


class _QuietServer:
    """uvicorn's server without its own signal handling (the stack handles SIGINT/SIGTERM for all its parts)."""

    def __init__(self, config: Any) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self._server = Server(config)

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    def exit(self) -> None:
        self._server.should_exit = True

    async def serve(self) -> None:
        await self._server.serve()


def _request_exit(server: _QuietServer, signum: int) -> None:
    log.info("%s received: stopping", signal.Signals(signum).name)
    server.exit()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    from local.logs import Logs

    try:
        config = LocalConfig.from_env()
    except ConfigError as exc:
        print(f"local stack: {exc}", file=sys.stderr)
        return 2
    problem = check_ports(config)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    try:
        logs = Logs(config.log_dir, config.verbose)
    except OSError as exc:
        print(f"local stack: cannot write its log in {config.log_dir} ({exc}): set LOCAL_LOG_DIR", file=sys.stderr)
        return 2
    from local.template import plan

    try:
        stack_plan = plan(config)
    except (TemplateError, OSError) as exc:
        print(f"local stack: cannot read {config.template_path}: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    stack = Stack(config, stack_plan)
    stack.on_ready.append(logs.ready)
    try:
        realm_id = stack.prepare()
        asyncio.run(stack.serve(realm_id))
    except StartError as exc:
        print(f"local stack: {exc}", file=sys.stderr)
        if not config.verbose:
            print(f"local stack: its full output is in {logs.path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        log.info("interrupted: stopping")
    finally:
        stack.close()
        log.info("stopped")
        logs.close()
    if not config.verbose:
        print("local stack stopped", file=sys.stderr)
    return 0

"""One warm "container" of one function: imports its handler once, then runs invocations read from stdin.

Run as a script (``python local/worker.py '<json config>'``), never imported by the function, so the function sees
the path Lambda gives it: its own folder first, then the layer (the repository root, where ``shared`` lives).
Requests arrive one JSON line at a time on stdin; answers go back as JSON lines on a private copy of the original
stdout, while fd 1 is pointed at stderr so whatever the function prints ends up in the stack's log, as in CloudWatch.
Standard library only: the function's own dependencies must not be shadowed by ours.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import signal
import sys
import time
import traceback
import uuid
from typing import Any, TextIO


class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(self, config: dict[str, Any], request_id: str, deadline_ms: int) -> None:
        self.function_name: str = config["functionName"]
        self.function_version = "$LATEST"
        self.invoked_function_arn: str = config["functionArn"]
        self.memory_limit_in_mb: int = int(config["memory"])
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name: str = config["logStream"]
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[1:],
    }


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    try:
        line = json.dumps(message, default=_json_default)
    except (TypeError, ValueError) as exc:
        line = json.dumps({"ok": False, **_error(exc, "Runtime.MarshalError")})
    channel.write(line + "\n")
    channel.flush()


def main(argv: list[str]) -> int:
    # The stack stops its workers itself; a Ctrl-C reaching the whole process group must not interrupt a handler.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config: dict[str, Any] = json.loads(argv[1])
    sys.path[0:1] = [config["codeDir"], config["layerDir"]]
    os.chdir(config["codeDir"])
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    module_name, _, attribute = str(config["handler"]).rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:
        traceback.print_exc()
        kind = "Runtime.HandlerNotFound" if isinstance(exc, AttributeError) else "Runtime.ImportModuleError"
        _send(channel, {"ready": False, **_error(exc, kind)})
        return 1
    _send(channel, {"ready": True})

    for line in sys.stdin:
        request = json.loads(line)
        request_id = str(request.get("requestId") or uuid.uuid4())
        context = LambdaContext(config, request_id, int(request["deadlineMs"]))
        try:
            result = handler(request["event"], context)
        except Exception as exc:
            print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc()
            _send(channel, {"ok": False, **_error(exc)})
            continue
        _send(channel, {"ok": True, "result": result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

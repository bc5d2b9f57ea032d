"""How long the current invocation may still work, so that no QuickBooks retry or wait outlives it.

Set once per invocation from the Lambda context (``start``); an HTTP request also ends at API Gateway's 30 s,
whatever the function's own timeout. Read by ``shared.wiring`` when it builds a QuickBooks client::

    invocation ──within(context)──▶ deadline = now + remaining (HTTP: at most 30 s) − RESERVE
    QuickBooks client: an attempt starts only with MIN_ATTEMPT_SECONDS left, waits at most what is left, and
    backs off only if the next attempt still fits; otherwise QuickBooksThrottled (503 with Retry-After to the UI,
    the message back to SQS in a worker)
    Intuit's revoke: waits at most what is left (``seconds_left``); the connect sweep starts a ticket only with
    one revoke's timeout left
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator

API_GATEWAY_SECONDS = 30.0
"""API Gateway's HTTP API answers 503 itself after 30 s, however long the function may run."""
RESERVE = 1.5
"""Kept back for answering (recording what QuickBooks said, the response) after the last call."""
MIN_ATTEMPT_SECONDS = 1.0
"""An attempt with less time than this left is not started."""

_DEADLINE: ContextVar[float | None] = ContextVar("deadline", default=None)


class RemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@contextmanager
def within(context: RemainingTime, *, http: bool, clock: float | None = None) -> Iterator[float]:
    """The invocation's deadline (epoch seconds), known to what it calls while the ``with`` lasts, and forgotten
    after: a warm container's next invocation (an SQS batch after an HTTP request, say) never inherits it."""
    now = time.time() if clock is None else clock
    remaining = context.get_remaining_time_in_millis() / 1000
    if http:
        remaining = min(remaining, API_GATEWAY_SECONDS)
    token = _DEADLINE.set(now + remaining - RESERVE)
    try:
        yield now + remaining - RESERVE
    finally:
        _DEADLINE.reset(token)


def current() -> float | None:
    """The current invocation's deadline; None outside one (a test, a tool)."""
    return _DEADLINE.get()


def seconds_left(now: float | None = None) -> float | None:
    """Seconds until the current invocation's deadline (negative: past it); None outside one."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return None
    return deadline - (time.time() if now is None else now)

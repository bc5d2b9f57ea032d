"""EventBridge, locally: PutEvents entries become events, delivered to every function whose rule pattern matches.

The matcher implements EventBridge content filtering: lists of exact values (strings, numbers, booleans, null),
``prefix``, ``suffix``, ``equals-ignore-case``, ``wildcard``, ``anything-but`` (a value, a list, or a prefix/suffix/
equals-ignore-case/wildcard), ``exists``, ``numeric``, ``cidr``, ``$or``, and nested keys. An array in the event
matches when any of its elements does. Delivery is Lambda's asynchronous invocation::

    run ......... the function, with the event
    retries ..... while it fails: the function's ``MaximumRetryAttempts`` (``EventInvokeConfig``), at most
                  ``LOCAL_ASYNC_RETRIES`` (2 like Lambda), at once instead of after minutes
    on failure .. every try failed: Lambda's destination record (``requestPayload`` = the event) is sent to the
                  function's ``OnFailure`` SQS queue, if it has one (``/_local/queues`` shows its depth);
                  else the event is dropped, as Lambda would

Nobody else sees the result.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from local.config import ACCOUNT_ID, REGION
from local.template import AsyncInvokeConfig

if TYPE_CHECKING:
    from collections.abc import Mapping

    from local.runtime import Outcome, Runtime
    from local.template import EventRule, FunctionSpec

MAX_ENTRIES = 10


def _same(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool) or expected is None or value is None:
        return type(expected) is type(value) and expected == value
    if isinstance(expected, (int, float)) and isinstance(value, (int, float)):
        return float(expected) == float(value)
    return type(expected) is type(value) and expected == value


def _string_test(kind: str, argument: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if kind in ("prefix", "suffix"):
        ignore_case = isinstance(argument, dict)
        needle = str(argument.get("equals-ignore-case", "")) if isinstance(argument, dict) else str(argument)
        haystack = value.casefold() if ignore_case else value
        needle = needle.casefold() if ignore_case else needle
        return haystack.startswith(needle) if kind == "prefix" else haystack.endswith(needle)
    if kind == "equals-ignore-case":
        return value.casefold() == str(argument).casefold()
    if kind == "wildcard":
        regex = ".*".join(re.escape(part) for part in str(argument).split("*"))
        return re.fullmatch(regex, value, flags=re.DOTALL) is not None
    return False


def _numeric(conditions: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    for index in range(0, len(conditions) - 1, 2):
        op, bound = conditions[index], float(conditions[index + 1])
        ok = {
            "=": value == bound,
            "<": value < bound,
            "<=": value <= bound,
            ">": value > bound,
            ">=": value >= bound,
        }.get(str(op))
        if not ok:
            return False
    return True


def _cidr(network: Any, value: Any) -> bool:
    try:
        return ipaddress.ip_address(str(value)) in ipaddress.ip_network(str(network), strict=False)
    except ValueError:
        return False


def _leaf(matcher: Any, value: Any) -> bool:
    """One matcher of a pattern list against one (non-array) value."""
    if not isinstance(matcher, dict):
        return _same(matcher, value)
    (kind, argument), *_ = matcher.items()
    if kind in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
        return _string_test(kind, argument, value)
    if kind == "numeric":
        return _numeric(list(argument), value)
    if kind == "cidr":
        return _cidr(argument, value)
    if kind == "anything-but":
        if isinstance(argument, dict):
            return not _leaf(argument, value)
        excluded = argument if isinstance(argument, list) else [argument]
        return not any(_same(item, value) for item in excluded)
    return False


def _field(matchers: list[Any], present: bool, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            if bool(matcher["exists"]) == present:
                return True
            continue
        if present and any(_leaf(matcher, item) for item in values):
            return True
    return False


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether ``event`` matches the EventBridge ``pattern`` (every key must match)."""
    for key, rule in pattern.items():
        if key == "$or":
            if not any(matches(option, event) for option in rule):
                return False
            continue
        present = key in event
        value = event.get(key)
        if isinstance(rule, dict):
            candidates = value if isinstance(value, list) else [value if isinstance(value, dict) else {}]
            if present and not isinstance(value, (dict, list)):
                return False
            if not any(isinstance(c, dict) and matches(rule, c) for c in candidates):
                return False
        elif isinstance(rule, list):
            if not _field(rule, present, value):
                return False
        else:
            return False
    return True


@dataclass
class EntryError(Exception):
    code: str
    message: str


def build_event(entry: Any, now: float | None = None) -> tuple[dict[str, Any], str]:
    """The event EventBridge makes of one PutEvents entry, and the bus it goes to; ``EntryError`` if malformed."""
    if not isinstance(entry, dict):
        raise EntryError("InvalidArgument", "Entry is not an object.")
    for name in ("Source", "DetailType", "Detail"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise EntryError(
                "InvalidArgument", f"Parameter {name} is not valid. Reason: {name} is a required argument."
            )
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        detail = None
    if not isinstance(detail, dict):
        raise EntryError("MalformedDetail", "Detail is malformed.")
    resources = entry.get("Resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise EntryError("InvalidArgument", "Parameter Resources is not valid.")
    bus = entry.get("EventBusName") or "default"
    if not isinstance(bus, str):
        raise EntryError("InvalidArgument", "Parameter EventBusName is not valid.")
    moment = time.time() if now is None else now
    stamp = entry.get("Time")
    if stamp is not None:
        try:
            moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise EntryError("InvalidArgument", "Parameter Time is not valid.") from None
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }
    return event, bus.rsplit("/", 1)[-1]


def invoke_async(runtime: Runtime, function: str, payload: Any, trigger: str, retries: int, **details: Any) -> Outcome:
    """Lambda's asynchronous invocation: the first run, then up to ``retries`` more while it fails."""
    outcome = runtime.invoke(function, payload, trigger, details=details)
    for attempt in range(2, retries + 2):
        if outcome.ok:
            break
        outcome = runtime.invoke(function, payload, trigger, details={**details, "attempt": attempt})
    return outcome


def destination_record(function_arn: str, payload: Any, outcome: Outcome, invocations: int) -> dict[str, Any]:
    """What Lambda sends to an ``OnFailure`` destination once an asynchronous invocation failed every try."""
    return {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": outcome.request_id or str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": invocations,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": outcome.error,
    }


class EventBus:
    """Delivers PutEvents entries to the template's rules (``POST /_local/events``).

    ``functions``: the template's, for their ``EventInvokeConfig`` (``FunctionSpec.async_invoke``); ``sqs`` sends
    to an ``OnFailure`` queue (a boto3 client of moto).
    """

    def __init__(
        self,
        runtime: Runtime,
        rules: list[EventRule],
        retries: int,
        *,
        functions: Mapping[str, FunctionSpec] | None = None,
        sqs: Any = None,
    ) -> None:
        self.runtime = runtime
        self.rules = rules
        self.retries = retries
        self.functions = dict(functions or {})
        self.sqs = sqs

    def deliver(self, event: dict[str, Any], bus: str, retries: int | None = None) -> list[Outcome]:
        """Run every function whose rule on ``bus`` matches ``event``; their outcomes (after retries)."""
        outcomes: list[Outcome] = []
        for rule in self.rules:
            if rule.bus == bus and matches(rule.pattern, event):
                payload = json.loads(rule.input) if rule.input is not None else event
                trigger = f"eventbridge {rule.event} {event['detail-type']}"
                spec = self.functions.get(rule.function)
                config = spec.async_invoke if spec is not None else AsyncInvokeConfig()
                attempts = self.retries if retries is None else retries
                if config.max_retries is not None:
                    attempts = min(attempts, config.max_retries)
                outcome = invoke_async(self.runtime, rule.function, payload, trigger, attempts, eventId=event["id"])
                if not outcome.ok and spec is not None:
                    self._on_failure(spec, payload, outcome, attempts + 1)
                outcomes.append(outcome)
        return outcomes

    def _on_failure(self, spec: FunctionSpec, payload: Any, outcome: Outcome, invocations: int) -> None:
        url = spec.async_invoke.on_failure_url
        if url is None or self.sqs is None:
            return
        record = destination_record(spec.arn, payload, outcome, invocations)
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

    def put_events(self, entries: list[Any]) -> dict[str, Any]:
        """Each entry delivered in order to every matching rule's function; answers once they have all run."""
        results: list[dict[str, Any]] = []
        for entry in entries:
            try:
                event, bus = build_event(entry)
            except EntryError as exc:
                results.append({"ErrorCode": exc.code, "ErrorMessage": exc.message})
                continue
            self.deliver(event, bus)
            results.append({"EventId": event["id"]})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}

"""Functions with more than one trigger (HTTP plus SQS or a schedule) tell their events apart here."""

from __future__ import annotations

from typing import Any


def is_http_event(event: dict[str, Any]) -> bool:
    """An API Gateway HTTP API payload 2.0 event."""
    return event.get("version") == "2.0" and "requestContext" in event


def is_scheduled_event(event: dict[str, Any]) -> bool:
    """An EventBridge schedule firing (or ``POST /_local/schedules/{name}/run`` locally)."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"

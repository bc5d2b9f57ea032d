"""JSON and clock conventions of QuickBooks' wire format.

Bodies are parsed with ``Decimal`` for every non-integer number so that no cent is ever lost, and
written back with numbers as JSON numbers (never strings). Times carry a US-Pacific offset, as the
real service stamps them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

try:
    from zoneinfo import ZoneInfo

    PACIFIC: tzinfo = ZoneInfo("America/Los_Angeles")
except Exception:  # the host may lack tzdata; a fixed PST offset still has the right shape
    PACIFIC = timezone(timedelta(hours=-8))

_escape = json.encoder.encode_basestring


class BadJson(ValueError):
    """The request body is not a JSON document."""


def loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadJson(str(exc)) from exc


def decimal_text(value: Decimal) -> str:
    """``1250.50`` -> ``1250.5``, ``100`` -> ``100.0``: QuickBooks' way of printing amounts."""
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def dumps(value: Any) -> str:
    """JSON text with ``Decimal`` written as a number, keeping every digit."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_escape(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(decimal_text(value))
    elif isinstance(value, float):
        out.append(repr(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(_escape(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__}")


def now(clock: float) -> datetime:
    return datetime.fromtimestamp(clock, UTC).astimezone(PACIFIC)


def server_time(clock: float) -> str:
    """The envelope's ``time``: milliseconds and a Pacific offset (``2026-01-05T09:12:44.512-08:00``)."""
    return now(clock).isoformat(timespec="milliseconds")


def stamp(clock: float) -> str:
    """A ``MetaData`` time: seconds and a Pacific offset (``2026-01-05T09:12:44-08:00``)."""
    return now(clock).isoformat(timespec="seconds")


def today(clock: float) -> str:
    return now(clock).date().isoformat()


def parse_datetime(text: str) -> datetime | None:
    """A query literal or stored time as an aware datetime; dates count as Pacific midnight."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=PACIFIC)

"""JSON for QuickBooks: amounts are read as Decimal and written as JSON numbers, never through float."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

_MARK = "\u0000dec:"
_MARKED = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


def _mark(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_MARK}{value:f}"
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mark(v) for v in value]
    return value


def dumps(document: Any) -> str:
    """Serialize with every ``Decimal`` written as the exact number it holds (``1250.50`` stays ``1250.50``)."""
    return _MARKED.sub(r"\1", json.dumps(_mark(document), separators=(",", ":")))


def loads(text: str | bytes) -> Any:
    """Parse with every non-integer number as ``Decimal``."""
    return json.loads(text, parse_float=Decimal)


def as_sent(document: Any) -> Any:
    """``document`` with its ``Decimal`` amounts as JSON numbers again (floats print back the digits QuickBooks
    sent), for answers that show a QuickBooks object as QuickBooks returned it."""
    return json.loads(dumps(document))

"""Page cursors at the service edge: a cursor this list did not give for these filters is a 400."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.domain.cursors import InvalidCursor, open_cursor
from shared.errors import BadRequest, FieldError

if TYPE_CHECKING:
    from collections.abc import Mapping


def opened_cursor(key: bytes, scope: Mapping[str, str], cursor: str) -> str:
    """The position a cursor holds, if it was made for ``scope`` with ``key``; else the 400 naming ``cursor``."""
    try:
        return open_cursor(key, scope, cursor)
    except InvalidCursor as exc:
        raise BadRequest(
            "The cursor is not one this list gave for these filters; start again without it.",
            errors=[FieldError("cursor", str(exc))],
        ) from exc

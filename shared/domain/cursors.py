"""Opaque, tamper-evident page cursors (contract, "Conventions": an altered or foreign cursor is a 400).

A cursor is ``base64url(position) "." base64url(HMAC-SHA256(key, scope + position))``. The position (where the
next page starts) travels in the clear but signed; the scope (tenant, list, filters) is not in the cursor at
all, only in the MAC, so a cursor of another tenant or of other filters fails the check like an altered one.
The key is derived from a secret the service already holds (``shared.wiring.cursor_key``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_CURSOR_LENGTH = 2048


class InvalidCursor(ValueError):
    """The cursor was not made by us for this tenant, list and filters (or was altered)."""


def cursor_key(secret: str) -> bytes:
    """The signing key: ``sha256("books360-cursor:" + secret)``, so the secret itself never signs anything."""
    return hashlib.sha256(("books360-cursor:" + secret).encode()).digest()


def sign_cursor(key: bytes, scope: Mapping[str, str], position: str) -> str:
    """The cursor for ``position`` (e.g. the last id of a page), good only within ``scope``."""
    encoded = _b64(position.encode())
    return f"{encoded}.{_b64(_mac(key, scope, encoded))}"


def open_cursor(key: bytes, scope: Mapping[str, str], cursor: str) -> str:
    """The position of a cursor made by ``sign_cursor`` with the same key and scope; else ``InvalidCursor``."""
    if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
        raise InvalidCursor("malformed cursor")
    encoded, signature = cursor.split(".")
    try:
        given = _unb64(signature)
        position = _unb64(encoded).decode()
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("malformed cursor") from exc
    if not hmac.compare_digest(given, _mac(key, scope, encoded)):
        raise InvalidCursor("cursor signature does not match")
    return position


def _mac(key: bytes, scope: Mapping[str, str], encoded: str) -> bytes:
    message = json.dumps(dict(scope), sort_keys=True, separators=(",", ":")) + "\n" + encoded
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Only the one canonical spelling: a changed padding bit or a stray character is an altered cursor too.
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data

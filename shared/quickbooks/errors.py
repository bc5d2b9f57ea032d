"""QuickBooks faults as typed errors, chosen by Fault code and HTTP status in one place (never by message text).

::

    AppError (shared.errors)
    ├── QuickBooksRejected (502)          any Fault we do not treat specially; carries code and message
    │   ├── ObjectNotFound                610: unknown, deleted or inactive object
    │   ├── InvalidReference              2500: a reference to a missing or inactive object
    │   ├── StaleObject                   5010: SyncToken out of date (re-read, retry once)
    │   └── DuplicateName                 6240: DisplayName/Name taken (``holder_id`` when QuickBooks names it)
    ├── QuickBooksThrottled (503)         429, 5xx or dropped connections after our retries
    └── ReauthorizationRequired (409)     the tenant must connect again (invalid_grant, 401 after refresh)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from shared.errors import QuickBooksRejected
from shared.quickbooks import _json


@dataclass(frozen=True)
class FaultDetail:
    code: str
    message: str
    detail: str
    element: str | None


class ObjectNotFound(QuickBooksRejected):
    pass


class InvalidReference(QuickBooksRejected):
    pass


class StaleObject(QuickBooksRejected):
    pass


class DuplicateName(QuickBooksRejected):
    @property
    def holder_id(self) -> str | None:
        """The id of the object holding the name, when QuickBooks says it (``... : Id=58``)."""
        found = re.search(r"Id=(\d+)", self.message)
        return found.group(1) if found else None


_BY_CODE: dict[str, type[QuickBooksRejected]] = {
    "610": ObjectNotFound,
    "2500": InvalidReference,
    "5010": StaleObject,
    "6240": DuplicateName,
}


def parse_faults(body: bytes) -> list[FaultDetail]:
    """Every Error of a Fault, from the JSON ``Fault``/``fault`` shapes or the XML one QuickBooks sends on 429."""
    text = body.strip()
    if text.startswith(b"<"):
        return _parse_xml(text)
    try:
        document = _json.loads(text)
    except ValueError:
        return []
    return faults_in(document)


def faults_in(document: Any) -> list[FaultDetail]:
    """The Errors of a parsed document (a whole answer or one batch item), in either casing."""
    if not isinstance(document, dict):
        return []
    fault = document.get("Fault") or document.get("fault")
    if not isinstance(fault, dict):
        return []
    errors = fault.get("Error") or fault.get("error") or []
    return [
        FaultDetail(
            code=str(e.get("code", "")),
            message=str(e.get("Message") or e.get("message") or ""),
            detail=str(e.get("Detail") or e.get("detail") or ""),
            element=e.get("element") or None,
        )
        for e in errors
        if isinstance(e, dict)
    ]


def _parse_xml(text: bytes) -> list[FaultDetail]:
    try:
        root = ET.fromstring(text)  # noqa: S314 - QuickBooks' own answer, no entities expanded by ElementTree
    except ET.ParseError:
        return []
    found = []
    for error in root.iter():
        if error.tag.rsplit("}", 1)[-1] != "Error":
            continue
        parts = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in error}
        found.append(FaultDetail(error.get("code", ""), parts.get("Message", ""), parts.get("Detail", ""), None))
    return found


def rejected(faults: list[FaultDetail], status: int) -> QuickBooksRejected:
    """The typed error for a non-transient Fault (the first Error decides; all are in the message)."""
    if not faults:
        return QuickBooksRejected(str(status), f"QuickBooks answered HTTP {status}")
    first = faults[0]
    message = "; ".join(f"{f.message}: {f.detail}" if f.detail else f.message for f in faults)
    return _BY_CODE.get(first.code, QuickBooksRejected)(first.code, message, element=first.element)

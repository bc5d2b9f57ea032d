"""Intuit webhook payloads, both formats, as one list of change events (contract: "Intuit webhooks")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

_CLOUDEVENT_ACTIONS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "emailed": "Emailed",
}


class ChangeEvent(BaseModel):
    """One change in one QuickBooks company. ``operation`` is the classic name (``Create`` ... ``Emailed``)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    realm_id: str
    entity: str
    entity_id: str
    operation: str
    deleted_id: str | None = None
    occurred_at: str | None = None


def removed_object_id(event: ChangeEvent, qb_entity: str) -> str | None:
    """The id of a ``qb_entity`` object this event takes away, or None (contract: "Intuit webhooks").

    A name-list object "deleted" in QuickBooks (made inactive) arrives as ``Delete``; a ``Merge`` takes away the
    object merged into another (``deletedId``), not the survivor.
    """
    if event.entity != qb_entity.lower():
        return None
    if event.operation == "Delete":
        return event.entity_id
    if event.operation == "Merge":
        return event.deleted_id
    return None


class UnreadablePayload(ValueError):
    """The body is neither Intuit format."""


def signature_matches(raw_body: bytes, signature: str | None, verifier_token: str) -> bool:
    """``intuit-signature`` is base64(HMAC-SHA256(verifier token, raw body)); compared in constant time."""
    if not signature or not verifier_token:
        return False
    expected = base64.b64encode(hmac.new(verifier_token.encode(), raw_body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, signature.strip())


def parse_events(raw_body: bytes) -> list[ChangeEvent]:
    """The CloudEvents array (Intuit's current format) or the classic ``eventNotifications`` document."""
    try:
        document = json.loads(raw_body)
    except ValueError as exc:
        raise UnreadablePayload("the body is not JSON") from exc
    if isinstance(document, list):
        return [_cloudevent(item) for item in document]
    if isinstance(document, dict) and isinstance(document.get("eventNotifications"), list):
        return [event for note in document["eventNotifications"] for event in _classic(note)]
    raise UnreadablePayload("neither a CloudEvents array nor eventNotifications")


def _cloudevent(item: Any) -> ChangeEvent:
    if not isinstance(item, dict):
        raise UnreadablePayload("a CloudEvent is not an object")
    kind = str(item.get("type", "")).split(".")
    if len(kind) != 4 or kind[0] != "qbo" or kind[2] not in _CLOUDEVENT_ACTIONS:
        raise UnreadablePayload(f"unknown event type {item.get('type')!r}")
    data: dict[str, Any] = item["data"] if isinstance(item.get("data"), dict) else {}
    try:
        return ChangeEvent(
            event_id=str(item["id"]),
            realm_id=str(item["intuitaccountid"]),
            entity=kind[1].lower(),
            entity_id=str(item["intuitentityid"]),
            operation=_CLOUDEVENT_ACTIONS[kind[2]],
            deleted_id=str(data["deletedid"]) if data.get("deletedid") is not None else None,
            occurred_at=item.get("time"),
        )
    except KeyError as exc:
        raise UnreadablePayload(f"a CloudEvent lacks {exc.args[0]}") from exc


def _classic(note: Any) -> list[ChangeEvent]:
    if not isinstance(note, dict) or "realmId" not in note:
        raise UnreadablePayload("a notification lacks realmId")
    entities = (note.get("dataChangeEvent") or {}).get("entities") or []
    events = []
    for entity in entities:
        try:
            parts = [str(note["realmId"]), entity["name"], str(entity["id"]), entity["operation"]]
        except (KeyError, TypeError) as exc:
            raise UnreadablePayload("an entity lacks name, id or operation") from exc
        last_updated = str(entity.get("lastUpdated", ""))
        # The classic format has no event id: the same change always hashes to the same one.
        digest = hashlib.sha256("|".join([*parts, last_updated]).encode()).hexdigest()[:32]
        events.append(
            ChangeEvent(
                event_id=f"classic-{digest}",
                realm_id=parts[0],
                entity=parts[1].lower(),
                entity_id=parts[2],
                operation=parts[3],
                deleted_id=str(entity["deletedId"]) if entity.get("deletedId") is not None else None,
                occurred_at=last_updated or None,
            )
        )
    return events

"""Intuit webhook payloads, both formats, as one list of change events (contract: "Intuit webhooks"), and what
an event does to a link: a customer or vendor taken away (``removed_object_id``), an invoice or payment deleted
or voided (``transaction_gone``, ``invoice_link_after``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.domain.invoices import SyncStatus

if TYPE_CHECKING:
    from shared.domain.invoices import InvoiceLink

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


TRANSACTION_ENTITIES = {"invoice": "Invoice", "payment": "Payment"}
"""The QuickBooks entities a Books360 invoice's link holds, by the lower-case name a ``ChangeEvent`` carries."""


@dataclass(frozen=True)
class TransactionGone:
    """A QuickBooks invoice or payment deleted (``voided`` False) or voided in QuickBooks."""

    qb_entity: str  # "Invoice" or "Payment", as the guard items name it
    qb_id: str
    voided: bool

    @property
    def what(self) -> str:
        return "voided" if self.voided else "deleted"


def transaction_gone(event: ChangeEvent) -> TransactionGone | None:
    """The invoice or payment this event deletes or voids (classic ``Delete``/``Void``, CloudEvents
    ``qbo.invoice.deleted.v1``, ``qbo.payment.voided.v1``...), or None."""
    qb_entity = TRANSACTION_ENTITIES.get(event.entity)
    if qb_entity is None or event.operation not in ("Delete", "Void"):
        return None
    return TransactionGone(qb_entity, event.entity_id, voided=event.operation == "Void")


def invoice_link_after(link: InvoiceLink, gone: TransactionGone) -> InvoiceLink | None:
    """A Books360 invoice's link after QuickBooks deleted or voided one of its objects; None when nothing changes
    (the object is not, or no longer, one the link holds; or the same news was noted already: a repeat).

    * invoice deleted: the link shows ``deleted_in_qb`` and keeps the deleted invoice (View QB Info shows it
      ``{"id", "deleted": true}``; a sync answers 409 until the user unlinks); nothing is unlinked here.
    * invoice voided: it still exists in QuickBooks (zeroed), so the status stays as it was (``synced``) and
      ``lastError`` says it was voided; the next successful sync that writes something clears it.
    * payment deleted or voided: dropped from ``payments`` with its generation moved on (``payment:{id}``), so
      the next sync writes it again under a new ``requestid`` (the old one would replay the gone payment); the
      status stays, ``lastError`` says so.

    Notes accumulate in ``lastError`` (a deleted payment of an invoice later deleted too keeps both), never twice.
    """
    if gone.qb_entity == "Payment":
        key = next((k for k, w in sorted(link.payments.items()) if w.qb_id == gone.qb_id), None)
        if key is None:
            return None
        target = f"payment:{key}"
        return replace(
            link,
            payments={k: w for k, w in link.payments.items() if k != key},
            generations={**link.generations, target: link.generation(target) + 1},
            last_error=_noted(
                link.last_error,
                f"QuickBooks payment {gone.qb_id} was {gone.what} in QuickBooks; the next sync writes it again.",
            ),
        )
    if not any(w.qb_id == gone.qb_id for w in link.parts.values()):
        return None
    note = f"QuickBooks invoice {gone.qb_id} was {gone.what} in QuickBooks."
    if gone.voided:
        after = replace(link, last_error=_noted(link.last_error, note))
    elif link.status is SyncStatus.FAILED:
        # What the last sync was refused for no longer matters: the invoice must be unlinked before anything else.
        after = replace(link, status=SyncStatus.DELETED_IN_QB, last_error=note)
    else:
        after = replace(link, status=SyncStatus.DELETED_IN_QB, last_error=_noted(link.last_error, note))
    return None if after == link else after


def _noted(previous: str | None, note: str) -> str:
    if not previous:
        return note
    return previous if note in previous else f"{previous} {note}"


class UnreadablePayload(ValueError):
    """The body is neither Intuit format."""


def signature_matches(raw_body: bytes, signature: str | None, verifier_token: str) -> bool:
    """``intuit-signature`` is base64(HMAC-SHA256(verifier token, raw body)); compared in constant time."""
    if not signature or not verifier_token:
        return False
    expected = base64.b64encode(hmac.new(verifier_token.encode(), raw_body, hashlib.sha256).digest())
    # Bytes, not str: compare_digest refuses a str with non-ASCII characters (a TypeError, so a 500), and a header
    # is whatever the sender put there.
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "surrogatepass"))


def parse_events(raw_body: bytes) -> list[ChangeEvent]:
    """The CloudEvents array (Intuit's current format) or the classic ``eventNotifications`` document."""
    try:
        document = json.loads(raw_body)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested a few thousand levels deep
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
    except ValidationError as exc:  # "time": [] or 5 is no Intuit event (it was a 500: found by the fuzz)
        raise UnreadablePayload("a CloudEvent's time is not a string") from exc


def _classic(note: Any) -> list[ChangeEvent]:
    if not isinstance(note, dict) or "realmId" not in note:
        raise UnreadablePayload("a notification lacks realmId")
    # Any other shape ("dataChangeEvent": true, "entities": 5, "name": 7) is no Intuit notification (each was a 500:
    # found by tests/e2e/test_fuzz_openapi.py).
    change = note.get("dataChangeEvent") or {}
    entities = (change.get("entities") if isinstance(change, dict) else change) or []
    if not isinstance(entities, list):
        raise UnreadablePayload("dataChangeEvent.entities is not a list")
    events = []
    for entity in entities:
        try:
            parts = [str(note["realmId"]), entity["name"], str(entity["id"]), entity["operation"]]
        except (KeyError, TypeError) as exc:
            raise UnreadablePayload("an entity lacks name, id or operation") from exc
        if not isinstance(parts[1], str) or not isinstance(parts[3], str):
            raise UnreadablePayload("an entity's name or operation is not a string")
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

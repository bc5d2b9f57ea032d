"""Connect tickets: the callback's tokens held *pending* until the tenant that started the connect confirms.

The authorize URL can be forwarded, so the browser that comes back from Intuit may not be the starter's. The
callback exchanges the code, keeps the tokens in a pending secret (Secrets Manager, ``TokenVault.put_pending``)
and answers a fresh single-use ticket; only ``POST /quickbooks/connection/confirm`` with the ticket *and* a
token of the tenant that started the connect makes them the tenant's. The item here says whose the ticket is and
which company it names; it is keyed by the ticket's SHA-256 (the raw value never rests in the table) and sits
in the sparse index ``PENDINGCONNECT`` by expiry, so the sweep finds the unconfirmed ones without a scan.

Who gets the tokens is decided by a claim on the ticket, whichever comes first, made before either touches a
secret::

    confirm ... ``claim_for_confirm`` sets ``confirmingUntil`` (a minute) ── only if neither ``swept`` nor
                ``confirmed``: then the tenant's secret is written, and the connect's transaction sets ``confirmed``
                (only if not ``swept``)
    sweep ..... ``claim_for_sweep`` sets ``swept`` ── only if not ``confirmed`` and no confirm's claim is unexpired:
                then it revokes them (a ticket a confirm holds is left for the next sweep)

A confirm that read the ticket just before it expired and a sweep that read it just after cannot both win: the
loser's claim fails (a confirm's 409, before it wrote the tenant's secret; a sweep that leaves the connect alone).
A confirm that claimed and then died lets the sweep claim the ticket once its minute is over.

The callback writes the ticket *before* the pending secret: the sweep knows of every pending secret there is
(a secret written without its ticket would be found by nobody), and a ticket without its secret is forgotten.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from shared.store.table import ConditionFailed

if TYPE_CHECKING:
    from shared.store.table import Table

PENDING_INDEX = "PENDINGCONNECT"
# DynamoDB's TTL is only the backstop of the sweep (which revokes first): a day after the ticket expired.
_TTL_GRACE = timedelta(days=1)
_SK = "CONNECTTICKET"
CONFIRM_CLAIM = timedelta(minutes=1)
"""How long a confirm's claim keeps the sweep off the ticket: longer than any confirm runs (API Gateway's 30 s)."""


def ticket_digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


@dataclass(frozen=True)
class PendingConnect:
    digest: str
    tenant_id: str
    state_digest: str
    previous_status: str
    realm_id: str
    company_name: str
    expires_at: datetime
    confirmed: bool
    swept: bool = False


class ConnectTicketStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def put(
        self,
        ticket: str,
        *,
        tenant_id: str,
        state_digest: str,
        previous_status: str,
        realm_id: str,
        company_name: str,
        expires_at: datetime,
    ) -> PendingConnect:
        """Hold a ticket until ``expires_at`` (the OAuth state's expiry: the ticket expires with the state)."""
        digest = ticket_digest(ticket)
        self.table.put(
            {
                "pk": _pk(digest),
                "sk": _SK,
                "tenantId": tenant_id,
                "stateDigest": state_digest,
                "previousStatus": previous_status,
                "realmId": realm_id,
                "companyName": company_name,
                "ticketExpiresAt": expires_at.isoformat(),
                "gsi1pk": PENDING_INDEX,
                "gsi1sk": f"{expires_at.isoformat()}#{digest}",
                "expiresAt": int((expires_at + _TTL_GRACE).timestamp()),
            }
        )
        return PendingConnect(
            digest, tenant_id, state_digest, previous_status, realm_id, company_name, expires_at, confirmed=False
        )

    def get(self, ticket: str) -> PendingConnect | None:
        return _pending(self.table.get(_pk(ticket_digest(ticket)), _SK))

    def confirm_action(self, digest: str) -> dict[str, Any]:
        """A ``Table.transact`` action: the ticket is used (it exists and was not used yet), in the connect's own
        transaction, so two confirms of one ticket connect once."""
        update = self.table.update_action(
            _pk(digest),
            _SK,
            set_values={"confirmed": True},
            condition="attribute_exists(pk) AND attribute_not_exists(#confirmed) AND attribute_not_exists(#swept)",
        )
        return {"Update": update}

    def claim_for_confirm(self, digest: str, now: datetime) -> bool:
        """A confirm takes the ticket's tokens before it writes them as the tenant's: False if the sweep claimed
        them (or the ticket is used or gone). Claiming again is harmless (a confirm retried after a 503)."""
        try:
            self.table.update(
                _pk(digest),
                _SK,
                set_values={"confirmingUntil": int((now + CONFIRM_CLAIM).timestamp())},
                condition="attribute_exists(pk) AND attribute_not_exists(#confirmed) AND attribute_not_exists(#swept)",
            )
        except ConditionFailed:
            return False
        return True

    def claim_for_sweep(self, digest: str, now: datetime) -> Literal["claimed", "taken", "confirming"]:
        """The sweep takes the ticket's tokens to revoke them: ``claimed``; ``taken`` if a confirm used them (or
        the ticket is gone); ``confirming`` while a confirm's claim is unexpired (left for the next sweep).

        Claiming again is harmless (a sweep that could not revoke tries again next time)."""
        try:
            self.table.update(
                _pk(digest),
                _SK,
                set_values={"swept": True},
                condition="attribute_exists(pk) AND attribute_not_exists(#confirmed) AND "
                "(attribute_not_exists(#confirmingUntil) OR #confirmingUntil <= :now)",
                values={"now": int(now.timestamp())},
                old_on_failure=True,
            )
        except ConditionFailed as refused:
            item = refused.item
            return "taken" if item is None or item.get("confirmed") else "confirming"
        return "claimed"

    def expired(self, now: datetime) -> list[PendingConnect]:
        """The tickets past their lifetime, confirmed or not (the sweep forgets both, and revokes the others)."""
        found = (_pending(item) for item in self.table.query_index(PENDING_INDEX))
        return [pending for pending in found if pending is not None and pending.expires_at <= now]

    def forget(self, digest: str) -> None:
        self.table.delete(_pk(digest), _SK)


def _pk(digest: str) -> str:
    return f"CONNECTTICKET#{digest}"


def _pending(item: dict[str, Any] | None) -> PendingConnect | None:
    if item is None:
        return None
    return PendingConnect(
        digest=str(item["pk"]).removeprefix("CONNECTTICKET#"),
        tenant_id=item["tenantId"],
        state_digest=item["stateDigest"],
        previous_status=item["previousStatus"],
        realm_id=item["realmId"],
        company_name=item["companyName"],
        expires_at=datetime.fromisoformat(item["ticketExpiresAt"]),
        confirmed=bool(item.get("confirmed")),
        swept=bool(item.get("swept")),
    )

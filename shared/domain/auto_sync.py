"""Automatic sync ("Automatically create invoices for synced customers"; contract: "Automatic sync"): pure rules.

Whether a changed invoice is synced without the user, and when not, why in words the Invoices tab shows as
``lastError``. Off (or not connected) is no reason to show: nothing is written, as the user asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.invoices import SyncStatus
from shared.domain.parties import LinkStatus

if TYPE_CHECKING:
    from shared.domain.invoices import InvoiceLink
    from shared.domain.parties import Party

NOT_LINKED = "Not synced automatically: the client is not linked to a QuickBooks customer."
NO_EMAIL = "Not synced automatically: the client has no email."
UNKNOWN_CLIENT = "Not synced automatically: the client is not known to the sync."
CUSTOMER_DELETED = "Not synced automatically: the client's QuickBooks customer was deleted in QuickBooks."
NOT_AUTOMATIC = "Not synced automatically: "
"""The start of every note this feature writes (a note is replaced, never stacked, by the next one)."""

MAX_AUTO_FAILURES = 5
"""Automatic tries of one version that QuickBooks refused (or that stayed busy) before the schedule stops
trying it: a refusal that never changes (a closed period, an invalid field) is not sent every 15 minutes for
good. It stays ``failed`` with QuickBooks' words; a change in Books360 or "Sync with QB" tries again."""


@dataclass(frozen=True)
class Verdict:
    """``due``: sync it now; else ``note`` (or None: nothing to say, e.g. the setting is off) says why not."""

    due: bool
    note: str | None = None


def verdict(*, auto_on: bool, realm_id: str | None, client: Party | None) -> Verdict:
    """Rule (guide, "Automatically create invoices for synced customers"): with the setting on, an invoice of a
    client linked to a QuickBooks customer of the connected company, and with an email, is synced; an invoice of
    an unlinked client, or of a client without email, is left alone and shown with why."""
    if not auto_on or realm_id is None:
        return Verdict(due=False)
    if client is None:
        return Verdict(due=False, note=UNKNOWN_CLIENT)
    link = client.link_in(realm_id)
    if link is None:
        return Verdict(due=False, note=NOT_LINKED)
    if link.status is LinkStatus.DELETED_IN_QB:
        return Verdict(due=False, note=CUSTOMER_DELETED)
    if client.email_missing:
        return Verdict(due=False, note=NO_EMAIL)
    return Verdict(due=True)


def needs_sync(link: InvoiceLink | None, version: int) -> bool:
    """Rule (contract, "Automatic sync"): an invoice is caught up when it is unsynced, failed or changed since its
    last sync in the connected company (``link``: its link there). One QuickBooks deleted is not: the user
    unlinks it first (then it is unsynced)."""
    if link is None or link.status in (SyncStatus.UNSYNCED, SyncStatus.FAILED):
        return True
    return link.status is SyncStatus.SYNCED and link.synced_version != version

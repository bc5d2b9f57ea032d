"""Pure domain: Books360 objects, QuickBooks documents, the mapping rules and statuses. No I/O here."""

from shared.domain.connection import Connection, ConnectionStatus
from shared.domain.lists import BankAccount, CompanyLists, PaymentMethod, merge_lists
from shared.domain.parties import PARTY_KINDS, Link, LinkStatus, Party, PartyFilters, PartyKind
from shared.domain.settings import PaymentTarget, Settings, resolve_payment_target, settings_violations
from shared.domain.types import QbId, TenantId

__all__ = [
    "PARTY_KINDS",
    "BankAccount",
    "CompanyLists",
    "Connection",
    "ConnectionStatus",
    "Link",
    "LinkStatus",
    "Party",
    "PartyFilters",
    "PartyKind",
    "PaymentMethod",
    "PaymentTarget",
    "QbId",
    "Settings",
    "TenantId",
    "merge_lists",
    "resolve_payment_target",
    "settings_violations",
]

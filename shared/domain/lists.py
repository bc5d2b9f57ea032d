"""A company's QuickBooks lists: bank accounts and payment methods (guide: "Update Lists").

The guide: "All entities are saved in the Bank Accounts directory, but only records with the Type = "Bank"
and "Other Current Asset" parameter can be linked to a payment." So every Account is kept, and ``linkable``
says which ones a payment mapping may point at.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, field_validator

from shared.domain.types import QbId

if TYPE_CHECKING:
    from collections.abc import Iterable, Set

LINKABLE_ACCOUNT_TYPES = frozenset({"Bank", "Other Current Asset"})
"""QuickBooks AccountTypes a payment may be deposited to (guide: "Update Lists", the note on Type)."""


class BankAccount(BaseModel):
    """One QuickBooks Account as QuickBooks describes it; the guide calls the whole chart "Bank Accounts"."""

    model_config = ConfigDict(frozen=True)

    id: QbId
    name: str
    account_type: str
    account_sub_type: str | None = None
    active: bool = True

    @computed_field  # type: ignore[prop-decorator]
    @property
    def linkable(self) -> bool:
        """Only Bank and Other Current Asset accounts can take a payment (guide: "Update Lists")."""
        return self.account_type in LINKABLE_ACCOUNT_TYPES


class PaymentMethod(BaseModel):
    """One QuickBooks PaymentMethod (Cash, Check, Visa, ...); ``type`` is QuickBooks' CREDIT_CARD or NON_CREDIT_CARD."""

    model_config = ConfigDict(frozen=True)

    id: QbId
    name: str
    type: str | None = None
    active: bool = True


class CompanyLists(BaseModel):
    """The lists of one QuickBooks company (``realm_id``) as last read by "Update Lists"."""

    model_config = ConfigDict(frozen=True)

    realm_id: QbId
    updated_at: AwareDatetime
    bank_accounts: list[BankAccount] = Field(default_factory=list)
    payment_methods: list[PaymentMethod] = Field(default_factory=list)

    @field_validator("updated_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def bank_account(self, account_id: str) -> BankAccount | None:
        """The account with that id, or None when QuickBooks never returned it."""
        return next((a for a in self.bank_accounts if a.id == account_id), None)

    def payment_method(self, method_id: str) -> PaymentMethod | None:
        """The payment method with that id, or None when QuickBooks never returned it."""
        return next((m for m in self.payment_methods if m.id == method_id), None)


_Entry = TypeVar("_Entry", BankAccount, PaymentMethod)


def merge_lists(
    previous: CompanyLists | None,
    fetched_accounts: Iterable[BankAccount],
    fetched_methods: Iterable[PaymentMethod],
    *,
    referenced_account_ids: Set[str],
    referenced_method_ids: Set[str],
    realm_id: str,
    now: datetime,
) -> CompanyLists:
    """The lists to store after "Update Lists" read ``fetched_*`` from QuickBooks company ``realm_id`` at ``now``.

    Guide, "Update Lists": every entity is saved, as QuickBooks says it is (active or not, linkable or not).
    Issue 4: an entry that vanished from QuickBooks stays, with ``active: false``, while a setting still points at
    it, so the settings screen can show why; otherwise it is dropped. Lists of another company are never merged.
    """
    same_company = previous is not None and previous.realm_id == realm_id
    return CompanyLists(
        realm_id=realm_id,
        updated_at=now,
        bank_accounts=_merge(
            previous.bank_accounts if previous is not None and same_company else [],
            fetched_accounts,
            referenced_account_ids,
        ),
        payment_methods=_merge(
            previous.payment_methods if previous is not None and same_company else [],
            fetched_methods,
            referenced_method_ids,
        ),
    )


def _merge(previous: Iterable[_Entry], fetched: Iterable[_Entry], referenced: Set[str]) -> list[_Entry]:
    # Paged reads can return an entry twice when QuickBooks changes between pages: the last one read wins.
    merged = {entry.id: entry for entry in fetched}
    for entry in previous:
        if entry.id not in merged and entry.id in referenced:
            merged[entry.id] = entry.model_copy(update={"active": False})
    return sorted(merged.values(), key=lambda entry: (entry.name.casefold(), entry.id))

"""QuickBooks documents (Intuit's PascalCase) to and from the domain's models: the one place they meet."""

from __future__ import annotations

from typing import Any

from shared.domain.lists import BankAccount, PaymentMethod


def bank_account(document: dict[str, Any]) -> BankAccount:
    """A QuickBooks Account as one entry of the "Bank Accounts" directory."""
    return BankAccount(
        id=str(document["Id"]),
        name=str(document.get("Name", "")),
        account_type=str(document.get("AccountType", "")),
        account_sub_type=document.get("AccountSubType"),
        active=bool(document.get("Active", True)),
    )


def payment_method(document: dict[str, Any]) -> PaymentMethod:
    return PaymentMethod(
        id=str(document["Id"]),
        name=str(document.get("Name", "")),
        type=document.get("Type"),
        active=bool(document.get("Active", True)),
    )

"""QuickBooks documents (Intuit's PascalCase) to and from the domain's models: the one place they meet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.domain.lists import BankAccount, PaymentMethod
from shared.domain.parties import marker_for

if TYPE_CHECKING:
    from shared.domain.parties import Party, PartyKind


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


def party_document(kind: PartyKind, party: Party, display_name: str) -> dict[str, Any]:
    """The QuickBooks Customer/Vendor we create for a Books360 client/vendor (contract: "How Books360 objects
    become QuickBooks objects"), carrying our marker in ``kind.marker_field`` (Customer ``Notes``, Vendor ``AcctNum``).
    """
    document: dict[str, Any] = {"DisplayName": display_name, kind.marker_field: marker_for(kind, party.party_id)}
    if party.company_name:
        document["CompanyName"] = party.company_name
    if party.email and party.email.strip():
        document["PrimaryEmailAddr"] = {"Address": party.email.strip()}
    if party.phone:
        document["PrimaryPhone"] = {"FreeFormNumber": party.phone}
    address = party.billing_address
    if address is not None:
        lines = {
            "Line1": address.line1,
            "City": address.city,
            "CountrySubDivisionCode": address.region,
            "PostalCode": address.postal_code,
            "Country": address.country,
        }
        bill_addr = {key: value for key, value in lines.items() if value}
        if bill_addr:
            document["BillAddr"] = bill_addr
    return document

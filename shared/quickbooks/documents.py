"""QuickBooks documents (Intuit's PascalCase) to and from the domain's models: the one place they meet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.domain.lists import BankAccount, PaymentMethod
from shared.domain.parties import marker_for
from shared.quickbooks import models

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shared.domain.invoices import InvoiceDocument, PaymentDocument
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


def party_document(kind: PartyKind, party: Party, display_name: str, tenant_id: str) -> dict[str, Any]:
    """The QuickBooks Customer/Vendor we create for a Books360 client/vendor (contract: "How Books360 objects
    become QuickBooks objects"), carrying our marker (naming the party and ``tenant_id``) in ``kind.marker_field``
    (Customer ``Notes``, Vendor ``AcctNum``).
    """
    document: dict[str, Any] = {
        "DisplayName": display_name,
        kind.marker_field: marker_for(kind, party.party_id, tenant_id),
    }
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


# -- invoices and payments ---------------------------------------------------------------------------------


def invoice_document(document: InvoiceDocument, *, customer_id: str) -> models.Invoice:
    """The QuickBooks Invoice for one part of a Books360 invoice (contract: "How Books360 objects become
    QuickBooks objects"): one SalesItemLineDetail line per line, our marker in ``PrivateNote``."""
    return models.Invoice(
        CustomerRef=models.Ref(value=customer_id),
        DocNumber=document.doc_number,
        TxnDate=document.txn_date.isoformat(),
        DueDate=document.due_date.isoformat() if document.due_date else None,
        PrivateNote=document.private_note,
        BillEmail=models.EmailAddress(Address=document.bill_email) if document.bill_email else None,
        Line=[
            models.InvoiceLine(
                Amount=line.amount,
                Description=line.description or None,
                SalesItemLineDetail=models.SalesItemDetail(
                    ItemRef=models.Ref(value=document.item_id),
                    ServiceDate=line.service_date.isoformat() if line.service_date else None,
                ),
            )
            for line in document.lines
        ],
        CustomField=[
            models.StringCustomField(DefinitionId=f.definition_id, Name=f.name, StringValue=f.value)
            for f in document.custom_fields
        ],
    )


def payment_document(document: PaymentDocument, *, customer_id: str, invoice_ids: Mapping[str, str]) -> models.Payment:
    """The QuickBooks Payment for one Books360 payment, its lines applied to the parts' QuickBooks invoices."""
    return models.Payment(
        CustomerRef=models.Ref(value=customer_id),
        TotalAmt=document.amount,
        TxnDate=document.txn_date.isoformat(),
        DepositToAccountRef=models.Ref(value=document.bank_account_id) if document.bank_account_id else None,
        PaymentMethodRef=models.Ref(value=document.payment_method_id) if document.payment_method_id else None,
        PrivateNote=document.private_note,
        Line=[
            models.PaymentLine(Amount=a.amount, LinkedTxn=[models.TxnLink(TxnId=invoice_ids[a.part_key])])
            for a in document.applications
        ],
    )


def invoice_custom_fields(preferences: dict[str, Any]) -> dict[str, str]:
    """The company's enabled invoice custom fields, name -> ``DefinitionId`` (Preferences ``SalesFormsPrefs``:
    ``UseSalesCustomN`` true and ``SalesCustomNameN`` set, qbo-api-facts §2.9)."""
    entries: dict[str, Any] = {}
    for group in (preferences.get("SalesFormsPrefs") or {}).get("CustomField") or []:
        for entry in group.get("CustomField") or [] if isinstance(group, dict) else []:
            if isinstance(entry, dict) and entry.get("Name"):
                entries[str(entry["Name"])] = entry.get("BooleanValue", entry.get("StringValue"))
    fields = {}
    for number in ("1", "2", "3"):
        name = entries.get(f"SalesFormsPrefs.SalesCustomName{number}")
        if entries.get(f"SalesFormsPrefs.UseSalesCustom{number}") is True and isinstance(name, str) and name:
            fields[name] = number
    return fields

"""Intuit's python-quickbooks against the emulator, changed only in its base URL.

If python-quickbooks cannot do something here that it can do against QuickBooks, the emulator is wrong.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from intuitlib import config as intuit_config
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment, PaymentLine
from quickbooks.objects.preferences import Preferences

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.emulator.conftest import Company, RunningEmulator


@pytest.fixture
def qb_factory(
    emulator: RunningEmulator, company: Company, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., QuickBooks]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setitem(
        intuit_config.DISCOVERY_URL, "sandbox", f"{emulator.url}/.well-known/openid_sandbox_configuration/"
    )
    monkeypatch.setattr(QuickBooks, "sandbox_api_url_v3", f"{emulator.url}/v3")
    monkeypatch.setattr(QuickBooks, "api_url_v3", f"{emulator.url}/v3")
    config = emulator.state.config

    def make(**options: object) -> QuickBooks:
        auth_client = AuthClient(config.client_id, config.client_secret, "http://127.0.0.1:8765/cb", "sandbox")
        auth_client.access_token = company.token
        return QuickBooks(auth_client=auth_client, company_id=company.realm_id, minorversion=75, **options)

    return make


@pytest.fixture
def qb(qb_factory: Callable[..., QuickBooks]) -> QuickBooks:
    return qb_factory()


def new_customer(qb: QuickBooks, name: str) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    customer.CompanyName = f"{name} Ltd"
    return customer.save(qb=qb)


def new_invoice(qb: QuickBooks, customer: Customer, amount: object) -> Invoice:
    services = Item.get(1, qb=qb)
    detail = SalesItemLineDetail()
    detail.ItemRef = services.to_ref()
    line = SalesItemLine()
    line.Amount = amount
    line.Description = "Ad spend"
    line.SalesItemLineDetail = detail
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line = [line]
    return invoice.save(qb=qb)


def test_customer_create_query_update_inactivate(qb: QuickBooks) -> None:
    # GIVEN a customer created through python-quickbooks
    created = new_customer(qb, "PQ Acme")

    # WHEN it is found with filter, where and count, then updated and made inactive
    by_filter = Customer.filter(DisplayName="PQ Acme", qb=qb)
    by_where = Customer.where("DisplayName LIKE 'PQ%'", qb=qb)
    count = Customer.count("DisplayName LIKE 'PQ%'", qb=qb)
    fetched = Customer.get(created.Id, qb=qb)
    fetched.Notes = "Top client"
    updated = fetched.save(qb=qb)
    updated.Active = False
    inactive = updated.save(qb=qb)

    # THEN every step saw QuickBooks' answers
    assert [c.Id for c in by_filter] == [created.Id]
    assert [c.DisplayName for c in by_where] == ["PQ Acme"]
    assert count == 1
    assert updated.SyncToken == "1"
    assert updated.Notes == "Top client"
    assert updated.CompanyName == "PQ Acme Ltd"
    assert inactive.Active is False
    assert Customer.filter(DisplayName="PQ Acme", qb=qb) == []
    assert [c.Id for c in Customer.filter(Active=False, qb=qb)] == [created.Id]


def test_customer_duplicate_name_raises_with_code_6240(qb: QuickBooks) -> None:
    # GIVEN a customer
    existing = new_customer(qb, "PQ Twice")

    # WHEN another one takes its name
    with pytest.raises(QuickbooksException) as raised:
        new_customer(qb, "PQ Twice")

    # THEN python-quickbooks raises with QuickBooks' code and the holder's Id in the detail
    assert raised.value.error_code == 6240
    assert f"Id={existing.Id}" in raised.value.detail


def test_invoice_create_update_delete(qb: QuickBooks) -> None:
    # GIVEN an invoice of 250.50
    customer = new_customer(qb, "PQ Invoiced")
    invoice = new_invoice(qb, customer, 250.50)
    assert invoice.TotalAmt == 250.5

    # WHEN it is read, changed and saved whole (its SubTotal line included), then deleted
    fetched = Invoice.get(invoice.Id, qb=qb)
    fetched.PrivateNote = "Books360 invoice"
    updated = fetched.save(qb=qb)
    updated.delete(qb=qb)

    # THEN the total did not change on update and the invoice is gone afterwards
    assert updated.TotalAmt == 250.5
    assert updated.PrivateNote == "Books360 invoice"
    assert updated.SyncToken == "1"
    assert Invoice.count(qb=qb) == 0
    with pytest.raises(ObjectNotFoundException):
        Invoice.get(invoice.Id, qb=qb)


def test_invoice_void_zeroes_balance(qb: QuickBooks) -> None:
    # GIVEN an invoice
    invoice = new_invoice(qb, new_customer(qb, "PQ Voided"), 40)

    # WHEN it is voided with python-quickbooks
    invoice.void(qb=qb)

    # THEN the invoice has nothing left to pay
    assert Invoice.get(invoice.Id, qb=qb).Balance == 0


def test_payment_linked_to_invoice_lowers_balance(qb_factory: Callable[..., QuickBooks]) -> None:
    # GIVEN a client with use_decimal (Decimal amounts go out as JSON strings) and an invoice of 100.10
    qb = qb_factory(use_decimal=True)
    customer = new_customer(qb, "PQ Payer")
    invoice = new_invoice(qb, customer, Decimal("100.10"))

    # WHEN a payment of 60.05 is linked to it
    link = LinkedTxn()
    link.TxnId = invoice.Id
    link.TxnType = "Invoice"
    line = PaymentLine()
    line.Amount = Decimal("60.05")
    line.LinkedTxn = [link]
    payment = Payment()
    payment.TotalAmt = Decimal("60.05")
    payment.CustomerRef = customer.to_ref()
    payment.Line = [line]
    saved = payment.save(qb=qb)

    # THEN the invoice balance is lower by exactly that amount
    balance = Invoice.get(invoice.Id, qb=qb).Balance
    assert balance == Decimal("40.05")
    assert isinstance(balance, Decimal)
    assert saved.UnappliedAmt == 0


def test_batch_create_reports_successes_and_faults(qb: QuickBooks) -> None:
    # GIVEN two new customers and one with a taken name
    new_customer(qb, "PQ Batch Taken")
    customers = []
    for name in ("PQ Batch 1", "PQ Batch 2", "PQ Batch Taken"):
        customer = Customer()
        customer.DisplayName = name
        customers.append(customer)

    # WHEN they are created in one batch
    result = batch_create(customers, qb=qb)

    # THEN python-quickbooks sorts them into successes and faults
    assert sorted(c.DisplayName for c in result.successes) == ["PQ Batch 1", "PQ Batch 2"]
    assert [f.Error[0].code for f in result.faults] == ["6240"]
    assert Customer.count("DisplayName LIKE 'PQ Batch%'", qb=qb) == 3


def test_item_ref_and_reference_names(qb: QuickBooks) -> None:
    # GIVEN the sandbox item Services
    services = Item.get(1, qb=qb)

    # WHEN its reference is used
    ref = services.to_ref()

    # THEN it is the QuickBooks Services item, tied to an income account
    assert isinstance(ref, Ref)
    assert services.Name == "Services"
    assert services.IncomeAccountRef.value


def test_company_info_preferences_and_cdc(qb: QuickBooks, company: Company) -> None:
    # GIVEN a company with a customer
    new_customer(qb, "PQ Changed")

    # WHEN CompanyInfo, Preferences and CDC are read through python-quickbooks
    info = CompanyInfo.get(company.realm_id, qb=qb)
    prefs = Preferences.get(qb=qb)
    changed = change_data_capture([Customer, Invoice], "2000-01-01T00:00:00-08:00", qb=qb)

    # THEN each parses into its objects
    assert info.CompanyName == "Test Co"
    assert prefs.SalesFormsPrefs.CustomTxnNumbers is False
    # QuickBooks nests the definitions in lists (qbo-api-facts 2.9); python-quickbooks leaves them as dicts.
    assert prefs.SalesFormsPrefs.CustomField[1]["CustomField"][0]["StringValue"] == "CampaignId"
    assert [c.DisplayName for c in changed.Customer] == ["PQ Changed"]


def test_payment_void_and_delete_restore_invoice_balance(qb: QuickBooks, company: Company) -> None:
    # GIVEN an invoice of 80 with two payments of 30 applied (python-quickbooks sends 11 calls back to back: over
    # QuickBooks' 10 a second, lifted for this test)
    company.allow_bursts()
    customer = new_customer(qb, "PQ Refunded")
    invoice = new_invoice(qb, customer, 80)
    payments = []
    for _ in range(2):
        link = LinkedTxn()
        link.TxnId = invoice.Id
        link.TxnType = "Invoice"
        line = PaymentLine()
        line.Amount = 30
        line.LinkedTxn = [link]
        payment = Payment()
        payment.TotalAmt = 30
        payment.CustomerRef = customer.to_ref()
        payment.Line = [line]
        payments.append(payment.save(qb=qb))
    assert Invoice.get(invoice.Id, qb=qb).Balance == 20

    # WHEN one payment is voided and the other deleted through python-quickbooks
    payments[0].void(qb=qb)
    after_void = Invoice.get(invoice.Id, qb=qb).Balance
    payments[1].delete(qb=qb)

    # THEN each gives its amount back to the invoice
    assert after_void == 50
    assert Invoice.get(invoice.Id, qb=qb).Balance == 80
    assert Payment.get(payments[0].Id, qb=qb).TotalAmt == 0


def test_invoice_send_through_python_quickbooks(qb: QuickBooks) -> None:
    # GIVEN an invoice
    invoice = new_invoice(qb, new_customer(qb, "PQ Mailed"), 12)

    # WHEN python-quickbooks sends it to an address
    answer = invoice.send(qb=qb, send_to="ap@mailed.example")

    # THEN QuickBooks marks it e-mailed to that address
    assert answer["Invoice"]["EmailStatus"] == "EmailSent"
    assert Invoice.get(invoice.Id, qb=qb).BillEmail.Address == "ap@mailed.example"

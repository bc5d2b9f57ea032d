"""Entities over HTTP as a QuickBooks user sees them: CRUD, SyncToken, derived amounts and validation faults."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.emulator.conftest import Company


def fault_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    return response.json()["Fault"]["Error"][0]


def item_line(amount: Any, item: str = "1", **detail: Any) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item}, **detail},
    }


def new_invoice(company: Company, customer_id: str, *amounts: Any, **fields: Any) -> dict[str, Any]:
    lines = [item_line(a) for a in amounts or (100,)]
    return company.create("Invoice", {"CustomerRef": {"value": customer_id}, "Line": lines, **fields})


def pay(company: Company, customer_id: str, invoice_id: str, amount: Any, total: Any | None = None) -> Any:
    body = {
        "TotalAmt": amount if total is None else total,
        "CustomerRef": {"value": customer_id},
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}],
    }
    return company.post("payment", body)


@pytest.fixture
def customer(company: Company) -> dict[str, Any]:
    return company.create("Customer", {"DisplayName": "Acme Corp", "GivenName": "Jane"})


# --- create / read / envelope ---------------------------------------------------------------------


def test_customer_create_returns_envelope_with_system_fields(company: Company) -> None:
    # GIVEN a new company
    # WHEN a customer is created
    response = company.post("customer", {"DisplayName": "Acme Corp"})

    # THEN QuickBooks' envelope comes back with string ids, SyncToken 0, MetaData and a Pacific time
    assert response.status_code == 200
    assert response.headers["intuit_tid"]
    body = response.json()
    created = body["Customer"]
    assert created["Id"].isdigit()
    assert created["SyncToken"] == "0"
    assert created["domain"] == "QBO"
    assert created["sparse"] is False
    assert created["Active"] is True
    assert created["MetaData"]["CreateTime"] == created["MetaData"]["LastUpdatedTime"]
    assert body["time"][-6:] in ("-08:00", "-07:00")
    assert "GivenName" not in created  # only non-empty properties are returned


def test_customer_read_unknown_id_returns_610(company: Company) -> None:
    # GIVEN no customer 999
    # WHEN it is read
    error = fault_of(company.get("customer/999"))

    # THEN QuickBooks answers 400 Object Not Found
    assert error["code"] == "610"


def test_companyinfo_and_preferences_read_returns_company_and_custom_fields(new_company: Any) -> None:
    # GIVEN a company with named invoice custom fields
    company = new_company(companyName="Books360 Test", customFields=["Campaign", "PO", "Region"])

    # WHEN CompanyInfo and Preferences are read
    info = company.get(f"companyinfo/{company.realm_id}").json()["CompanyInfo"]
    prefs = company.get("preferences").json()["Preferences"]

    # THEN the company name and the three custom field definitions are there
    assert info["Id"] == company.realm_id
    assert info["CompanyName"] == "Books360 Test"
    names = prefs["SalesFormsPrefs"]["CustomField"][1]["CustomField"]
    assert [n["StringValue"] for n in names] == ["Campaign", "PO", "Region"]
    assert names[0]["Name"] == "SalesFormsPrefs.SalesCustomName1"


def test_new_company_has_sandbox_lists(company: Company) -> None:
    # GIVEN a new company
    # WHEN its lists are queried
    accounts = company.query("SELECT * FROM Account MAXRESULTS 1000")["Account"]
    methods = company.query("SELECT * FROM PaymentMethod")["PaymentMethod"]
    items = company.query("SELECT * FROM Item")["Item"]

    # THEN Intuit's usual chart of accounts, payment methods and items exist
    by_name = {a["Name"]: a for a in accounts}
    assert by_name["Undeposited Funds"]["AccountSubType"] == "UndepositedFunds"
    assert by_name["Undeposited Funds"]["AccountType"] == "Other Current Asset"
    assert by_name["Checking"]["Classification"] == "Asset"
    assert {"Bank", "Accounts Receivable", "Income", "Expense", "Cost of Goods Sold"} <= {
        a["AccountType"] for a in accounts
    }
    assert {m["Name"]: m["Type"] for m in methods}["Visa"] == "CREDIT_CARD"
    assert {m["Name"]: m["Type"] for m in methods}["Cash"] == "NON_CREDIT_CARD"
    assert [i["Name"] for i in items] == ["Services", "Hours"]


# --- updates and SyncToken ----------------------------------------------------------------------------


def test_customer_full_update_clears_omitted_fields(company: Company) -> None:
    # GIVEN a customer with a given name and a phone
    created = company.create(
        "Customer", {"DisplayName": "Full Co", "GivenName": "Jane", "PrimaryPhone": {"FreeFormNumber": "555"}}
    )

    # WHEN a full update sends only the display name and a company name
    body = {"Id": created["Id"], "SyncToken": "0", "DisplayName": "Full Co", "CompanyName": "Full Co Ltd"}
    updated = company.create("Customer", body)

    # THEN the omitted fields are gone and the SyncToken went up by one
    assert updated["SyncToken"] == "1"
    assert updated["CompanyName"] == "Full Co Ltd"
    assert "GivenName" not in updated
    assert "PrimaryPhone" not in updated


def test_customer_sparse_update_keeps_omitted_fields(company: Company) -> None:
    # GIVEN a customer with a given name
    created = company.create("Customer", {"DisplayName": "Sparse Co", "GivenName": "Jane"})

    # WHEN a sparse update changes only the notes
    updated = company.create("Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Notes": "VIP"})

    # THEN the other fields survive
    assert updated["GivenName"] == "Jane"
    assert updated["Notes"] == "VIP"
    assert updated["SyncToken"] == "1"


def test_customer_update_with_stale_synctoken_returns_5010(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN a customer that was already updated once
    company.create("Customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "x"})

    # WHEN an update still carries SyncToken 0
    response = company.post("customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "y"})

    # THEN QuickBooks refuses it as a stale object
    error = fault_of(response)
    assert error["code"] == "5010"
    assert error["Message"] == "Stale Object Error"


def test_customer_delete_operation_returns_fault_and_inactivation_hides_it(
    company: Company, customer: dict[str, Any]
) -> None:
    # GIVEN a customer
    # WHEN it is deleted, then made inactive as QuickBooks wants
    delete = company.post("customer", {"Id": customer["Id"], "SyncToken": "0"}, operation="delete")
    inactive = company.create("Customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False})

    # THEN delete is refused, inactivation works, and default queries no longer list it
    assert delete.status_code == 400
    assert inactive["Active"] is False
    assert company.query("SELECT * FROM Customer WHERE DisplayName = 'Acme Corp'") == {}
    everyone = company.query("SELECT * FROM Customer WHERE Active IN (true, false)")
    assert [c["Id"] for c in everyone["Customer"]] == [customer["Id"]]


def test_invoice_delete_returns_deleted_status_and_read_gives_610(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice
    invoice = new_invoice(company, customer["Id"])

    # WHEN it is deleted
    response = company.post("invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="delete")

    # THEN the answer is the deleted stub and the invoice can no longer be read
    assert response.status_code == 200
    assert response.json()["Invoice"] == {"Id": invoice["Id"], "status": "Deleted", "domain": "QBO"}
    assert fault_of(company.get(f"invoice/{invoice['Id']}"))["code"] == "610"


def test_invoice_void_zeroes_amounts_and_stays_readable(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice of 100
    invoice = new_invoice(company, customer["Id"], 100)

    # WHEN it is voided
    response = company.post("invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="void")

    # THEN it stays readable with zero amounts and a Voided note
    assert response.status_code == 200
    voided = company.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    assert voided["TotalAmt"] == 0
    assert voided["Balance"] == 0
    assert voided["PrivateNote"].startswith("Voided")
    assert voided["SyncToken"] == "1"


# --- derived amounts ---------------------------------------------------------------------------------


def test_invoice_create_adds_subtotal_line_and_totals(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN two item lines of 1000.00 and 250.50
    # WHEN the invoice is created
    invoice = company.create(
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [item_line(1000.00, Qty=1, UnitPrice=1000.00), item_line(250.50, Qty=2, UnitPrice=125.25)],
        },
    )

    # THEN TotalAmt and Balance are the sum, lines are numbered and a SubTotal line is added
    assert invoice["TotalAmt"] == 1250.5
    assert invoice["Balance"] == 1250.5
    assert [line["Id"] for line in invoice["Line"][:2]] == ["1", "2"]
    assert [line["LineNum"] for line in invoice["Line"][:2]] == [1, 2]
    subtotal = invoice["Line"][-1]
    assert subtotal["DetailType"] == "SubTotalLineDetail"
    assert subtotal["Amount"] == 1250.5
    assert invoice["DocNumber"]
    assert invoice["CustomerRef"]["name"] == "Acme Corp"


def test_invoice_update_echoing_subtotal_line_keeps_total(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice as QuickBooks returned it (with its SubTotal line)
    invoice = new_invoice(company, customer["Id"], 100, 50)

    # WHEN the whole object is sent back as a full update
    updated = company.create("Invoice", {**invoice, "PrivateNote": "edited"})

    # THEN the total is not doubled and there is still exactly one SubTotal line
    assert updated["TotalAmt"] == 150
    assert [line["DetailType"] for line in updated["Line"]].count("SubTotalLineDetail") == 1
    assert updated["SyncToken"] == "1"


def test_invoice_amounts_keep_cents_exactly(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN amounts that floats cannot add exactly
    # WHEN an invoice adds 0.10 + 0.20 + 1234567890.07
    response = company.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [item_line(0.10), item_line(0.20), item_line(1234567890.07)],
        },
    )

    # THEN the raw JSON carries the exact decimal as a number
    assert response.status_code == 200
    total = json.loads(response.text, parse_float=Decimal)["Invoice"]["TotalAmt"]
    assert total == Decimal("1234567890.37")
    assert '"TotalAmt":1234567890.37' in response.text


def test_payment_linked_to_invoice_reduces_balance_and_delete_restores(
    company: Company, customer: dict[str, Any]
) -> None:
    # GIVEN an invoice of 100
    invoice = new_invoice(company, customer["Id"], 100)

    # WHEN a payment of 60 (of 75 received) is applied to it
    response = pay(company, customer["Id"], invoice["Id"], 60, total=75)
    payment = response.json()["Payment"]
    linked = company.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    owed = company.get(f"customer/{customer['Id']}").json()["Customer"]["Balance"]

    # THEN the invoice balance drops, both sides are linked and 15 stays unapplied
    assert linked["Balance"] == 40
    assert linked["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert payment["Line"][0]["LinkedTxn"] == [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
    assert payment["UnappliedAmt"] == 15
    assert owed == 40

    # WHEN the payment is deleted
    company.post("payment", {"Id": payment["Id"], "SyncToken": "0"}, operation="delete")

    # THEN the invoice is open again
    restored = company.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    assert restored["Balance"] == 100
    assert restored["LinkedTxn"] == []


def test_payment_update_replaces_lines_whole(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN a payment applied to an invoice
    invoice = new_invoice(company, customer["Id"], 100)
    payment = pay(company, customer["Id"], invoice["Id"], 100).json()["Payment"]

    # WHEN a sparse update sends an empty Line
    updated = company.create("Payment", {"Id": payment["Id"], "SyncToken": "0", "sparse": True, "Line": []})

    # THEN every link is gone and the money is unapplied
    assert "Line" not in updated
    assert updated["UnappliedAmt"] == 100
    assert company.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 100


# --- validation faults ---------------------------------------------------------------------------


def test_customer_create_duplicate_of_vendor_name_returns_6240_with_holder_id(company: Company) -> None:
    # GIVEN a vendor named "Paper Supply"
    vendor = company.create("Vendor", {"DisplayName": "Paper Supply"})

    # WHEN a customer takes the same name in another case
    error = fault_of(company.post("customer", {"DisplayName": "paper supply"}))

    # THEN 6240 names the record holding the name
    assert error["code"] == "6240"
    assert error["Detail"].endswith(f"Id={vendor['Id']}")


def test_customer_create_name_of_inactive_customer_returns_6240(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an inactive customer
    company.create("Customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False})

    # WHEN a new customer takes its name
    # THEN the name is still taken
    assert fault_of(company.post("customer", {"DisplayName": "Acme Corp"}))["code"] == "6240"


@pytest.mark.parametrize(
    ("entity", "body"),
    [
        ("item", {"Name": "Services", "Type": "Service", "IncomeAccountRef": {"value": "8"}}),
        ("account", {"Name": "Checking", "AccountType": "Bank"}),
        ("paymentmethod", {"Name": "Visa", "Type": "CREDIT_CARD"}),
    ],
)
def test_list_create_duplicate_name_returns_6240(company: Company, entity: str, body: dict[str, Any]) -> None:
    # GIVEN the sandbox lists
    # WHEN an entity takes an existing name
    # THEN QuickBooks refuses the duplicate
    assert fault_of(company.post(entity, body))["code"] == "6240"


@pytest.mark.parametrize(
    ("entity", "body"),
    [
        ("customer", {"DisplayName": "Parent:Child"}),
        ("vendor", {"DisplayName": "A:B"}),
        ("item", {"Name": "Bad:Item", "Type": "Service", "IncomeAccountRef": {"value": "8"}}),
        ("account", {"Name": "Bad:Account", "AccountType": "Bank"}),
    ],
)
def test_name_with_colon_returns_2040(company: Company, entity: str, body: dict[str, Any]) -> None:
    # GIVEN a name with a colon (QuickBooks' parent:child separator)
    # WHEN it is created
    # THEN it is refused as an invalid string
    assert fault_of(company.post(entity, body))["code"] == "2040"


@pytest.mark.parametrize("entity", ["customer", "vendor"])
def test_party_without_any_name_returns_6080(company: Company, entity: str) -> None:
    # GIVEN a body without any name field
    # WHEN it is created
    # THEN QuickBooks answers No Name Provided
    assert fault_of(company.post(entity, {"Notes": "nameless"}))["code"] == "6080"


def test_customer_without_display_name_builds_it_from_name_parts(company: Company) -> None:
    # GIVEN given and family names only
    # WHEN the customer is created
    created = company.create("Customer", {"GivenName": "Jane", "FamilyName": "Doe"})

    # THEN QuickBooks builds the display name
    assert created["DisplayName"] == "Jane Doe"


@pytest.mark.parametrize(
    ("entity", "body", "missing"),
    [
        ("invoice", {"Line": [item_line(10)]}, "CustomerRef"),
        ("invoice", {"CustomerRef": {"value": "1"}}, "Line"),
        ("payment", {"CustomerRef": {"value": "1"}}, "TotalAmt"),
        ("payment", {"TotalAmt": 10}, "CustomerRef"),
        ("item", {"Type": "Service", "IncomeAccountRef": {"value": "8"}}, "Name"),
        ("item", {"Name": "No Income", "Type": "Service"}, "IncomeAccountRef"),
        ("item", {"Name": "No Income Product", "Type": "NonInventory"}, "IncomeAccountRef"),
        ("account", {"AccountType": "Bank"}, "Name"),
    ],
)
def test_create_missing_required_field_returns_2020(
    company: Company, customer: dict[str, Any], entity: str, body: dict[str, Any], missing: str
) -> None:
    # GIVEN a body without a required field
    # WHEN it is created
    error = fault_of(company.post(entity, body))

    # THEN QuickBooks names the missing parameter
    assert error["code"] == "2020"
    assert missing in error["Detail"]


def test_invoice_with_unknown_customer_returns_2500(company: Company) -> None:
    # GIVEN no customer 4242
    # WHEN an invoice references it
    error = fault_of(company.post("invoice", {"CustomerRef": {"value": "4242"}, "Line": [item_line(10)]}))

    # THEN it is an invalid reference
    assert error["code"] == "2500"


@pytest.mark.parametrize("inactive", ["Customer", "Item"])
def test_invoice_referencing_inactive_entity_returns_610(
    company: Company, customer: dict[str, Any], inactive: str
) -> None:
    # GIVEN an inactive customer or item
    target = customer if inactive == "Customer" else company.get("item/2").json()["Item"]
    company.create(inactive, {"Id": target["Id"], "SyncToken": target["SyncToken"], "sparse": True, "Active": False})

    # WHEN an invoice uses it
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [item_line(10, item="2")]}
    error = fault_of(company.post("invoice", body))

    # THEN QuickBooks says it was made inactive
    assert error["code"] == "610"
    assert "made inactive" in error["Detail"]


def test_payment_with_inactive_payment_method_returns_610(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN the Visa payment method made inactive
    visa = company.query("SELECT * FROM PaymentMethod WHERE Name = 'Visa'")["PaymentMethod"][0]
    company.create("PaymentMethod", {"Id": visa["Id"], "SyncToken": "0", "sparse": True, "Active": False})

    # WHEN a payment uses it
    body = {"TotalAmt": 5, "CustomerRef": {"value": customer["Id"]}, "PaymentMethodRef": {"value": visa["Id"]}}

    # THEN it is refused as inactive
    assert fault_of(company.post("payment", body))["code"] == "610"


def test_invoice_line_amount_not_qty_times_price_returns_6070(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN a line of 2 x 50 claiming 120
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [item_line(120, Qty=2, UnitPrice=50)]}

    # WHEN the invoice is created
    # THEN QuickBooks refuses the calculation
    assert fault_of(company.post("invoice", body))["code"] == "6070"


def test_invoice_docnumber_over_21_chars_returns_2050(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN a 25-character invoice number
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [item_line(10)], "DocNumber": "X" * 25}

    # WHEN the invoice is created
    error = fault_of(company.post("invoice", body))

    # THEN 2050 gives the limit and the supplied length
    assert error["code"] == "2050"
    assert "Max:21 supported. Supplied length:25" in error["Detail"]


def test_payment_linking_other_customers_invoice_returns_620(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice of another customer
    other = company.create("Customer", {"DisplayName": "Other Co"})
    invoice = new_invoice(company, other["Id"], 100)

    # WHEN Acme's payment links it
    # THEN the transaction cannot be linked
    assert fault_of(pay(company, customer["Id"], invoice["Id"], 10))["code"] == "620"


def test_payment_over_open_balance_returns_6000(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice of 100 already paid 80
    invoice = new_invoice(company, customer["Id"], 100)
    pay(company, customer["Id"], invoice["Id"], 80)

    # WHEN another payment applies 30
    error = fault_of(pay(company, customer["Id"], invoice["Id"], 30))

    # THEN it is a business validation error
    assert error["code"] == "6000"


def test_payment_lines_above_total_returns_6000(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice of 100
    invoice = new_invoice(company, customer["Id"], 100)

    # WHEN a payment of 50 applies 60
    # THEN it is refused
    assert fault_of(pay(company, customer["Id"], invoice["Id"], 60, total=50))["code"] == "6000"


def test_customer_bad_email_returns_2210(company: Company) -> None:
    # GIVEN an address without a domain
    body = {"DisplayName": "Mail Co", "PrimaryEmailAddr": {"Address": "not-an-email"}}

    # WHEN the customer is created
    # THEN QuickBooks cites RFC 822
    assert fault_of(company.post("customer", body))["code"] == "2210"


def test_account_invalid_type_returns_6010(company: Company) -> None:
    # GIVEN an account type QuickBooks does not know
    # WHEN the account is created
    # THEN 6010 is returned
    assert fault_of(company.post("account", {"Name": "Odd", "AccountType": "Piggy Bank"}))["code"] == "6010"


def test_paymentmethod_invalid_type_returns_validation_fault(company: Company) -> None:
    # GIVEN a payment method type other than CREDIT_CARD / NON_CREDIT_CARD
    # WHEN it is created
    # THEN it is refused as an invalid enumeration
    assert fault_of(company.post("paymentmethod", {"Name": "Crypto", "Type": "CRYPTO"}))["code"] == "2170"


def test_unparseable_json_body_returns_400_fault(company: Company) -> None:
    # GIVEN a body that is not JSON
    # WHEN it is posted
    response = company.http.post(
        company.path("customer"), content=b"{not json", headers={**company.headers, "Content-Type": "application/json"}
    )

    # THEN QuickBooks answers with a validation fault
    assert fault_of(response)["code"] == "2010"


def test_non_utf8_body_returns_unsupported_operation(company: Company) -> None:
    # GIVEN a body in Latin-1
    body = '{"DisplayName": "Caf\u00e9"}'.encode("latin-1")

    # WHEN it is posted
    response = company.http.post(
        company.path("customer"), content=body, headers={**company.headers, "Content-Type": "application/json"}
    )

    # THEN QuickBooks answers Unsupported Operation (code 500)
    assert fault_of(response)["code"] == "500"


def test_invoice_custom_fields_take_names_from_preferences(new_company: Any) -> None:
    # GIVEN a company whose first invoice custom field is "CampaignId"
    company = new_company(customFields=["CampaignId", "PO Number"])
    customer = company.create("Customer", {"DisplayName": "Custom Co"})

    # WHEN an invoice sets field 1, and field 3 which is not enabled
    fields = [{"DefinitionId": "1", "StringValue": "CMP-42"}, {"DefinitionId": "3", "StringValue": "ignored"}]
    invoice = new_invoice(company, customer["Id"], 10, CustomField=fields)

    # THEN field 1 comes back with its name and type, and field 3 is ignored
    assert invoice["CustomField"] == [
        {"DefinitionId": "1", "Name": "CampaignId", "Type": "StringType", "StringValue": "CMP-42"}
    ]


# --- requestid ------------------------------------------------------------------------------------


def test_create_replayed_requestid_returns_first_response_without_duplicate(company: Company) -> None:
    # GIVEN a customer created with requestid r-1
    first = company.post("customer", {"DisplayName": "Once Co"}, requestid="r-1")

    # WHEN the same request is retried with the same requestid (even with another body)
    second = company.post("customer", {"DisplayName": "Once Co"}, requestid="r-1")
    third = company.post("customer", {"DisplayName": "Something Else"}, requestid="r-1")

    # THEN every answer is the first one and only one customer exists
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.text == second.text == third.text
    assert company.query("SELECT COUNT(*) FROM Customer WHERE DisplayName LIKE 'Once%'") == {"totalCount": 1}
    assert company.query("SELECT COUNT(*) FROM Customer WHERE DisplayName = 'Something Else'") == {"totalCount": 0}


def test_replayed_requestid_of_failed_request_returns_same_fault(company: Company) -> None:
    # GIVEN a create that failed (no name) under requestid r-2
    first = company.post("customer", {"Notes": "x"}, requestid="r-2")

    # WHEN it is retried with a valid body but the same requestid
    second = company.post("customer", {"DisplayName": "Fixed Co"}, requestid="r-2")

    # THEN the first answer is repeated
    assert second.status_code == 400
    assert second.text == first.text


def test_requestid_over_50_chars_returns_400(company: Company) -> None:
    # GIVEN a 51-character requestid
    # WHEN a create carries it
    response = company.post("customer", {"DisplayName": "Long Id Co"}, requestid="x" * 51)

    # THEN QuickBooks refuses it
    assert response.status_code == 400
    assert company.query("SELECT COUNT(*) FROM Customer WHERE DisplayName = 'Long Id Co'") == {"totalCount": 0}


# --- send and change data capture ---------------------------------------------------------------


def test_invoice_send_marks_email_sent(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice without a BillEmail
    invoice = new_invoice(company, customer["Id"], 10)

    # WHEN it is sent without and then with a sendTo address
    without = company.http.post(company.path(f"invoice/{invoice['Id']}/send"), headers=company.headers)
    sent = company.http.post(
        company.path(f"invoice/{invoice['Id']}/send"), params={"sendTo": "ap@acme.example"}, headers=company.headers
    )

    # THEN the first is refused and the second marks the invoice e-mailed
    assert fault_of(without)["code"] == "6000"
    emailed = sent.json()["Invoice"]
    assert emailed["EmailStatus"] == "EmailSent"
    assert emailed["BillEmail"] == {"Address": "ap@acme.example"}
    assert emailed["DeliveryInfo"]["DeliveryType"] == "Email"


def test_cdc_returns_changed_and_deleted_entities(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN a customer and two invoices, one of them deleted
    kept = new_invoice(company, customer["Id"], 10)
    gone = new_invoice(company, customer["Id"], 20)
    company.post("invoice", {"Id": gone["Id"], "SyncToken": "0"}, operation="delete")

    # WHEN CDC is asked for customers, invoices and payments since a past time
    response = company.get("cdc", entities="Customer,Invoice,Payment", changedSince="2000-01-01T00:00:00-08:00")

    # THEN each entity has its QueryResponse, deleted ones as stubs, and nothing changed is empty
    assert response.status_code == 200
    customers, invoices, payments = response.json()["CDCResponse"][0]["QueryResponse"]
    assert [c["Id"] for c in customers["Customer"]] == [customer["Id"]]
    assert {(i["Id"], i.get("status")) for i in invoices["Invoice"]} == {(kept["Id"], None), (gone["Id"], "Deleted")}
    assert payments == {}
    later = company.get("cdc", entities="Customer", changedSince="2999-01-01T00:00:00-08:00")
    assert later.json()["CDCResponse"][0]["QueryResponse"] == [{}]

"""Invoices and the payments applied to them, as the Books360 invoice sync uses them.

Invoice create / sparse update / delete, payments linking several invoices and re-pointed by sparse updates,
requestid replays, injected faults on each of those writes, and the lists the sync reads (items, income accounts,
preferences).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.emulator.conftest import Company

DOC_21 = "B360-2026-000000000-1"  # 21 characters


def fault_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["Fault"]["Error"][0]
    return error


def add_fault(company: Company, **rule: Any) -> None:
    response = company.http.post("/_admin/faults", json={"realmId": company.realm_id, **rule})
    assert response.status_code == 200, response.text


def line(amount: Any, item: str = "1", description: str = "Ad spend", **detail: Any) -> dict[str, Any]:
    return {
        "Amount": amount,
        "Description": description,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item}, **detail},
    }


def read(company: Company, entity: str, entity_id: str) -> dict[str, Any]:
    response = company.get(f"{entity.lower()}/{entity_id}")
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()[entity]
    return record


def invoice_of(company: Company, customer_id: str, *amounts: Any, **fields: Any) -> dict[str, Any]:
    body = {"CustomerRef": {"value": customer_id}, "Line": [line(a) for a in amounts], **fields}
    return company.create("Invoice", body)


def payment_body(customer_id: str, total: Any, *links: tuple[str, Any], **fields: Any) -> dict[str, Any]:
    lines = [{"Amount": amount, "LinkedTxn": [{"TxnId": txn, "TxnType": "Invoice"}]} for txn, amount in links]
    return {"TotalAmt": total, "CustomerRef": {"value": customer_id}, "Line": lines, **fields}


def account_id(company: Company, name: str) -> str:
    found = company.query(f"SELECT * FROM Account WHERE Name = '{name}'")["Account"]
    return str(found[0]["Id"])


@pytest.fixture
def customer(company: Company) -> dict[str, Any]:
    return company.create("Customer", {"DisplayName": "Acme Corp"})


@pytest.fixture
def other_invoices(company: Company, customer: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two open invoices of the same customer: 100 and 50."""
    return invoice_of(company, customer["Id"], 100), invoice_of(company, customer["Id"], 50)


# --- invoice create and update --------------------------------------------------------------------


def test_invoice_with_three_lines_custom_fields_and_21_char_docnumber_is_created(
    new_company: Callable[..., Company],
) -> None:
    # GIVEN a company with two sales-form custom fields, a customer and a Books360 service item
    company = new_company(customFields=["CampaignId", "Books360 Id"])
    customer = company.create("Customer", {"DisplayName": "Sync Co"})
    income = company.query("SELECT * FROM Account WHERE AccountType = 'Income'")["Account"][0]["Id"]
    item = company.create(
        "Item", {"Name": "Books360 Service", "Type": "Service", "IncomeAccountRef": {"value": income}}
    )
    lines = [
        line(1000.00, item["Id"], "Ad spend Feb 2026", ServiceDate="2026-02-27"),
        line(250.50, item["Id"], "Management fee", ServiceDate="2026-02-28"),
        line(0.25, item["Id"], "Rounding", ServiceDate="2026-02-28"),
    ]
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "DocNumber": DOC_21,
        "TxnDate": "2026-02-27",
        "DueDate": "2026-03-29",
        "PrivateNote": "Books360 invoice 42",
        "BillEmail": {"Address": "ap@sync.example"},
        "CustomField": [{"DefinitionId": "1", "StringValue": "CMP-42"}, {"DefinitionId": "2", "StringValue": "42"}],
        "Line": lines,
    }

    # WHEN the invoice is created
    invoice = company.create("Invoice", body)

    # THEN QuickBooks computed totals, numbered the lines, added a SubTotal line and named the custom fields
    assert invoice["TotalAmt"] == 1250.75
    assert invoice["Balance"] == 1250.75
    assert invoice["SyncToken"] == "0"
    assert invoice["DocNumber"] == DOC_21
    assert (invoice["TxnDate"], invoice["DueDate"]) == ("2026-02-27", "2026-03-29")
    assert invoice["PrivateNote"] == "Books360 invoice 42"
    assert invoice["BillEmail"] == {"Address": "ap@sync.example"}
    items = invoice["Line"][:3]
    assert [(x["Id"], x["LineNum"], x["Description"]) for x in items] == [
        ("1", 1, "Ad spend Feb 2026"),
        ("2", 2, "Management fee"),
        ("3", 3, "Rounding"),
    ]
    assert items[0]["SalesItemLineDetail"]["ItemRef"] == {"value": item["Id"], "name": "Books360 Service"}
    assert items[1]["SalesItemLineDetail"]["ServiceDate"] == "2026-02-28"
    assert invoice["Line"][3] == {"Amount": 1250.75, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    assert invoice["CustomField"] == [
        {"DefinitionId": "1", "Name": "CampaignId", "Type": "StringType", "StringValue": "CMP-42"},
        {"DefinitionId": "2", "Name": "Books360 Id", "Type": "StringType", "StringValue": "42"},
    ]
    assert invoice["LinkedTxn"] == []
    assert read(company, "Invoice", invoice["Id"]) == invoice


def test_invoice_docnumber_of_22_chars_returns_2050_and_creates_nothing(
    company: Company, customer: dict[str, Any]
) -> None:
    # GIVEN a 22-character invoice number
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [line(10)], "DocNumber": DOC_21 + "0"}

    # WHEN the invoice is created
    error = fault_of(company.post("invoice", body))

    # THEN 2050 names the limit and the supplied length, and no invoice exists
    assert error["code"] == "2050"
    assert error["element"] == "DocNumber"
    assert "Max:21 supported. Supplied length:22" in error["Detail"]
    assert company.query("SELECT COUNT(*) FROM Invoice") == {"totalCount": 0}


def test_invoice_line_description_over_4000_chars_returns_2050(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN a line description of 4001 characters
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [line(10, description="d" * 4001)]}

    # WHEN the invoice is created
    error = fault_of(company.post("invoice", body))

    # THEN the length is refused
    assert error["code"] == "2050"
    assert "Max:4000 supported. Supplied length:4001" in error["Detail"]


def test_invoice_sparse_update_replaces_lines_and_keeps_other_fields(
    company: Company, customer: dict[str, Any]
) -> None:
    # GIVEN an invoice with three lines, a number, a memo and a custom field
    invoice = invoice_of(
        company,
        customer["Id"],
        100,
        200,
        300,
        DocNumber="B360-7",
        PrivateNote="memo",
        CustomField=[{"DefinitionId": "1", "StringValue": "CMP-1"}],
    )

    # WHEN a sparse update sends two new lines (no Ids) and the current SyncToken
    update = {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "Line": [line(40), line(2.5)]}
    updated = company.create("Invoice", update)

    # THEN only the new lines remain, totals follow them, and the fields not sent are kept
    assert [x["Amount"] for x in updated["Line"]] == [40, 2.5, 42.5]
    assert updated["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    assert (updated["TotalAmt"], updated["Balance"], updated["SyncToken"]) == (42.5, 42.5, "1")
    assert (updated["DocNumber"], updated["PrivateNote"]) == ("B360-7", "memo")
    assert updated["CustomField"][0]["StringValue"] == "CMP-1"

    # WHEN the same update is sent again with the old SyncToken
    error = fault_of(company.post("invoice", update))

    # THEN it is stale
    assert error["code"] == "5010"
    assert error["Message"] == "Stale Object Error"


# --- payments linking invoices ----------------------------------------------------------------------


def test_payment_linking_two_invoices_then_repointed_then_deleted_moves_balances(
    company: Company, customer: dict[str, Any], other_invoices: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    # GIVEN invoices A (100) and B (50) of one customer (17 calls back to back: over 10 a second, lifted here)
    company.allow_bursts()
    first, second = other_invoices
    checking, check = account_id(company, "Checking"), "2"

    # WHEN one payment of 150 pays both, deposited to Checking by check
    body = payment_body(
        customer["Id"],
        150,
        (first["Id"], 100),
        (second["Id"], 50),
        TxnDate="2026-03-02",
        DepositToAccountRef={"value": checking},
        PaymentMethodRef={"value": check},
        PrivateNote="Books360 payment 9",
    )
    payment = company.create("Payment", body)

    # THEN both invoices are paid and linked, and nothing is unapplied
    assert payment["UnappliedAmt"] == 0
    assert payment["DepositToAccountRef"] == {"value": checking, "name": "Checking"}
    assert payment["PaymentMethodRef"] == {"value": check, "name": "Check"}
    assert (payment["TxnDate"], payment["PrivateNote"]) == ("2026-03-02", "Books360 payment 9")
    for invoice in (first, second):
        paid = read(company, "Invoice", invoice["Id"])
        assert paid["Balance"] == 0
        assert paid["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert read(company, "Customer", customer["Id"])["Balance"] == 0

    # WHEN a sparse update re-points the payment to A alone, for 70
    update = {"Id": payment["Id"], "SyncToken": "0", "sparse": True, "TotalAmt": 70}
    update["Line"] = [{"Amount": 70, "LinkedTxn": [{"TxnId": first["Id"], "TxnType": "Invoice"}]}]
    repointed = company.create("Payment", update)

    # THEN A owes 30, B is fully open and unlinked, and the other payment fields are kept
    assert repointed["SyncToken"] == "1"
    assert [x["LinkedTxn"][0]["TxnId"] for x in repointed["Line"]] == [first["Id"]]
    assert (repointed["TotalAmt"], repointed["UnappliedAmt"]) == (70, 0)
    assert repointed["PaymentMethodRef"]["value"] == check
    assert read(company, "Invoice", first["Id"])["Balance"] == 30
    reopened = read(company, "Invoice", second["Id"])
    assert (reopened["Balance"], reopened["LinkedTxn"]) == (50, [])
    assert read(company, "Customer", customer["Id"])["Balance"] == 80

    # WHEN the payment is deleted
    deleted = company.post("payment", {"Id": payment["Id"], "SyncToken": "1"}, operation="delete")

    # THEN both invoices are open again and the payment can no longer be read
    assert deleted.json()["Payment"] == {"Id": payment["Id"], "status": "Deleted", "domain": "QBO"}
    for invoice, amount in ((first, 100), (second, 50)):
        restored = read(company, "Invoice", invoice["Id"])
        assert (restored["Balance"], restored["LinkedTxn"]) == (amount, [])
    assert read(company, "Customer", customer["Id"])["Balance"] == 150
    assert fault_of(company.get(f"payment/{payment['Id']}"))["code"] == "610"


def test_payment_line_above_open_balance_returns_6000_on_create_and_update(
    company: Company, customer: dict[str, Any], other_invoices: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    # GIVEN invoices A (100) and B (50), and a payment applying 100 to A
    first, second = other_invoices
    payment = company.create("Payment", payment_body(customer["Id"], 100, (first["Id"], 100)))

    # WHEN another payment applies 60 to B (open 50), or the first is re-pointed to B for 60
    created = company.post("payment", payment_body(customer["Id"], 60, (second["Id"], 60)))
    update = {"Id": payment["Id"], "SyncToken": "0", "sparse": True, "TotalAmt": 60}
    update["Line"] = [{"Amount": 60, "LinkedTxn": [{"TxnId": second["Id"], "TxnType": "Invoice"}]}]
    updated = company.post("payment", update)

    # THEN both are business validation errors (6000) and nothing moved
    for response in (created, updated):
        error = fault_of(response)
        assert error["code"] == "6000"
        assert "more than its open balance of 50" in error["Detail"]
    assert read(company, "Payment", payment["Id"])["SyncToken"] == "0"
    assert read(company, "Invoice", first["Id"])["Balance"] == 0
    assert read(company, "Invoice", second["Id"])["Balance"] == 50


def test_payment_applied_bumps_invoice_synctoken_so_old_token_is_stale(
    company: Company, customer: dict[str, Any]
) -> None:
    # GIVEN an invoice at SyncToken 0
    invoice = invoice_of(company, customer["Id"], 100)

    # WHEN a payment is applied to it
    company.create("Payment", payment_body(customer["Id"], 40, (invoice["Id"], 40)))

    # THEN the invoice has a new version: the old token is stale, the re-read one works
    current = read(company, "Invoice", invoice["Id"])
    assert current["SyncToken"] == "1"
    assert current["MetaData"]["LastUpdatedTime"] >= invoice["MetaData"]["LastUpdatedTime"]
    stale = {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"}
    assert fault_of(company.post("invoice", stale))["code"] == "5010"
    assert company.create("Invoice", {**stale, "SyncToken": "1"})["SyncToken"] == "2"


def test_invoice_delete_with_payment_applied_leaves_payment_unapplied(
    company: Company, customer: dict[str, Any], other_invoices: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    # GIVEN a payment of 150 applied to invoices A (100) and B (50)
    first, second = other_invoices
    payment = company.create("Payment", payment_body(customer["Id"], 150, (first["Id"], 100), (second["Id"], 50)))
    first = read(company, "Invoice", first["Id"])

    # WHEN invoice A is deleted
    response = company.post("invoice", {"Id": first["Id"], "SyncToken": first["SyncToken"]}, operation="delete")

    # THEN QuickBooks allows it; the payment keeps its money, its A line is gone and 100 is unapplied
    assert response.status_code == 200, response.text
    assert fault_of(company.get(f"invoice/{first['Id']}"))["code"] == "610"
    kept = read(company, "Payment", payment["Id"])
    assert kept["TotalAmt"] == 150
    assert kept["UnappliedAmt"] == 100
    assert [x["LinkedTxn"] for x in kept["Line"]] == [[{"TxnId": second["Id"], "TxnType": "Invoice"}]]
    assert kept["SyncToken"] == "1"
    assert read(company, "Invoice", second["Id"])["Balance"] == 0
    assert read(company, "Customer", customer["Id"])["Balance"] == 0


def test_invoice_void_with_payment_applied_returns_6000(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice with a payment applied
    invoice = invoice_of(company, customer["Id"], 100)
    company.create("Payment", payment_body(customer["Id"], 10, (invoice["Id"], 10)))

    # WHEN it is voided
    response = company.post("invoice", {"Id": invoice["Id"], "SyncToken": "1"}, operation="void")

    # THEN the void is refused (a delete would be allowed)
    assert fault_of(response)["code"] == "6000"
    assert read(company, "Invoice", invoice["Id"])["Balance"] == 90


def test_invoice_update_below_applied_payments_returns_6000_until_payment_is_reduced(
    company: Company, customer: dict[str, Any]
) -> None:
    # GIVEN an invoice of 100 with 80 applied by a payment
    invoice = invoice_of(company, customer["Id"], 100)
    payment = company.create("Payment", payment_body(customer["Id"], 80, (invoice["Id"], 80)))

    # WHEN a sparse update lowers the invoice to 60
    lower = {"Id": invoice["Id"], "SyncToken": "1", "sparse": True, "Line": [line(60)]}
    error = fault_of(company.post("invoice", lower))

    # THEN it is refused and the invoice is unchanged
    assert error["code"] == "6000"
    assert "is less than the 80" in error["Detail"]
    unchanged = read(company, "Invoice", invoice["Id"])
    assert (unchanged["TotalAmt"], unchanged["Balance"], unchanged["SyncToken"]) == (100, 20, "1")

    # WHEN the payment is first reduced to 60, then the invoice lowered (with its new SyncToken)
    reduce = {"Id": payment["Id"], "SyncToken": "0", "sparse": True, "TotalAmt": 60}
    reduce["Line"] = [{"Amount": 60, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]
    company.create("Payment", reduce)
    lowered = company.create("Invoice", {**lower, "SyncToken": "2"})

    # THEN the invoice is 60 and fully paid
    assert (lowered["TotalAmt"], lowered["Balance"]) == (60, 0)
    assert lowered["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]


def test_invoice_update_above_applied_payments_keeps_them(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice of 100 with 80 applied
    invoice = invoice_of(company, customer["Id"], 100)
    company.create("Payment", payment_body(customer["Id"], 80, (invoice["Id"], 80)))

    # WHEN it is lowered to exactly 80
    lowered = company.create("Invoice", {"Id": invoice["Id"], "SyncToken": "1", "sparse": True, "Line": [line(80)]})

    # THEN it is paid in full
    assert (lowered["TotalAmt"], lowered["Balance"]) == (80, 0)


# --- requestid replays ------------------------------------------------------------------------------


def test_requestid_replays_invoice_create_update_and_delete(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice created under requestid inv-c
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [line(100)]}
    created = company.post("invoice", body, requestid="inv-c")
    invoice = created.json()["Invoice"]

    # WHEN create, update and delete are each sent twice with their requestid
    created_again = company.post("invoice", body, requestid="inv-c")
    update = {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "edited"}
    updated = company.post("invoice", update, requestid="inv-u")
    updated_again = company.post("invoice", update, requestid="inv-u")
    gone = {"Id": invoice["Id"], "SyncToken": "1"}
    deleted = company.post("invoice", gone, operation="delete", requestid="inv-d")
    deleted_again = company.post("invoice", gone, operation="delete", requestid="inv-d")

    # THEN each repeat is the first answer (not 5010, not 610) and each write happened once
    assert created_again.text == created.text
    assert updated.status_code == updated_again.status_code == 200
    assert updated_again.text == updated.text
    assert updated.json()["Invoice"]["SyncToken"] == "1"
    assert deleted.status_code == deleted_again.status_code == 200
    assert deleted_again.text == deleted.text
    assert deleted.json()["Invoice"]["status"] == "Deleted"
    assert company.query("SELECT COUNT(*) FROM Invoice") == {"totalCount": 0}
    assert company.requests()["byEndpoint"]["POST invoice"] == 6


def test_requestid_replays_payment_create_and_delete(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice of 100
    invoice = invoice_of(company, customer["Id"], 100)
    body = payment_body(customer["Id"], 30, (invoice["Id"], 30))

    # WHEN a payment create and its delete are each sent twice with their requestid
    first = company.post("payment", body, requestid="pay-c")
    second = company.post("payment", body, requestid="pay-c")
    paid_once = read(company, "Invoice", invoice["Id"])["Balance"]
    gone = {"Id": first.json()["Payment"]["Id"], "SyncToken": "0"}
    deleted = company.post("payment", gone, operation="delete", requestid="pay-d")
    deleted_again = company.post("payment", gone, operation="delete", requestid="pay-d")

    # THEN the balance dropped once, and the delete's repeat is its first answer, not 610
    assert second.text == first.text
    assert paid_once == 70
    assert deleted_again.status_code == 200
    assert deleted_again.text == deleted.text
    assert read(company, "Invoice", invoice["Id"])["Balance"] == 100
    assert company.requests()["byEndpoint"]["POST payment"] == 4


# --- injected faults --------------------------------------------------------------------------------

WRITES = ["invoice create", "payment create", "invoice delete", "payment delete"]


def _write(company: Company, customer: dict[str, Any], kind: str) -> Callable[..., httpx.Response]:
    """Set up what ``kind`` needs; return the call that performs it (extra params: requestid)."""
    invoice = invoice_of(company, customer["Id"], 100)
    if kind == "invoice create":
        body = {"CustomerRef": {"value": customer["Id"]}, "Line": [line(5)], "DocNumber": "FAULTED"}
        return lambda **params: company.post("invoice", body, **params)
    if kind == "payment create":
        body = payment_body(customer["Id"], 25, (invoice["Id"], 25))
        return lambda **params: company.post("payment", body, **params)
    if kind == "invoice delete":
        gone = {"Id": invoice["Id"], "SyncToken": "0"}
        return lambda **params: company.post("invoice", gone, operation="delete", **params)
    payment = company.create("Payment", payment_body(customer["Id"], 25, (invoice["Id"], 25)))
    gone = {"Id": payment["Id"], "SyncToken": "0"}
    return lambda **params: company.post("payment", gone, operation="delete", **params)


def _done(company: Company, kind: str) -> bool:
    """Whether the write of ``kind`` was carried out."""
    if kind == "invoice create":
        return company.query("SELECT COUNT(*) FROM Invoice WHERE DocNumber = 'FAULTED'") == {"totalCount": 1}
    if kind == "payment create":
        return company.query("SELECT COUNT(*) FROM Payment") == {"totalCount": 1}
    if kind == "invoice delete":
        return company.query("SELECT COUNT(*) FROM Invoice") == {"totalCount": 0}
    return company.query("SELECT COUNT(*) FROM Payment") == {"totalCount": 0}


def _rule(kind: str) -> dict[str, Any]:
    entity, action = kind.split()
    return {"method": "POST", "entity": entity, **({"operation": "delete"} if action == "delete" else {})}


@pytest.mark.parametrize("kind", WRITES)
@pytest.mark.parametrize(("status", "code"), [(429, "3001"), (500, "10000"), (503, "10000")])
def test_injected_status_on_invoice_and_payment_writes_does_no_work(
    company: Company, customer: dict[str, Any], kind: str, status: int, code: str
) -> None:
    # GIVEN the next matching write will fail with the status
    write = _write(company, customer, kind)
    add_fault(company, **_rule(kind), status=status, count=1)

    # WHEN the write is sent, then retried with the same requestid
    failed = write(requestid=f"{kind}-{status}")
    undone = not _done(company, kind)
    retried = write(requestid=f"{kind}-{status}")

    # THEN the first answer is the fault in QuickBooks' format, nothing happened, and the retry did the work
    assert failed.status_code == status
    assert failed.json()["Fault"]["Error"][0]["code"] == code
    assert undone
    assert retried.status_code == 200, retried.text
    assert _done(company, kind)


@pytest.mark.parametrize("kind", WRITES)
def test_dropped_connection_after_invoice_and_payment_writes_replays_on_retry(
    company: Company, customer: dict[str, Any], kind: str
) -> None:
    # GIVEN the next matching write loses its connection after it was carried out
    write = _write(company, customer, kind)
    add_fault(company, **_rule(kind), status=0, count=1)

    # WHEN the write is sent with a requestid
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        write(requestid=f"drop-{kind}")

    # THEN it was done, and the retry with the same requestid gets the original answer (a delete: not 610)
    assert _done(company, kind)
    retry = write(requestid=f"drop-{kind}")
    assert retry.status_code == 200, retry.text
    entity = kind.split()[0].capitalize()
    if kind.endswith("delete"):
        assert retry.json()[entity]["status"] == "Deleted"
    else:
        assert retry.json()[entity]["SyncToken"] == "0"
    assert _done(company, kind)


def test_fault_with_operation_delete_spares_creates_and_updates(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN a fault for invoice deletes only
    add_fault(company, method="POST", entity="invoice", operation="delete", status=503, count=1)

    # WHEN an invoice is created, updated, then deleted
    invoice = invoice_of(company, customer["Id"], 10)
    company.create("Invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    deleted = company.post("invoice", {"Id": invoice["Id"], "SyncToken": "1"}, operation="delete")

    # THEN only the delete failed, and all three count as POST invoice
    assert deleted.status_code == 503
    assert read(company, "Invoice", invoice["Id"])["SyncToken"] == "1"
    assert company.requests()["byEndpoint"] == {"POST customer": 1, "POST invoice": 3, "GET invoice": 1}


def test_fault_without_operation_matches_deletes_too(company: Company, customer: dict[str, Any]) -> None:
    # GIVEN an invoice and a fault for the next POST invoice of any kind
    invoice = invoice_of(company, customer["Id"], 10)
    add_fault(company, method="POST", entity="invoice", status=500, count=1)

    # WHEN the invoice is deleted
    response = company.post("invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="delete")

    # THEN the delete got the fault
    assert response.status_code == 500


def test_admin_faults_lists_operation(company: Company) -> None:
    # GIVEN a delete-only rule
    add_fault(company, method="post", entity="Payment", operation="DELETE", status=429, count=2)

    # WHEN the rules are listed
    rules = company.http.get("/_admin/faults").json()["rules"]

    # THEN the rule is normalised to lower-case entity and operation
    mine = [r for r in rules if r["realmId"] == company.realm_id]
    assert mine == [
        {
            "realmId": company.realm_id,
            "method": "POST",
            "entity": "payment",
            "operation": "delete",
            "status": 429,
            "count": 2,
            "latencyMs": 0,
        }
    ]
    company.emulator.state.faults.clear()


# --- lists the sync reads -----------------------------------------------------------------------------


@pytest.mark.parametrize("item_type", ["Service", "NonInventory"])
def test_item_create_with_income_account_and_query_by_name(company: Company, item_type: str) -> None:
    # GIVEN an income account
    income = company.query("SELECT * FROM Account WHERE AccountType = 'Income'")["Account"]

    # WHEN an item of the type is created with it, and one without an income account
    item = company.create(
        "Item", {"Name": "Books360 Service", "Type": item_type, "IncomeAccountRef": {"value": income[0]["Id"]}}
    )
    missing = company.post("item", {"Name": "No Income", "Type": item_type})

    # THEN the first exists and is found by name; the second needs IncomeAccountRef
    assert item["Type"] == item_type
    assert item["IncomeAccountRef"] == {"value": income[0]["Id"], "name": income[0]["Name"]}
    assert {a["AccountType"] for a in income} == {"Income"}
    found = company.query("SELECT * FROM Item WHERE Name = 'Books360 Service'")["Item"]
    assert [i["Id"] for i in found] == [item["Id"]]
    error = fault_of(missing)
    assert (error["code"], error["element"]) == ("2020", "IncomeAccountRef")


def test_inactive_item_found_by_name_only_with_active_in_true_false(company: Company) -> None:
    # GIVEN an inactive Books360 Service item
    income = company.query("SELECT * FROM Account WHERE AccountType = 'Income'")["Account"][0]["Id"]
    item = company.create(
        "Item", {"Name": "Books360 Service", "Type": "NonInventory", "IncomeAccountRef": {"value": income}}
    )
    company.create("Item", {"Id": item["Id"], "SyncToken": "0", "sparse": True, "Active": False})

    # WHEN it is looked up by name, with and without the Active condition
    plain = company.query("SELECT * FROM Item WHERE Name = 'Books360 Service'")
    everything = company.query("SELECT * FROM Item WHERE Name = 'Books360 Service' AND Active IN (true, false)")

    # THEN only the query naming Active finds it
    assert plain == {}
    assert [(i["Id"], i["Active"]) for i in everything["Item"]] == [(item["Id"], False)]


def test_preferences_show_sales_form_custom_field_names(new_company: Callable[..., Company]) -> None:
    # GIVEN a company with two invoice custom fields
    company = new_company(customFields=["CampaignId", "Invoice Number"])

    # WHEN Preferences are read
    prefs = company.get("preferences").json()["Preferences"]["SalesFormsPrefs"]

    # THEN they are nested as qbo-api-facts 2.9 shows: use-flags, then names
    assert prefs["CustomField"] == [
        {
            "CustomField": [
                {"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType", "BooleanValue": True},
                {"Name": "SalesFormsPrefs.UseSalesCustom2", "Type": "BooleanType", "BooleanValue": True},
                {"Name": "SalesFormsPrefs.UseSalesCustom3", "Type": "BooleanType", "BooleanValue": False},
            ]
        },
        {
            "CustomField": [
                {"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": "CampaignId"},
                {"Name": "SalesFormsPrefs.SalesCustomName2", "Type": "StringType", "StringValue": "Invoice Number"},
            ]
        },
    ]
    assert prefs["CustomTxnNumbers"] is False

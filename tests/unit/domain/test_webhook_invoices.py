"""What an invoice or payment deleted or voided in QuickBooks does to a Books360 invoice's link (issue 9)."""

from __future__ import annotations

import pytest

from shared.domain.invoices import InvoiceLink, SyncStatus, Written
from shared.domain.webhooks import ChangeEvent, TransactionGone, invoice_link_after, transaction_gone


def event(entity: str, operation: str) -> ChangeEvent:
    return ChangeEvent(event_id="e", realm_id="1", entity=entity, entity_id="58", operation=operation)


def linked(**changes) -> InvoiceLink:
    fields = {
        "realm_id": "1",
        "status": SyncStatus.SYNCED,
        "customer_id": "7",
        "parts": {"all": Written("145", "0", "fp")},
        "payments": {"p1": Written("146", "0", "fp"), "p2": Written("147", "0", "fp")},
        "generations": {"payment:p1": 2},
    }
    return InvoiceLink(**{**fields, **changes})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (event("invoice", "Delete"), TransactionGone("Invoice", "58", voided=False)),
        (event("invoice", "Void"), TransactionGone("Invoice", "58", voided=True)),
        (event("payment", "Delete"), TransactionGone("Payment", "58", voided=False)),
        (event("payment", "Void"), TransactionGone("Payment", "58", voided=True)),
        (event("invoice", "Update"), None),
        (event("invoice", "Emailed"), None),
        (event("customer", "Delete"), None),
        (event("bill", "Delete"), None),
    ],
    ids=[
        "invoice-deleted",
        "invoice-voided",
        "payment-deleted",
        "payment-voided",
        "update",
        "emailed",
        "customer",
        "bill",
    ],
)
def test_transaction_gone_names_only_deleted_or_voided_invoices_and_payments(change, expected):
    assert transaction_gone(change) == expected


def test_invoice_deleted_marks_deleted_in_qb_and_keeps_every_object():
    after = invoice_link_after(linked(), TransactionGone("Invoice", "145", voided=False))

    assert after is not None
    assert (after.status, after.last_error) == (
        SyncStatus.DELETED_IN_QB,
        "QuickBooks invoice 145 was deleted in QuickBooks.",
    )
    assert (after.qb_invoice_ids, after.qb_payment_ids) == (["145"], ["146", "147"])
    assert invoice_link_after(after, TransactionGone("Invoice", "145", voided=False)) is None


def test_invoice_deleted_after_a_failed_sync_replaces_the_refusal():
    failed = linked(status=SyncStatus.FAILED, last_error="QuickBooks error 6000: something")

    after = invoice_link_after(failed, TransactionGone("Invoice", "145", voided=False))

    assert after is not None
    assert after.last_error == "QuickBooks invoice 145 was deleted in QuickBooks."


def test_second_part_deleted_adds_its_note():
    split = linked(parts={"2026-09": Written("145", "0", "fp"), "2026-10": Written("150", "0", "fp")})
    first = invoice_link_after(split, TransactionGone("Invoice", "145", voided=False))
    assert first is not None

    second = invoice_link_after(first, TransactionGone("Invoice", "150", voided=False))

    assert second is not None
    assert second.last_error == (
        "QuickBooks invoice 145 was deleted in QuickBooks. QuickBooks invoice 150 was deleted in QuickBooks."
    )


def test_invoice_voided_stays_synced_with_a_note():
    after = invoice_link_after(linked(), TransactionGone("Invoice", "145", voided=True))

    assert after is not None
    assert (after.status, after.last_error) == (SyncStatus.SYNCED, "QuickBooks invoice 145 was voided in QuickBooks.")
    assert after.parts == linked().parts
    assert invoice_link_after(after, TransactionGone("Invoice", "145", voided=True)) is None


@pytest.mark.parametrize("voided", [False, True])
def test_payment_gone_is_dropped_with_its_generation_moved_on(voided):
    after = invoice_link_after(linked(), TransactionGone("Payment", "146", voided=voided))

    assert after is not None
    assert after.status is SyncStatus.SYNCED
    assert dict(after.payments) == {"p2": Written("147", "0", "fp")}
    assert dict(after.generations) == {"payment:p1": 3}
    assert after.last_error == (
        f"QuickBooks payment 146 was {'voided' if voided else 'deleted'} in QuickBooks; the next sync writes it again."
    )
    assert invoice_link_after(after, TransactionGone("Payment", "146", voided=voided)) is None


def test_objects_the_link_does_not_hold_change_nothing():
    link = linked()

    assert invoice_link_after(link, TransactionGone("Invoice", "146", voided=False)) is None
    assert invoice_link_after(link, TransactionGone("Payment", "145", voided=False)) is None
    assert invoice_link_after(link, TransactionGone("Payment", "999", voided=True)) is None

"""Books360's side of the benchmarks: the ``detail`` of the events Books360 publishes for clients and invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def client_detail(tenant: str, client_id: str, name: str, *, email: str | None, version: int = 1) -> dict[str, Any]:
    """A ``ClientUpserted`` detail."""
    return {"tenantId": tenant, "version": version, "clientId": client_id, "name": name, "email": email}


def invoice_detail(
    tenant: str,
    n: int,
    transactions: int,
    version: int = 1,
    *,
    client_id: str | None = None,
    invoice_id: str | None = None,
    custom_fields: list[str] | None = None,
) -> dict[str, Any]:
    """Invoice ``n`` (``inv-{n}`` of client ``c-{n}`` unless named): ``transactions`` lines in November 2026 and one
    payment of line 0's amount (partial).

    Version 2 raises line 1 by 50.00 (the payment stays applied as it was); version 3 brings every line down to
    10.00, so the invoice's total falls below the payment, which is then applied up to that total only.
    """
    amounts = [Decimal(100 + 10 * k + n) + Decimal("0.25") for k in range(transactions)]
    paid = amounts[0]
    if version == 2:
        amounts[min(1, transactions - 1)] += Decimal("50.00")
    elif version >= 3:
        amounts = [Decimal("10.00")] * transactions
    invoice_id = invoice_id or f"inv-{n}"
    detail: dict[str, Any] = {
        "tenantId": tenant,
        "version": version,
        "invoiceId": invoice_id,
        "clientId": client_id or f"c-{n}",
        "number": f"B360-{1000 + n}",
        "createdAt": "2026-11-30T09:00:00Z",
        "dateFrom": "2026-11-01",
        "dateTo": "2026-11-30",
        "dueDate": "2026-12-30",
        "transactions": [
            {
                "id": f"t-{invoice_id}-{k}",
                "date": f"2026-11-{k + 1:02d}",
                "description": f"Work item {k}",
                "amount": str(a),
            }
            for k, a in enumerate(amounts)
        ],
        "payments": [
            {"id": f"p-{invoice_id}", "date": "2026-12-02", "amount": str(paid), "paymentSystem": "stripe"},
        ],
    }
    if custom_fields:
        detail["customFields"] = {custom_fields[0]: f"Project {n % 4}", custom_fields[1]: f"PO-{n:04d}"}
    return detail

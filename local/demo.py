"""Demo data loaded at start: a QuickBooks company in the emulator, and the webhook registration.

The QuickBooks side is made through the emulator's admin routes and its Accounting API (as a QuickBooks user
would), so it is exactly what a real company answers. A few names are shared with Books360 demo clients and
vendors (``Acme Corp``, ``Globex LLC``, ``Hooli Cloud Services``) so linking can be tried by hand. Any refusal
stops the stack with the emulator's own answer: a demo that silently half-loaded would mislead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

DEMO_REALM_ID = "9341455000001"
DEMO_COMPANY_NAME = "Demo Books360 Co (QBO)"
MINOR_VERSION = "75"

QBO_CUSTOMERS: list[dict[str, Any]] = [
    {
        "DisplayName": "Acme Corp",
        "CompanyName": "Acme Corp",
        "PrimaryEmailAddr": {"Address": "billing@acme.example"},
        "PrimaryPhone": {"FreeFormNumber": "(555) 010-1000"},
        "BillAddr": {
            "Line1": "1 Road Runner Way",
            "City": "Phoenix",
            "CountrySubDivisionCode": "AZ",
            "PostalCode": "85001",
            "Country": "US",
        },
    },
    {
        "DisplayName": "Globex LLC",
        "CompanyName": "Globex LLC",
        "PrimaryEmailAddr": {"Address": "ap@globex.example"},
        "PrimaryPhone": {"FreeFormNumber": "(555) 010-2000"},
    },
    {
        "DisplayName": "Initech Inc",
        "CompanyName": "Initech Inc",
        "PrimaryEmailAddr": {"Address": "accounts@initech.example"},
    },
    {
        "DisplayName": "Umbrella Corporation",
        "CompanyName": "Umbrella Corporation",
        "PrimaryEmailAddr": {"Address": "finance@umbrella.example"},
    },
    {"DisplayName": "Jane Doe", "GivenName": "Jane", "FamilyName": "Doe"},
]

QBO_VENDORS: list[dict[str, Any]] = [
    {
        "DisplayName": "Hooli Cloud Services",
        "CompanyName": "Hooli",
        "PrimaryEmailAddr": {"Address": "invoices@hooli.example"},
    },
    {"DisplayName": "Office Supplies Co", "CompanyName": "Office Supplies Co"},
    {"DisplayName": "City Power & Light", "CompanyName": "City Power & Light"},
]


class DemoSeedError(Exception):
    """The emulator refused part of the demo data; the message carries its answer."""


@dataclass
class DemoCompany:
    realm_id: str
    company_name: str
    customers: dict[str, str] = field(default_factory=dict)
    vendors: dict[str, str] = field(default_factory=dict)


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise DemoSeedError(
            f"{what}: {response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    try:
        data: dict[str, Any] = response.json()
    except ValueError:
        raise DemoSeedError(f"{what}: the answer is not JSON: {response.text[:300]}") from None
    return data


def seed_quickbooks(
    emulator_url: str, webhook_url: str, verifier_token: str, *, transport: httpx.BaseTransport | None = None
) -> DemoCompany:
    """The demo company with its customers and vendors, and the stack's webhook endpoint registered."""
    try:
        with httpx.Client(base_url=emulator_url, timeout=10.0, transport=transport) as http:
            company = _check(
                http.post("/_admin/companies", json={"companyName": DEMO_COMPANY_NAME, "realmId": DEMO_REALM_ID}),
                "creating the demo company",
            )
            realm_id = str(company["realmId"])
            token = _check(http.post("/_admin/tokens", json={"realmId": realm_id}), "getting a token")["access_token"]
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            demo = DemoCompany(realm_id, str(company.get("companyName", DEMO_COMPANY_NAME)))
            for entity, rows, found in (
                ("customer", QBO_CUSTOMERS, demo.customers),
                ("vendor", QBO_VENDORS, demo.vendors),
            ):
                for row in rows:
                    answer = _check(
                        http.post(
                            f"/v3/company/{realm_id}/{entity}",
                            params={"minorversion": MINOR_VERSION},
                            json=row,
                            headers=headers,
                        ),
                        f"creating {entity} {row['DisplayName']!r}",
                    )
                    found[row["DisplayName"]] = str(answer[entity.capitalize()]["Id"])
            _check(
                http.post(
                    "/_admin/webhooks",
                    json={"url": webhook_url, "verifierToken": verifier_token, "format": "cloudevents"},
                ),
                "registering the webhook endpoint",
            )
    except httpx.HTTPError as exc:
        raise DemoSeedError(f"the QuickBooks emulator at {emulator_url} did not answer: {exc}") from None
    except KeyError as exc:
        raise DemoSeedError(f"the QuickBooks emulator answered without {exc}") from None
    return demo


BOOKS360_SOURCE = "books360.accounting"


def _client(client_id: str, name: str, email: str | None, city: str) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "name": name,
        "email": email,
        "companyName": name,
        "phone": "(555) 010-0000",
        "billingAddress": {"line1": "1 Main St", "city": city, "region": "CA", "postalCode": "94105", "country": "US"},
    }


def _invoice(
    invoice_id: str, client_id: str, number: str, month: str, amounts: list[str], paid: str | None
) -> dict[str, Any]:
    transactions = [
        {"id": f"{invoice_id}-t{i}", "date": f"{month}-{10 + i:02d}", "description": f"Campaign spend {i}", "amount": a}
        for i, a in enumerate(amounts, start=1)
    ]
    payments = (
        [
            {
                "id": f"{invoice_id}-p1",
                "date": f"{month}-28",
                "amount": paid,
                "paymentSystem": "stripe",
                "brokerId": "brk-1",
            }
        ]
        if paid
        else []
    )
    return {
        "invoiceId": invoice_id,
        "clientId": client_id,
        "number": number,
        "createdAt": f"{month}-01T09:00:00Z",
        "dateFrom": f"{month}-01",
        "dateTo": f"{month}-28",
        "dueDate": f"{month}-28",
        "currency": "USD",
        "customFields": {"CampaignId": f"cmp-{invoice_id}"},
        "transactions": transactions,
        "payments": payments,
    }


def books360_entries(tenant_id: str) -> list[dict[str, Any]]:
    """The demo tenant's Books360 data as the PutEvents entries Books360 would publish (clients first)."""
    clients = [
        _client("cl-acme", "Acme Corp", "billing@acme.example", "Phoenix"),
        _client("cl-globex", "Globex LLC", "ap@globex.example", "Springfield"),
        _client("cl-wayne", "Wayne Enterprises", "finance@wayne.example", "Gotham"),
        _client("cl-nomail", "No Email Studio", None, "Oakland"),
    ]
    vendors = [
        {
            "vendorId": "vd-hooli",
            "name": "Hooli Cloud Services",
            "email": "invoices@hooli.example",
            "companyName": "Hooli",
            "phone": None,
        },
        {
            "vendorId": "vd-paper",
            "name": "Paper Street Supplies",
            "email": None,
            "companyName": "Paper Street Supplies",
            "phone": "(555) 010-3000",
        },
    ]
    invoices = [
        _invoice("inv-1001", "cl-acme", "B360-1001", "2026-09", ["1250.00", "300.50"], "1550.50"),
        _invoice("inv-1002", "cl-acme", "B360-1002", "2026-10", ["980.00"], "400.00"),
        _invoice("inv-1003", "cl-globex", "B360-1003", "2026-10", ["2100.00", "45.25", "19.99"], None),
        _invoice("inv-1004", "cl-wayne", "B360-1004", "2026-11", ["5000.00"], None),
        _invoice("inv-1005", "cl-nomail", "B360-1005", "2026-11", ["75.00"], None),
    ]
    entries: list[dict[str, Any]] = []
    for kind, items in (("ClientUpserted", clients), ("VendorUpserted", vendors), ("InvoiceUpserted", invoices)):
        for item in items:
            detail = {"tenantId": tenant_id, "version": 1, **item}
            entries.append({"Source": BOOKS360_SOURCE, "DetailType": kind, "Detail": json.dumps(detail)})
    return entries

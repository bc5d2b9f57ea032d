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


# Names the demo QuickBooks company already holds: some as customers (link them, or see the 409 on create), one
# as a vendor (a client of that name is created with the " (Customer)" suffix).
_CLIENT_NAMES = [
    "Acme Corp",
    "Globex LLC",
    "Initech Inc",
    "Umbrella Corporation",
    "Hooli Cloud Services",
    "Wayne Enterprises",
    "Stark Industries",
    "Wonka Confections",
    "Cyberdyne Systems",
    "Soylent Foods",
    "Tyrell Corporation",
    "Oscorp Labs",
    "Pied Piper",
    "Vandelay Industries",
    "Dunder Mifflin",
    "Bluth Company",
    "Prestige Worldwide",
    "Sterling Cooper",
    "Gringotts Advisory",
    "Monarch Solutions",
    "Nakatomi Trading",
    "Massive Dynamic",
    "Black Mesa Research",
    "Aperture Science",
    "Virtucon",
    "Gekko & Co",
    "Duff Brewing",
    "Krusty Krab",
    "Los Pollos Hermanos",
    "Paper Street Soap",
    "Blue Sun Corp",
    "Weyland Logistics",
    "Ollivanders Wands",
    "Cogswell Cogs",
    "Spacely Sprockets",
    "Sirius Cybernetics",
    "Rekall Travel",
    "Zorg Industries",
    "Ghostbusters LLC",
    "No Email Studio",
]
_VENDOR_NAMES = [
    "Office Supplies Co",
    "Hooli Ads Network",
    "Paper Street Supplies",
    "Jane Doe",
    "Northwind Traders",
    "Contoso Media",
    "Fabrikam Print",
    "Adventure Works Travel",
    "Litware Analytics",
    "Proseware Hosting",
]
_CITIES = ["Phoenix", "Springfield", "Gotham", "Oakland", "Austin", "Denver", "Portland", "Boston"]
# (first month, months spanned, paid: "all" | "part" | "none"); months are 2026's, today is late November.
_INVOICE_SHAPES = [(6, 1, "all"), (7, 2, "part"), (8, 1, "none"), (9, 3, "all"), (10, 1, "part"), (11, 1, "none")]


def _slug(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())[:16]


def _client(index: int, name: str) -> dict[str, Any]:
    # Every seventh client, and the one named so, has no email: it can be linked, but not invoiced.
    email = None if index % 7 == 6 or name == "No Email Studio" else f"billing@{_slug(name)}.example"
    return {
        "clientId": f"cl-{index + 1:03d}",
        "name": name,
        "email": email,
        "companyName": name,
        "phone": f"(555) 010-{1000 + index:04d}",
        "billingAddress": {
            "line1": f"{index + 1} Main St",
            "city": _CITIES[index % len(_CITIES)],
            "region": "CA",
            "postalCode": f"94{index:03d}",
            "country": "USA",
        },
    }


def _vendor(index: int, name: str) -> dict[str, Any]:
    return {
        "vendorId": f"vd-{index + 1:03d}",
        "name": name,
        "email": None if index % 4 == 3 else f"ar@{_slug(name)}.example",
        "companyName": name,
        "phone": f"(555) 020-{1000 + index:04d}",
    }


def _invoice(index: int, client_id: str) -> dict[str, Any]:
    first_month, span, paid = _INVOICE_SHAPES[index % len(_INVOICE_SHAPES)]
    transactions: list[dict[str, str]] = []
    for month in range(first_month, first_month + span):
        for line in range(1 + (index + month) % 3):
            cents = (index * 7919 + month * 131 + line * 57) % 90000 + 5000
            transactions.append(
                {
                    "id": f"inv-{index + 1:03d}-t{len(transactions) + 1}",
                    "date": f"2026-{min(month, 11):02d}-{5 + line * 9:02d}",
                    "description": ["Ad spend", "Management fee", "Creative production"][line % 3],
                    "amount": f"{cents // 100}.{cents % 100:02d}",
                }
            )
    total = sum(int(t["amount"].replace(".", "")) for t in transactions)
    paid_cents = {"all": total, "part": total // 3, "none": 0}[paid]
    last_month = min(first_month + span - 1, 11)
    payments = (
        [
            {
                "id": f"inv-{index + 1:03d}-p1",
                "date": f"2026-{last_month:02d}-27",
                "amount": f"{paid_cents // 100}.{paid_cents % 100:02d}",
                "paymentSystem": ["stripe", "paypal", "wire"][index % 3],
                "brokerId": ["brk-1", None, "brk-2"][index % 3],
            }
        ]
        if paid_cents
        else []
    )
    custom = {"CampaignId": f"CMP-{100 + index}", "Clicks": str(1000 + 37 * index)}
    if index % 2 == 0:
        custom["Region"] = ["West", "East", "North"][index % 3]
    return {
        "invoiceId": f"inv-{index + 1:03d}",
        "clientId": client_id,
        "number": f"B360-{1001 + index}",
        "createdAt": f"2026-{last_month:02d}-28T09:00:00Z",
        "dateFrom": f"2026-{first_month:02d}-01",
        "dateTo": f"2026-{last_month:02d}-28",
        # Unpaid ones from before November are overdue by now.
        "dueDate": f"2026-{min(last_month + 1, 12):02d}-15",
        "currency": "USD",
        "customFields": custom,
        "transactions": transactions,
        "payments": payments,
    }


def books360_entries(tenant_id: str) -> list[dict[str, Any]]:
    """The demo tenant's Books360 data as the PutEvents entries Books360 would publish (clients first).

    40 clients (some without email, some whose names the demo QuickBooks company already has), 10 vendors and
    60 invoices (one to three months, paid, partly paid, unpaid and overdue, with custom fields).
    """
    clients = [_client(i, name) for i, name in enumerate(_CLIENT_NAMES)]
    vendors = [_vendor(i, name) for i, name in enumerate(_VENDOR_NAMES)]
    invoices = [_invoice(i, clients[i % len(clients)]["clientId"]) for i in range(60)]
    entries: list[dict[str, Any]] = []
    for kind, items in (("ClientUpserted", clients), ("VendorUpserted", vendors), ("InvoiceUpserted", invoices)):
        for item in items:
            detail = {"tenantId": tenant_id, "version": 1, **item}
            entries.append({"Source": BOOKS360_SOURCE, "DetailType": kind, "Detail": json.dumps(detail)})
    return entries

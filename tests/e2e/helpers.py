"""What Books360, Intuit and a QuickBooks user do in e2e tests: publish events, look into the company."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from shared.domain.parties import PartyKind


def publish(stack, tenant: str, kind: PartyKind, count: int, prefix: str, *, emails: bool = False) -> list[str]:
    """Books360 publishes ``count`` new parties of the tenant (named ``{prefix} {n}``); their ids."""
    ids = [f"{kind.key[0]}-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    entries = [
        {
            "Source": "books360.accounting",
            "DetailType": kind.upsert_event,
            "Detail": json.dumps(
                {
                    "tenantId": tenant,
                    "version": 1,
                    kind.id_field: party_id,
                    "name": f"{prefix} {n}",
                    "email": f"p{n}@{prefix.lower().replace(' ', '-')}.example" if emails else None,
                }
            ),
        }
        for n, party_id in enumerate(ids)
    ]
    for start in range(0, len(entries), 10):  # PutEvents takes at most 10 entries
        answer = httpx.post(f"{stack.api_url}/_local/events", json={"Entries": entries[start : start + 10]}, timeout=60)
        assert answer.status_code == 200 and answer.json()["FailedEntryCount"] == 0, answer.text
    return ids


def emulator(stack, method: str, path: str, **kwargs: Any) -> Any:
    answer = httpx.request(method, f"{stack.emulator_url}{path}", timeout=30.0, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def qb_names(stack, realm_id: str, kind: PartyKind) -> list[str]:
    """DisplayNames of every object of the kind in the company, as its user would list them."""
    token = emulator(stack, "POST", "/_admin/tokens", json={"realmId": realm_id})["access_token"]
    found = emulator(
        stack,
        "GET",
        f"/v3/company/{realm_id}/query",
        params={"query": f"SELECT * FROM {kind.qb_entity} MAXRESULTS 1000", "minorversion": 75},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    return [str(o["DisplayName"]) for o in found["QueryResponse"].get(kind.qb_entity, [])]


def qb_create(stack, realm_id: str, kind: PartyKind, body: dict[str, Any]) -> dict[str, Any]:
    """A QuickBooks user creates an object in the company; the object."""
    token = emulator(stack, "POST", "/_admin/tokens", json={"realmId": realm_id})["access_token"]
    created = emulator(
        stack,
        "POST",
        f"/v3/company/{realm_id}/{kind.qb_entity.lower()}",
        params={"minorversion": 75},
        json=body,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    return dict(created[kind.qb_entity])


def qb_user(stack, realm_id: str) -> dict[str, str]:
    """Headers to act as the company's QuickBooks user (the emulator's admin token)."""
    token = emulator(stack, "POST", "/_admin/tokens", json={"realmId": realm_id})["access_token"]
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def qb_read(stack, realm_id: str, entity: str, qb_id: str) -> httpx.Response:
    """The company's user opens one object (``entity`` as in the path: ``invoice``); the raw answer."""
    return httpx.get(
        f"{stack.emulator_url}/v3/company/{realm_id}/{entity}/{qb_id}",
        params={"minorversion": 75},
        headers=qb_user(stack, realm_id),
        timeout=30.0,
    )


def qb_query(stack, realm_id: str, entity: str, where: str) -> list[dict[str, Any]]:
    """``SELECT * FROM {entity} WHERE {where}`` as the company's user."""
    found = emulator(
        stack,
        "GET",
        f"/v3/company/{realm_id}/query",
        params={"query": f"SELECT * FROM {entity} WHERE {where} MAXRESULTS 1000", "minorversion": 75},
        headers=qb_user(stack, realm_id),
    )
    return list(found["QueryResponse"].get(entity, []))


def qb_writes(stack, realm_id: str) -> dict[str, int]:
    """The emulator's count of writes it answered for the company (every ``POST`` but queries)."""
    report = emulator(stack, "GET", "/_admin/requests", params={"realmId": realm_id})
    return {k: int(n) for k, n in report["byEndpoint"].items() if k.startswith("POST ") and k != "POST query"}

"""The Customers and Vendors tabs through the local front, as the Books360 UI calls them (issue 5)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.domain.parties import PARTY_KINDS, PartyKind
from tests.e2e.helpers import emulator, publish, qb_create, qb_names
from tests.e2e.oauth import connect, new_tenant

pytestmark = pytest.mark.e2e
KINDS = list(PARTY_KINDS.values())


def tag() -> str:
    return uuid.uuid4().hex[:6]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_list_pages_and_filters_through_the_stack(local_stack, kind: PartyKind):
    # GIVEN a tenant with 7 Books360 parties, 3 of them with an email
    tenant, prefix = new_tenant(), f"Tab {tag()}"
    ids = publish(local_stack, tenant, kind, 4, prefix) + publish(
        local_stack, tenant, kind, 3, f"{prefix} M", emails=True
    )

    with local_stack.client(tenant) as api:
        # WHEN the UI pages through with limit 3
        seen, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = api.get(f"/quickbooks/{kind.plural}", params=params).json()
            seen += [item[kind.id_field] for item in page["items"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        by_email = api.get(f"/quickbooks/{kind.plural}", params={"email": "example"}).json()["items"]
        by_name = api.get(f"/quickbooks/{kind.plural}", params={kind.list_filter: f"{prefix} m".upper()}).json()[
            "items"
        ]
        by_id = api.get(f"/quickbooks/{kind.plural}", params={kind.list_filter: ids[0]}).json()["items"]
        unsynced = api.get(f"/quickbooks/{kind.plural}", params={"status": "unsynced"}).json()["items"]

    # THEN every party was visited once, and each filter found its own
    assert sorted(seen) == sorted(ids)
    assert len(by_email) == 3
    assert len(by_name) == 3
    assert [item[kind.id_field] for item in by_id] == [ids[0]]
    assert len(unsynced) == 7
    assert all(item["emailMissing"] for item in by_id)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"limit": 0}, 422, "limit"),
        ({"limit": 101}, 422, "limit"),
        ({"status": "maybe"}, 422, "status"),
        ({"cursor": "Zm9v.YmFy"}, 400, "cursor"),
    ],
    ids=["limit-0", "limit-101", "bad-status", "tampered-cursor"],
)
def test_list_bad_query_is_a_problem_naming_the_parameter(local_stack, kind, params, status, field):
    with local_stack.client(new_tenant()) as api:
        answer = api.get(f"/quickbooks/{kind.plural}", params=params)

    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_cursor_of_another_tenant_is_refused(local_stack):
    tenant_a, tenant_b, prefix = new_tenant(), new_tenant(), f"Cur {tag()}"
    publish(local_stack, tenant_a, PARTY_KINDS["customer"], 3, prefix)
    with local_stack.client(tenant_a) as api:
        cursor = api.get("/quickbooks/customers", params={"limit": 1}).json()["nextCursor"]

    with local_stack.client(tenant_b) as api:
        answer = api.get("/quickbooks/customers", params={"limit": 1, "cursor": cursor})

    assert answer.status_code == 400


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_link_picker_view_unsync_through_the_stack(local_stack, kind: PartyKind):
    # GIVEN a connected tenant, a Books360 party, and a QuickBooks object created by the company's user
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    (party,) = publish(local_stack, tenant, kind, 1, f"Link {tag()}")
    qb = qb_create(local_stack, realm, kind, {"DisplayName": f"Picker {tag()} {kind.key}"})
    qb_id_field = kind.qb_id_field

    with local_stack.client(tenant) as api:
        # WHEN the admin picks it in "Sync with QB"
        picked = api.get(f"/quickbooks/qb-{kind.plural}", params={"search": qb["DisplayName"][:10]}).json()["items"]
        linked = api.post(f"/quickbooks/{kind.plural}/{party}/sync", json={qb_id_field: qb["Id"]})
        again = api.post(f"/quickbooks/{kind.plural}/{party}/sync", json={qb_id_field: qb["Id"]})
        picked_after = api.get(f"/quickbooks/qb-{kind.plural}", params={"search": qb["DisplayName"][:10]}).json()
        info = api.get(f"/quickbooks/{kind.plural}/{party}").json()
        listed = api.get(f"/quickbooks/{kind.plural}", params={kind.list_filter: party}).json()["items"][0]
        unsynced = api.delete(f"/quickbooks/{kind.plural}/{party}/sync")
        unsynced_again = api.delete(f"/quickbooks/{kind.plural}/{party}/sync")

    # THEN the link shows everywhere it should, and Unsync removes only the link
    assert [(i["id"], i[kind.linked_field]) for i in picked] == [(qb["Id"], None)]
    assert linked.status_code == 200, linked.text
    assert (linked.json()[qb_id_field], linked.json()["created"]) == (qb["Id"], False)
    assert again.status_code == 409
    assert picked_after["items"][0][kind.linked_field] == party
    assert info["status"] == "synced"
    assert info[kind.qb_view_field]["Id"] == qb["Id"]
    assert (listed["status"], listed[qb_id_field]) == ("synced", qb["Id"])
    assert unsynced.status_code == 204
    assert unsynced_again.status_code == 404
    assert qb["DisplayName"] in qb_names(local_stack, realm, kind)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_create_and_name_clashes_through_the_stack(local_stack, kind: PartyKind):
    # GIVEN a connected company where one name is taken by the same kind and one by the other kind
    tenant, other = new_tenant(), next(k for k in KINDS if k is not kind)
    realm = connect(local_stack, tenant)
    prefix = f"Clash {tag()}"
    fresh, same, cross = publish(local_stack, tenant, kind, 3, prefix)
    holder = qb_create(local_stack, realm, kind, {"DisplayName": f"{prefix} 1"})
    qb_create(local_stack, realm, other, {"DisplayName": f"{prefix} 2"})

    with local_stack.client(tenant) as api:
        created = api.post(f"/quickbooks/{kind.plural}/{fresh}/sync", json={"create": True})
        taken = api.post(f"/quickbooks/{kind.plural}/{same}/sync", json={"create": True})
        suffixed = api.post(f"/quickbooks/{kind.plural}/{cross}/sync", json={"create": True})

    # THEN a fresh name is created, the same kind's name is a 409 naming its id, the other kind's gets the suffix
    assert (created.status_code, created.json()["created"]) == (200, True)
    assert taken.status_code == 409
    assert holder["Id"] in taken.json()["detail"]
    assert suffixed.status_code == 200
    assert suffixed.json()["displayName"] == f"{prefix} 2{kind.display_suffix}"
    assert sorted(n for n in qb_names(local_stack, realm, kind) if n.startswith(prefix)) == sorted(
        [f"{prefix} 0", f"{prefix} 1", f"{prefix} 2{kind.display_suffix}"]
    )


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_tab_errors_through_the_stack(local_stack, kind: PartyKind):
    tenant, stranger = new_tenant(), new_tenant()
    (party,) = publish(local_stack, tenant, kind, 1, f"Err {tag()}")

    with local_stack.client(tenant) as api:
        not_connected = api.post(f"/quickbooks/{kind.plural}/{party}/sync", json={"create": True})
        unknown = api.get(f"/quickbooks/{kind.plural}/no-such-id")
        both_forms = api.post(f"/quickbooks/{kind.plural}/{party}/sync", json={"create": True, kind.qb_id_field: "1"})
    with local_stack.client(stranger) as api:
        foreign = api.get(f"/quickbooks/{kind.plural}/{party}")
    anonymous = httpx.get(f"{local_stack.api_url}/quickbooks/{kind.plural}", timeout=10.0)

    assert not_connected.status_code == 409
    assert unknown.status_code == 404
    assert both_forms.status_code == 422
    assert foreign.status_code == 404
    assert anonymous.status_code == 401


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.key)
def test_object_made_inactive_in_quickbooks_shows_deleted_in_qb_through_intuits_webhook(local_stack, kind):
    # GIVEN a party linked to the QuickBooks object it created
    tenant = new_tenant()
    realm = connect(local_stack, tenant)
    (party,) = publish(local_stack, tenant, kind, 1, f"Hook {tag()}")
    with local_stack.client(tenant) as api:
        linked = api.post(f"/quickbooks/{kind.plural}/{party}/sync", json={"create": True}).json()
    qb_id = linked[kind.qb_id_field]

    # WHEN the company's user makes it inactive in QuickBooks, and Intuit delivers its signed webhook
    token = emulator(local_stack, "POST", "/_admin/tokens", json={"realmId": realm})["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    path = f"/v3/company/{realm}/{kind.qb_entity.lower()}"
    current = emulator(local_stack, "GET", f"{path}/{qb_id}", params={"minorversion": 75}, headers=headers)
    update = {"Id": qb_id, "SyncToken": current[kind.qb_entity]["SyncToken"], "sparse": True, "Active": False}
    emulator(local_stack, "POST", path, params={"minorversion": 75}, json=update, headers=headers)
    emulator(local_stack, "POST", "/_admin/webhooks/flush")

    # THEN the tab shows it deleted in QuickBooks, and the link is kept for the user to decide
    with local_stack.client(tenant) as api:
        (row,) = api.get(f"/quickbooks/{kind.plural}", params={kind.list_filter: party}).json()["items"]
    assert (row["status"], row[kind.qb_id_field]) == ("deleted_in_qb", qb_id)

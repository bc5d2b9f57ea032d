"""Update Lists against the emulator: paging, linkable flags, inactive accounts, the nightly schedule (issue 4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.sqs import sqs_record
from shared import wiring
from tests.support.events import LambdaContext


def accounts_batch(start: int, count: int) -> dict:
    return {
        "BatchItemRequest": [
            {
                "bId": str(i),
                "operation": "create",
                "Account": {
                    "Name": f"Expense {i:05d}",
                    "AccountType": "Expense",
                    "AccountSubType": "OtherMiscellaneousExpense",
                },
            }
            for i in range(start, start + count)
        ]
    }


def refresh(stack, tenant="t1"):
    answer = stack.call("list_refresh", "POST", "/quickbooks/lists/refresh", tenant=tenant)
    return answer["statusCode"], json.loads(answer["body"])


def test_refresh_reads_every_account_across_pages(stack):
    # GIVEN a connected company with more than 1000 accounts
    realm = stack.connect()
    token = stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    # Seeding 34 batches back to back is the test's doing, not the product's: the limits are lifted for it only.
    lifted = {"ratePerSecond": 1000, "batchPerMinute": 1000}
    assert stack.http.put(f"/_admin/companies/{realm}/limits", json=lifted).status_code == 200
    for start in range(0, 1020, 30):
        answer = stack.http.post(
            f"/v3/company/{realm}/batch", json=accounts_batch(start, 30), headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200
    count = stack.http.get(
        f"/v3/company/{realm}/query",
        params={"query": "SELECT COUNT(*) FROM Account WHERE Active IN (true, false)"},
        headers={"Authorization": f"Bearer {token}"},
    )
    total = count.json()["QueryResponse"]["totalCount"]
    assert stack.http.put(f"/_admin/companies/{realm}/limits", json={}).status_code == 200  # QuickBooks' own again

    # WHEN the admin clicks Update Lists
    status, body = refresh(stack)

    # THEN every account is stored, and the lists say so
    assert status == 200
    assert total > 1020
    assert body["bankAccounts"] == total
    assert body["paymentMethods"] >= 5
    status, lists = stack.api("GET", "/quickbooks/lists")
    assert len(lists["bankAccounts"]) == body["bankAccounts"]
    assert stack.api("GET", "/quickbooks/connection")[1]["listsUpdatedAt"] == lists["updatedAt"]


def test_refresh_marks_only_bank_and_other_current_asset_linkable(stack):
    stack.connect()

    refresh(stack)

    accounts = stack.api("GET", "/quickbooks/lists")[1]["bankAccounts"]
    linkable_types = {a["accountType"] for a in accounts if a["linkable"]}
    assert linkable_types == {"Bank", "Other Current Asset"}
    assert any(not a["linkable"] for a in accounts)


def test_refresh_shows_an_account_made_inactive_as_inactive(stack):
    # GIVEN a setting pointing at a bank account
    realm = stack.connect()
    refresh(stack)
    lists = stack.api("GET", "/quickbooks/lists")[1]
    checking = next(a for a in lists["bankAccounts"] if a["accountType"] == "Bank")
    method = lists["paymentMethods"][0]
    status, _ = stack.api(
        "PUT",
        "/quickbooks/settings",
        body={
            **stack.api("GET", "/quickbooks/settings")[1],
            "defaults": {"bankAccountId": checking["id"], "paymentMethodId": method["id"]},
        },
    )
    assert status == 200
    # AND the account is then made inactive in QuickBooks
    token = stack.http.post("/_admin/tokens", json={"realmId": realm}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    current = stack.http.get(f"/v3/company/{realm}/account/{checking['id']}", headers=headers).json()["Account"]
    update = {"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True, "Active": False}
    assert stack.http.post(f"/v3/company/{realm}/account", json=update, headers=headers).status_code == 200

    # WHEN the lists are refreshed
    refresh(stack)

    # THEN the account is still listed, as inactive
    again = {a["id"]: a for a in stack.api("GET", "/quickbooks/lists")[1]["bankAccounts"]}
    assert again[checking["id"]]["active"] is False


def test_refresh_when_not_connected_is_409(stack):
    status, problem = refresh(stack, tenant="never-connected")

    assert status == 409
    assert problem["type"].endswith("not-connected")


NIGHTLY = {
    "source": "aws.events",
    "detail-type": "Scheduled Event",
    "resources": ["arn:rule/list-refresh"],
    "detail": {},
}


@dataclass
class RefreshQueue:
    """The template's list-refresh queue in moto, and the list_refresh function draining it as Lambda would."""

    stack: Any
    sqs: Any
    url: str
    arn: str

    def nightly(self) -> dict[str, Any]:
        return dict(self.stack.functions["list_refresh"].lambda_handler(NIGHTLY, LambdaContext()))

    def receive(self) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
                "Messages", []
            )
        )

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        """One invocation per message (BatchSize 1, as the template says); the tenants whose message failed."""
        failed = set()
        for message in messages:
            event = {"Records": [sqs_record(message, self.arn)]}
            answer = self.stack.functions["list_refresh"].lambda_handler(event, LambdaContext())
            if answer["batchItemFailures"]:
                failed.add(json.loads(message["Body"])["tenantId"])
            else:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return failed


@pytest.fixture
def refresh_queue(stack, monkeypatch) -> RefreshQueue:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="list-refresh")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    monkeypatch.setenv("LIST_REFRESH_QUEUE_URL", url)
    wiring.reset()
    return RefreshQueue(stack, sqs, url, arn)


def test_nightly_schedule_queues_one_message_per_connected_tenant_and_refreshes_nothing_itself(refresh_queue):
    # GIVEN two connected tenants and one that disconnected
    stack = refresh_queue.stack
    for tenant in ("tA", "tB", "tGone"):
        stack.connect(tenant)
    stack.api("PUT", "/quickbooks/connection", tenant="tGone", body={"active": False})

    # WHEN the nightly schedule runs
    outcome = refresh_queue.nightly()

    # THEN each connected tenant has its own message, in its own group (fair between tenants), and no list was read
    assert outcome == {"queued": 2}
    messages = refresh_queue.receive()
    assert sorted(json.loads(m["Body"])["tenantId"] for m in messages) == ["tA", "tB"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"tA", "tB"}
    assert stack.api("GET", "/quickbooks/lists", tenant="tA")[1]["updatedAt"] is None


def test_each_tenants_message_refreshes_it_and_one_tenants_failure_starves_nobody(refresh_queue, monkeypatch):
    # GIVEN three connected tenants, and DynamoDB failing unexpectedly for the first one's lists
    stack = refresh_queue.stack
    for tenant in ("tA", "tB", "tC"):
        stack.connect(tenant)
    store = type(wiring.lists_store())
    put = store.put

    def failing_for_ta(self, tenant_id, *args, **kwargs):
        if tenant_id == "tA":
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "PutItem")
        return put(self, tenant_id, *args, **kwargs)

    monkeypatch.setattr(store, "put", failing_for_ta)
    refresh_queue.nightly()

    # WHEN the messages are delivered
    failed = refresh_queue.deliver(refresh_queue.receive())

    # THEN the others are refreshed, and only tA's message failed (SQS retries it, then its dead-letter queue)
    assert failed == {"tA"}
    for tenant in ("tB", "tC"):
        assert stack.api("GET", "/quickbooks/lists", tenant=tenant)[1]["updatedAt"] is not None
    assert stack.api("GET", "/quickbooks/lists", tenant="tA")[1]["updatedAt"] is None


def test_a_message_of_a_tenant_disconnected_since_is_acknowledged(refresh_queue):
    stack = refresh_queue.stack
    stack.connect("tA")
    refresh_queue.nightly()
    stack.api("PUT", "/quickbooks/connection", tenant="tA", body={"active": False})

    assert refresh_queue.deliver(refresh_queue.receive()) == set()
    assert refresh_queue.receive() == []


def test_lists_of_a_previous_company_do_not_count_after_connecting_another(stack):
    # GIVEN lists refreshed for a first company
    stack.connect()
    refresh(stack)
    stack.api("PUT", "/quickbooks/connection", body={"active": False})

    # WHEN the tenant connects a second company and has not updated its lists yet
    stack.connect(realm_id=stack.company("Second Co (QBO)"))

    # THEN the old company's lists are not shown, and settings cannot point at its accounts
    lists = stack.api("GET", "/quickbooks/lists")[1]
    assert (lists["bankAccounts"], lists["updatedAt"]) == ([], None)
    settings = stack.api("GET", "/quickbooks/settings")[1]
    status, problem = stack.api(
        "PUT", "/quickbooks/settings", body={**settings, "defaults": {"bankAccountId": "1", "paymentMethodId": None}}
    )
    assert status == 422
    assert [e["field"] for e in problem["errors"]] == ["defaults.bankAccountId"]


def test_settings_body_that_is_not_an_object_names_body(stack):
    status, problem = stack.api("PUT", "/quickbooks/settings", body=[1, 2])

    assert status == 422
    assert [e["field"] for e in problem["errors"]] == ["body"]

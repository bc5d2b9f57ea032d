"""template.yaml: each function may do what its code does and no more; the table outlives the stack; the HTTP API
is throttled and logs each request without its headers or body.

What each function uses was read from its code (``functions/<name>``, what it reaches through ``shared/wiring.py``,
``shared/store``, ``shared/services``); the integration tests check it the other way round: every AWS call a
function makes there must be one its policies allow (``tests.support.iam``). This file pins the grants, so none
grows unnoticed. A transaction (TransactWriteItems) needs the action of each of its parts: there is no IAM action
of its own.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.iam import Recorder
from tests.support.template import load_template

# What SAM's policy templates grant (https://github.com/aws/serverless-application-model, policy_templates.json).
SAM_POLICY_TEMPLATES = {
    "DynamoDBCrudPolicy": [
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:Scan",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:DescribeTable",
        "dynamodb:ConditionCheckItem",
    ],
    "DynamoDBReadPolicy": [
        "dynamodb:GetItem",
        "dynamodb:Scan",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:DescribeTable",
    ],
    "SQSSendMessagePolicy": ["sqs:SendMessage*"],
    "SQSPollerPolicy": [
        "sqs:ChangeMessageVisibility",
        "sqs:ChangeMessageVisibilityBatch",
        "sqs:DeleteMessage",
        "sqs:DeleteMessageBatch",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ],
}

GET_ITEM, BATCH_GET, QUERY = "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"
WRITE = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}

# Per function: the DynamoDB actions on the table. Never a Scan, a BatchWriteItem or DescribeTable.
TABLE_ACTIONS = {
    "ApiFunction": {GET_ITEM, BATCH_GET, QUERY} | WRITE,
    # Takes its OAuth state (DeleteItem), records the pending connect; a Query of the table: who else is connected
    # to the company (before revoking tokens it could not keep).
    "OAuthCallbackFunction": {GET_ITEM, QUERY} | WRITE,
    # Releases the invoice lease it holds and the guard of a payment QuickBooks deleted by updates: no DeleteItem
    # (the issue: "the webhook gets no Scan/Delete"), no Scan, no batch.
    "WebhookFunction": {GET_ITEM, QUERY, "dynamodb:PutItem", "dynamodb:UpdateItem"},
    # The invoice, its client, settings, facts, leases, the pacing calendar: single items and their transactions;
    # a Query of the table when a customer's name is taken by an object with an old marker (who shares the company).
    "SyncInvoiceFunction": {GET_ITEM, QUERY} | WRITE,
    "BulkSyncFunction": {GET_ITEM, BATCH_GET, QUERY} | WRITE,
    "ListRefreshFunction": {GET_ITEM, QUERY} | WRITE,
    "ConnectSweepFunction": {GET_ITEM, QUERY, "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "Books360EventsFunction": {GET_ITEM, BATCH_GET} | WRITE,
    "AutoSyncFunction": {GET_ITEM, BATCH_GET, QUERY} | WRITE,
}
# The functions that query the index (connected tenants, expired connects, guards by QuickBooks id, due invoices).
INDEX_QUERIES = {"WebhookFunction", "ListRefreshFunction", "ConnectSweepFunction", "AutoSyncFunction"}

APP_SECRET = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${QboAppSecretName}-??????"
TOKENS = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${TokenSecretPrefix}*"
PENDING = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${PendingTokenSecretPrefix}*"
GET, PUT, CREATE, DELETE_SECRET = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:CreateSecret",
    "secretsmanager:DeleteSecret",
)

# Per function: (secret, action) pairs. Token secrets are one per tenant under the prefix; the app secret is one.
SECRETS = {
    # Connect confirm (pending tokens become the tenant's: it reads and deletes the pending secret), disconnect,
    # refreshes, the cursor key.
    "ApiFunction": {(APP_SECRET, GET), (PENDING, GET), (PENDING, DELETE_SECRET)}
    | {(TOKENS, a) for a in (GET, PUT, CREATE, DELETE_SECRET)},
    # Holds the exchanged tokens pending the confirm: writes pending secrets only.
    "OAuthCallbackFunction": {(APP_SECRET, GET), (PENDING, PUT), (PENDING, CREATE)},
    "WebhookFunction": {(APP_SECRET, GET)},
    "SyncInvoiceFunction": {(APP_SECRET, GET), (TOKENS, GET), (TOKENS, PUT)},
    "BulkSyncFunction": {(APP_SECRET, GET), (TOKENS, GET), (TOKENS, PUT)},
    "ListRefreshFunction": {(APP_SECRET, GET), (TOKENS, GET), (TOKENS, PUT)},
    "ConnectSweepFunction": {(APP_SECRET, GET), (PENDING, GET), (PENDING, DELETE_SECRET)},
    "Books360EventsFunction": set(),
    "AutoSyncFunction": set(),
}

# Per function: the queues it sends to (an SQS event source's own receive and delete come with the event).
SENDS = {
    "ApiFunction": set(),
    "OAuthCallbackFunction": set(),
    "WebhookFunction": set(),
    "SyncInvoiceFunction": set(),
    "BulkSyncFunction": {"BulkQueue"},
    "ListRefreshFunction": {"ListRefreshQueue"},
    "ConnectSweepFunction": set(),
    "Books360EventsFunction": {"BulkQueue"},
    "AutoSyncFunction": {"BulkQueue"},
}


def _functions() -> dict[str, dict[str, Any]]:
    return {
        name: res["Properties"]
        for name, res in load_template()["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def _resource(value: Any) -> str:
    """A policy resource as one string: ``Table.Arn`` for a GetAtt, the text of a Sub."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"{logical_id}.{attribute}"
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"])
    return str(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(function: str) -> set[tuple[str, str]]:
    """Every (action, resource) the function's policies allow, SAM policy templates expanded."""
    found: set[tuple[str, str]] = set()
    for policy in _functions()[function].get("Policies", []):
        assert isinstance(policy, dict), f"{function}: a managed policy by name ({policy}) is never least privilege"
        for template, arguments in policy.items():
            if template == "Statement":
                continue
            target = next(iter(arguments.values()))
            name = _resource(target).split(".")[0]
            found |= {(action, name) for action in SAM_POLICY_TEMPLATES[template]}
        for statement in policy.get("Statement", []):
            assert statement["Effect"] == "Allow"
            for action in _as_list(statement["Action"]):
                found |= {(action, _resource(r)) for r in _as_list(statement["Resource"])}
    return found


def test_every_function_is_listed_here():
    assert set(_functions()) == set(TABLE_ACTIONS) == set(SECRETS) == set(SENDS)


@pytest.mark.parametrize("function", TABLE_ACTIONS)
def test_each_function_gets_the_table_actions_its_code_uses_and_no_scan(function):
    granted = {(a, r) for a, r in grants(function) if a.startswith("dynamodb:")}

    on_table = {a for a, r in granted if r in ("Table", "Table.Arn")}
    on_index = {a for a, r in granted if "/index/" in r}
    assert on_table == TABLE_ACTIONS[function]
    assert on_index == ({QUERY} if function in INDEX_QUERIES else set())
    assert all(r in ("Table", "Table.Arn", "${Table.Arn}/index/gsi1") for _, r in granted), granted


@pytest.mark.parametrize("function", SECRETS)
def test_each_function_gets_the_secrets_actions_its_code_uses_on_its_secrets_only(function):
    granted = {(r, a) for a, r in grants(function) if a.startswith("secretsmanager:")}

    assert granted == SECRETS[function]


def test_the_app_secret_is_read_only_and_named_exactly():
    # A prefix match (``books360-qbo/app*``) would also match ``books360-qbo/app-old`` or ``books360-qbo/apple``;
    # Secrets Manager names a secret's ARN with ``-`` and six random characters, which ``-??????`` matches alone.
    for function in _functions():
        for action, resource in grants(function):
            if "${QboAppSecretName}" in resource:
                assert (action, resource) == (GET, APP_SECRET), function


@pytest.mark.parametrize("function", SENDS)
def test_each_function_sends_only_to_the_queues_it_uses(function):
    granted = grants(function)
    sends = {r.split(".")[0] for a, r in granted if a.startswith("sqs:SendMessage")}

    assert sends == SENDS[function]


def test_the_table_outlives_the_stack_and_a_replacement():
    table = load_template()["Resources"]["Table"]

    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_the_http_api_is_throttled_by_default():
    settings = load_template()["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]

    assert 0 < settings["ThrottlingRateLimit"] <= settings["ThrottlingBurstLimit"] <= 5000


def test_the_http_api_logs_each_request_as_json_without_headers_or_body():
    resources = load_template()["Resources"]
    logs = resources["HttpApi"]["Properties"]["AccessLogSettings"]

    (group, attribute) = logs["DestinationArn"]["Fn::GetAtt"]
    assert (resources[group]["Type"], attribute) == ("AWS::Logs::LogGroup", "Arn")
    assert resources[group]["Properties"]["RetentionInDays"] > 0
    record = json.loads(logs["Format"])
    assert {"requestId", "routeKey", "status", "sourceIp"} <= set(record)
    variables = re.findall(r"\$context\.[A-Za-z0-9_.]+", logs["Format"])
    assert variables, "the format logs nothing of the request"
    assert not [v for v in variables if re.search(r"header|body|querystring|authorization", v, re.IGNORECASE)]
    assert not re.search(r"\$(request|input|stageVariables)", logs["Format"])


@pytest.mark.parametrize(
    ("function", "call", "allowed"),
    [
        ("WebhookFunction", ("secretsmanager:GetSecretValue", "books360-qbo/app-AbCdEf"), True),
        ("WebhookFunction", ("secretsmanager:GetSecretValue", "books360-qbo/apple-AbCdEf"), False),
        ("WebhookFunction", ("secretsmanager:GetSecretValue", "books360-qbo/tokens/t1-AbCdEf"), False),
        ("WebhookFunction", ("dynamodb:Scan", "table"), False),
        ("WebhookFunction", ("dynamodb:DeleteItem", "table"), False),
        ("WebhookFunction", ("dynamodb:UpdateItem", "table"), True),
        ("WebhookFunction", ("dynamodb:Query", "table/index/gsi1"), True),
        ("SyncInvoiceFunction", ("dynamodb:Query", "table/index/gsi1"), False),
        ("SyncInvoiceFunction", ("secretsmanager:PutSecretValue", "books360-qbo/tokens/t1-AbCdEf"), True),
        ("OAuthCallbackFunction", ("secretsmanager:PutSecretValue", "books360-qbo/tokens/t1-AbCdEf"), False),
        ("OAuthCallbackFunction", ("secretsmanager:CreateSecret", "books360-qbo/pending-tokens/abc-AbCdEf"), True),
        # Pending tokens are for the callback, the confirm route and the sweep: no refresher reaches them.
        ("SyncInvoiceFunction", ("secretsmanager:GetSecretValue", "books360-qbo/pending-tokens/abc-AbCdEf"), False),
        ("BulkSyncFunction", ("secretsmanager:PutSecretValue", "books360-qbo/pending-tokens/abc-AbCdEf"), False),
        ("ListRefreshFunction", ("secretsmanager:GetSecretValue", "books360-qbo/pending-tokens/abc-AbCdEf"), False),
        ("ApiFunction", ("secretsmanager:GetSecretValue", "books360-qbo/pending-tokens/abc-AbCdEf"), True),
        ("ApiFunction", ("secretsmanager:PutSecretValue", "books360-qbo/pending-tokens/abc-AbCdEf"), False),
        ("ConnectSweepFunction", ("secretsmanager:DeleteSecret", "books360-qbo/pending-tokens/abc-AbCdEf"), True),
        ("ConnectSweepFunction", ("secretsmanager:GetSecretValue", "books360-qbo/tokens/t1-AbCdEf"), False),
        ("BulkSyncFunction", ("sqs:ChangeMessageVisibility", "BulkQueue"), True),
        ("ApiFunction", ("sqs:SendMessageBatch", "BulkQueue"), False),
        ("AutoSyncFunction", ("sqs:SendMessageBatch", "BulkQueue"), True),
    ],
)
def test_the_integration_tests_check_calls_against_the_grants(function, call, allowed):
    # The recorder behind every integration test (tests/integration/conftest.py: least_privilege)
    recorder = Recorder()
    recorder.calls = {function: {call}}

    assert (recorder.violations() == {}) is allowed


def test_pending_token_secrets_are_not_under_the_tenants_token_prefix():
    # IAM ARNs cannot exclude: were one prefix inside the other, a refresher's ``tokens/*`` grant would cover the
    # pending tokens (or the sweep's grant the tenants' own).
    parameters = load_template()["Parameters"]
    tokens, pending = (parameters[p]["Default"] for p in ("TokenSecretPrefix", "PendingTokenSecretPrefix"))

    assert not pending.startswith(tokens) and not tokens.startswith(pending)

"""GET /quickbooks/connection through the API handler, with DynamoDB in moto."""

from __future__ import annotations

import json

import pytest

from shared import wiring
from shared.domain import Connection, ConnectionStatus
from tests.conftest import load_function
from tests.support.events import http_event

api = load_function("api")


def test_get_connection_new_tenant_returns_not_connected(aws, lambda_context):
    # GIVEN a tenant that never connected
    event = http_event("GET", "/quickbooks/connection", claims={"sub": "u1", "tenant_id": "t-new"})

    # WHEN the UI asks for its connection
    answer = api.lambda_handler(event, lambda_context)

    # THEN it is shown as not connected
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {
        "active": False,
        "status": "not_connected",
        "realmId": None,
        "companyName": None,
        "connectedAt": None,
        "listsUpdatedAt": None,
    }


def test_get_connection_reads_only_the_callers_tenant(aws, lambda_context):
    # GIVEN another tenant that is connected
    wiring.connection_store().put(
        Connection(tenant_id="t-other", status=ConnectionStatus.CONNECTED, realm_id="9341", company_name="Other Co")
    )

    # WHEN a different tenant asks, even naming the other tenant in the query string
    event = http_event(
        "GET", "/quickbooks/connection", query={"tenant_id": "t-other"}, claims={"sub": "u", "tenant_id": "t-mine"}
    )
    answer = api.lambda_handler(event, lambda_context)

    # THEN it sees only its own (empty) connection
    assert json.loads(answer["body"])["status"] == "not_connected"
    # AND the connected tenant sees its own
    own = api.lambda_handler(
        http_event("GET", "/quickbooks/connection", claims={"sub": "u", "tenant_id": "t-other"}), lambda_context
    )
    body = json.loads(own["body"])
    assert (body["status"], body["realmId"], body["companyName"], body["active"]) == (
        "connected",
        "9341",
        "Other Co",
        True,
    )


def test_get_connection_without_tenant_claim_returns_401_problem(aws, lambda_context):
    # GIVEN a token that carries no tenant_id claim
    event = http_event("GET", "/quickbooks/connection", claims={"sub": "u1"})

    # WHEN it calls the API
    answer = api.lambda_handler(event, lambda_context)

    # THEN it is refused with a problem answer
    assert answer["statusCode"] == 401
    assert answer["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(answer["body"])["status"] == 401


def test_unknown_route_returns_404_problem(aws, lambda_context):
    answer = api.lambda_handler(http_event("GET", "/quickbooks/nope", claims={"tenant_id": "t"}), lambda_context)

    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["title"] == "Not found"


def test_dynamodb_throttling_answers_503_problem_not_500(aws, lambda_context, monkeypatch):
    # GIVEN DynamoDB throttles reads
    from botocore.exceptions import ClientError

    def throttled(**_):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "GetItem")

    monkeypatch.setattr(wiring.table().client, "get_item", throttled)

    # WHEN the UI asks for its connection
    answer = api.lambda_handler(http_event("GET", "/quickbooks/connection", claims={"tenant_id": "t1"}), lambda_context)

    # THEN it may retry shortly
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "1"
    assert json.loads(answer["body"])["status"] == 503


@pytest.mark.parametrize("tenant", ["org|42", "a b", "x" * 129])
def test_malformed_tenant_claim_returns_401(aws, lambda_context, tenant):
    answer = api.lambda_handler(
        http_event("GET", "/quickbooks/connection", claims={"tenant_id": tenant}), lambda_context
    )

    assert answer["statusCode"] == 401

"""The invocation's deadline (``shared.deadline``): API Gateway's 30 s for a request, the Lambda's time otherwise,
and never inherited by the container's next invocation."""

from __future__ import annotations

from shared.deadline import API_GATEWAY_SECONDS, RESERVE, current, within
from tests.support.events import LambdaContext


def test_a_request_ends_with_api_gateways_30_s_whatever_the_lambdas_time():
    with within(LambdaContext(remaining_ms=60_000), http=True, clock=1_000.0) as deadline:
        assert deadline == current() == 1_000.0 + API_GATEWAY_SECONDS - RESERVE


def test_a_worker_ends_with_its_lambdas_time():
    with within(LambdaContext(remaining_ms=60_000), http=False, clock=1_000.0) as deadline:
        assert deadline == 1_000.0 + 60.0 - RESERVE


def test_the_next_invocation_of_a_warm_container_does_not_inherit_the_last_ones_deadline():
    # GIVEN an HTTP request served (its deadline long past by the time the next invocation comes)
    with within(LambdaContext(remaining_ms=1_000), http=True, clock=1_000.0):
        pass

    # THEN an invocation that sets none (a scheduled run, a tool) has none, rather than that old one
    assert current() is None

"""The handler every schedule shares (``shared.web.triggers.scheduled_handler``)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import ValidationError

from shared import deadline
from shared.web.triggers import scheduled_handler
from tests.conftest import load_function
from tests.support.events import LambdaContext, eventbridge_event


def test_scheduled_handler_parses_the_event_and_runs_within_the_lambdas_time():
    # GIVEN a schedule's work that notes what it was given
    seen: dict[str, Any] = {}

    def run(event: Any) -> dict[str, Any]:
        seen.update(source=event.source, deadline=deadline.current())
        return {"ran": True}

    # WHEN the schedule fires
    answer = scheduled_handler(run)(eventbridge_event("Scheduled Event", {}, source="aws.events"), LambdaContext())

    # THEN the work ran on the parsed event, with the invocation's deadline set, and forgot it after
    assert answer == {"ran": True}
    assert seen["source"] == "aws.events" and seen["deadline"] is not None
    assert deadline.current() is None


def test_scheduled_handler_refuses_an_event_that_is_not_eventbridges():
    with pytest.raises(ValidationError):
        scheduled_handler(lambda event: {})({"Records": []}, LambdaContext())


@pytest.mark.parametrize("function", ["connect_sweep", "auto_sync"])
def test_schedule_functions_share_the_scheduled_handler(function):
    # The decorator stack is written once: each schedule function is its work wrapped by scheduled_handler.
    handler = load_function(function).lambda_handler
    assert handler.__qualname__.startswith(scheduled_handler.__qualname__)

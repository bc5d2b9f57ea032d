"""Template reading and warm workers: each function isolated, with its own environment and a Lambda context."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_stack_fixtures import write_tiny_stack

from local.cfn import TemplateError
from local.config import LocalConfig
from local.runtime import Runtime
from local.template import AsyncInvokeConfig, StackPlan, plan


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalConfig, StackPlan]:
    path = write_tiny_stack(tmp_path_factory.mktemp("tiny"))
    config = LocalConfig(template_path=path, moto_port=5999, api_port=3999, jwt_secret="tiny-secret")
    return config, plan(config)


@pytest.fixture(scope="module")
def runtime(tiny: tuple[LocalConfig, StackPlan]) -> Iterator[Runtime]:
    config, stack_plan = tiny
    running = Runtime(stack_plan.functions, config, {"One": 2})
    yield running
    running.close()


def test_plan_reads_functions_events_and_resources(tiny: tuple[LocalConfig, StackPlan]) -> None:
    _, stack_plan = tiny
    assert set(stack_plan.functions) == {"One", "Two", "Broken"}
    one = stack_plan.functions["One"]
    assert one.name == "books360-local-One"
    assert (one.timeout, one.memory, one.handler) == (3, 256, "app.handler")
    assert stack_plan.functions["Two"].timeout == 5
    assert [(r.route_key, r.authorized) for r in stack_plan.routes] == [
        ("GET /open", False),
        ("ANY /closed/{id}", True),
    ]
    (source,) = stack_plan.sqs_sources
    assert (source.batch_size, source.report_failures, source.max_concurrency) == (3, True, 2)
    assert source.queue_url == "http://127.0.0.1:5999/123456789012/books360-local-Queue"
    (rule,) = stack_plan.rules
    assert rule.pattern == {"source": ["tiny.source"]}
    (schedule,) = stack_plan.schedules
    assert (schedule.name, schedule.event, schedule.expression) == ("tiny-tick", "Tick", "rate(5 minutes)")
    queue = next(q for q in stack_plan.queues if q.logical_id == "Queue")
    assert queue.properties["RedrivePolicy"]["deadLetterTargetArn"] == (
        "arn:aws:sqs:us-east-1:123456789012:books360-local-Dlq"
    )
    assert stack_plan.secrets[0].name == "tiny/app"


def test_plan_resolves_environment(tiny: tuple[LocalConfig, StackPlan]) -> None:
    _, stack_plan = tiny
    env = stack_plan.functions["One"].environment
    assert env["TABLE"] == "books360-local-Table"
    assert env["QUEUE_URL"] == "http://127.0.0.1:5999/123456789012/books360-local-Queue"
    assert env["STAGE"] == "local"
    assert env["AUDIENCES"] == "a,b"
    assert env["SUB"] == "pre-books360-local-Table-us-east-1-books360-local-Queue-${Literal}"
    assert env["JOINED"] == "local/arn:aws:sqs:us-east-1:123456789012:books360-local-Queue"
    assert env["WHO"] == "one"


def test_plan_of_the_project_template_routes_every_http_event() -> None:
    config = LocalConfig(api_port=3000)
    stack_plan = plan(config)
    assert ("ANY /quickbooks/{proxy+}", True) in [(r.route_key, r.authorized) for r in stack_plan.routes]
    assert ("POST /quickbooks/webhooks", False) in [(r.route_key, r.authorized) for r in stack_plan.routes]
    env = stack_plan.functions["ApiFunction"].environment
    assert env["UI_BASE_URL"] == "http://127.0.0.1:3000/_local/ui"
    assert env["QBO_API_BASE_URL"] == "http://127.0.0.1:4010"
    assert env["QBO_DISCOVERY_URL"] == "http://127.0.0.1:4010/.well-known/openid_configuration"
    assert {s.name for s in stack_plan.schedules} >= {"auto-invoice-sync", "list-refresh"}


def test_plan_unknown_ref_is_a_template_error(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: f/\n"
        "      Handler: app.h\n      Environment:\n        Variables:\n          X: !Ref Nowhere\n"
    )
    with pytest.raises(TemplateError, match="Nowhere"):
        plan(LocalConfig(template_path=path))


def test_functions_are_isolated_from_each_other(runtime: Runtime, tiny: tuple[LocalConfig, StackPlan]) -> None:
    _, stack_plan = tiny
    # WHEN two functions with same-named modules run
    one = runtime.invoke("One", {}, "test")
    two = runtime.invoke("Two", {}, "test")
    # THEN each imported its own app and helper, with its own environment
    assert one.ok and two.ok, (one.error, two.error)
    assert (one.result["who"], one.result["helper"]) == ("one", "one-helper")
    assert (two.result["who"], two.result["helper"]) == ("two", "two-helper")
    assert one.result["path0"] == str(stack_plan.functions["One"].code_dir)
    assert one.result["pid"] != two.result["pid"]
    env = one.result["env"]
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5999"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "books360-local-One"
    assert env["TABLE"] == "books360-local-Table"
    assert env["OTHER_SECRET"] is None


def test_context_is_lambda_like(runtime: Runtime) -> None:
    outcome = runtime.invoke("One", {}, "test")
    context = outcome.result["context"]
    assert context["name"] == "books360-local-One"
    assert context["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:books360-local-One"
    assert context["memory"] == 256
    assert context["request"] == outcome.request_id
    assert 2000 < context["remaining"] <= 3000


def test_worker_stays_warm(runtime: Runtime) -> None:
    first = runtime.invoke("Two", {}, "test")
    second = runtime.invoke("Two", {}, "test")
    assert first.result["pid"] == second.result["pid"]


def test_handler_exception_is_an_error_outcome_and_worker_survives(runtime: Runtime) -> None:
    failed = runtime.invoke("Two", {"raise": True}, "test")
    assert not failed.ok
    assert failed.error["errorType"] == "ValueError"
    assert failed.error["errorMessage"] == "bad input"
    assert runtime.invoke("Two", {}, "test").ok
    assert runtime.history("Two")[-2]["status"] == "error"


def test_timeout_kills_the_worker(runtime: Runtime) -> None:
    outcome = runtime.pools["Two"].invoke({"sleep": 5}, timeout=0.5)
    assert outcome.error_type == "Sandbox.Timedout"
    assert runtime.invoke("Two", {}, "test").ok


def test_exit_in_handler_is_runtime_exit_error(runtime: Runtime) -> None:
    outcome = runtime.invoke("Two", {"exit": True}, "test")
    assert outcome.error_type == "Runtime.ExitError"
    assert runtime.invoke("Two", {}, "test").ok


def test_import_error_is_reported(runtime: Runtime) -> None:
    outcome = runtime.invoke("Broken", {}, "test")
    assert outcome.error_type == "Runtime.ImportModuleError"
    assert "module_that_does_not_exist" in outcome.error["errorMessage"]


def test_concurrent_invocations_scale_out(runtime: Runtime) -> None:
    pids: list[int] = []

    def run() -> None:
        pids.append(runtime.invoke("One", {"sleep": 0.3}, "test").result["pid"])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(pids)) == 2


def test_code_change_retires_idle_workers(tmp_path: Path) -> None:
    path = write_tiny_stack(tmp_path)
    config = LocalConfig(template_path=path)
    stack_plan = plan(config)
    running = Runtime({"Two": stack_plan.functions["Two"]}, config, {})
    try:
        first = running.invoke("Two", {}, "test")
        helper = tmp_path / "two" / "helper.py"
        helper.write_text("NAME = 'edited'\n")
        import os

        os.utime(helper, (first.result["pid"] + 10**9, first.result["pid"] + 10**9))
        running.pools["Two"].refresh_stamp()
        second = running.invoke("Two", {}, "test")
        assert second.result["helper"] == "edited"
        assert second.result["pid"] != first.result["pid"]
    finally:
        running.close()


def test_plan_of_the_project_template_gives_books360_events_its_on_failure_queue() -> None:
    stack_plan = plan(LocalConfig(moto_port=5999))
    config = stack_plan.functions["Books360EventsFunction"].async_invoke
    assert config.max_retries == 2
    assert config.on_failure_url == "http://127.0.0.1:5999/123456789012/books360-local-Books360EventsDeadLetterQueue"
    assert config.on_failure_arn == "arn:aws:sqs:us-east-1:123456789012:books360-local-Books360EventsDeadLetterQueue"
    assert stack_plan.functions["ApiFunction"].async_invoke == AsyncInvokeConfig()


def test_plan_of_the_project_template_leaves_the_dead_letter_replay_off() -> None:
    stack_plan = plan(LocalConfig())
    (replay,) = [s for s in stack_plan.sqs_sources if s.event == "DeadLetterReplay"]
    assert (replay.function, replay.enabled) == ("Books360EventsFunction", False)

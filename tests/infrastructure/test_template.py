"""template.yaml: cfn-lint with the SAM transform applied, and the properties the design depends on."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.template import TEMPLATE, load_template

ROOT = TEMPLATE.parent
CFN_LINT = Path(os.environ.get("CFN_LINT", ROOT / ".venv-cfn" / "bin" / "cfn-lint"))

# Each breakage is one that newer cfn-lint releases (1.54+, which no longer apply the SAM transform) let through.
BREAKAGES = {
    "bad GetAtt in an SQS event": ("Queue: !GetAtt BulkQueue.Arn", "Queue: !GetAtt BulkQueu.Arn"),
    "MaximumConcurrency below 2": ("MaximumConcurrency: !Ref BulkMaxConcurrency", "MaximumConcurrency: 1"),
    "misspelt BatchSize": ("BatchSize: 1", "BatchSzie: 1"),
    "invalid runtime": ("Runtime: python3.11", "Runtime: python3.99"),
}


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    if not CFN_LINT.exists():
        pytest.fail(f"cfn-lint not found at {CFN_LINT}: run `make test` (it installs it in .venv-cfn)")
    return subprocess.run([str(CFN_LINT), str(path)], capture_output=True, text=True, timeout=180, check=False)


def test_template_passes_cfn_lint_with_sam_transform():
    result = cfn_lint(TEMPLATE)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", BREAKAGES)
def test_template_check_rejects_broken_copy(name, tmp_path):
    # GIVEN a copy of the template with one deliberate mistake
    before, after = BREAKAGES[name]
    text = TEMPLATE.read_text()
    assert before in text, f"the template no longer contains {before!r}; update this test"
    broken = tmp_path / "template.yaml"
    broken.write_text(text.replace(before, after, 1))
    shutil.copytree(ROOT / "functions", tmp_path / "functions")

    # WHEN it is checked
    result = cfn_lint(broken)

    # THEN the check fails
    assert result.returncode != 0, f"cfn-lint accepted a template with a {name}"


def test_every_function_folder_has_a_handler_and_a_template_entry():
    functions = {
        props["Properties"]["CodeUri"].strip("/").split("/")[-1]
        for props in load_template()["Resources"].values()
        if props["Type"] == "AWS::Serverless::Function"
    }
    folders = {p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()}

    assert (
        functions
        == folders
        == {
            "api",
            "oauth_callback",
            "sync_invoice",
            "bulk_sync",
            "list_refresh",
            "webhook",
            "books360_events",
            "auto_sync",
            "connect_sweep",
        }
    )


def test_public_routes_are_only_the_callback_and_the_webhook():
    resources = load_template()["Resources"]
    public = {
        (event["Properties"]["Method"], event["Properties"]["Path"])
        for res in resources.values()
        if res["Type"] == "AWS::Serverless::Function"
        for event in res["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi" and event["Properties"].get("Auth", {}).get("Authorizer") == "NONE"
    }

    assert public == {("GET", "/quickbooks/oauth/callback"), ("POST", "/quickbooks/webhooks")}
    assert resources["HttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"] == "Books360Jwt"


def test_bulk_queue_redrives_to_dlq_and_reports_partial_failures():
    template = load_template()
    resources = template["Resources"]
    redrive = resources["BulkQueue"]["Properties"]["RedrivePolicy"]
    sqs_event = resources["BulkSyncFunction"]["Properties"]["Events"]["Items"]["Properties"]
    worker_env = resources["BulkSyncFunction"]["Properties"]["Environment"]["Variables"]

    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["BulkDeadLetterQueue", "Arn"]}
    # The worker learns the queue's maxReceiveCount from the same parameter, to fail an item on its last receive.
    assert redrive["maxReceiveCount"] == worker_env["BULK_MAX_RECEIVE_COUNT"] == {"Ref": "BulkMaxReceiveCount"}
    assert 1 < template["Parameters"]["BulkMaxReceiveCount"]["Default"] <= 10
    assert sqs_event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in sqs_event["ScalingConfig"]


def test_secrets_access_is_limited_to_the_project_prefixes():
    resources = load_template()["Resources"]
    for name, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        for policy in res["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a.startswith("secretsmanager:") for a in actions):
                    targets = (
                        statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                    )
                    for target in targets:
                        sub = target["Fn::Sub"]
                        prefixes = ("${TokenSecretPrefix}", "${PendingTokenSecretPrefix}", "${QboAppSecretName}")
                        assert any(prefix in sub for prefix in prefixes), (name, sub)


def test_bulk_worker_may_delay_a_throttled_item():
    policies = load_template()["Resources"]["BulkSyncFunction"]["Properties"]["Policies"]

    assert {"SQSPollerPolicy": {"QueueName": {"Fn::GetAtt": ["BulkQueue", "QueueName"]}}} in policies


def test_responses_are_not_captured_in_traces():
    env = load_template()["Globals"]["Function"]["Environment"]["Variables"]

    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"


def test_books360_events_that_fail_every_retry_go_to_a_dead_letter_queue_kept_two_weeks():
    resources = load_template()["Resources"]
    config = resources["Books360EventsFunction"]["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    (queue, attribute) = on_failure["Destination"]["Fn::GetAtt"]
    assert attribute == "Arn"
    assert resources[queue]["Type"] == "AWS::SQS::Queue"
    assert resources[queue]["Properties"]["MessageRetentionPeriod"] == 1209600


def test_the_books360_dead_letters_are_replayed_by_their_function_only_when_switched_on():
    template = load_template()
    events = template["Resources"]["Books360EventsFunction"]["Properties"]["Events"]
    replay = events["DeadLetterReplay"]
    assert replay["Type"] == "SQS"
    assert replay["Properties"]["Queue"] == {"Fn::GetAtt": ["Books360EventsDeadLetterQueue", "Arn"]}
    assert replay["Properties"]["Enabled"] == {"Ref": "ReplayBooks360DeadLetters"}
    assert "ReportBatchItemFailures" in replay["Properties"]["FunctionResponseTypes"]
    assert template["Parameters"]["ReplayBooks360DeadLetters"]["Default"] == "false"


def test_the_nightly_list_refresh_fans_out_one_tenant_a_message_with_a_dead_letter_queue():
    resources = load_template()["Resources"]
    function = resources["ListRefreshFunction"]["Properties"]
    tenants = function["Events"]["Tenants"]
    assert tenants["Type"] == "SQS"
    assert tenants["Properties"]["Queue"] == {"Fn::GetAtt": ["ListRefreshQueue", "Arn"]}
    assert tenants["Properties"]["BatchSize"] == 1
    assert "ReportBatchItemFailures" in tenants["Properties"]["FunctionResponseTypes"]
    assert function["Environment"]["Variables"]["LIST_REFRESH_QUEUE_URL"] == {"Ref": "ListRefreshQueue"}
    queue = resources["ListRefreshQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ListRefreshDeadLetterQueue", "Arn"]}

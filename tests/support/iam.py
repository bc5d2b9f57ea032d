"""The AWS calls each function makes in the tests, checked against what template.yaml lets that function do.

``recording()`` wraps every botocore call made under ``functions/<name>/`` (the frame that is the handler) and notes
the IAM action and resource it needs: a transaction's parts each need their own action (there is no IAM action
TransactWriteItems), a Query of the index needs the index's ARN, a secret is named by its name (an ARN ends with
``-`` and six characters), a queue by its environment variable. ``violations()`` answers those the template does
not grant, so a code path that starts using a new action fails the integration tests, not production.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import botocore.client

from tests.support.template import load_template

if TYPE_CHECKING:
    from collections.abc import Iterator

TABLE, INDEX = "table", "table/index/gsi1"
QUEUES = {"BULK_QUEUE_URL": "BulkQueue", "LIST_REFRESH_QUEUE_URL": "ListRefreshQueue"}
SAM_SQS = {
    "SQSSendMessagePolicy": ["sqs:SendMessage*"],
    "SQSPollerPolicy": ["sqs:ChangeMessageVisibility*", "sqs:DeleteMessage*", "sqs:ReceiveMessage"],
}


def _folders() -> dict[str, str]:
    return {
        props["Properties"]["CodeUri"].strip("/").split("/")[-1]: logical_id
        for logical_id, props in load_template()["Resources"].items()
        if props["Type"] == "AWS::Serverless::Function"
    }


def _resolve(value: Any) -> str:
    """A policy resource as the recorder names it: ``table``, ``table/index/gsi1``, a secret's name pattern."""
    parameters = {name: str(spec.get("Default", "")) for name, spec in load_template()["Parameters"].items()}
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return TABLE if value["Fn::GetAtt"] == ["Table", "Arn"] else ".".join(value["Fn::GetAtt"])
    text = str(value["Fn::Sub"]) if isinstance(value, dict) and "Fn::Sub" in value else str(value)
    text = text.replace("${Table.Arn}", TABLE)
    for name, default in parameters.items():
        text = text.replace("${" + name + "}", default)
    return text.split(":secret:", 1)[-1]


def granted(logical_id: str) -> set[tuple[str, str]]:
    """(action pattern, resource pattern) the function's policies allow."""
    found: set[tuple[str, str]] = set()
    for policy in load_template()["Resources"][logical_id]["Properties"].get("Policies", []):
        for template, arguments in policy.items():
            if template in SAM_SQS:
                queue = arguments["QueueName"]["Fn::GetAtt"][0]
                found |= {(action, queue) for action in SAM_SQS[template]}
        for statement in policy.get("Statement", []):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            found |= {(action, _resolve(target)) for action in actions for target in targets}
    return found


def _needs(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            parts = {
                "Put": "PutItem",
                "Update": "UpdateItem",
                "Delete": "DeleteItem",
                "ConditionCheck": "ConditionCheckItem",
            }
            return [(f"dynamodb:{parts[k]}", TABLE) for item in params.get("TransactItems", []) for k in item]
        return [(f"dynamodb:{operation}", INDEX if params.get("IndexName") else TABLE)]
    if service == "secretsmanager":
        name = str(params.get("SecretId") or params.get("Name"))
        return [(f"secretsmanager:{operation}", f"{name}-AbCdEf")]
    if service == "sqs":
        url = params.get("QueueUrl")
        return [(f"sqs:{operation}", _queue(str(url)))]
    return [(f"{service}:{operation}", "*")]


def _queue(url: str) -> str:
    """The template queue a URL is, by the function environment (or the settings built from it: a test may have
    put the environment back since)."""
    from shared import wiring  # noqa: PLC0415 - the package under test, imported only when a queue is named

    settings = wiring.settings()
    for env, queue in QUEUES.items():
        if url in (os.environ.get(env), getattr(settings, env.lower(), None)):
            return queue
    return url


class Recorder:
    def __init__(self) -> None:
        self.calls: dict[str, set[tuple[str, str]]] = {}
        self.folders = _folders()

    def note(self, service: str, operation: str, params: dict[str, Any]) -> None:
        frame, folder = sys._getframe(2), None
        while frame is not None:
            name = frame.f_code.co_filename
            if f"{os.sep}functions{os.sep}" in name:
                folder = name.split(f"{os.sep}functions{os.sep}", 1)[1].split(os.sep, 1)[0]
            frame = frame.f_back
        if folder in self.folders:
            self.calls.setdefault(self.folders[folder], set()).update(_needs(service, operation, params))

    def violations(self) -> dict[str, list[tuple[str, str]]]:
        """Per function, the calls no statement of its policies allows."""
        found = {}
        for logical_id, calls in self.calls.items():
            allowed = granted(logical_id)
            denied = sorted(
                (action, resource)
                for action, resource in calls
                if not any(fnmatch.fnmatchcase(action, a) and fnmatch.fnmatchcase(resource, r) for a, r in allowed)
            )
            if denied:
                found[logical_id] = denied
        return found


@contextmanager
def recording() -> Iterator[Recorder]:
    """Note every AWS call a function's handler makes while inside."""
    recorder = Recorder()
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        recorder.note(client.meta.service_model.service_name, operation, params)
        return original(client, operation, params)

    botocore.client.BaseClient._make_api_call = make_api_call
    try:
        yield recorder
    finally:
        botocore.client.BaseClient._make_api_call = original

"""What the local stack runs, read from ``template.yaml``: functions, their HTTP routes, queues, rules and schedules.

Reading happens in two steps. ``plan`` predicts every physical name, ARN and queue URL from the logical ids (as a
stack named ``books360-local`` would have them), which is all the resolver needs; ``resources.provision`` then
creates them in moto under exactly those names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local.cfn import Physical, Resolver, TemplateError, load_yaml
from local.config import ACCOUNT_ID, REGION, LocalConfig

if TYPE_CHECKING:
    from pathlib import Path

API_ID = "localapi01"
PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}


@dataclass(frozen=True)
class HttpRoute:
    """One ``HttpApi`` event: ``GET /quickbooks/{proxy+}`` run by a function, with or without the JWT authorizer."""

    function: str
    event: str
    method: str
    path: str
    authorized: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsSource:
    """One ``SQS`` event: a queue drained by a function in batches."""

    function: str
    event: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    batching_window: float = 0.0
    report_failures: bool = False
    max_concurrency: int = 2
    enabled: bool = True


@dataclass(frozen=True)
class EventRule:
    """One ``EventBridgeRule`` event: a content pattern on a bus."""

    function: str
    event: str
    rule_name: str
    pattern: dict[str, Any]
    bus: str = "default"
    input: str | None = None


@dataclass(frozen=True)
class Schedule:
    """One ``Schedule``/``ScheduleV2`` event."""

    function: str
    event: str
    name: str
    expression: str
    enabled: bool = True
    input: str | None = None

    @property
    def rule_arn(self) -> str:
        return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{self.name}"


@dataclass(frozen=True)
class AsyncInvokeConfig:
    """A function's ``EventInvokeConfig``: how often an asynchronous invocation (EventBridge, schedules) is retried,
    and the SQS queue its event goes to when every try failed (``DestinationConfig.OnFailure``)."""

    max_retries: int | None = None
    on_failure_url: str | None = None
    on_failure_arn: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function`` as the local runtime needs it."""

    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    async_invoke: AsyncInvokeConfig = AsyncInvokeConfig()

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.name}"


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    url: str
    arn: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class SecretSpec:
    name: str
    value: dict[str, str]


@dataclass
class StackPlan:
    """Everything the local stack creates and runs, resolved to local values."""

    parameters: dict[str, Any]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[HttpRoute] = field(default_factory=list)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    rules: list[EventRule] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    tables: list[TableSpec] = field(default_factory=list)
    queues: list[QueueSpec] = field(default_factory=list)
    secrets: list[SecretSpec] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _parameters(template: dict[str, Any], config: LocalConfig, warnings: list[str]) -> dict[str, Any]:
    local = config.parameter_values()
    values: dict[str, Any] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if name in local:
            value: Any = local[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            warnings.append(f"parameter {name} has no Default and no local value: using an empty string")
            value = ""
        if spec.get("Type") == "CommaDelimitedList":
            value = [item.strip() for item in str(value).split(",")]
        elif not isinstance(value, list):
            value = str(value)
        values[name] = value
    return values


def _physical(template: dict[str, Any], config: LocalConfig) -> dict[str, Physical]:
    prefix = config.name_prefix
    physical: dict[str, Physical] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        kind = resource.get("Type", "")
        props = resource.get("Properties") or {}
        name = f"{prefix}-{logical_id}"
        if kind == "AWS::DynamoDB::Table":
            table = str(props["TableName"]) if isinstance(props.get("TableName"), str) else name
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table}"
            physical[logical_id] = Physical(table, {"Arn": arn, "StreamArn": f"{arn}/stream/local"})
        elif kind == "AWS::SQS::Queue":
            queue = str(props["QueueName"]) if isinstance(props.get("QueueName"), str) else name
            if props.get("FifoQueue") in (True, "true") and not queue.endswith(".fifo"):
                queue += ".fifo"
            url = f"{config.moto_url}/{ACCOUNT_ID}/{queue}"
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue}"
            physical[logical_id] = Physical(url, {"Arn": arn, "QueueName": queue, "QueueUrl": url})
        elif kind == "AWS::Serverless::Function":
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            physical[logical_id] = Physical(name, {"Arn": arn})
        elif kind in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
            physical[logical_id] = Physical(API_ID, {"ApiEndpoint": config.api_url})
        elif kind == "AWS::Serverless::LayerVersion":
            physical[logical_id] = Physical(f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1")
        else:
            physical[logical_id] = Physical(name, {"Arn": f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{name}"})
    return physical


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _default_authorizer(template: dict[str, Any], resolver: Resolver, api_id: str | None) -> str | None:
    resources = template.get("Resources") or {}
    candidates = (
        [api_id] if api_id else [k for k, r in resources.items() if r.get("Type") == "AWS::Serverless::HttpApi"]
    )
    for candidate in candidates:
        resource = resources.get(candidate or "")
        if resource is None:
            continue
        auth = resolver.resolve((resource.get("Properties") or {}).get("Auth") or {}, f"{candidate}.Auth")
        authorizer = auth.get("DefaultAuthorizer")
        return str(authorizer) if authorizer else None
    return None


def _api_logical_id(props: dict[str, Any]) -> str | None:
    api = props.get("ApiId")
    if isinstance(api, dict) and "Ref" in api:
        return str(api["Ref"])
    return None


def plan(config: LocalConfig, template_path: Path | None = None) -> StackPlan:
    """Read the template and resolve everything the local stack needs (no AWS call)."""
    path = template_path or config.template_path
    template = load_yaml(path)
    warnings: list[str] = []
    parameters = _parameters(template, config, warnings)
    physical = _physical(template, config)
    pseudo = {**PSEUDO_PARAMETERS, "AWS::StackName": config.name_prefix}
    resolver = Resolver(parameters, pseudo, physical)
    result = StackPlan(parameters=parameters, warnings=warnings)
    resources: dict[str, Any] = template.get("Resources") or {}
    globals_fn: dict[str, Any] = (template.get("Globals") or {}).get("Function") or {}

    for logical_id, resource in resources.items():
        kind = resource.get("Type", "")
        props: dict[str, Any] = resource.get("Properties") or {}
        where = f"Resources.{logical_id}.Properties"
        if kind == "AWS::DynamoDB::Table":
            result.tables.append(TableSpec(logical_id, physical[logical_id].ref, resolver.resolve(props, where)))
        elif kind == "AWS::SQS::Queue":
            attrs = physical[logical_id].attributes
            result.queues.append(
                QueueSpec(
                    logical_id, attrs["QueueName"], attrs["QueueUrl"], attrs["Arn"], resolver.resolve(props, where)
                )
            )
        elif kind == "AWS::Serverless::Function":
            _plan_function(result, logical_id, props, globals_fn, resolver, physical, template, path.parent)

    secret_name = parameters.get("QboAppSecretName")
    if secret_name:
        value = {
            "clientId": config.qbo_client_id,
            "clientSecret": config.qbo_client_secret,
            "webhookVerifier": config.qbo_webhook_verifier,
        }
        result.secrets.append(SecretSpec(str(secret_name), value))
    return result


def _plan_function(
    result: StackPlan,
    logical_id: str,
    props: dict[str, Any],
    globals_fn: dict[str, Any],
    resolver: Resolver,
    physical: dict[str, Physical],
    template: dict[str, Any],
    base_dir: Path,
) -> None:
    where = f"Resources.{logical_id}.Properties"
    runtime = str(props.get("Runtime", globals_fn.get("Runtime", "")))
    if runtime and not runtime.startswith("python"):
        result.warnings.append(f"{logical_id}: runtime {runtime} is not run by the local stack")
        return
    environment: dict[str, str] = {}
    for source, label in ((globals_fn, "Globals.Function"), (props, where)):
        variables = ((source.get("Environment") or {}).get("Variables")) or {}
        for key, value in resolver.resolve(variables, f"{label}.Environment.Variables").items():
            environment[key] = "" if value is None else _env_text(value)
    code_uri = props.get("CodeUri", globals_fn.get("CodeUri", "."))
    if not isinstance(code_uri, str):
        raise TemplateError(f"{where}.CodeUri: only a local folder is supported")
    function = FunctionSpec(
        logical_id=logical_id,
        name=str(physical[logical_id].ref),
        code_dir=(base_dir / code_uri).resolve(),
        handler=str(props.get("Handler", globals_fn.get("Handler", "app.lambda_handler"))),
        timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
        memory=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
        environment=environment,
        async_invoke=_async_invoke(props, globals_fn, resolver, physical, where, result.warnings),
    )
    result.functions[logical_id] = function
    for event_id, event in (props.get("Events") or {}).items():
        kind = event.get("Type")
        event_props: dict[str, Any] = resolver.resolve(event.get("Properties") or {}, f"{where}.Events.{event_id}")
        if kind == "HttpApi":
            api = _api_logical_id(event.get("Properties") or {})
            auth = event_props.get("Auth") or {}
            authorizer = auth.get("Authorizer") or _default_authorizer(template, resolver, api)
            result.routes.append(
                HttpRoute(
                    function=logical_id,
                    event=event_id,
                    method=str(event_props.get("Method", "ANY")).upper(),
                    path=str(event_props.get("Path", "/{proxy+}")),
                    authorized=bool(authorizer) and authorizer != "NONE",
                )
            )
        elif kind == "SQS":
            queue_arn = str(event_props["Queue"])
            queue = next((q for q in physical.values() if q.attributes.get("Arn") == queue_arn), None)
            if queue is None or "QueueUrl" not in queue.attributes:
                raise TemplateError(f"{where}.Events.{event_id}.Queue: {queue_arn} is not a queue of the template")
            scaling = event_props.get("ScalingConfig") or {}
            result.sqs_sources.append(
                SqsSource(
                    function=logical_id,
                    event=event_id,
                    queue_url=str(queue.attributes["QueueUrl"]),
                    queue_arn=queue_arn,
                    batch_size=int(event_props.get("BatchSize", 10)),
                    batching_window=float(event_props.get("MaximumBatchingWindowInSeconds", 0)),
                    report_failures="ReportBatchItemFailures" in (event_props.get("FunctionResponseTypes") or []),
                    max_concurrency=int(scaling.get("MaximumConcurrency", 1000)),
                    enabled=_as_bool(event_props.get("Enabled"), True),
                )
            )
        elif kind in ("EventBridgeRule", "CloudWatchEvent"):
            bus = str(event_props.get("EventBusName", "default"))
            result.rules.append(
                EventRule(
                    function=logical_id,
                    event=event_id,
                    rule_name=str(event_props.get("RuleName") or f"{function.name}-{event_id}"),
                    pattern=dict(event_props.get("Pattern") or {}),
                    bus=bus.rsplit("/", 1)[-1],
                    input=_input(event_props.get("Input")),
                )
            )
        elif kind in ("Schedule", "ScheduleV2"):
            expression = event_props.get("Schedule") if kind == "Schedule" else event_props.get("ScheduleExpression")
            state = event_props.get("State")
            enabled = _as_bool(event_props.get("Enabled"), True) and state != "DISABLED"
            result.schedules.append(
                Schedule(
                    function=logical_id,
                    event=event_id,
                    name=str(event_props.get("Name") or f"{function.name}-{event_id}"),
                    expression=str(expression),
                    enabled=enabled,
                    input=_input(event_props.get("Input")),
                )
            )
        else:
            result.warnings.append(f"{logical_id}.Events.{event_id}: event type {kind} is not run by the local stack")


def _async_invoke(
    props: dict[str, Any],
    globals_fn: dict[str, Any],
    resolver: Resolver,
    physical: dict[str, Physical],
    where: str,
    warnings: list[str],
) -> AsyncInvokeConfig:
    """``EventInvokeConfig``: its retries, and an ``OnFailure`` destination that is an SQS queue of the template."""
    raw = props.get("EventInvokeConfig", globals_fn.get("EventInvokeConfig"))
    if not raw:
        return AsyncInvokeConfig()
    config: dict[str, Any] = resolver.resolve(raw, f"{where}.EventInvokeConfig")
    retries = None if config.get("MaximumRetryAttempts") is None else int(config["MaximumRetryAttempts"])
    on_failure = (config.get("DestinationConfig") or {}).get("OnFailure") or {}
    if on_failure.get("Type") != "SQS":
        if on_failure:
            warnings.append(f"{where}.EventInvokeConfig: only an SQS OnFailure destination is run by the local stack")
        return AsyncInvokeConfig(retries)
    arn = str(on_failure.get("Destination"))
    queue = next((q for q in physical.values() if q.attributes.get("Arn") == arn), None)
    if queue is None or "QueueUrl" not in queue.attributes:
        raise TemplateError(f"{where}.EventInvokeConfig.DestinationConfig.OnFailure: {arn} is not a template queue")
    return AsyncInvokeConfig(retries, str(queue.attributes["QueueUrl"]), arn)


def _input(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _env_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

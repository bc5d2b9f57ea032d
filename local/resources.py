"""Creates the template's AWS resources in moto, under the physical names ``template.plan`` predicted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from local.config import REGION

if TYPE_CHECKING:
    from local.template import QueueSpec, StackPlan, TableSpec

_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def client(service: str, endpoint: str) -> Any:
    """A boto3 client for moto (imported here: boto3 costs a few hundred milliseconds to import).

    No retries: moto is on this machine, and a stack that is stopping must not sit in botocore's backoff.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=30),
    )


def table_arguments(table: TableSpec) -> dict[str, Any]:
    """``CreateTable`` arguments from the ``AWS::DynamoDB::Table`` properties."""
    props = table.properties
    arguments: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput"):
        if key in props:
            arguments[key] = props[key]
    if arguments["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in arguments:
        arguments["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    stream = props.get("StreamSpecification")
    if stream:
        arguments["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return arguments


def queue_attributes(queue: QueueSpec) -> dict[str, str]:
    """``CreateQueue`` attributes from the ``AWS::SQS::Queue`` properties (RedrivePolicy as a JSON string)."""
    props = queue.properties
    attributes = {
        key: (str(props[key]).lower() if isinstance(props[key], bool) else str(props[key]))
        for key in _QUEUE_ATTRIBUTES
        if key in props
    }
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            value = props[key]
            attributes[key] = value if isinstance(value, str) else json.dumps(value)
    return attributes


def provision(plan: StackPlan, endpoint: str) -> None:
    """Tables (with TTL), queues (dead-letter queues first), EventBridge rules and targets, the app secret."""
    dynamodb = client("dynamodb", endpoint)
    for table in plan.tables:
        dynamodb.create_table(**table_arguments(table))
        ttl = table.properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled") in (True, "true"):
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )

    sqs = client("sqs", endpoint)
    queues = sorted(plan.queues, key=lambda q: "RedrivePolicy" in q.properties)
    for queue in queues:
        url = sqs.create_queue(QueueName=queue.name, Attributes=queue_attributes(queue))["QueueUrl"]
        if url != queue.url:
            raise RuntimeError(f"moto gave queue {queue.name} the address {url}, expected {queue.url}")

    events = client("events", endpoint)
    buses = {rule.bus for rule in plan.rules} - {"default"}
    for bus in sorted(buses):
        events.create_event_bus(Name=bus)
    for rule in plan.rules:
        events.put_rule(Name=rule.rule_name[:64], EventPattern=json.dumps(rule.pattern), EventBusName=rule.bus)
        function = plan.functions[rule.function]
        events.put_targets(
            Rule=rule.rule_name[:64], EventBusName=rule.bus, Targets=[{"Id": rule.function, "Arn": function.arn}]
        )
    for schedule in plan.schedules:
        state = "ENABLED" if schedule.enabled else "DISABLED"
        events.put_rule(Name=schedule.name[:64], ScheduleExpression=schedule.expression, State=state)
        function = plan.functions[schedule.function]
        events.put_targets(Rule=schedule.name[:64], Targets=[{"Id": schedule.function, "Arn": function.arn}])

    secrets = client("secretsmanager", endpoint)
    for secret in plan.secrets:
        secrets.create_secret(Name=secret.name, SecretString=json.dumps(secret.value))

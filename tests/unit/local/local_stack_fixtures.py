"""A tiny SAM template with two tiny functions, written to a temporary folder, for the local runtime's tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
  Prefix:
    Type: String
    Default: pre
  Audiences:
    Type: CommaDelimitedList
    Default: "a,b"
  QboAppSecretName:
    Type: String
    Default: tiny/app
Globals:
  Function:
    Runtime: python3.11
    Timeout: 5
    MemorySize: 256
    Environment:
      Variables:
        TABLE: !Ref Table
        QUEUE_URL: !Ref Queue
        STAGE: !Ref Stage
        AUDIENCES: !Ref Audiences
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
      TimeToLiveSpecification: {AttributeName: expiresAt, Enabled: true}
  Dlq:
    Type: AWS::SQS::Queue
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 2
  One:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: one/
      Handler: app.handler
      Timeout: 3
      Environment:
        Variables:
          WHO: one
          SUB: !Sub "${Prefix}-${Table}-${AWS::Region}-${Queue.QueueName}-${!Literal}"
          JOINED: !Join ["/", [!Ref Stage, !GetAtt Queue.Arn]]
      Events:
        Items:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 3
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig:
              MaximumConcurrency: 2
        Changes:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [tiny.source]
  Two:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: two/
      Handler: app.handler
      Environment:
        Variables:
          WHO: two
      Events:
        Open:
          Type: HttpApi
          Properties:
            Path: /open
            Method: GET
            Auth:
              Authorizer: NONE
        Closed:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Path: /closed/{id}
            Method: ANY
        Tick:
          Type: Schedule
          Properties:
            Name: tiny-tick
            Schedule: rate(5 minutes)
  Broken:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: broken/
      Handler: app.handler
"""

APP = """
import json
import os
import sys
import time

import helper


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if "raise" in query:
        raise ValueError("bad input over HTTP")
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if "malformed" in query:
        return {"statusCode": "abc"}
    if "echo" in query:
        return {"statusCode": 201, "headers": {"x-echo": "1"}, "cookies": ["a=1"], "body": json.dumps(event)}
    if "Records" in event:
        bodies = [r["body"] for r in event["Records"]]
        if "crash" in bodies:
            raise RuntimeError("crash in batch")
        if "bogus" in bodies:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}
        failed = [r["messageId"] for r in event["Records"] if "fail" in r["body"]]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("raise"):
        raise ValueError("bad input")
    if event.get("exit"):
        sys.exit(3)
    return {
        "who": os.environ["WHO"],
        "helper": helper.NAME,
        "pid": os.getpid(),
        "path0": sys.path[0],
        "env": {k: os.environ.get(k) for k in ("TABLE", "QUEUE_URL", "STAGE", "AUDIENCES", "SUB", "JOINED",
                                               "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME", "OTHER_SECRET")},
        "context": {
            "name": context.function_name,
            "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb,
            "request": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(),
        },
    }
"""


def write_tiny_stack(root: Path) -> Path:
    """The template and its function folders under ``root``; the template's path."""
    for name in ("one", "two"):
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "app.py").write_text(textwrap.dedent(APP))
        (folder / "helper.py").write_text(f"NAME = '{name}-helper'\n")
    broken = root / "broken"
    broken.mkdir()
    (broken / "app.py").write_text("import module_that_does_not_exist\n")
    path = root / "template.yaml"
    path.write_text(TEMPLATE)
    return path

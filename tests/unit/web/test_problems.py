"""The resolver every HTTP function shares: a body that cannot be read is the caller's 400, a decoding error of
ours stays a 500."""

from __future__ import annotations

import base64
import json
from typing import Annotated

import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from shared.web import http_app
from shared.web.problems import body_unreadable
from tests.support.events import http_event

router = Router()


class Document(BaseModel):
    name: str


@router.post("/decodes")
def decodes() -> dict[str, str]:
    b"\xff".decode()  # a defect of ours, whatever the body
    return {}


@router.put("/takes-a-body")
def takes_a_body(document: Annotated[Document, Body()]) -> dict[str, str]:
    return {"name": document.name}


app = http_app(router)


@pytest.mark.parametrize(
    ("body", "encoded", "unreadable"),
    [
        ("{}", False, False),
        (base64.b64encode(b"{}").decode(), True, False),
        (base64.b64encode(b"\xff").decode(), True, True),
        ("!!!not base64", True, True),
        (None, True, False),
    ],
)
def test_body_unreadable_only_when_its_base64_or_utf8_fails(body, encoded, unreadable):
    assert body_unreadable({"body": body, "isBase64Encoded": encoded}) is unreadable


def test_decoding_error_of_a_route_with_a_readable_body_stays_500():
    answer = app.resolve(http_event("POST", "/decodes", body="{}"), {})

    assert answer["statusCode"] == 500
    assert json.loads(answer["body"])["title"] == "Internal error"


@pytest.mark.parametrize("body", ['{"name": ', "nan", "{'name': 'a'}", "[1,]", '{"name": "a"} x'])
def test_body_not_valid_json_is_400_from_the_reader_not_validation(body):
    # GIVEN a body JSON cannot read, on a route that takes one (``read_json_object`` reads every body: Powertools'
    # json_invalid validation error, raised only when its own reading fails, cannot happen)
    event = http_event("PUT", "/takes-a-body", body=body, headers={"content-type": "application/json"})

    # WHEN the resolver answers it
    answer = app.resolve(event, {})

    # THEN it is the 400 of the reader
    assert answer["statusCode"] == 400, answer["body"]
    assert json.loads(answer["body"])["detail"] == "The request body is not valid JSON."


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=b", "application/x-www-form-urlencoded", "application/xml"],
)
def test_body_of_another_media_type_is_400_unread(content_type):
    # GIVEN a body whose type is not JSON (a multipart type without a boundary made Powertools' parser raise)
    event = http_event("PUT", "/takes-a-body", body="name=a", headers={"content-type": content_type})

    # WHEN the resolver answers it
    answer = app.resolve(event, {})

    # THEN it is refused for its type
    assert answer["statusCode"] == 400, answer["body"]
    assert json.loads(answer["body"])["detail"] == "The request body must be JSON (Content-Type: application/json)."

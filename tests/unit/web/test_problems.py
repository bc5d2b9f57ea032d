"""The resolver every HTTP function shares: a body that cannot be read is the caller's 400, a decoding error of
ours stays a 500."""

from __future__ import annotations

import base64
import json

import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.web import http_app
from shared.web.problems import body_unreadable
from tests.support.events import http_event

router = Router()


@router.post("/decodes")
def decodes() -> dict[str, str]:
    b"\xff".decode()  # a defect of ours, whatever the body
    return {}


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

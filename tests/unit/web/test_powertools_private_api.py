"""The private Powertools API that ``shared.web.entry.JsonBodyValidation`` overrides is still there, and still used.

Powertools may rename or drop any of it in a release: then the subclass would silently stop reading bodies as JSON
only (forms and multipart would reach the routes again). These tests fail first, naming what to re-check.
"""

from __future__ import annotations

import inspect
import json

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from pydantic import BaseModel

from shared.web import http_app
from shared.web.entry import JsonBodyValidation
from tests.support.events import http_event

RECHECK = (
    "Powertools changed private API that shared/web/entry.py's JsonBodyValidation relies on ({}): re-check that "
    "subclass (and http_app) against this Powertools release before upgrading the pin in pyproject.toml."
)


def test_the_validation_middleware_still_reads_bodies_through_get_body_and_parse_json_data():
    for name in ("_get_body", "_parse_json_data"):
        assert callable(getattr(OpenAPIRequestValidationMiddleware, name, None)), RECHECK.format(
            f"OpenAPIRequestValidationMiddleware.{name} is gone"
        )
    source = inspect.getsource(OpenAPIRequestValidationMiddleware)
    assert "self._get_body(" in source, RECHECK.format("the middleware no longer calls self._get_body")
    assert list(inspect.signature(OpenAPIRequestValidationMiddleware._get_body).parameters) == ["self", "app"], (
        RECHECK.format("_get_body's signature changed")
    )


def test_the_resolver_still_takes_its_validation_middleware_from_request_validation_middleware():
    resolver = APIGatewayHttpResolver(enable_validation=True)
    assert isinstance(getattr(resolver, "_request_validation_middleware", None), OpenAPIRequestValidationMiddleware), (
        RECHECK.format("APIGatewayHttpResolver._request_validation_middleware is gone")
    )
    assert isinstance(http_app()._request_validation_middleware, JsonBodyValidation), RECHECK.format(
        "http_app no longer installs JsonBodyValidation"
    )


class _Named(BaseModel):
    name: str


router = Router()


@router.post("/named")
def named(body: _Named) -> dict[str, str]:
    return {"name": body.name}


def test_the_subclass_is_what_reads_a_body_a_form_is_refused_for_its_type():
    app = http_app(router)
    form = http_event("POST", "/named", body="name=x", headers={"content-type": "application/x-www-form-urlencoded"})
    answer = app.resolve(form, None)
    assert answer["statusCode"] == 400, RECHECK.format(f"a form body was answered {answer['statusCode']}, not 400")
    json_body = http_event("POST", "/named", body={"name": "x"}, headers={"content-type": "Application/JSON"})
    answer = app.resolve(json_body, None)
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"name": "x"}), RECHECK.format(
        "a JSON body is no longer read by the subclass"
    )

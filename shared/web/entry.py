"""The shape every HTTP function shares: a validating resolver with problem answers, and its decorated handler."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.logging import correlation_paths

from shared import deadline as invocation
from shared.errors import BadRequest, FieldError, InvalidInput
from shared.observability import logger, metrics, tracer
from shared.web.problems import NOT_JSON, register_problem_handlers

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.event_handler.api_gateway import Router
    from aws_lambda_powertools.event_handler.types import EventHandlerInstance
    from aws_lambda_powertools.utilities.typing import LambdaContext

    Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

MAX_BODY_DEPTH = 32
"""Objects and arrays nested deeper than this are refused unread: no body of the contract nests past 4."""


def read_json_object(text: str) -> dict[str, Any]:
    """Every request body of every route: a JSON object, or a typed error (400 unreadable, 422 not an object).

    The resolver parses a body only for a route that declares one, so this is the one place bodies are read.
    Powertools would take the first element of an array as the object (it unwraps lists for form fields), and
    a body nested a few thousand levels deep exhausts the parser's recursion (a RecursionError, not a
    JSONDecodeError): both are answered here, before any route runs.
    """
    try:
        document = json.loads(text)
    except RecursionError:
        raise BadRequest(f"The request body nests deeper than {MAX_BODY_DEPTH} levels.") from None
    except ValueError:
        raise BadRequest("The request body is not valid JSON.") from None
    if _nests_deeper_than(document, MAX_BODY_DEPTH):
        raise BadRequest(f"The request body nests deeper than {MAX_BODY_DEPTH} levels.")
    if not isinstance(document, dict):
        message = f"must be a JSON object, not {_json_kind(document)}"
        raise InvalidInput(f"The request body {message}.", errors=[FieldError("body", message)])
    return document


class JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, reading a body as JSON only.

    Powertools also reads form and multipart bodies into the model (a multipart ``qbCustomerId=58`` would link a
    customer), which no client of this API sends, and matches ``application/json`` case-sensitively though media
    types are not (RFC 9110 8.3.1). The type is checked here, where the body is read, because validation runs
    before any middleware of ours: a form is a 400 for its type, never a 422 for the fields it lacks.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

    def _get_body(self, app: EventHandlerInstance) -> dict[str, Any]:
        content_type = app.current_event.headers.get("content-type", "").strip()
        if content_type and not _is_json(content_type):
            raise BadRequest(NOT_JSON)
        return self._parse_json_data(app)


def _is_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "application/json"


def _nests_deeper_than(document: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (walked without recursion)."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "a number"


def http_app(*routers: Router) -> APIGatewayHttpResolver:
    """A resolver that validates input against the route signatures and answers errors as problems."""
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=read_json_object)
    # The one request validation middleware the resolver runs (it builds each route's stack from this attribute).
    app._request_validation_middleware = JsonBodyValidation()
    register_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def http_handler(app: APIGatewayHttpResolver) -> Handler:
    """``lambda_handler`` for ``app``: Logger with the request's correlation id, Tracer, Metrics."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        with invocation.within(context, http=True):
            return app.resolve(event, context)

    return lambda_handler

"""RFC 9457 problem answers: every error of every route is shaped here, once."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from botocore.exceptions import ClientError

from shared.errors import (
    AppError,
    BadRequest,
    FieldError,
    InvalidInput,
    NotFound,
    StorageBusy,
)
from shared.observability import logger

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

PROBLEM_JSON = "application/problem+json"
# AWS answers that mean "too much at once" rather than "wrong": the caller may simply try again.
AWS_BUSY_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "LimitExceededException",
    }
)
_LOCATIONS = {"body", "query", "path", "header", "cookie"}
NOT_JSON = "The request body must be JSON (Content-Type: application/json)."


def problem_response(error: AppError) -> Response[str]:
    """The problem+json answer for one typed error."""
    body: dict[str, Any] = {
        "type": error.type,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "errors": [{"field": e.field, "message": e.message} for e in error.errors],
        **error.extra(),
    }
    return Response(
        status_code=error.status,
        content_type=PROBLEM_JSON,
        body=json.dumps(body),
        headers=error.headers(),
    )


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "paymentMethodMappings", 2, "bankAccountId")`` -> ``paymentMethodMappings[2].bankAccountId``."""
    parts = list(loc[1:] if loc and loc[0] in _LOCATIONS else loc)
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def validation_problem(errors: Iterable[dict[str, Any]]) -> AppError:
    """What pydantic rejects is a 422 naming each field.

    Unreadable JSON never gets here: the body is read by ``read_json_object`` (a 400) before validation sees it.
    """
    # An error about the body as a whole (an array or nothing where an object belongs) has an empty path.
    field_errors = [FieldError(field_path(e.get("loc", ())) or "body", str(e.get("msg", "invalid"))) for e in errors]
    return InvalidInput("The request has invalid fields.", errors=field_errors)


def body_unreadable(event: Mapping[str, Any]) -> bool:
    """Whether the event's body cannot be read as text: base64 that is not, or bytes that are not UTF-8."""
    body = event.get("body")
    if not body or not event.get("isBase64Encoded"):
        return False
    try:
        base64.b64decode(body).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError alike
        return True
    return False


def register_problem_handlers(app: APIGatewayHttpResolver) -> None:
    """Map typed errors, validation failures, unknown routes and anything unexpected to problem answers."""

    @app.exception_handler(AppError)
    def _app_error(error: AppError) -> Response[str]:
        return problem_response(error)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        return problem_response(validation_problem(error.errors()))

    @app.exception_handler([UnicodeDecodeError, binascii.Error])
    def _undecodable(error: ValueError) -> Response[str]:
        # Reading the body decodes it before any route runs (a route reading it raw, the webhook, decodes it too);
        # only a body that fails the same way is the caller's doing, anything else is ours.
        if body_unreadable(app.current_event.raw_event):
            return problem_response(BadRequest("The request body is not valid base64-encoded UTF-8 text."))
        return unexpected_response(error)

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        path = app.current_event.path
        return problem_response(NotFound(f"No route for {app.current_event.http_method} {path}."))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        return unexpected_response(error)


def unexpected_response(error: Exception) -> Response[str]:
    """AWS being busy is a 503 to retry; anything else is a 500 that tells the caller nothing of our internals."""
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in AWS_BUSY_CODES:
        logger.warning("aws busy", code=error.response["Error"]["Code"])
        return problem_response(StorageBusy())
    # The details go to the log only; the caller learns nothing about our internals.
    logger.exception("unhandled error", error_type=type(error).__name__)
    return Response(
        status_code=500,
        content_type=PROBLEM_JSON,
        body=json.dumps({"type": "about:blank", "title": "Internal error", "status": 500}),
    )

"""The shape every HTTP function shares: a validating resolver with problem answers, and its decorated handler."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths

from shared import deadline as invocation
from shared.observability import logger, metrics, tracer
from shared.web.problems import register_problem_handlers

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.event_handler.api_gateway import Router
    from aws_lambda_powertools.utilities.typing import LambdaContext

    Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def http_app(*routers: Router) -> APIGatewayHttpResolver:
    """A resolver that validates input against the route signatures and answers errors as problems."""
    app = APIGatewayHttpResolver(enable_validation=True)
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
        invocation.start(context, http=True)
        return app.resolve(event, context)

    return lambda_handler

"""The HTTP edge shared by the API functions: problem answers, request context, camelCase models."""

from shared.web.context import tenant_id_of
from shared.web.entry import http_app, http_handler
from shared.web.models import ApiModel, IsoDate, MoneyOut, QuickBooksObject
from shared.web.problems import problem_response, register_problem_handlers

__all__ = [
    "ApiModel",
    "IsoDate",
    "MoneyOut",
    "QuickBooksObject",
    "http_app",
    "http_handler",
    "problem_response",
    "register_problem_handlers",
    "tenant_id_of",
]

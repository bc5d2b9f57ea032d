"""Update Lists: accounts and payment methods from QuickBooks, on demand (HTTP) and nightly (schedule)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.observability import logger
from shared.web import http_app, http_handler
from shared.web.triggers import is_scheduled_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = http_app()
_http_handler = http_handler(app)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_scheduled_event(event):
        logger.info("list refresh schedule fired", rule=event.get("resources"))
        return {"refreshed": []}
    return _http_handler(event, context)

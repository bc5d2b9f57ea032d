"""Public OAuth redirect target: Intuit sends the admin's browser back here (state-checked)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from shared import wiring
from shared.observability import logger
from shared.services.connection import CALLBACK_PATH, complete_connect
from shared.web import http_app, http_handler

if TYPE_CHECKING:
    from collections.abc import Callable

router = Router()


def _never_a_500(handler: Callable[..., Response[str]]) -> Callable[..., Response[str]]:
    """The browser always goes back to the UI: a failure nobody planned for is ``result=error`` too."""

    @functools.wraps(handler)
    def guarded(*args: Any, **kwargs: Any) -> Response[str]:
        try:
            return handler(*args, **kwargs)
        except Exception:  # noqa: BLE001 - whatever failed, the browser must not be shown a 500
            logger.exception("quickbooks oauth callback failed")
            result = urlencode({"result": "error", "reason": "token_exchange_failed"})
            location = f"{wiring.settings().ui_base_url.rstrip('/')}/integrations/quickbooks?{result}"
            return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-store"}, body="")

    return guarded


@router.get(CALLBACK_PATH, summary="Intuit's OAuth redirect")
@_never_a_500
def callback(
    code: str | None = None,
    state: str | None = None,
    realmId: str | None = None,
    error: str | None = None,  # noqa: N803
) -> Response[str]:
    outcome = complete_connect(
        wiring.connection_store(),
        wiring.oauth_state_store(),
        wiring.intuit_oauth(),
        wiring.token_vault(),
        wiring.connect_ticket_store(),
        api_base_url=wiring.settings().qbo_api_base_url,
        state=state,
        code=code,
        realm_id=realmId,
        error=error,
        redirect_uri=wiring.redirect_uri(),
        now=wiring.now(),
        pacer=wiring.interactive_pacer(),
    )
    result = (
        {"result": "confirm", "ticket": outcome.ticket}
        if outcome.ticket
        else {"result": "error", "reason": outcome.reason or ""}
    )
    location = f"{wiring.settings().ui_base_url.rstrip('/')}/integrations/quickbooks?{urlencode(result)}"
    return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-store"}, body="")


app = http_app(router)
lambda_handler = http_handler(app)

"""The ``connect-sweep`` schedule (every 5 minutes): tokens of a connect never confirmed are revoked and forgotten.

The OAuth callback holds the tokens pending for a ticket that only the tenant that started the connect can confirm
(``POST /quickbooks/connection/confirm``); ten minutes later, unconfirmed, they are revoked at Intuit (unless a
tenant is connected to that company: a revoke disconnects the app from the whole company) and deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared import wiring
from shared.services.connection import sweep_pending_connects
from shared.web.triggers import scheduled_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel


def sweep(event: EventBridgeModel) -> dict[str, Any]:
    swept = sweep_pending_connects(
        wiring.connection_store(),
        wiring.token_vault(),
        wiring.connect_ticket_store(),
        wiring.intuit_oauth(),
        now=wiring.now(),
    )
    return {
        "ranAt": event.time.isoformat(),
        "revoked": swept.revoked,
        "forgotten": swept.forgotten,
        "failed": swept.failed,
        "deferred": swept.deferred,
    }


lambda_handler = scheduled_handler(sweep)

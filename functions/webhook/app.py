"""Public Intuit webhook receiver (signature-checked over the raw body)."""

from __future__ import annotations

import base64

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared import wiring
from shared.services.webhooks import receive_webhook
from shared.web import ApiModel, http_app, http_handler

router = Router()


class WebhookAck(ApiModel):
    events: int
    new: int
    ignored: int


@router.post(
    "/quickbooks/webhooks",
    summary="Intuit's change notifications (classic or CloudEvents)",
    description=(
        "Public; the intuit-signature header must sign the raw body (else 401). Deleted or merged-away customers "
        "and vendors and deleted invoices mark their link deleted_in_qb; a voided invoice, or a deleted or voided "
        "payment, is noted in the invoice's lastError (the payment is written again by the next sync). Each event "
        "is applied once per tenant, then recorded. 503 when an event concerns an invoice being synced right now "
        "(that event is not recorded: Intuit's retry applies it)."
    ),
    responses={
        200: {"description": "Acknowledged: how many events, how many new, how many ignored"},
        401: {"description": "The signature does not match the body"},
        400: {"description": "Not an Intuit payload"},
        503: {"description": "An event concerns an invoice being synced; deliver again"},
    },
)
def post_webhook() -> WebhookAck:
    event = router.current_event
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    received = receive_webhook(
        wiring.webhook_stores(),
        raw_body=raw,
        signature=event.headers.get("intuit-signature"),
        verifier_token=wiring.app_secret()["webhookVerifier"],
        now=wiring.now(),
    )
    return WebhookAck(events=received.events, new=received.new, ignored=received.ignored)


app = http_app(router)
lambda_handler = http_handler(app)

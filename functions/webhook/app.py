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


@router.post("/quickbooks/webhooks", summary="Intuit's change notifications (classic or CloudEvents)")
def post_webhook() -> WebhookAck:
    event = router.current_event
    raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    received = receive_webhook(
        wiring.connection_store(),
        wiring.webhook_event_store(),
        wiring.party_store(),
        raw_body=raw,
        signature=event.headers.get("intuit-signature"),
        verifier_token=wiring.app_secret()["webhookVerifier"],
        now=wiring.now(),
    )
    return WebhookAck(events=received.events, new=received.new, ignored=received.ignored)


app = http_app(router)
lambda_handler = http_handler(app)

"""The QuickBooks Online emulator as one ASGI app: Accounting API, OAuth, webhooks and admin routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from emulator import accounting, admin, oauth, webhooks
from emulator.faults import ApiGate
from emulator.state import EmulatorConfig, EmulatorState, OAuthLike, WebhooksLike


def create_app(
    config: EmulatorConfig | None = None,
    *,
    oauth_store: OAuthLike | None = None,
    webhook_hub: WebhooksLike | None = None,
) -> Starlette:
    """Build the app; ``app.state.emulator`` is its ``EmulatorState``. The halves can be swapped for fakes."""
    config = config or EmulatorConfig.from_env()
    state = EmulatorState(
        config,
        oauth_store if oauth_store is not None else oauth.OAuthStore(config),
        webhook_hub if webhook_hub is not None else webhooks.WebhookHub(config),
    )
    app = Starlette(
        routes=[*accounting.routes(), *admin.routes(), *oauth.routes(), *webhooks.routes()],
        middleware=[Middleware(ApiGate, state=state)],
    )
    app.state.emulator = state
    return app

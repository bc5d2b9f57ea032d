"""The emulator's in-memory world, shared by its two halves.

Ownership (so two people can work on the emulator at once):

* ``accounting.py``, ``query.py``, ``admin.py``, ``app.py`` and ``Company``: the Accounting API v3,
  the query language, batch, faults, throttling, request statistics and the company/fault/request/reset
  admin routes.
* ``oauth.py`` (``OAuthStore`` + its routes) and ``webhooks.py`` (``WebhookHub`` + its routes): Intuit
  OAuth 2.0 / OpenID, the ``/_admin/tokens`` and ``/_admin/expire-tokens`` routes, and signed webhook
  deliveries.

The accounting half talks to the other half only through the methods named in ``OAuthLike`` and
``WebhooksLike`` below.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from emulator.faults import FaultBook, Limits, Traffic

if TYPE_CHECKING:
    from collections.abc import Callable

TokenCheck = Literal["ok", "expired", "invalid"]
Operation = Literal["Create", "Update", "Delete", "Merge", "Void", "Emailed"]


@dataclass
class EmulatorConfig:
    """Settings of one emulator instance; every value can come from the environment."""

    base_url: str = "http://127.0.0.1:4010"  # the emulator's own public address (discovery document)
    client_id: str = "local-client-id"
    client_secret: str = "local-client-secret"
    # Redirect URIs accepted besides any http://127.0.0.1:* and http://localhost:* address.
    redirect_uris: list[str] = field(default_factory=list)
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 8_726_400
    # QuickBooks' throttling per company (``emulator.faults``); a company may be given its own (admin route).
    rate_per_minute: int = 500
    max_concurrent: int = 10
    rate_per_second: int = 10
    batch_per_minute: int = 40

    @classmethod
    def from_env(cls) -> EmulatorConfig:
        host = os.environ.get("QBO_EMULATOR_HOST", "127.0.0.1")
        port = os.environ.get("QBO_EMULATOR_PORT", "4010")
        extra = [u for u in os.environ.get("QBO_REDIRECT_URIS", "").split(",") if u]
        return cls(
            base_url=os.environ.get("QBO_EMULATOR_URL", f"http://{host}:{port}"),
            client_id=os.environ.get("QBO_CLIENT_ID", "local-client-id"),
            client_secret=os.environ.get("QBO_CLIENT_SECRET", "local-client-secret"),
            redirect_uris=extra,
            rate_per_minute=int(os.environ.get("QBO_RATE_PER_MINUTE", "500")),
            max_concurrent=int(os.environ.get("QBO_MAX_CONCURRENT", "10")),
            rate_per_second=int(os.environ.get("QBO_RATE_PER_SECOND", "10")),
            batch_per_minute=int(os.environ.get("QBO_BATCH_PER_MINUTE", "40")),
        )

    def limits(self) -> Limits:
        """The throttling of a company that was not given limits of its own."""
        return Limits(
            rate_per_minute=self.rate_per_minute,
            max_concurrent=self.max_concurrent,
            rate_per_second=self.rate_per_second,
            batch_per_minute=self.batch_per_minute,
        )


class OAuthLike(Protocol):
    """What the accounting half needs from ``emulator.oauth.OAuthStore``."""

    def check_access_token(self, token: str, realm_id: str) -> TokenCheck:
        """``ok`` when the bearer token is live and was issued for ``realm_id``."""
        ...

    def issue_tokens(self, realm_id: str) -> dict[str, Any]:
        """A token response (as the token endpoint answers) for a user of ``realm_id``, without consent."""
        ...

    def app_of(self, access_token: str) -> str | None:
        """The app (client id, or the admin route's app name) a known access token was issued to, else None."""
        ...

    def reset(self) -> None: ...


class WebhooksLike(Protocol):
    """What the accounting half needs from ``emulator.webhooks.WebhookHub``."""

    def record(
        self, realm_id: str, entity: str, entity_id: str, operation: Operation, deleted_id: str | None = None
    ) -> None:
        """Queue one change (entity name as QuickBooks spells it: ``Customer``) for signed delivery."""
        ...

    def reset(self) -> None: ...


class EmulatorState:
    """Everything the emulator knows. One instance per app; ``reset()`` empties it."""

    def __init__(self, config: EmulatorConfig, oauth: OAuthLike, webhooks: WebhooksLike) -> None:
        self.config = config
        self.oauth = oauth
        self.webhooks = webhooks
        self.companies: dict[str, Any] = {}  # realmId -> accounting half's Company
        self.clock = time.time
        # What the throttling windows read; a test may put a fake clock here (seconds, only differences matter).
        self.throttle_clock: Callable[[], float] = time.monotonic
        self.faults = FaultBook()
        self.traffic = Traffic()

    def reset(self) -> None:
        """Forget every company, fault, statistic, token and pending webhook."""
        self.companies.clear()
        self.faults.clear()
        self.traffic.clear()
        self.oauth.reset()
        self.webhooks.reset()

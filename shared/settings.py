"""Function settings: the environment the template gives every function, validated once per container."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Settings(BaseModel):
    """What ``template.yaml`` puts in ``Globals.Function.Environment``."""

    model_config = ConfigDict(frozen=True)

    stage: str = "dev"
    table_name: Annotated[str, Field(min_length=1)]
    bulk_queue_url: str = ""
    ui_base_url: str = ""
    public_api_url: str = ""
    qbo_api_base_url: str = "https://quickbooks.api.intuit.com"
    qbo_discovery_url: str = "https://developer.intuit.com/.well-known/openid_configuration/"
    qbo_app_secret_name: str = "books360-qbo/app"
    token_secret_prefix: str = "books360-qbo/tokens/"
    # A sibling of the tenants' prefix (template.yaml: PendingTokenSecretPrefix): only the callback, the confirm
    # route and the sweep are granted it.
    pending_token_secret_prefix: str = "books360-qbo/pending-tokens/"
    # The bulk queue's maxReceiveCount: on its last receive a failing item is marked failed, not left to the DLQ.
    bulk_max_receive_count: Annotated[int, Field(ge=1)] = 5
    bulk_dead_letter_queue_arn: str = ""
    # Only the list_refresh function has it: the nightly run queues one message per tenant there.
    list_refresh_queue_url: str = ""

    @model_validator(mode="after")
    def _pending_tokens_apart(self) -> Settings:
        """IAM grants a secret prefix with a trailing ``*`` and cannot exclude: a prefix inside the other would
        hand the refreshers the unconfirmed connects' tokens (or the confirm route every tenant's)."""
        tokens, pending = self.token_secret_prefix, self.pending_token_secret_prefix
        if tokens.startswith(pending) or pending.startswith(tokens):
            raise ValueError(
                f"PENDING_TOKEN_SECRET_PREFIX ({pending!r}) and TOKEN_SECRET_PREFIX ({tokens!r}) must be siblings: "
                "neither may start with the other"
            )
        return self

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the upper-case environment variables named after the fields."""
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)

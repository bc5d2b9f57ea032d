"""The functions' settings (``shared.settings``): what a deployment's parameters may not combine."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings


def test_the_template_defaults_are_accepted():
    settings = Settings.from_env({"TABLE_NAME": "t"})
    assert (settings.token_secret_prefix, settings.pending_token_secret_prefix) == (
        "books360-qbo/tokens/",
        "books360-qbo/pending-tokens/",
    )


@pytest.mark.parametrize(
    ("tokens", "pending"),
    [
        ("books360-qbo/", "books360-qbo/pending/"),  # pending tokens inside the tenants' grant
        ("books360-qbo/tokens/pending/", "books360-qbo/tokens/"),  # the tenants' tokens inside the pending grant
        ("books360-qbo/tokens", "books360-qbo/tokens-pending/"),  # no trailing slash: still a prefix
        ("same/", "same/"),
    ],
)
def test_secret_prefixes_inside_one_another_are_refused_naming_both(tokens, pending):
    with pytest.raises(ValidationError) as refused:
        Settings.from_env({"TABLE_NAME": "t", "TOKEN_SECRET_PREFIX": tokens, "PENDING_TOKEN_SECRET_PREFIX": pending})
    assert "PENDING_TOKEN_SECRET_PREFIX" in str(refused.value) and "must be siblings" in str(refused.value)


def test_sibling_prefixes_are_accepted():
    settings = Settings.from_env(
        {"TABLE_NAME": "t", "TOKEN_SECRET_PREFIX": "x/tokens/", "PENDING_TOKEN_SECRET_PREFIX": "x/pending/"}
    )
    assert settings.pending_token_secret_prefix == "x/pending/"

"""Books360 user tokens for the local stack: HS256 JWTs signed with ``LOCAL_JWT_SECRET``."""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

DEFAULT_SECRET = "local-dev-secret"
DEFAULT_TTL = 12 * 3600
# The contract's default secret is 16 bytes, under PyJWT's recommended 32; it only ever signs local test tokens.


class InvalidToken(Exception):
    """The bearer token was missing, malformed, badly signed or expired; the message says which."""


def _secret(secret: str | None) -> str:
    return secret or os.environ.get("LOCAL_JWT_SECRET") or DEFAULT_SECRET


def mint_token(
    tenant_id: str,
    *,
    sub: str | None = None,
    ttl: int = DEFAULT_TTL,
    secret: str | None = None,
    **claims: Any,
) -> str:
    """A token for ``tenant_id`` valid for ``ttl`` seconds (12 hours by default); extra claims are added as given."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub or f"user-{tenant_id}", "tenant_id": tenant_id, "iat": now, "exp": now + ttl}
    payload.update(claims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, _secret(secret), algorithm="HS256")


def verify_token(token: str, *, secret: str | None = None) -> dict[str, Any]:
    """The claims of a valid token (signature and ``exp`` checked); ``InvalidToken`` otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims: dict[str, Any] = jwt.decode(
                token,
                _secret(secret),
                algorithms=["HS256"],
                options={"require": ["exp"], "verify_aud": False, "verify_iss": False},
            )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.MissingRequiredClaimError:
        raise InvalidToken("the token has no exp claim") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("the token signature is invalid") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("the token is not valid yet") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"the token is malformed ({exc})") from None
    return claims

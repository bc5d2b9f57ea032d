"""Who is calling: the tenant comes only from the verified JWT claims, never from the request."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from shared.domain.types import TenantId
from shared.errors import Unauthorized

TENANT_CLAIM = "tenant_id"
_TENANT = TypeAdapter(TenantId)


class _Routing(Protocol):
    """A Powertools resolver or router: both expose the event being handled."""

    @property
    def current_event(self) -> Any: ...


def tenant_id_of(app: _Routing) -> str:
    """The ``tenant_id`` claim the JWT authorizer verified; a token without one is a 401."""
    authorizer = app.current_event.request_context.authorizer
    claims = authorizer.jwt_claim if authorizer is not None else None
    tenant = (claims or {}).get(TENANT_CLAIM)
    if not isinstance(tenant, str) or not tenant.strip():
        raise Unauthorized("The token carries no tenant_id claim.")
    try:
        # Every key and message is built from it: a malformed one is refused before anything is written.
        return _TENANT.validate_python(tenant)
    except ValidationError as exc:
        raise Unauthorized("The token's tenant_id claim is not a valid tenant id.") from exc

"""Typed errors, each naming what went wrong; the HTTP layer maps them once to RFC 9457 problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldError:
    """One offending input: ``field`` is its path in the body (``defaults.bankAccountId``) or the parameter."""

    field: str
    message: str


class AppError(Exception):
    """Base of every error a user may see; ``status``, ``type`` and ``title`` shape the problem answer."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "about:blank"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    def headers(self) -> dict[str, str]:
        """Extra response headers (``Retry-After`` for throttling)."""
        return {}

    def extra(self) -> dict[str, str]:
        """Extra members of the problem answer (RFC 9457 allows them), e.g. the id a conflict names."""
        return {}


class BadRequest(AppError):
    status = 400
    type = "/problems/bad-request"
    title = "Bad request"


class Unauthorized(AppError):
    status = 401
    type = "/problems/unauthorized"
    title = "Unauthorized"


class NotFound(AppError):
    status = 404
    type = "/problems/not-found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    type = "/problems/conflict"
    title = "Conflict"


class NotConnected(Conflict):
    type = "/problems/not-connected"
    title = "QuickBooks is not connected"


class ReauthorizationRequired(Conflict):
    type = "/problems/reauthorization-required"
    title = "QuickBooks needs to be connected again"


class AlreadyLinked(Conflict):
    """The Books360 object is already linked (a bulk job counts such an item ``skipped``).

    ``qb_id`` is the QuickBooks id it is linked to.
    """

    type = "/problems/already-linked"
    title = "Already linked"

    def __init__(self, detail: str, *, qb_id: str | None = None) -> None:
        super().__init__(detail)
        self.qb_id = qb_id


class LinkedToAnother(Conflict):
    """The QuickBooks object is linked to another Books360 object (a failure, not a skip, in a bulk job)."""

    type = "/problems/already-linked"
    title = "Linked to another"


class NameTaken(Conflict):
    """QuickBooks already has an object of the same kind with this DisplayName: link that one instead.

    ``field`` is the contract's name for its id (``qbCustomerId``), added to the problem answer.
    """

    type = "/problems/name-taken"
    title = "The name is taken in QuickBooks"

    def __init__(self, detail: str, *, qb_id: str, field: str) -> None:
        super().__init__(detail)
        self.qb_id = qb_id
        self.field = field

    def extra(self) -> dict[str, str]:
        return {self.field: self.qb_id}


class UnsupportedMediaType(AppError):
    """A request body sent as something other than JSON (``text/plain``, a form, multipart)."""

    status = 415
    type = "/problems/unsupported-media-type"
    title = "Unsupported media type"


class InvalidInput(AppError):
    status = 422
    type = "/problems/invalid-input"
    title = "Invalid input"


class QuickBooksRejected(AppError):
    """QuickBooks refused or failed the request; ``detail`` carries its own message and code."""

    status = 502
    type = "/problems/quickbooks-rejected"
    title = "QuickBooks rejected the request"

    def __init__(self, code: str, message: str, *, element: str | None = None) -> None:
        super().__init__(f"QuickBooks error {code}: {message}")
        self.code = code
        self.message = message
        self.element = element


class Busy(AppError):
    """Something we depend on is busy for a moment; the same request may be retried (``Retry-After``)."""

    status = 503
    type = "/problems/busy"
    title = "Busy, try again shortly"

    def __init__(self, detail: str, *, retry_after: int = 60) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class QuickBooksThrottled(Busy):
    """QuickBooks answered 429 (or kept failing transiently); the request may be retried later."""

    type = "/problems/quickbooks-throttled"
    title = "QuickBooks is busy"


class CompanyBusy(QuickBooksThrottled):
    """Our own pacing: the company's QuickBooks calls are booked further ahead than this caller may wait.

    Nothing was sent to QuickBooks; a bulk worker defers its message instead of spending an SQS receive on it.
    """


class StorageBusy(Busy):
    """DynamoDB or Secrets Manager throttled us, or two writers met on one item; retry in a moment."""

    type = "/problems/storage-busy"
    title = "Busy, try again shortly"

    def __init__(self, detail: str = "Too many changes at once; try again in a moment.") -> None:
        super().__init__(detail, retry_after=1)

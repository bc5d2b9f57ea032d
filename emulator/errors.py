"""QuickBooks faults: one exception type, rendered in the ``Fault`` shape QuickBooks uses."""

from __future__ import annotations

from typing import Any

INACTIVE_DETAIL = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
DUPLICATE_PARTY = "Another customer, vendor or employee is already using this name. Please use a different name."
THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
THROTTLE_DETAIL = "The request limit was reached.  Try again later"


class QboFault(Exception):
    """One QuickBooks error; raising it anywhere in a request answers ``status`` with a ``Fault`` body."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        *,
        status: int = 400,
        fault_type: str = "ValidationFault",
        element: str = "",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status
        self.fault_type = fault_type
        self.element = element

    def fault(self) -> dict[str, Any]:
        error = {"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}
        return {"Error": [error], "type": self.fault_type}


def required(field: str) -> QboFault:
    return QboFault(
        "2020", "Required Param Missing", f"Required parameter {field} is missing in the request", element=field
    )


def invalid_reference(field: str, value: str) -> QboFault:
    detail = f"Invalid Reference Id : {field} {value} does not exist or has been deleted"
    return QboFault("2500", "Invalid Reference Id", detail, element=field)


def inactive_reference(field: str) -> QboFault:
    return QboFault("610", "Object Not Found", INACTIVE_DETAIL, element=field)


def not_found(entity: str, entity_id: str) -> QboFault:
    detail = f"Object Not Found : Another user has deleted this transaction. ({entity} Id={entity_id})"
    return QboFault("610", "Object Not Found", detail)


def business(detail: str) -> QboFault:
    return QboFault(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
    )


def bad_request(detail: str, element: str = "") -> QboFault:
    return QboFault("2010", "Request has invalid or unsupported property", detail, element=element)


def length(field: str, maximum: int, supplied: int) -> QboFault:
    detail = (
        f"String length specified does not match the supported length. Min:0 Max:{maximum} supported. "
        f"Supplied length:{supplied}"
    )
    return QboFault("2050", "String length specified does not match the supported length", detail, element=field)


def query_parse(detail: str) -> QboFault:
    return QboFault("4000", "Error parsing query", f"QueryParserError: {detail}")


def query_validation(detail: str) -> QboFault:
    return QboFault("4001", "Invalid query", f"QueryValidationError: {detail}")


def throttled() -> QboFault:
    return QboFault("3001", THROTTLE_MESSAGE, THROTTLE_DETAIL, status=429, fault_type="SERVICE")


def injected(status: int) -> QboFault:
    """The body QuickBooks sends with a 429, 500 or 503."""
    if status == 429:
        return throttled()
    if status == 503:
        return QboFault(
            "10000",
            "Service Unavailable",
            "The service is temporarily unavailable. Try again later.",
            status=503,
            fault_type="SystemFault",
        )
    return QboFault(
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving your data. Please wait a "
        "few minutes and try again. If the problem persists, contact customer support.",
        status=status,
        fault_type="SystemFault",
    )


def invalid_characters(field: str, value: str) -> QboFault:
    """Colons separate parent and child in names (``Parent:Child``), so QuickBooks refuses them."""
    return QboFault(
        "2040",
        "Invalid String. The String may contain unsupported or illegal chars",
        f"Element contains invalid characters. {value}",
        element=field,
    )

"""Base of request and response models: snake_case in Python, the contract's camelCase on the wire."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from shared.quickbooks._json import as_sent


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


MoneyOut = Annotated[
    Decimal,
    PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "examples": ["1250.00"]}),
]
"""Money on the wire (contract, "Conventions"): a decimal string with two places, never a float."""

QuickBooksObject = Annotated[dict[str, Any], PlainSerializer(as_sent)]
"""A QuickBooks object shown as QuickBooks returned it: its amounts JSON numbers, not the text pydantic makes of
the ``Decimal`` our client reads them as."""


_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date_only(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("Input should be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]
"""A date in a query string (contract, "Conventions": ``YYYY-MM-DD``). pydantic alone also reads a number as a
Unix time, so ``dateFrom=0`` was 1970-01-01 instead of a 422 (found by tests/e2e/test_fuzz_openapi.py)."""

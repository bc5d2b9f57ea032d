"""Constrained values shared by the domain models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

MAX_ID_LENGTH = 128
"""Every Books360 id (tenant, client, vendor, invoice, payment, job) is at most this long, wherever it comes from:
an event, a body, a path or a filter. Ids go into DynamoDB keys, and a sort key over 1 KB is refused there."""

BooksId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
"""A Books360 id in a model (an event's, a bulk request's); route parameters declare ``MAX_ID_LENGTH`` themselves."""

TenantId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[A-Za-z0-9_.:@-]+$")]
"""One Books360 account; only ever taken from the verified token."""

QbId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]
"""A QuickBooks entity or company id: a string, even though QuickBooks uses digits."""

Money = Annotated[Decimal, Field(max_digits=17, decimal_places=2)]
"""An amount of money, two decimal places; never a float."""

"""Constrained values shared by the domain models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

TenantId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")]
"""One Books360 account; only ever taken from the verified token."""

QbId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]
"""A QuickBooks entity or company id: a string, even though QuickBooks uses digits."""

Money = Annotated[Decimal, Field(max_digits=17, decimal_places=2)]
"""An amount of money, two decimal places; never a float."""

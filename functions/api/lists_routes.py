"""CRM Integrations > QuickBooks > "Update Lists": the bank accounts and payment methods as last refreshed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field

from shared import wiring
from shared.services import lists as lists_service
from shared.web import ApiModel, tenant_id_of

if TYPE_CHECKING:
    from shared.domain.lists import BankAccount, CompanyLists, PaymentMethod

router = Router()


class BankAccountOut(ApiModel):
    id: str
    name: str
    account_type: str
    account_sub_type: str | None
    active: bool
    linkable: bool = Field(description="Only Bank and Other Current Asset accounts can take payments")

    @classmethod
    def of(cls, account: BankAccount) -> BankAccountOut:
        return cls(
            id=account.id,
            name=account.name,
            account_type=account.account_type,
            account_sub_type=account.account_sub_type,
            active=account.active,
            linkable=account.linkable,
        )


class PaymentMethodOut(ApiModel):
    id: str
    name: str
    type: str | None
    active: bool

    @classmethod
    def of(cls, method: PaymentMethod) -> PaymentMethodOut:
        return cls(id=method.id, name=method.name, type=method.type, active=method.active)


class ListsOut(ApiModel):
    bank_accounts: list[BankAccountOut]
    payment_methods: list[PaymentMethodOut]
    updated_at: datetime | None = Field(description="null: the lists were never updated")

    @classmethod
    def of(cls, lists: CompanyLists | None) -> ListsOut:
        if lists is None:
            return cls(bank_accounts=[], payment_methods=[], updated_at=None)
        return cls(
            bank_accounts=[BankAccountOut.of(a) for a in lists.bank_accounts],
            payment_methods=[PaymentMethodOut.of(m) for m in lists.payment_methods],
            updated_at=lists.updated_at,
        )


@router.get("/quickbooks/lists", summary="Bank accounts and payment methods as last read from QuickBooks")
def get_lists() -> ListsOut:
    tenant_id = tenant_id_of(router)
    return ListsOut.of(lists_service.get_lists(wiring.lists_store(), wiring.connection_store(), tenant_id))

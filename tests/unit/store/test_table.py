"""Table.transact tells a failed condition of ours from a conflict with another writer."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from shared.errors import StorageBusy
from shared.store.table import Table, TransactionRefused


class CancellingClient:
    def __init__(self, *codes: str | None) -> None:
        self.codes = codes

    def transact_write_items(self, **_: object) -> None:
        reasons = [{"Code": code} if code else {"Code": "None"} for code in self.codes]
        error = {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": reasons,
        }
        raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]


def test_transact_conflict_with_another_writer_is_busy_not_refused():
    table = Table("t", CancellingClient(None, "TransactionConflict"))

    with pytest.raises(StorageBusy) as raised:
        table.transact([{"Update": {}}, {"Update": {}}])

    assert raised.value.status == 503


def test_transact_failed_condition_is_refused_with_reasons():
    table = Table("t", CancellingClient("ConditionalCheckFailed", None))

    with pytest.raises(TransactionRefused) as raised:
        table.transact([{"Update": {}}, {"Update": {}}])

    assert raised.value.reasons == ["ConditionalCheckFailed", "None"]

"""Which QuickBooks object a webhook event takes away (contract: "Intuit webhooks")."""

from __future__ import annotations

import pytest

from shared.domain.webhooks import ChangeEvent, removed_object_id


def event(entity: str, operation: str, deleted_id: str | None = None) -> ChangeEvent:
    return ChangeEvent(
        event_id="e", realm_id="1", entity=entity, entity_id="58", operation=operation, deleted_id=deleted_id
    )


@pytest.mark.parametrize(
    ("change", "entity", "expected"),
    [
        (event("customer", "Delete"), "Customer", "58"),
        (event("vendor", "Merge", deleted_id="27"), "Vendor", "27"),
        (event("customer", "Update"), "Customer", None),
        (event("customer", "Create"), "Customer", None),
        (event("invoice", "Delete"), "Customer", None),
        (event("customer", "Merge"), "Customer", None),
    ],
    ids=["deleted", "merged-away", "updated", "created", "other-entity", "merge-without-deleted-id"],
)
def test_removed_object_id_names_only_what_was_taken_away(change, entity, expected):
    assert removed_object_id(change, entity) == expected

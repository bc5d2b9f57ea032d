"""The ``auto-invoice-sync`` schedule (every 15 minutes): the catch-up sweep.

It re-queues the items of bulk jobs whose messages were lost, and catches up automatic sync
(``shared.services.auto_sync``): the invoices of linked clients that are unsynced, failed or changed since their
last sync, the invoices of a client linked later or of a tenant that turned the setting on, and the deletions in
QuickBooks that failed, and every invoice of a tenant that turned the setting on or connected. Both read sparse
indexes of what is to do (and that tenant's own invoices), never every tenant's items; one tenant that fails is
counted in ``tenantsFailed`` and the others go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared import wiring
from shared.services.jobs import requeue_stale_jobs
from shared.web.triggers import scheduled_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel


def catch_up(event: EventBridgeModel) -> dict[str, Any]:
    requeued = requeue_stale_jobs(wiring.job_store(), wiring.bulk_queue(), now=wiring.now())
    swept = wiring.auto_sync().sweep()
    return {
        "ranAt": event.time.isoformat(),
        "bulkItemsRequeued": requeued,
        "tenants": swept.tenants,
        "invoicesQueued": swept.queued,
        "deletionsQueued": swept.deletions,
        "invoicesWaiting": swept.waiting,
        "tenantsFailed": swept.tenants_failed,
        "shardsUnfinished": swept.unfinished_shards,
    }


lambda_handler = scheduled_handler(catch_up)

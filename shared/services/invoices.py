"""The Invoices tab (guide: "The Invoices tab"; contract: "Invoices tab"): list, preview, sync, View QB Info,
unlink, and the deletion in QuickBooks that follows a deletion in Books360.

One sync of one invoice::

    check ....... invoice and client known, client email, transactions ── else 404/422, nothing written
    lease ....... LOCK#invoice#{id}: one writer per invoice at a time ── a concurrent sync answers 409
    customer .... ensure_linked(client): the linked customer, or one created and linked first (the customers
                  tab's create rules, name clashes included)
    facts ....... the Item the lines use and the invoice custom fields, read once per company (cached)
    plan ........ plan_sync: creates, updates, deletes; an unchanged invoice plans no write and makes none
    intents ..... the creates about to be sent are recorded as pending (one DynamoDB write)
    writes ...... payments gone ─▶ parts ─▶ payments ─▶ parts gone; each answer recorded as it comes
                  (the link map and the guard items, one transaction), so a crash resumes where it stopped
    done ........ synced, with the version synced; a refusal records ``failed`` with QuickBooks' words

Exactly once: every create carries a requestid derived from tenant, company, invoice, part or payment and its
generation, never the content, so QuickBooks answers a repeated create with the first object. A create recorded
as pending but not answered (the answer was lost with the process) is looked up by our marker first; what is
found, or what a replayed create returns, is then updated to the current document. A stale SyncToken (5010) is
re-read and the write retried once; a delete of what QuickBooks no longer has counts as done.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from shared.domain.books360 import Invoice  # noqa: TC001 - a dataclass field type read by readers and mypy alike
from shared.domain.cursors import sign_cursor
from shared.domain.invoices import (
    Action,
    CompanyFacts,
    InvoiceLink,
    InvoiceStatus,
    PartPlan,
    PaymentPlan,
    Problem,
    Scope,
    SyncInput,
    SyncPlan,
    SyncStatus,
    Written,
    invoice_marker,
    invoice_status,
    payment_marker,
    plan_sync,
    sync_problems,
    written_amounts,
)
from shared.domain.jobs import InvoiceDeletionMessage
from shared.domain.parties import CUSTOMER, display_name_for
from shared.domain.types import MAX_ID_LENGTH
from shared.errors import AppError, Busy, Conflict, FieldError, InvalidInput, NotFound, QuickBooksRejected
from shared.observability import logger, metrics
from shared.quickbooks import documents, models
from shared.quickbooks.client import quote, request_id_for
from shared.quickbooks.errors import DuplicateName, InvalidReference, ObjectNotFound, StaleObject
from shared.quickbooks.pacing import CallNotStarted
from shared.services.paging import opened_cursor
from shared.services.parties import ensure_linked
from shared.store.company_facts import CachedFacts
from shared.store.invoices import MAX_CLIENT_MATCHES, QB_INVOICE, QB_PAYMENT, TooManyClients

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import date, datetime
    from decimal import Decimal

    from shared.domain.parties import Party
    from shared.domain.settings import Settings
    from shared.quickbooks.client import QuickBooksClient
    from shared.store.auto_sync import AutoSyncStore
    from shared.store.bulk_queue import BulkQueue
    from shared.store.company_facts import CompanyFactsStore
    from shared.store.connection import ConnectionStore
    from shared.store.invoices import InvoiceFilters, InvoiceStore, StoredInvoice
    from shared.store.leases import LeaseStore
    from shared.store.parties import PartyStore
    from shared.store.settings import SettingsStore

LEASE_SECONDS = 120
"""Longer than one sync may take (the function times out at 60 s); a crashed holder's lease lapses then."""
ITEMS: dict[str, tuple[str, Literal["Service", "NonInventory"]]] = {
    "service": ("Books360 Service", "Service"),
    "product": ("Books360 Product", "NonInventory"),
}
"""``itemType`` -> the QuickBooks Item the lines use: its Name and Type (contract)."""


class SyncInProgress(Conflict):
    type = "/problems/sync-in-progress"
    title = "A sync of this invoice is under way"


@dataclass(frozen=True)
class InvoiceStores:
    """What the invoice use cases read and write, built once per container (``shared.wiring``)."""

    invoices: InvoiceStore
    parties: PartyStore
    settings: SettingsStore
    facts: CompanyFactsStore
    leases: LeaseStore
    connections: ConnectionStore
    index: AutoSyncStore
    """What automatic sync has to do (``shared.store.auto_sync``): a sync settles it, an unlink makes it due."""


@dataclass(frozen=True)
class InvoiceSynced:
    invoice_id: str
    qb_invoice_ids: list[str]
    qb_payment_ids: list[str]
    customer_created: bool
    synced_at: datetime | None


# -- sync ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """What a caller of ``sync_invoice`` read a moment ago (automatic sync checks them before it syncs, having
    found the invoice), so the sync does not read them again. The invoice itself is always read under the lease."""

    client: Party | None = None
    settings: Settings | None = None


def sync_invoice(
    qbo: QuickBooksClient,
    stores: InvoiceStores,
    *,
    tenant_id: str,
    invoice_id: str,
    now: datetime,
    owner: str | None = None,
    known: Known | None = None,
) -> InvoiceSynced:
    """ "Sync with QB": write the invoice and its payments to QuickBooks, or bring what was written up to date.

    Raises ``NotFound``, ``InvalidInput`` (``client.email``, ``transactions``; nothing written), ``SyncInProgress``
    (409), ``Conflict`` (the customer or an invoice was deleted in QuickBooks), ``QuickBooksRejected`` (recorded
    as ``failed``), ``QuickBooksThrottled``. ``known``: what the caller has just read (not read again).
    """
    if known is None:
        # Unknown, or not syncable as it is: answered before anything is written (no lease either).
        _, client, problems = _source_and_problems(stores, _invoice(stores, tenant_id, invoice_id))
        _raise_problems(problems)
        known = Known(client=client)
    else:
        _check_id(invoice_id)
    lease_owner = owner or uuid.uuid4().hex
    lease = f"invoice#{invoice_id}"
    if not stores.leases.acquire(tenant_id, lease, lease_owner, seconds=LEASE_SECONDS):
        raise SyncInProgress(f"The invoice {invoice_id} is being synced right now; try again in a moment.")
    try:
        return _sync_held(qbo, stores, known, tenant_id=tenant_id, invoice_id=invoice_id, now=now, item_retry=True)
    finally:
        stores.leases.release(tenant_id, lease, lease_owner)


def _sync_held(
    qbo: QuickBooksClient,
    stores: InvoiceStores,
    known: Known,
    *,
    tenant_id: str,
    invoice_id: str,
    now: datetime,
    item_retry: bool,
) -> InvoiceSynced:
    # Read under the lease: what an earlier holder recorded is what this one resumes from.
    stored = _invoice(stores, tenant_id, invoice_id)
    source, client, problems = _source_and_problems(stores, stored, known.client)
    _raise_problems(problems)
    assert client is not None  # no problem reported: the client is known
    realm_id = qbo.realm_id
    link = stored.link_in(realm_id) or InvoiceLink(realm_id=realm_id)
    if link.status is SyncStatus.DELETED_IN_QB:
        raise _deleted_conflict(invoice_id)
    writer = _Writer(qbo, stores.invoices, Scope(tenant_id, realm_id, invoice_id), link)
    settings = known.settings if known.settings is not None else stores.settings.get(tenant_id)
    try:
        customer, created = ensure_linked(
            CUSTOMER, qbo, stores.parties, tenant_id=tenant_id, party_id=client.party_id, now=now, known=client
        )
        if link.linked and link.customer_id and link.customer_id != customer.qb_id:
            raise Conflict(
                f"The invoice {invoice_id} was synced to QuickBooks customer {link.customer_id}; its client is "
                f"linked to customer {customer.qb_id} now. Unlink the invoice (View QB Info > Delete) to sync it "
                "to the new customer."
            )
        facts = company_facts(
            qbo, stores.facts, tenant_id=tenant_id, settings=settings, now=now, cache=True, leases=stores.leases
        )
        plan = plan_sync(
            source, settings, facts, scope=writer.scope, customer_id=customer.qb_id, link=link, today=now.date()
        )
        if plan.writes == 0 and link.parts:
            # Nothing to write proves nothing about QuickBooks (a webhook may be late or lost): one read says
            # whether what was written is still there.
            missing = _missing_invoices(qbo, link)
            if missing:
                raise PartGone(f"QuickBooks invoice {', '.join(missing)} was deleted in QuickBooks.")
        writer.write(plan, customer.qb_id)
    except PartGone as gone:
        writer.deleted_in_quickbooks(gone.detail)
        raise _deleted_conflict(invoice_id) from gone
    except (ObjectNotFound, InvalidReference) as exc:
        if not item_retry:
            writer.failed(exc.detail)
            raise
        # A reference QuickBooks refused (made inactive, deleted): most likely the Item we cached. Find or make it
        # again, then resume; a refusal the second time is recorded as failed.
        stores.facts.forget(tenant_id, realm_id, settings.item_type.value)
        again = Known(client, settings)
        return _sync_held(qbo, stores, again, tenant_id=tenant_id, invoice_id=invoice_id, now=now, item_retry=False)
    except AppError as exc:
        writer.failed(exc.detail)
        raise
    final = writer.done(plan, version=stored.version, now=now)
    # This version is in QuickBooks: nothing left for automatic sync (unless a newer one arrived meanwhile).
    stores.index.settle(tenant_id, invoice_id, stored.version)
    metrics.add_metric(name="InvoiceSynced", unit="Count", value=1)
    logger.info(
        "invoice synced",
        invoice_id=invoice_id,
        writes=plan.writes,
        qb_invoice_ids=final.qb_invoice_ids,
        customer_created=created,
    )
    return InvoiceSynced(invoice_id, final.qb_invoice_ids, final.qb_payment_ids, created, final.synced_at)


class PartGone(Conflict):
    """A QuickBooks invoice we wrote is gone from QuickBooks (deleted there): the user unlinks it."""


def _deleted_conflict(invoice_id: str) -> Conflict:
    return Conflict(
        f"What was synced for invoice {invoice_id} was deleted in QuickBooks; unlink it (View QB Info > Delete) "
        "before syncing it again."
    )


def _missing_invoices(qbo: QuickBooksClient, link: InvoiceLink) -> list[str]:
    """The linked QuickBooks invoices that QuickBooks no longer has (one query, however many parts)."""
    ids = link.qb_invoice_ids
    statement = f"SELECT * FROM Invoice WHERE Id IN ({', '.join(quote(i) for i in ids)}) MAXRESULTS {len(ids)}"
    found = {models.Saved.of(record).qb_id for record in qbo.query(QB_INVOICE, statement)}
    return [qb_id for qb_id in ids if qb_id not in found]


class _Writer:
    """Sends a plan's writes in order and records each answer at once (see the module docstring).

    Per object (a *target*: ``part:{key}`` or ``payment:{id}``)::

        create .... pending (an earlier run's answer lost)? look it up by marker; former (unlinked)? read it:
                    found (same customer) -> adopt it and update it; else create with the plan's requestid
        update .... the SyncToken recorded (read first when a payment write changed it); 5010: read, retry once;
                    610: is our object gone? a payment is created again, a part is deleted_in_qb; else the
                    reference is refused (an inactive Item...)
        delete .... gone already counts as done; 5010: read, retry once
        refused ... (QuickBooks said no, for good) the target's generation moves on, so the next try is a new
                    requestid rather than the replay of this refusal
    """

    def __init__(self, qbo: QuickBooksClient, store: InvoiceStore, scope: Scope, link: InvoiceLink) -> None:
        self.qbo = qbo
        self.store = store
        self.scope = scope
        self.link = link
        self.customer_id = link.customer_id or ""
        # Creates sent by an earlier run whose answers were never recorded: looked up before sending again.
        self.unanswered = frozenset(link.pending)

    def save(self, link: InvoiceLink) -> None:
        self.store.save_link(self.scope.tenant_id, self.scope.invoice_id, link, self.link)
        self.link = link

    def write(self, plan: SyncPlan, customer_id: str) -> None:
        self.customer_id = customer_id
        creates = {f"part:{p.key}": p.request_id for p in plan.parts if p.action is Action.CREATE}
        creates |= {f"payment:{p.payment_id}": p.request_id for p in plan.payments if p.action is Action.CREATE}
        new_intents = {t: r for t, r in creates.items() if r and t not in self.link.pending}
        if new_intents or self.link.customer_id != customer_id:
            self.save(replace(self.link, pending={**self.link.pending, **new_intents}, customer_id=customer_id))
        steps = plan.in_order()
        for done, step in enumerate(steps):
            target = f"part:{step.key}" if isinstance(step, PartPlan) else f"payment:{step.payment_id}"
            try:
                self._step(step)
            except Exception as exc:
                if isinstance(exc, QuickBooksRejected):
                    self.refused(target)
                # Deferred by our own pacing before its call was ever sent: this step was not sent either.
                unsent = isinstance(exc, CallNotStarted) and not exc.sent_before
                self._not_sent(steps[done:] if unsent else steps[done + 1 :])
                raise

    def _not_sent(self, steps: list[PartPlan | PaymentPlan]) -> None:
        """Stopped (busy, crashed): the creates never sent are not pending, so the next run sends them without
        looking for them first. Best effort: a failure here leaves them pending, which only costs a look-up."""
        unsent = {f"part:{s.key}" if isinstance(s, PartPlan) else f"payment:{s.payment_id}" for s in steps}
        kept = {t: r for t, r in self.link.pending.items() if t not in unsent or t in self.unanswered}
        if kept != dict(self.link.pending):
            with contextlib.suppress(Exception):
                self.save(replace(self.link, pending=kept))

    def _step(self, step: PartPlan | PaymentPlan) -> None:
        if isinstance(step, PartPlan) and step.action is Action.DELETE:
            self.delete_part(step.key)
        elif isinstance(step, PartPlan):
            self._write_part(step)
        elif step.action is Action.DELETE:
            self.delete_payment(step.payment_id)
        else:
            self._write_payment(step)

    # -- parts (QuickBooks invoices) -----------------------------------------------------------------------

    def _write_part(self, part: PartPlan) -> None:
        assert part.document is not None
        body = documents.invoice_document(part.document, customer_id=self.customer_id)
        target = f"part:{part.key}"
        written = self._put(QB_INVOICE, target, part, self.link.parts.get(part.key), body)
        pending = {t: r for t, r in self.link.pending.items() if t != target}
        self.save(replace(self.link, parts={**self.link.parts, part.key: written}, pending=pending))

    def delete_part(self, key: str) -> None:
        target = f"part:{key}"
        self._delete(QB_INVOICE, target, self.link.parts[key])
        parts = {k: w for k, w in self.link.parts.items() if k != key}
        self.save(replace(self.link, parts=parts, generations=self._next_generation(target)))

    # -- payments ------------------------------------------------------------------------------------------

    def _write_payment(self, payment: PaymentPlan) -> None:
        assert payment.document is not None
        invoice_ids = {key: w.qb_id for key, w in self.link.parts.items()}
        body = documents.payment_document(payment.document, customer_id=self.customer_id, invoice_ids=invoice_ids)
        target = f"payment:{payment.payment_id}"
        try:
            written = self._put(QB_PAYMENT, target, payment, self.link.payments.get(payment.payment_id), body)
        except PaymentGone:
            # Deleted in QuickBooks by someone: Books360 still has it, so it is written again (a new object).
            payments = {k: w for k, w in self.link.payments.items() if k != payment.payment_id}
            self.save(replace(self.link, payments=payments, generations=self._next_generation(target)))
            request_id = self.scope.create_id(target, self.link.generation(target))
            saved = models.Saved.of(self.qbo.create(QB_PAYMENT, body.body(), request_id=request_id))
            written = Written(saved.qb_id, saved.sync_token, payment.fingerprint, written_amounts(payment.document))
        pending = {t: r for t, r in self.link.pending.items() if t != target}
        payments = {**self.link.payments, payment.payment_id: written}
        # The payment changed its invoices in QuickBooks (Balance, LinkedTxn): their SyncTokens moved on.
        self.save(replace(self.link, parts=_tokens_unknown(self.link.parts), payments=payments, pending=pending))

    def delete_payment(self, payment_id: str) -> None:
        target = f"payment:{payment_id}"
        self._delete(QB_PAYMENT, target, self.link.payments[payment_id])
        payments = {k: w for k, w in self.link.payments.items() if k != payment_id}
        parts = _tokens_unknown(self.link.parts)
        self.save(replace(self.link, parts=parts, payments=payments, generations=self._next_generation(target)))

    # -- finding what an earlier run made ------------------------------------------------------------------

    def _earlier(self, entity: str, target: str) -> models.Saved | None:
        """For a create: what QuickBooks already holds for this target, if anything (see the class docstring)."""
        kind, _, key = target.partition(":")
        if target in self.unanswered:
            found = self._by_marker(entity, kind, key)
            if found is not None:
                return found
        former = self.link.former.get(target)
        if former is not None:
            try:
                saved = models.Saved.of(self.qbo.read(entity, former.qb_id))
            except ObjectNotFound:
                return None
            if saved.customer_id == self.customer_id and saved.note.startswith(self._marker(kind, key)):
                return saved
        return None

    def _marker(self, kind: str, key: str) -> str:
        scope = self.scope
        if kind == "part":
            return invoice_marker(scope.tenant_id, scope.invoice_id, key)
        return payment_marker(scope.tenant_id, scope.invoice_id, key)

    def _by_marker(self, entity: str, kind: str, key: str) -> models.Saved | None:
        marker = self._marker(kind, key)
        for found in self.qbo.query_all(entity, f"CustomerRef = {quote(self.customer_id)}"):
            saved = models.Saved.of(found)
            if saved.note == marker or saved.note.startswith(marker + ";"):
                return saved
        return None

    # -- writes with SyncTokens ----------------------------------------------------------------------------

    def _put(
        self, entity: str, target: str, planned: PartPlan | PaymentPlan, latest: Written | None, body: models.QbModel
    ) -> Written:
        """Create or update one object (``latest``: what this run last recorded of it, its SyncToken maybe
        unknown since); what QuickBooks holds afterwards, with the fingerprint and amounts written."""
        assert planned.request_id is not None and planned.document is not None
        amounts = written_amounts(planned.document)
        if planned.action is Action.CREATE and latest is None:
            earlier = self._earlier(entity, target)
            if earlier is None:
                # Nothing of ours there (a lost answer would have left an object with our marker): a first create.
                saved = models.Saved.of(self.qbo.create(entity, body.body(), request_id=planned.request_id))
                return Written(saved.qb_id, saved.sync_token, planned.fingerprint, amounts)
            # Made by an earlier run, maybe from an earlier content: brought up to date below.
            latest = Written(earlier.qb_id, earlier.sync_token, "")
        assert latest is not None
        saved = self._update(entity, body, latest, target, planned.fingerprint)
        return Written(saved.qb_id, saved.sync_token, planned.fingerprint, amounts)

    def _update(
        self, entity: str, body: models.QbModel, written: Written, target: str, fingerprint: str
    ) -> models.Saved:
        """A sparse update with the recorded SyncToken; a stale one (5010) is read again and retried once."""
        generation = self.link.generation(target)
        try:
            if written.sync_token == UNKNOWN_TOKEN:
                written = self._current(entity, written)
            document = models.Saved(Id=written.qb_id, SyncToken=written.sync_token).versioned(body)
            request_id = self.scope.update_id(target, written, fingerprint, generation)
            try:
                return models.Saved.of(self.qbo.update(entity, document, request_id=request_id))
            except StaleObject:
                fresh = self._current(entity, written)
                document = models.Saved(Id=fresh.qb_id, SyncToken=fresh.sync_token).versioned(body)
                request_id = self.scope.update_id(target, fresh, fingerprint, generation)
                return models.Saved.of(self.qbo.update(entity, document, request_id=request_id))
        except ObjectNotFound:
            if not self._gone(entity, written.qb_id):
                raise  # our object is there: a reference in the body was refused
            if entity == QB_PAYMENT:
                raise PaymentGone(written.qb_id) from None
            raise PartGone(f"QuickBooks invoice {written.qb_id} was deleted in QuickBooks.") from None

    def _gone(self, entity: str, qb_id: str) -> bool:
        try:
            self.qbo.read(entity, qb_id)
        except ObjectNotFound:
            return True
        return False

    def _current(self, entity: str, written: Written) -> Written:
        current = models.Saved.of(self.qbo.read(entity, written.qb_id))
        return replace(written, sync_token=current.sync_token)

    def _delete(self, entity: str, target: str, written: Written) -> None:
        """Delete; already gone in QuickBooks counts as done; a stale SyncToken is read again, retried once."""
        generation = self.link.generation(target)
        try:
            if written.sync_token == UNKNOWN_TOKEN:
                written = self._current(entity, written)
            try:
                request_id = self.scope.delete_id(target, written, generation)
                self.qbo.delete(entity, written.qb_id, written.sync_token, request_id=request_id)
            except StaleObject:
                fresh = self._current(entity, written)
                request_id = self.scope.delete_id(target, fresh, generation)
                self.qbo.delete(entity, fresh.qb_id, fresh.sync_token, request_id=request_id)
        except ObjectNotFound:
            return

    def _next_generation(self, target: str) -> dict[str, int]:
        return {**self.link.generations, target: self.link.generation(target) + 1}

    # -- outcomes ------------------------------------------------------------------------------------------

    def refused(self, target: str) -> None:
        """QuickBooks refused a write of ``target`` for good: its next write is a new request (not a replay of
        this refusal), and a create that was refused made nothing to look for."""
        pending = {t: r for t, r in self.link.pending.items() if t != target}
        self.save(replace(self.link, generations=self._next_generation(target), pending=pending))

    def done(self, plan: SyncPlan, *, version: int, now: datetime) -> InvoiceLink:
        link = self.link
        unchanged = (
            plan.writes == 0
            and link.status is SyncStatus.SYNCED
            and link.synced_version == version
            and dict(link.part_numbers) == dict(plan.part_numbers)
        )
        if unchanged:
            return link
        final = replace(
            link,
            status=SyncStatus.SYNCED,
            part_numbers=dict(plan.part_numbers),
            former={},
            synced_at=now if plan.writes or link.synced_at is None else link.synced_at,
            synced_version=version,
            last_error=None,
        )
        self.save(final)
        return final

    def adopt_pending(self) -> InvoiceLink:
        """Record what QuickBooks made for the creates still pending (found by our marker) and what an unlink
        left behind; forget the rest. (A deletion after ``InvoiceDeleted`` then deletes all of it.)"""
        if not self.link.pending and not self.link.former:
            return self.link
        parts, payments = dict(self.link.parts), dict(self.link.payments)
        for target in sorted({*self.link.pending, *self.link.former}):
            kind, _, key = target.partition(":")
            entity = QB_INVOICE if kind == "part" else QB_PAYMENT
            found = self._earlier(entity, target) if target in self.unanswered else None
            if found is None and target in self.link.former:
                found = self._still_there(entity, self.link.former[target])
            if found is not None:
                (parts if kind == "part" else payments)[key] = Written(found.qb_id, found.sync_token, "")
        self.save(replace(self.link, parts=parts, payments=payments, pending={}, former={}))
        return self.link

    def _still_there(self, entity: str, former: Written) -> models.Saved | None:
        try:
            return models.Saved.of(self.qbo.read(entity, former.qb_id))
        except ObjectNotFound:
            return None

    def failed(self, error: str) -> None:
        self.save(replace(self.link, status=SyncStatus.FAILED, last_error=error))

    def deleted_in_quickbooks(self, error: str) -> None:
        self.save(replace(self.link, status=SyncStatus.DELETED_IN_QB, last_error=error))


class PaymentGone(Exception):
    """A QuickBooks payment we wrote is gone from QuickBooks (deleted there): Books360 still has it."""


UNKNOWN_TOKEN = ""
"""A part's SyncToken after a payment applied to it or removed from it was written: QuickBooks changed the invoice
(its Balance and LinkedTxn), so the next update reads the token first instead of meeting a 5010."""


def _tokens_unknown(parts: Mapping[str, Written]) -> dict[str, Written]:
    return {key: replace(w, sync_token=UNKNOWN_TOKEN) for key, w in parts.items()}


# -- company facts ---------------------------------------------------------------------------------------------


FACTS_LEASE_SECONDS = 30
FACTS_WAIT_SECONDS = 5.0
FACTS_POLL_SECONDS = 0.25


def company_facts(
    qbo: QuickBooksClient,
    store: CompanyFactsStore,
    *,
    tenant_id: str,
    settings: Settings,
    now: datetime,
    cache: bool,
    leases: LeaseStore | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CompanyFacts:
    """The Item the lines use and, with Sync Custom Fields, the invoice custom fields; read once per company and
    kept (``cache``; a preview reads without keeping, and an Item it would create shows as ``""``).

    The first syncs of a company often start together (a bulk job, the month-end burst): with ``leases``, one of
    them finds (or creates) the Item while the others wait a few seconds for its answer in the cache, instead of
    each making the same look-up and create::

        cached ──▶ done
        none   ──▶ lease FACTS#{realm}#{type} taken ──▶ find/create, cache, release
                   └─ held by another sync ──▶ poll the cache (≤ 5 s) ──▶ its answer, or find it ourselves
    """
    item_type = settings.item_type.value
    cached = store.get(tenant_id, qbo.realm_id, item_type)
    need_fields = settings.sync_custom_fields
    if cached is not None and (not need_fields or cached.custom_fields_fresh(now)):
        return CompanyFacts(cached.item_id, cached.custom_fields or {})
    if cached is None and cache and leases is not None:
        lease, owner = f"FACTS#{qbo.realm_id}#{item_type}", uuid.uuid4().hex
        if leases.acquire(tenant_id, lease, owner, seconds=FACTS_LEASE_SECONDS):
            try:
                return _discover_facts(qbo, store, tenant_id=tenant_id, settings=settings, now=now, cache=cache)
            finally:
                leases.release(tenant_id, lease, owner)
        waited = 0.0
        while waited < FACTS_WAIT_SECONDS:
            sleep(FACTS_POLL_SECONDS)
            waited += FACTS_POLL_SECONDS
            found = store.get(tenant_id, qbo.realm_id, item_type)
            if found is not None and (not need_fields or found.custom_fields_fresh(now)):
                return CompanyFacts(found.item_id, found.custom_fields or {})
    return _discover_facts(qbo, store, tenant_id=tenant_id, settings=settings, now=now, cache=cache)


def _discover_facts(
    qbo: QuickBooksClient, store: CompanyFactsStore, *, tenant_id: str, settings: Settings, now: datetime, cache: bool
) -> CompanyFacts:
    item_type = settings.item_type.value
    cached = store.get(tenant_id, qbo.realm_id, item_type)
    need_fields = settings.sync_custom_fields
    if cached is not None and (not need_fields or cached.custom_fields_fresh(now)):
        return CompanyFacts(cached.item_id, cached.custom_fields or {})  # found by the sync that held the lease
    item_id = cached.item_id if cached else _find_or_create_item(qbo, tenant_id, item_type, create=cache)
    fields = documents.invoice_custom_fields(qbo.preferences()) if need_fields else None
    if cache and item_id:
        read_at = now if fields is not None else None
        store.put(tenant_id, qbo.realm_id, item_type, CachedFacts(item_id, fields, read_at))
    return CompanyFacts(item_id, fields or {})


def _find_or_create_item(qbo: QuickBooksClient, tenant_id: str, item_type: str, *, create: bool) -> str:
    """``Books360 Service``/``Books360 Product``: found by name (made active again if it was made inactive), or
    created once per company with the first active Income account (requestid per tenant, company and type)."""
    name, qb_type = ITEMS[item_type]
    found = _item_named(qbo, name)
    if found is not None:
        if not found.active and create:
            request_id = request_id_for(tenant_id, qbo.realm_id, "item", item_type, "reactivate", found.sync_token)
            qbo.update("Item", found.versioned(models.Activation()), request_id=request_id)
        return found.qb_id
    if not create:
        return ""
    accounts = qbo.query(
        "Account", "SELECT * FROM Account WHERE AccountType = 'Income' AND Active = true ORDERBY Id MAXRESULTS 1"
    )
    if not accounts:
        raise Conflict(f"The QuickBooks company has no active Income account for the {name!r} item; add one.")
    item = models.Item.for_lines(name, qb_type, models.Saved.of(accounts[0]).qb_id)
    try:
        created = qbo.create("Item", item.body(), request_id=request_id_for(tenant_id, qbo.realm_id, "item", item_type))
    except DuplicateName:
        # Made meanwhile by another sync of this company (another tenant connected to it, say).
        again = _item_named(qbo, name)
        if again is None:
            raise
        return again.qb_id
    return models.Saved.of(created).qb_id


def _item_named(qbo: QuickBooksClient, name: str) -> models.Saved | None:
    found = qbo.query("Item", f"SELECT * FROM Item WHERE Active IN (true, false) AND Name = {quote(name)}")
    return models.Saved.of(found[0]) if found else None


# -- preview ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerPreview:
    client_id: str
    display_name: str
    qb_customer_id: str | None
    action: str  # "linked" | "create"


@dataclass(frozen=True)
class SyncPreview:
    invoice_id: str
    customer: CustomerPreview
    plan: SyncPlan
    problems: list[Problem]


def preview_sync(
    quickbooks: Callable[[], QuickBooksClient],
    stores: InvoiceStores,
    *,
    tenant_id: str,
    invoice_id: str,
    now: datetime,
) -> SyncPreview:
    """What "Sync with QB" would write, writing nothing anywhere: QuickBooks is only read, and only for what is
    not cached yet (an unchanged invoice of a linked client is previewed without a call)."""
    stored = _invoice(stores, tenant_id, invoice_id)
    source, client, problems = _source_and_problems(stores, stored)
    with quickbooks() as qbo:
        realm_id = qbo.realm_id
        link = client.link_in(realm_id) if client else None
        customer = CustomerPreview(
            client_id=stored.invoice.client_id,
            display_name=link.display_name
            if link
            else display_name_for(CUSTOMER, source.client_name, held_by_other_kind=False),
            qb_customer_id=link.qb_id if link else None,
            action="linked" if link else "create",
        )
        settings = stores.settings.get(tenant_id)
        facts = company_facts(qbo, stores.facts, tenant_id=tenant_id, settings=settings, now=now, cache=False)
    plan = plan_sync(
        source,
        settings,
        facts,
        scope=Scope(tenant_id, realm_id, invoice_id),
        customer_id=customer.qb_customer_id,
        link=stored.link_in(realm_id),
        today=now.date(),
    )
    return SyncPreview(invoice_id, customer, plan, problems)


# -- the tab: list, View QB Info, unlink -----------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceRow:
    stored: StoredInvoice
    client_name: str | None
    status: InvoiceStatus
    sync_status: SyncStatus
    link: InvoiceLink | None

    @property
    def invoice(self) -> Invoice:
        return self.stored.invoice

    @property
    def due(self) -> Decimal:
        return max(self.stored.amount - self.stored.paid, self.stored.amount * 0)


@dataclass(frozen=True)
class InvoiceList:
    rows: list[InvoiceRow]
    next_cursor: str | None


def list_invoices(
    stores: InvoiceStores,
    *,
    tenant_id: str,
    filters: InvoiceFilters,
    limit: int,
    cursor: str | None,
    cursor_key: bytes,
    today: date,
) -> InvoiceList:
    """A page of the tab, filtered; the cursor is bound to tenant, tab and filters (another one is a 400)."""
    scope = {"tenant": tenant_id, "list": "invoices", **filters.scope()}
    after = opened_cursor(cursor_key, scope, cursor) if cursor else None
    realm_id = stores.connections.get(tenant_id).realm_id
    try:
        page = stores.invoices.page(tenant_id, realm_id=realm_id, filters=filters, limit=limit, after=after)
    except TooManyClients as exc:
        message = (
            f"More than {MAX_CLIENT_MATCHES} clients have this in their name; type more of it, or the client's id."
        )
        raise InvalidInput(message, errors=[FieldError("client", message)]) from exc
    names = stores.invoices.client_names(tenant_id, {s.invoice.client_id for s in page.invoices})
    rows = [
        InvoiceRow(
            stored=s,
            client_name=names.get(s.invoice.client_id),
            status=invoice_status(s.amount, s.paid, s.invoice.due_date, today),
            sync_status=s.status_in(realm_id),
            link=s.link_in(realm_id),
        )
        for s in page.invoices
    ]
    return InvoiceList(rows, sign_cursor(cursor_key, scope, page.after) if page.after is not None else None)


@dataclass(frozen=True)
class QuickBooksView:
    """View QB Info: the linked QuickBooks invoices and payments as QuickBooks returns them, read live."""

    invoices: list[dict[str, Any]]
    payments: list[dict[str, Any]]


def view_in_quickbooks(
    quickbooks: Callable[[], QuickBooksClient], stores: InvoiceStores, *, tenant_id: str, invoice_id: str
) -> QuickBooksView:
    """Each linked object read live; one deleted in QuickBooks shows as ``{"id", "deleted": true}``. An unlinked
    invoice shows empty lists without calling QuickBooks."""
    stored = _invoice(stores, tenant_id, invoice_id)
    realm_id = stores.connections.get(tenant_id).realm_id
    link = stored.link_in(realm_id)
    if link is None or not link.linked:
        return QuickBooksView([], [])
    with quickbooks() as qbo:
        return QuickBooksView(
            [_read_live(qbo, QB_INVOICE, qb_id) for qb_id in link.qb_invoice_ids],
            [_read_live(qbo, QB_PAYMENT, qb_id) for qb_id in link.qb_payment_ids],
        )


def _read_live(qbo: QuickBooksClient, entity: str, qb_id: str) -> dict[str, Any]:
    try:
        return qbo.read(entity, qb_id)
    except ObjectNotFound:
        return {"id": qb_id, "deleted": True}


def unlink(stores: InvoiceStores, *, tenant_id: str, invoice_id: str) -> None:
    """The manual unlink ("View QB Info" > "Delete" after a deletion in QuickBooks): the invoice is unsynced
    again and nothing changes in QuickBooks. An invoice with nothing linked is a 404, as for clients."""
    stored = _invoice(stores, tenant_id, invoice_id)
    realm_id = stores.connections.get(tenant_id).realm_id
    link = stored.link_in(realm_id)
    if link is None or not link.linked:
        raise NotFound(f"The invoice {invoice_id} is not linked to QuickBooks.")
    owner = uuid.uuid4().hex
    lease = f"invoice#{invoice_id}"
    if not stores.leases.acquire(tenant_id, lease, owner, seconds=LEASE_SECONDS):
        raise SyncInProgress(f"The invoice {invoice_id} is being synced right now; try again in a moment.")
    try:
        current = _invoice(stores, tenant_id, invoice_id).link_in(realm_id)
        if current is None or not current.linked:
            raise NotFound(f"The invoice {invoice_id} is not linked to QuickBooks.")
        stores.invoices.forget(tenant_id, invoice_id, current)
        # Unsynced now, so due for automatic sync again (which writes it only with the setting on).
        stores.index.due(tenant_id, invoice_id)
    finally:
        stores.leases.release(tenant_id, lease, owner)
    logger.info("invoice unlinked", invoice_id=invoice_id, qb_invoice_ids=link.qb_invoice_ids)


# -- deleted in Books360 ---------------------------------------------------------------------------------------


def delete_in_quickbooks(qbo: QuickBooksClient, stores: InvoiceStores, *, tenant_id: str, invoice_id: str) -> int:
    """Books360 deleted a linked invoice: its payments, then its invoices, are deleted in QuickBooks (already
    gone counts as done), each deletion recorded as it happens; the number of objects deleted. An invoice that
    Books360 brought back meanwhile (a newer upsert) is left alone. Raises ``SyncInProgress`` while a sync holds
    the invoice (the message comes back later)."""
    owner = uuid.uuid4().hex
    lease = f"invoice#{invoice_id}"
    if not stores.leases.acquire(tenant_id, lease, owner, seconds=LEASE_SECONDS):
        # A live sync releases the lease within the function timeout; a dead one's lapses at its expiry: come back
        # then, not every 5 s (which spends every receive of the message long before a dead holder's lease lapses).
        left = stores.leases.seconds_left(tenant_id, lease)
        raise Busy(f"The invoice {invoice_id} is being synced right now.", retry_after=max(5, (left or 0) + 1))
    try:
        stored = stores.invoices.get(tenant_id, invoice_id, with_deleted=True)
        link = stored.link_in(qbo.realm_id) if stored else None
        if stored is None or not stored.deleted:
            return 0  # brought back by Books360 meanwhile: left alone
        if link is None or not (link.linked or link.pending or link.former):
            stores.index.settle(tenant_id, invoice_id, None)
            return 0
        writer = _Writer(qbo, stores.invoices, Scope(tenant_id, qbo.realm_id, invoice_id), link)
        # Creates a sync sent but died before recording, and what an unlink left: deleted too.
        link = writer.adopt_pending()
        for payment_id in sorted(link.payments):
            writer.delete_payment(payment_id)
        for key in sorted(link.parts):
            writer.delete_part(key)
        deleted = len(link.payments) + len(link.parts)
        writer.save(replace(writer.link, status=SyncStatus.UNSYNCED, last_error=None))
        stores.index.settle(tenant_id, invoice_id, None)  # a failed deletion re-queued by the sweep is done
    finally:
        stores.leases.release(tenant_id, lease, owner)
    logger.info("invoice deleted in quickbooks", invoice_id=invoice_id, objects=deleted)
    return deleted


def queue_deletion(
    invoices: InvoiceStore, queue: BulkQueue, *, tenant_id: str, invoice_id: str, leases: LeaseStore
) -> bool:
    """After ``InvoiceDeleted``: queue the deletion in QuickBooks when something is linked (False: nothing to do).

    Called for a repeated event too (the tombstone is then "stale"): queueing twice is harmless, the deletion
    finds nothing left the second time. A refused send raises, so EventBridge delivers the event again."""
    stored = invoices.get(tenant_id, invoice_id, with_deleted=True)
    if stored is None or not stored.deleted:
        return False
    # Something written; or creates sent whose answers were lost (pending); or a sync holding the invoice right
    # now, which may write after this check (the deletion waits for its lease, then finds what it recorded).
    written = any(link.linked or link.pending for link in stored.links.values())
    if not written and leases.seconds_left(tenant_id, f"invoice#{invoice_id}") is None:
        return False
    unsent = queue.send([InvoiceDeletionMessage(tenant_id=tenant_id, invoice_id=invoice_id)])
    if unsent:
        raise Busy(f"The deletion of invoice {invoice_id} could not be queued: {unsent[0].reason}.")
    logger.info("invoice deletion queued", invoice_id=invoice_id)
    return True


def deletion_runner(stores: InvoiceStores) -> Callable[[QuickBooksClient, InvoiceDeletionMessage], int]:
    """The bulk worker's handler of ``InvoiceDeletionMessage``s."""

    def run(qbo: QuickBooksClient, message: InvoiceDeletionMessage) -> int:
        return delete_in_quickbooks(qbo, stores, tenant_id=message.tenant_id, invoice_id=message.invoice_id)

    return run


# -- shared checks ---------------------------------------------------------------------------------------------


def _check_id(invoice_id: str) -> None:
    """The routes refuse a longer id (422); a caller inside (a message, an event) is told it names nothing, before
    it becomes a DynamoDB key too long for DynamoDB."""
    if not 0 < len(invoice_id) <= MAX_ID_LENGTH:
        raise NotFound(f"No invoice {invoice_id[:MAX_ID_LENGTH]}...")


def _invoice(stores: InvoiceStores, tenant_id: str, invoice_id: str) -> StoredInvoice:
    _check_id(invoice_id)
    stored = stores.invoices.get(tenant_id, invoice_id)
    if stored is None:
        raise NotFound(f"No invoice {invoice_id}.")
    return stored


def _source_and_problems(
    stores: InvoiceStores, stored: StoredInvoice, known: Party | None = None
) -> tuple[SyncInput, Party | None, list[Problem]]:
    """The Books360 side of a sync (invoice, client: ``known`` when it is the invoice's), and why it cannot be
    synced as it is."""
    client = known
    if client is None or client.party_id != stored.invoice.client_id:
        client = stores.parties.get(stored.invoice.tenant_id, CUSTOMER, stored.invoice.client_id)
    source = SyncInput(stored.invoice, client.name if client else "", client.email if client else None)
    if client is None:
        return source, None, [Problem("clientId", f"The client {stored.invoice.client_id} is not known to the sync.")]
    return source, client, sync_problems(source)


def _raise_problems(problems: list[Problem]) -> None:
    if problems:
        raise InvalidInput(
            "The invoice cannot be synced as it is.", errors=[FieldError(p.field, p.message) for p in problems]
        )

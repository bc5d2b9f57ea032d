"""The QuickBooks Online Accounting API client every feature uses (httpx, one instance per company)."""

from __future__ import annotations

import functools
import random
import time
import uuid
from dataclasses import dataclass
from http import cookiejar
from typing import TYPE_CHECKING, Any, Protocol, Self

import httpx

from shared.deadline import MIN_ATTEMPT_SECONDS
from shared.errors import QuickBooksThrottled, ReauthorizationRequired
from shared.observability import logger
from shared.quickbooks import _json
from shared.quickbooks.errors import faults_in, parse_faults, rejected
from shared.quickbooks.pacing import CallNotStarted, LocalPacer, Pacer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

MINOR_VERSION = 75
MAX_RESULTS = 1000
BATCH_LIMIT = 30
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# QuickBooks' own clients send no timeout at all; a Lambda must never hang on one call.
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
THROTTLE_RETRY_AFTER = 60  # Intuit asks for about a minute after a 429


class TokenSource(Protocol):
    """Live access tokens for one company (``shared.services.tokens`` refreshes them under a lock)."""

    @property
    def realm_id(self) -> str: ...

    def access_token(self) -> str:
        """A token valid for a few more minutes at least."""
        ...

    def refresh_rejected(self, rejected_token: str) -> None:
        """QuickBooks answered 401 to ``rejected_token``: make sure the next ``access_token`` is a new one."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter for 429, 5xx and dropped connections."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A bulk worker does not sleep in Lambda after a 429: it hands the message back to SQS with a delay.
    retry_throttled: bool = True

    def delay(self, attempt: int, draw: Callable[[], float]) -> float:
        return draw() * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))


def request_id_for(*parts: str) -> str:
    """A stable ``requestid`` (UUIDv5, 36 characters: fits QuickBooks' 50, and 36 inside a batch)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "books360-qbo:" + "/".join(parts)))


def _http_client(base_url: str, transport: httpx.BaseTransport | None, timeout: httpx.Timeout) -> httpx.Client:
    client = httpx.Client(
        base_url=base_url,
        transport=transport,
        timeout=timeout,
        headers={"Accept": "application/json"},
        event_hooks={"response": [_log_response]},
    )
    # Nothing a response sets is sent again: the pool serves every tenant of the container.
    client.cookies.jar.set_policy(cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return client


@functools.cache
def _container_http(base_url: str) -> httpx.Client:
    """One connection pool per container (and API base URL), shared by every company's client: a Lambda
    container keeps its TLS connections to Intuit and its loaded certificates between invocations, instead of
    building an SSL context (a tenth of a bulk worker's CPU, by py-spy) and connecting again for every item.
    Tokens are per request (``Authorization``), never on the shared client."""
    return _http_client(base_url, None, DEFAULT_TIMEOUT)


def quote(value: str) -> str:
    """A string literal of the query language: single quotes, a quote inside escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksClient:
    """One company's Accounting API: reads, writes with ``requestid``, queries with paging, batches.

    Every call carries ``minorversion``; every write carries a ``requestid`` (the same one on every retry, so a
    retry after a lost answer gets the first object back); 401 refreshes the token once; 429/5xx/dropped
    connections are retried with backoff and then raised as ``QuickBooksThrottled``; Faults become typed errors.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tokens = tokens
        self.retry = retry or RetryPolicy()
        self.pacer: Pacer = pacer or LocalPacer()
        self._sleep = sleep
        self._timeout = timeout
        self.deadline = deadline
        """Epoch seconds by which every call has answered (``shared.deadline``): no attempt, wait or backoff past it."""
        self._clock = clock
        self._draw = draw
        if transport is None and timeout is DEFAULT_TIMEOUT:
            self._http, self._owns_http = _container_http(base_url.rstrip("/")), False
        else:
            self._http, self._owns_http = _http_client(base_url.rstrip("/"), transport, timeout), True

    @property
    def realm_id(self) -> str:
        return self.tokens.realm_id

    def close(self) -> None:
        """Close what this client owns: its own transport's connections; the container's pool stays open."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- entities ------------------------------------------------------------------------------------------

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        """``GET /{entity}/{id}``: the entity object (``ObjectNotFound`` when deleted or unknown)."""
        answer = self._call("GET", f"{entity.lower()}/{entity_id}")
        return dict(answer[entity])

    def create(self, entity: str, body: dict[str, Any], *, request_id: str) -> dict[str, Any]:
        answer = self._call("POST", entity.lower(), body=body, params={"requestid": request_id})
        return dict(answer[entity])

    def update(self, entity: str, body: dict[str, Any], *, request_id: str, sparse: bool = True) -> dict[str, Any]:
        """Update with the ``Id`` and current ``SyncToken`` in ``body``; sparse unless told (a full update clears)."""
        document = {**body, "sparse": sparse}
        answer = self._call("POST", entity.lower(), body=document, params={"requestid": request_id})
        return dict(answer[entity])

    def delete(self, entity: str, entity_id: str, sync_token: str, *, request_id: str) -> None:
        """Delete a transaction (Invoice, Payment); name lists are made inactive with ``update`` instead."""
        body = {"Id": entity_id, "SyncToken": sync_token}
        self._call("POST", entity.lower(), body=body, params={"operation": "delete", "requestid": request_id})

    def company_info(self) -> dict[str, Any]:
        answer = self._call("GET", f"companyinfo/{self.realm_id}")
        return dict(answer["CompanyInfo"])

    def preferences(self) -> dict[str, Any]:
        return dict(self._call("GET", "preferences")["Preferences"])

    # -- queries -------------------------------------------------------------------------------------------

    def query(self, entity: str, statement: str) -> list[dict[str, Any]]:
        """One query page; QuickBooks omits the entity key when nothing matches."""
        answer = self._call("POST", "query", content=statement)
        return list(answer.get("QueryResponse", {}).get(entity, []))

    def count(self, entity: str, where: str = "") -> int:
        answer = self._call("POST", "query", content=f"SELECT COUNT(*) FROM {entity}{_where(where)}")
        return int(answer.get("QueryResponse", {}).get("totalCount", 0))

    def query_all(self, entity: str, where: str = "", *, page_size: int = MAX_RESULTS) -> list[dict[str, Any]]:
        """Every match, page after page (STARTPOSITION is 1-based) until a short page."""
        found: list[dict[str, Any]] = []
        while True:
            page_clause = f"ORDERBY Id STARTPOSITION {len(found) + 1} MAXRESULTS {page_size}"
            statement = f"SELECT * FROM {entity}{_where(where)} {page_clause}"
            page = self.query(entity, statement)
            found.extend(page)
            if len(page) < page_size:
                return found

    # -- batch ---------------------------------------------------------------------------------------------

    def batch(self, items: Iterable[dict[str, Any]], *, request_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Up to 30 items in one call; the answers by ``bId`` (each an entity, a QueryResponse or a ``Fault``)."""
        request = list(items)
        if not 0 < len(request) <= BATCH_LIMIT:
            raise ValueError(f"a batch holds 1 to {BATCH_LIMIT} items, not {len(request)}")
        params = {"requestid": request_id} if request_id else None
        answer = self._call("POST", "batch", body={"BatchItemRequest": request}, params=params)
        return {str(item["bId"]): item for item in answer.get("BatchItemResponse", [])}

    # -- the one place requests are made -------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        content: str | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = f"/v3/company/{self.realm_id}/{path}"
        query = {"minorversion": str(MINOR_VERSION), **(params or {})}
        headers = {"Content-Type": "application/json"}
        payload: str | None = None
        if body is not None:
            payload = _json.dumps(body)
        elif content is not None:
            payload, headers = content, {"Content-Type": "application/text"}
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            token = self.tokens.access_token()
            timeout = self._time_left(attempt)
            try:
                self.pacer.acquire(self.realm_id)
            except CallNotStarted as refused:
                refused.sent_before = attempt > 1  # a 401's try was refused unread: not counted
                raise
            try:
                response = self._http.request(
                    method,
                    url,
                    params=query,
                    content=payload,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                    timeout=timeout,
                )
            except httpx.TransportError as exc:
                # The request may have been carried out: the retry reuses the same requestid.
                if attempt < self.retry.attempts:
                    self._backoff(attempt)
                    continue
                raise QuickBooksThrottled(
                    f"QuickBooks did not answer ({type(exc).__name__}) after {attempt} tries.",
                    retry_after=THROTTLE_RETRY_AFTER,
                ) from exc
            finally:
                self.pacer.release(self.realm_id)

            status = response.status_code
            if status == 401 and not refreshed:
                refreshed = True
                attempt -= 1
                self.tokens.refresh_rejected(token)
                continue
            if status in (401, 403):
                raise ReauthorizationRequired(
                    "QuickBooks refused this connection's authorization; connect QuickBooks again."
                )
            if status in TRANSIENT_STATUSES:
                faults = parse_faults(response.content)
                said = faults[0].message if faults else f"HTTP {status}"
                if attempt < self.retry.attempts and (status != 429 or self.retry.retry_throttled):
                    self._backoff(attempt)
                    continue
                raise QuickBooksThrottled(
                    f"QuickBooks is busy ({said}) after {attempt} tries; try again later.",
                    retry_after=THROTTLE_RETRY_AFTER,
                )
            try:
                document = _json.loads(response.content)
            except ValueError:
                document = None
            faults = faults_in(document) if isinstance(document, dict) else parse_faults(response.content)
            if status >= 400 or faults or not isinstance(document, dict):
                raise rejected(faults, status)
            return document

    def _backoff(self, attempt: int) -> None:
        delay = self.retry.delay(attempt, self._draw)
        if self.deadline is not None and self._clock() + delay + MIN_ATTEMPT_SECONDS > self.deadline:
            raise QuickBooksThrottled(
                f"QuickBooks did not answer in time after {attempt} tries; try again later.",
                retry_after=THROTTLE_RETRY_AFTER,
            )
        self._sleep(delay)

    def _time_left(self, attempt: int) -> httpx.Timeout:
        """This attempt's timeouts: the client's, cut to what is left before the deadline (too little: not tried)."""
        if self.deadline is None:
            return self._timeout
        left = self.deadline - self._clock()
        if left < MIN_ATTEMPT_SECONDS:
            raise QuickBooksThrottled(
                f"No time left to call QuickBooks{f' again after {attempt - 1} tries' if attempt > 1 else ''}; "
                "try again later.",
                retry_after=THROTTLE_RETRY_AFTER,
            )
        t = self._timeout
        return httpx.Timeout(
            connect=min(t.connect or left, left),
            read=min(t.read or left, left),
            write=min(t.write or left, left),
            pool=min(t.pool or left, left),
        )


def _where(where: str) -> str:
    return f" WHERE {where}" if where else ""


def _log_response(response: httpx.Response) -> None:
    # Method, path and status only: bodies hold customer data and the request carries the token.
    logger.info(
        "quickbooks call",
        method=response.request.method,
        path=response.request.url.path,
        status=response.status_code,
        intuit_tid=response.headers.get("intuit_tid"),
    )

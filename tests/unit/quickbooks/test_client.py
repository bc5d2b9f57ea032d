"""QuickBooksClient against httpx.MockTransport: retries, requestid, refresh on 401, Faults, paging, Decimal."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from shared.errors import QuickBooksRejected, QuickBooksThrottled, ReauthorizationRequired
from shared.quickbooks import DuplicateName, QuickBooksClient, RetryPolicy, StaleObject, quote, request_id_for
from shared.quickbooks.pacing import CallNotStarted

REALM = "9341455000001"


class FakeTokens:
    realm_id = REALM

    def __init__(self) -> None:
        self.current = "token-1"
        self.rejected: list[str] = []

    def access_token(self) -> str:
        return self.current

    def refresh_rejected(self, rejected_token: str) -> None:
        self.rejected.append(rejected_token)
        self.current = f"token-{len(self.rejected) + 1}"


def fault(code: str, message: str, detail: str = "") -> dict:
    return {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}], "type": "V"}}


def make_client(answers, *, retry=None, tokens=None):
    """A client whose transport plays ``answers`` in order (responses, or exceptions to raise)."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"intuit_tid": "tid-1"})

    client = QuickBooksClient(
        "http://qbo.test",
        tokens or FakeTokens(),
        transport=httpx.MockTransport(handler),
        retry=retry or RetryPolicy(attempts=4),
        sleep=lambda _: None,
    )
    return client, seen


def test_create_after_dropped_connection_retries_with_same_requestid():
    # GIVEN QuickBooks carries out the create but the connection drops, then answers the retry
    client, seen = make_client(
        [httpx.ReadError("connection dropped"), (200, {"Customer": {"Id": "58", "DisplayName": "Acme"}})]
    )

    # WHEN we create
    created = client.create("Customer", {"DisplayName": "Acme"}, request_id="rid-1")

    # THEN both tries carried the same requestid, so QuickBooks replays the first answer
    assert created["Id"] == "58"
    assert [r.url.params["requestid"] for r in seen] == ["rid-1", "rid-1"]
    assert all(r.url.params["minorversion"] == "75" for r in seen)


def test_call_after_429_and_500_is_retried_then_succeeds():
    client, seen = make_client([(429, fault("3001", "ThrottleExceeded")), (500, {}), (200, {"Item": {"Id": "1"}})])

    assert client.read("Item", "1") == {"Id": "1"}
    assert len(seen) == 3


def test_call_still_failing_after_retries_raises_throttled_with_retry_after():
    client, seen = make_client([(503, b"")] * 4)

    with pytest.raises(QuickBooksThrottled) as raised:
        client.read("Item", "1")

    assert len(seen) == 4
    assert raised.value.headers() == {"Retry-After": "60"}


def test_throttled_429_is_not_slept_on_when_policy_says_so():
    client, seen = make_client([(429, fault("3001", "ThrottleExceeded"))], retry=RetryPolicy(retry_throttled=False))

    with pytest.raises(QuickBooksThrottled):
        client.read("Item", "1")

    assert len(seen) == 1


def test_429_with_xml_body_is_understood():
    xml = (
        b'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3"><Fault type="SERVICE"><Error code="3001">'
        b"<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
        b"<Detail>The request limit was reached.</Detail></Error></Fault></IntuitResponse>"
    )
    client, _ = make_client([(429, xml)], retry=RetryPolicy(attempts=1))

    with pytest.raises(QuickBooksThrottled, match="ThrottleExceeded"):
        client.read("Item", "1")


def test_401_refreshes_once_and_retries_with_new_token():
    tokens = FakeTokens()
    client, seen = make_client(
        [(401, {"fault": {"error": [{"code": "3200"}]}}), (200, {"Item": {"Id": "1"}})], tokens=tokens
    )

    client.read("Item", "1")

    assert tokens.rejected == ["token-1"]
    assert [r.headers["Authorization"] for r in seen] == ["Bearer token-1", "Bearer token-2"]


def test_401_after_refresh_requires_reauthorization():
    client, _ = make_client([(401, b""), (401, b"")])

    with pytest.raises(ReauthorizationRequired):
        client.read("Item", "1")


def test_duplicate_name_fault_names_the_holder():
    detail = "The name supplied already exists. : Id=58"
    client, _ = make_client([(400, fault("6240", "Duplicate Name Exists Error", detail))])

    with pytest.raises(DuplicateName) as raised:
        client.create("Customer", {"DisplayName": "Acme"}, request_id="r")

    assert raised.value.code == "6240"
    assert raised.value.holder_id == "58"
    assert raised.value.status == 502


def test_stale_sync_token_is_its_own_error():
    client, _ = make_client([(400, fault("5010", "Stale Object Error"))])

    with pytest.raises(StaleObject):
        client.update("Customer", {"Id": "1", "SyncToken": "0"}, request_id="r")


def test_fault_inside_200_is_still_an_error():
    client, _ = make_client([(200, fault("6000", "A business validation error has occurred"))])

    with pytest.raises(QuickBooksRejected, match="business validation"):
        client.read("Invoice", "1")


def test_query_without_match_returns_empty_list():
    client, seen = make_client([(200, {"QueryResponse": {}})])

    assert client.query("Customer", "SELECT * FROM Customer WHERE DisplayName = 'x'") == []
    assert seen[0].headers["Content-Type"] == "application/text"


def test_query_all_follows_pages_until_a_short_one():
    page1 = {"QueryResponse": {"Account": [{"Id": str(i)} for i in range(1000)]}}
    page2 = {"QueryResponse": {"Account": [{"Id": str(i)} for i in range(1000, 1005)]}}
    client, seen = make_client([(200, page1), (200, page2)])

    accounts = client.query_all("Account", "Active IN (true, false)")

    assert len(accounts) == 1005
    statements = [r.content.decode() for r in seen]
    assert "STARTPOSITION 1 MAXRESULTS 1000" in statements[0]
    assert "STARTPOSITION 1001 MAXRESULTS 1000" in statements[1]


def test_amounts_travel_as_exact_numbers_both_ways():
    client, seen = make_client([(200, b'{"Payment": {"Id": "9", "TotalAmt": 1250.5}}')])

    payment = client.create("Payment", {"TotalAmt": Decimal("1250.50")}, request_id="r")

    assert b'"TotalAmt":1250.50' in seen[0].content
    assert payment["TotalAmt"] == Decimal("1250.50")
    assert isinstance(payment["TotalAmt"], Decimal)


def test_batch_answers_are_matched_by_bid():
    answer = {"BatchItemResponse": [{"bId": "b2", "Fault": {"Error": []}}, {"bId": "b1", "Customer": {"Id": "3"}}]}
    client, _ = make_client([(200, answer)])

    result = client.batch([{"bId": "b1"}, {"bId": "b2"}])

    assert result["b1"]["Customer"]["Id"] == "3"
    assert "Fault" in result["b2"]


def test_batch_of_31_items_is_refused_before_calling():
    client, seen = make_client([])

    with pytest.raises(ValueError):
        client.batch([{"bId": str(i)} for i in range(31)])
    assert seen == []


def test_request_id_is_stable_and_fits_quickbooks_limits():
    first = request_id_for("tenant", "CLIENT#7", "create", "abc")

    assert first == request_id_for("tenant", "CLIENT#7", "create", "abc")
    assert first != request_id_for("tenant", "CLIENT#7", "create", "abd")
    assert len(first) == 36


def test_quote_escapes_single_quotes():
    assert quote("O'Brien") == "'O\\'Brien'"


class _Tenant:
    def __init__(self, realm_id: str, token: str) -> None:
        self.realm_id, self.token = realm_id, token

    def access_token(self) -> str:
        return self.token

    def refresh_rejected(self, rejected_token: str) -> None:  # pragma: no cover - never rejected here
        raise AssertionError(rejected_token)


@pytest.fixture
def keep_alive_server():
    """A loopback QuickBooks stand-in over HTTP/1.1 that sets a cookie and notes each request's connection."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[int, str | None, str | None]] = []  # (client port: the connection, Authorization, Cookie)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append((self.client_address[1], self.headers.get("Authorization"), self.headers.get("Cookie")))
            body = json.dumps({"CompanyInfo": {"Id": "1"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Set-Cookie", "qbo.lb=tenant-a-node; Path=/")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_clients_of_one_container_share_the_connection_but_nothing_of_another_tenant(keep_alive_server):
    # GIVEN one container serves tenant A then tenant B (a warm Lambda, one item after another)
    url, seen = keep_alive_server
    first = QuickBooksClient(url, _Tenant("111", "token-a"))
    first.read("CompanyInfo", "1")
    first.close()  # the item is done

    # WHEN tenant B's client calls the same API
    with QuickBooksClient(url, _Tenant("222", "token-b")) as second:
        second.read("CompanyInfo", "1")

    # THEN the second call reused the kept-alive connection (no new TLS handshake in AWS), closing A's client did
    # not close the pool, and B's request carried only B's token and no cookie QuickBooks set for A
    (conn_a, auth_a, _), (conn_b, auth_b, cookie_b) = seen
    assert conn_a == conn_b
    assert (auth_a, auth_b) == ("Bearer token-a", "Bearer token-b")
    assert cookie_b is None


class RefusesFrom:
    """A pacer that will not start the ``nth`` call or any after it."""

    def __init__(self, nth: int) -> None:
        self.nth, self.calls = nth, 0

    def acquire(self, realm_id: str) -> None:
        self.calls += 1
        if self.calls >= self.nth:
            raise CallNotStarted()

    def release(self, realm_id: str) -> None:
        pass


def test_pacing_refusal_says_whether_an_earlier_try_of_the_call_was_sent():
    # GIVEN our pacing refuses a call's first try
    client, seen = make_client([(500, fault("10000", "An application error has occurred"))])
    client.pacer = RefusesFrom(1)
    with pytest.raises(CallNotStarted) as first:
        client.create("Invoice", {"Line": []}, request_id="rid-1")
    # THEN nothing of it was sent, and it says so
    assert seen == [] and not first.value.sent_before

    # WHEN another call's first try gets a 500 (QuickBooks may have carried it out) and its retry is refused
    client.pacer = RefusesFrom(2)
    with pytest.raises(CallNotStarted) as retry:
        client.create("Invoice", {"Line": []}, request_id="rid-2")
    # THEN the refusal says an earlier try was sent: the caller must look for the object before sending it again
    assert len(seen) == 1 and retry.value.sent_before


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_retries_stop_before_the_invocations_deadline_and_each_attempt_waits_only_what_is_left():
    # GIVEN QuickBooks answering 503 every time, and 3 s left in the invocation (API Gateway's 30 s nearly spent)
    clock = FakeClock()
    timeouts: list[float | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        clock.now += 0.2
        return httpx.Response(503, content=json.dumps(fault("10000", "Service unavailable")).encode())

    client = QuickBooksClient(
        "http://qbo.test",
        FakeTokens(),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=4, base_delay=1.0, max_delay=8.0),
        sleep=clock.sleep,
        draw=lambda: 1.0,
        deadline=clock.now + 3.0,
        clock=clock,
    )

    # WHEN a read is made
    with pytest.raises(QuickBooksThrottled) as busy:
        client.company_info()

    # THEN it tried only while a next try still fitted (1 s of backoff, then 2 s would pass the deadline), each
    # attempt's timeout cut to the time left, and the caller hears "busy, try later" (a 503 with Retry-After)
    assert len(timeouts) == 2
    assert timeouts[0] == pytest.approx(3.0) and timeouts[1] == pytest.approx(1.8)
    assert busy.value.retry_after > 0
    assert clock.now < 1_000.0 + 3.0

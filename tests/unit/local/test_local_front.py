"""The front: the template's routes through the authorizer to real workers, and the /_local routes."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from local_stack_fixtures import write_tiny_stack

from local.config import LocalConfig
from local.eventbridge import EventBus
from local.front import Front, create_app
from local.runtime import Runtime
from local.schedules import Scheduler
from local.template import plan
from local.tokens import mint_token, verify_token

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; plain httpx, which the project pins, still works.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SECRET = "front-secret"


@pytest.fixture(scope="module")
def front_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    config = LocalConfig(template_path=write_tiny_stack(tmp_path_factory.mktemp("front")), jwt_secret=SECRET)
    stack_plan = plan(config)
    runtime = Runtime(stack_plan.functions, config, {})
    front = Front(
        config,
        stack_plan,
        runtime,
        EventBus(runtime, stack_plan.rules, retries=0),
        Scheduler(runtime, stack_plan.schedules, retries=0),
    )
    try:
        with TestClient(create_app(front)) as client:
            yield client
    finally:
        front.executor.shutdown(wait=False)
        runtime.close()


def _bearer(tenant: str = "t-1", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(tenant, secret=SECRET, **claims)}"}


def test_public_route_runs_the_function(front_client: TestClient) -> None:
    answer = front_client.get("/open")
    assert answer.status_code == 200
    assert answer.json()["who"] == "two"
    assert answer.headers["apigw-requestid"]


def test_authorized_route_without_token_is_401_problem(front_client: TestClient) -> None:
    answer = front_client.get("/closed/7?echo=1")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == "the Authorization header is missing"


def test_authorized_route_passes_string_claims(front_client: TestClient) -> None:
    answer = front_client.get("/closed/7?echo=1", headers=_bearer("t-9", sub="u-9"))
    assert answer.status_code == 201
    claims = answer.json()["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims["tenant_id"], claims["sub"]) == ("t-9", "u-9")
    assert claims["exp"].isdigit()


def test_formatted_response_and_event_reach_the_client(front_client: TestClient) -> None:
    headers = {"content-type": "application/json", "cookie": "c=1", **_bearer()}
    answer = front_client.post("/closed/7?echo=1&x=a&x=b", content=b'{"k": 1}', headers=headers)
    assert answer.status_code == 201
    assert answer.headers["x-echo"] == "1"
    assert answer.headers["set-cookie"] == "a=1"
    event = answer.json()
    assert event["routeKey"] == "ANY /closed/{id}"
    assert event["pathParameters"] == {"id": "7"}
    assert event["queryStringParameters"] == {"echo": "1", "x": "a,b"}
    assert event["cookies"] == ["c=1"]
    assert event["body"] == '{"k": 1}'
    assert event["requestContext"]["http"]["method"] == "POST"


def test_handler_exception_is_api_gateway_500(front_client: TestClient) -> None:
    answer = front_client.get("/open?raise=1")
    assert answer.status_code == 500
    assert answer.json() == {"message": "Internal Server Error"}


def test_malformed_response_is_500(front_client: TestClient) -> None:
    answer = front_client.get("/open?malformed=1")
    assert answer.status_code == 500
    assert answer.json() == {"message": "Internal Server Error"}


def test_unknown_route_is_404(front_client: TestClient) -> None:
    answer = front_client.get("/nothing/here")
    assert answer.status_code == 404
    assert answer.json() == {"message": "Not Found"}


def test_events_endpoint_delivers_and_reports(front_client: TestClient) -> None:
    entries = [
        {"Source": "tiny.source", "DetailType": "Thing", "Detail": json.dumps({"a": 1})},
        {"Source": "tiny.source", "DetailType": "Thing"},
    ]
    answer = front_client.post("/_local/events", json={"Entries": entries})
    assert answer.status_code == 200
    body = answer.json()
    assert body["FailedEntryCount"] == 1
    event_id = body["Entries"][0]["EventId"]
    runs = front_client.get("/_local/invocations", params={"function": "One"}).json()["items"]
    assert [r["eventId"] for r in runs if r.get("eventId") == event_id] == [event_id]


@pytest.mark.parametrize(
    "payload",
    [b"not json", b'{"Entries": []}', b'{"Entries": "x"}', json.dumps({"Entries": [{}] * 11}).encode()],
)
def test_events_endpoint_rejects_bad_requests(front_client: TestClient, payload: bytes) -> None:
    answer = front_client.post("/_local/events", content=payload)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_schedule_run(front_client: TestClient) -> None:
    answer = front_client.post("/_local/schedules/tiny-tick/run")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["name"], body["status"]) == ("tiny-tick", "succeeded")
    assert body["ranAt"].endswith("Z")
    assert front_client.post("/_local/schedules/Tick/run").json()["name"] == "tiny-tick"


def test_unknown_schedule_is_404_problem(front_client: TestClient) -> None:
    answer = front_client.post("/_local/schedules/nope/run")
    assert answer.status_code == 404
    assert answer.json()["status"] == 404


def test_ui_stand_in(front_client: TestClient) -> None:
    answer = front_client.get("/_local/ui/integrations/quickbooks", params={"result": "error", "reason": "<x>"})
    assert answer.status_code == 200
    assert "/integrations/quickbooks" in answer.text
    assert "&lt;x&gt;" in answer.text


def test_routes_listing(front_client: TestClient) -> None:
    items = front_client.get("/_local/routes").json()["items"]
    assert {i["routeKey"] for i in items} == {"GET /open", "ANY /closed/{id}"}


def test_no_answer_within_the_integration_timeout_is_503(
    front_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import local.front

    monkeypatch.setattr(local.front, "INTEGRATION_TIMEOUT", 0.2)
    answer = front_client.get("/open?sleep=0.6")
    assert answer.status_code == 503
    assert answer.json() == {"message": "Service Unavailable"}


@pytest.mark.parametrize(("cookie_tenant", "status"), [(None, 200), ("t-other", 404)])
def test_ui_stand_in_confirms_a_ticket_as_its_signed_in_user(
    front_client: TestClient, monkeypatch: pytest.MonkeyPatch, cookie_tenant: str | None, status: int
) -> None:
    # GIVEN the API answers the confirm with ``status``, and records who asked
    seen: list[dict[str, Any]] = []

    async def post(self: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
        seen.append({"url": url, **kwargs})
        return httpx.Response(status, json={"status": "connected"} if status == 200 else {"status": status})

    monkeypatch.setattr(httpx.AsyncClient, "post", post)
    if cookie_tenant:
        front_client.cookies.set("books360_token", mint_token(cookie_tenant, secret=SECRET))

    # WHEN the browser lands with result=confirm
    try:
        answer = front_client.get(
            "/_local/ui/integrations/quickbooks",
            params={"result": "confirm", "ticket": "tkt"},
            follow_redirects=False,
        )
    finally:
        front_client.cookies.clear()

    # THEN it posted the ticket under its user's token (the demo tenant without a cookie), and shows the outcome
    (call,) = seen
    assert call["url"].endswith("/quickbooks/connection/confirm")
    assert call["json"] == {"ticket": "tkt"}
    claims = verify_token(call["headers"]["Authorization"].removeprefix("Bearer "), secret=SECRET)
    assert claims["tenant_id"] == (cookie_tenant or "demo")
    assert answer.status_code == 303
    expected = "result=connected" if status == 200 else "result=error&reason=confirm_refused&status=404"
    assert answer.headers["location"] == f"/_local/ui/integrations/quickbooks?{expected}"


def test_ui_stand_in_shows_the_success_message(front_client: TestClient) -> None:
    answer = front_client.get("/_local/ui/integrations/quickbooks", params={"result": "connected"})

    assert "QuickBooks is connected." in answer.text


def test_ui_console_file_outside_its_folder_is_404(
    front_client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a console folder, and a script beside it (outside it)
    import local.front

    console = tmp_path / "console"
    console.mkdir()
    (console / "index.html").write_text("<!-- landing -->", encoding="utf-8")
    (console / "in.js").write_text("inside", encoding="utf-8")
    (tmp_path / "secret.js").write_text("outside", encoding="utf-8")
    monkeypatch.setattr(local.front, "CONSOLE_DIR", console)

    # WHEN the browser asks for the one inside, and climbs out for the other
    inside = front_client.get("/_local/ui/in.js")
    outside = front_client.get("/_local/ui/..%2Fsecret.js")

    # THEN only the console's own file is served
    assert (inside.status_code, inside.text) == (200, "inside")
    assert outside.status_code == 404
    assert "outside" not in outside.text


def test_local_tokens_mints_a_token_of_the_tenant(front_client: TestClient) -> None:
    answer = front_client.post("/_local/tokens", json={"tenantId": "t-9"})

    assert answer.status_code == 200
    assert verify_token(answer.json()["token"], secret=SECRET)["tenant_id"] == "t-9"

"""Raw speed of the QuickBooks emulator: customer creates and queries per second on one company.

Runs ``python -m emulator`` in a subprocess on a free loopback port (so the clients do not share its GIL),
creates a company whose throttling is lifted with the admin option
``POST /_admin/companies {"limits": {"ratePerMinute": N, "maxConcurrent": N, "ratePerSecond": N,
"batchPerMinute": N}}``, then drives it with
10 concurrent httpx clients and prints requests/second for creates, for queries, and their ratio.

    .venv/bin/python bench/emulator_throughput.py [--requests 2000] [--clients 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
UNLIMITED = 1_000_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QBO_EMULATOR_HOST": "127.0.0.1", "QBO_EMULATOR_PORT": str(port), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_admin/requests", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the emulator did not start")


async def drive(url: str, clients: int, requests: list[tuple[str, str, dict[str, object]]]) -> float:
    """Send every request with ``clients`` concurrent connections; the elapsed seconds."""
    queue: asyncio.Queue[tuple[str, str, dict[str, object]]] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    failures: list[int] = []

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            while not queue.empty():
                method, path, options = queue.get_nowait()
                response = await client.request(method, path, **options)  # type: ignore[arg-type]
                if response.status_code != 200:
                    failures.append(response.status_code)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. HTTP {failures[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_emulator(port)
    try:
        limits = {
            "ratePerMinute": UNLIMITED,
            "maxConcurrent": UNLIMITED,
            "ratePerSecond": UNLIMITED,
            "batchPerMinute": UNLIMITED,
        }
        realm = httpx.post(f"{url}/_admin/companies", json={"companyName": "Bench", "limits": limits}).json()["realmId"]
        token = httpx.post(f"{url}/_admin/tokens", json={"realmId": realm}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        base = f"/v3/company/{realm}"

        creates = [
            ("POST", f"{base}/customer", {"json": {"DisplayName": f"Bench {n:06d}"}, "headers": headers})
            for n in range(args.requests)
        ]
        create_seconds = asyncio.run(drive(url, args.clients, creates))

        select = "SELECT * FROM Customer WHERE DisplayName = 'Bench {:06d}'"
        # POST with an application/text body, as python-quickbooks sends queries.
        text_headers = {**headers, "Content-Type": "application/text"}
        queries = [
            ("POST", f"{base}/query", {"content": select.format(n).encode(), "headers": text_headers})
            for n in range(args.requests)
        ]
        query_seconds = asyncio.run(drive(url, args.clients, queries))
    finally:
        process.terminate()
        process.wait(10)

    create_rate = args.requests / create_seconds
    query_rate = args.requests / query_seconds
    print(f"clients: {args.clients}, requests per measurement: {args.requests}, company rows: {args.requests}")
    print(f"customer creates: {create_rate:8.1f} requests/s")
    print(f"customer queries: {query_rate:8.1f} requests/s  (POST query, DisplayName = '..', {args.requests} rows)")
    print(f"queries / creates: {query_rate / create_rate:.2f}")


if __name__ == "__main__":
    main()

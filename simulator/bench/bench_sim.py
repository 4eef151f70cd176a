"""Throughput of the simulator (schema validation off, zero added latency, loopback only).

    python simulator/bench/bench_sim.py [--dialect exchange2013] [--seconds 5] [--threads 4] [--procs 2]

Prints:

- end to end with exchangelib as the client: GetItem requests per second (one item per request,
  ``--threads`` client threads) and CreateItem items per second (batches of 100);
- the server's own throughput: the very GetItem request exchangelib sends (captured from it),
  replayed by a lean client (http.client with keep-alive, ``--procs`` processes of ``--threads``
  threads), so the client's XML work is not what is measured.

The server runs as ``roomsync sim serve`` in its own process. Every loop is bounded by time and
by a request count. Figures depend on the machine.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import multiprocessing
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import exchangelib.services.common as services_common
from exchangelib import (
    DELEGATE,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    Version,
)
from exchangelib import UTC as EWS_UTC

PINNED = {
    "exchange2007": Version(build=Build(8, 3, 83, 6)),
    "exchange2010": Version(build=Build(14, 3, 123, 4)),
    "exchange2013": Version(build=Build(15, 1, 2507, 6), api_version="Exchange2016"),
}


MAX_REQUESTS_PER_THREAD = 200_000


def capture_get_item(account: Account, ids: list[tuple[str, str]]) -> bytes:
    """The bytes exchangelib POSTs for ``account.fetch(ids)``."""
    captured: list[bytes] = []
    original = services_common.post_ratelimited

    def spy(*args: Any, **kwargs: Any) -> Any:
        captured.append(kwargs["data"])
        return original(*args, **kwargs)

    services_common.post_ratelimited = spy  # type: ignore[assignment]
    try:
        list(account.fetch(ids=ids))
    finally:
        services_common.post_ratelimited = original  # type: ignore[assignment]
    return captured[-1]


def lean_worker(args: tuple[str, bytes, str, float, float, int]) -> tuple[int, float, float]:
    """One process: ``threads`` keep-alive connections replaying the request from ``start_at``
    until ``deadline``; returns (requests, first start, last end)."""
    url, body, authorization, start_at, deadline, threads = args
    parts = urlsplit(url)
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "Authorization": authorization,
        "SOAPAction": '"http://schemas.microsoft.com/exchange/services/2006/messages/GetItem"',
    }

    def loop(_: int) -> int:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        n = 0
        try:
            while time.time() < deadline and n < MAX_REQUESTS_PER_THREAD:
                conn.request("POST", parts.path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200 or b"NoError" not in data:
                    raise RuntimeError(f"unexpected answer {resp.status}: {data[:300]!r}")
                n += 1
        finally:
            conn.close()
        return n

    time.sleep(max(0.0, start_at - time.time()))
    began = time.time()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(loop, range(threads)))
    return total, began, time.time()


def resident_kib(pid: int) -> int:
    """The server process's resident memory (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dialect", default="exchange2013", choices=sorted(PINNED))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--procs", type=int, default=2, help="lean client processes")
    parser.add_argument("--save-request", help="write the captured GetItem request to this file")
    args = parser.parse_args()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "roomsync"), "sim", "serve", "--dialect", args.dialect],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ews_url = ""
        while True:
            line = server.stdout.readline()  # type: ignore[union-attr]
            if not line or line.strip() == "ready":
                break
            if line.startswith("ews_url: "):
                ews_url = line.split(": ", 1)[1].strip()
        config = Configuration(
            service_endpoint=ews_url,
            credentials=Credentials("alice@example.org", "alice-password"),
            auth_type="basic",
            version=PINNED[args.dialect],
            max_connections=args.threads,
        )
        account = Account("alice@example.org", config=config, autodiscover=False, access_type=DELEGATE)
        start = EWSDateTime(2024, 3, 4, 10, tzinfo=EWS_UTC)

        def batch(n: int) -> list[CalendarItem]:
            return [
                CalendarItem(
                    account=account,
                    folder=account.calendar,
                    subject=f"bench {i}",
                    start=start + dt.timedelta(hours=i),
                    end=start + dt.timedelta(hours=i, minutes=30),
                )
                for i in range(n)
            ]

        account.bulk_create(account.calendar, batch(100), send_meeting_invitations="SendToNone")
        rss_before = resident_kib(server.pid)
        created = 0
        began = time.perf_counter()
        while time.perf_counter() - began < args.seconds:
            created += len(
                account.bulk_create(account.calendar, batch(100), send_meeting_invitations="SendToNone")
            )
        create_rate = created / (time.perf_counter() - began)
        rss_after = resident_kib(server.pid)

        item = account.calendar.all().only("id", "changekey")[0]
        ids = [(item.id, item.changekey)]

        def fetch_loop(deadline: float) -> int:
            n = 0
            while time.perf_counter() < deadline:
                list(account.fetch(ids=ids))
                n += 1
            return n

        deadline = time.perf_counter() + args.seconds
        began = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            total = sum(pool.map(fetch_loop, [deadline] * args.threads))
        get_rate = total / (time.perf_counter() - began)

        body = capture_get_item(account, ids)
        if args.save_request:
            Path(args.save_request).write_bytes(body)
        authorization = "Basic " + base64.b64encode(b"alice@example.org:alice-password").decode()
        start_at = time.time() + 3  # after the worker processes have started
        work = (ews_url, body, authorization, start_at, start_at + args.seconds, args.threads)
        with multiprocessing.get_context("spawn").Pool(args.procs) as procs:
            results = procs.map(lean_worker, [work] * args.procs)
        lean_total = sum(r[0] for r in results)
        lean_rate = lean_total / (max(r[2] for r in results) - min(r[1] for r in results))
        account.protocol.close()
        print(f"dialect {args.dialect}")
        print(f"CreateItem (exchangelib): {create_rate:.0f} items/s (batches of 100)")
        print(
            f"server memory: {rss_before / 1024:.0f} MiB with 100 items, {rss_after / 1024:.0f} MiB with "
            f"{created + 100} items ({(rss_after - rss_before) / max(created, 1):.1f} KiB per item)"
        )
        print(
            f"GetItem (exchangelib): {get_rate:.0f} requests/s ({args.threads} client threads, one item each)"
        )
        print(
            f"GetItem (server, lean client): {lean_rate:.0f} requests/s "
            f"({args.procs} processes x {args.threads} keep-alive connections, {len(body)} byte request)"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()

"""Throughput of the simulator with exchangelib as the client (schema validation off).

    python simulator/bench/bench_sim.py [--dialect exchange2013] [--seconds 5]

Prints GetItem requests per second (one item per request, 4 client threads) and CreateItem items
per second (batches of 100). The server runs as ``roomsync sim serve`` in its own process, so the
client's XML work does not share an interpreter with it. Figures depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dialect", default="exchange2013", choices=sorted(PINNED))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
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
        created = 0
        began = time.perf_counter()
        while time.perf_counter() - began < args.seconds:
            created += len(
                account.bulk_create(account.calendar, batch(100), send_meeting_invitations="SendToNone")
            )
        create_rate = created / (time.perf_counter() - began)

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
        account.protocol.close()
        print(f"dialect {args.dialect}")
        print(f"GetItem: {get_rate:.0f} requests/s ({args.threads} client threads, one item each)")
        print(f"CreateItem: {create_rate:.0f} items/s (batches of 100)")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()

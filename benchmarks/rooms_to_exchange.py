"""ROOMS changes to Exchange under ``roomsync run``: the seconds from an edit in ROOMS to the
changed entry in the organizer's Exchange calendar, and the requests of an idle minute; and the
request rate of Exchange 2007's pull notifications.

Benchmarks: ``python benchmarks/rooms_to_exchange.py`` runs ``SyncRunner.run()`` on a thread
against the simulator (in this process, over HTTP, ``--latency-ms`` 20 added to every request)
with exchange2013 (streaming notifications) and o365 (webhooks), each on SQLite and PostgreSQL
(``--database``, ``--plugin`` to run fewer). The installation is the end-to-end test's
(``tests/rooms_changes_estate.py``): alice and bob, watched, and a room; the interval is a minute
and a watched person's full cycle comes every 15 minutes, so only the ROOMS change feed brings
the cycle. Once the start's cycles are over, a reservation is booked in ROOMS, then renamed
``--edits`` times (default 7) through a database connection of its own, as the web service or
another process would; each time the seconds until the calendar in the simulator's store shows
the new subject (looked at every 10 ms, no request). Target: median and maximum at most 2 s.
Then ``--idle-seconds`` (60) without any change: the requests Exchange got, the watch's own
(streams, subscriptions) apart; target 0 besides the watch's. CPU is this process's
(``time.process_time``: the runner, the feed and the in-process simulator) over the idle minute.

``--pull`` measures the Exchange 2007 pull watcher alone instead: ``--mailboxes`` (100) watched
mailboxes of a simulated 2007 server (in this process, 20 ms latency), ``--pull-window`` (60)
seconds after the first round; GetEvents per mailbox per minute and the most in flight at once.
``--pull-before REV`` runs the watcher as the git revision REV had it (for the figure before).

Wall times follow the machine's load (two cores shared with other work); the load average is
printed beside them. A missed target is a finding, not a failure: the exit code is non-zero only
when something broke (an edit that never arrived, a failed cycle).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from rooms_changes_estate import ALICE, WATCH_KINDS, Estate, estate, eventually  # noqa: E402

TARGET_SECONDS = 2.0
PLUGINS = ("exchange2013", "o365")
DATABASES = ("sqlite", "postgresql")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--plugin", choices=PLUGINS, action="append")
    parser.add_argument("--database", choices=DATABASES, action="append")
    parser.add_argument("--edits", type=int, default=7)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--pull", action="store_true", help="measure Exchange 2007's pull watcher instead")
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--pull-window", type=float, default=60.0)
    parser.add_argument("--pull-before", metavar="REV", help="the pull watcher of this git revision")
    args = parser.parse_args()
    if args.pull:
        return pull(args)
    rows, broken = [], False
    for plugin in args.plugin or PLUGINS:
        for database in args.database or DATABASES:
            try:
                rows.append(run(plugin, database, args))
            except Exception as exc:  # one combination's failure is reported, the others still run
                broken = True
                rows.append(
                    {"plugin": plugin, "database": database, "failed": f"{type(exc).__name__}: {exc}"}
                )
    print_rows(rows, args)
    return 1 if broken or any("failed" in r for r in rows) else 0


def run(plugin: str, database: str, args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="roomsync-bench-r2x-") as tmp,
        estate(plugin, database, Path(tmp), os.environ.__setitem__, latency_ms=args.latency_ms) as found,
    ):
        if not eventually(lambda: {ALICE} <= {m for _, m in found.cycles}, 60) or not found.settled():
            raise RuntimeError(f"the runner did not start: {found.failures}")
        booked = found.book("Edit 0", 9)
        if not eventually(lambda: "Edit 0" in found.subjects(), 30):
            raise RuntimeError("the first reservation never reached Exchange")
        seconds = []
        for n in range(1, args.edits + 1):
            if not found.settled(quiet=1.0):
                raise RuntimeError("the installation did not settle between edits")
            title = f"Edit {n}"
            began = time.monotonic()
            found.retitle(booked, title)
            if not eventually(partial(arrived, found, title), 60, step=0.01):
                raise RuntimeError(f"edit {n} never reached Exchange")
            seconds.append(time.monotonic() - began)
        if not found.settled():
            raise RuntimeError("the installation did not settle after the edits")
        before, cycles = Counter(found.sim.simulator.counts), len(found.cycles)
        cpu = time.process_time()
        time.sleep(args.idle_seconds)
        cpu = time.process_time() - cpu
        idle = Counter(found.sim.simulator.counts) - before
        if found.failures:
            raise RuntimeError(f"cycles failed: {found.failures}")
        return {
            "plugin": plugin,
            "database": database,
            "median": statistics.median(seconds),
            "max": max(seconds),
            "idle_requests": sum(v for k, v in idle.items() if not k.startswith(WATCH_KINDS)),
            "idle_watch": sum(v for k, v in idle.items() if k.startswith(WATCH_KINDS)),
            "idle_cycles": len(found.cycles) - cycles,
            "idle_cpu": cpu,
            "load": os.getloadavg()[0],
        }


def arrived(found: Estate, title: str) -> bool:
    return title in found.subjects()


def print_rows(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"ROOMS edit -> Exchange calendar under SyncRunner.run(), {args.latency_ms} ms latency, "
        f"{args.edits} edits; idle {args.idle_seconds:.0f} s"
    )
    print(
        "| plugin | database | median | max | idle requests | watch's own | idle cycles | idle CPU | load "
        "| verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "failed" in r:
            print(f"| {r['plugin']} | {r['database']} | FAILED: {r['failed']} |||||||")
            continue
        verdict = "target met" if r["max"] <= TARGET_SECONDS and r["idle_requests"] == 0 else "target missed"
        print(
            f"| {r['plugin']} | {r['database']} | {r['median']:.2f} s | {r['max']:.2f} s | "
            f"{r['idle_requests']} | {r['idle_watch']} | {r['idle_cycles']} | {r['idle_cpu']:.2f} s | "
            f"{r['load']:.2f} | {verdict}"
        )


# --- Exchange 2007 pull -------------------------------------------------------------------------


def pull(args: argparse.Namespace) -> int:
    from roomsync_ews_common.account import AccountPool
    from roomsync_ews_common.testing import simulator_options
    from roomsync_exchange2007 import Exchange2007Connector
    from roomsync_exchange2007.connector import Exchange2007Options
    from roomsync_sim.testing import running_simulator

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import ews_seed

    from roomsync_ews_common.notifications import PullWatcher

    watcher_class: Any = old_pull_watcher(args.pull_before) if args.pull_before else PullWatcher
    service, password = "svc@example.org", "svc-password"
    mailboxes = [f"person{n:03d}@example.org" for n in range(args.mailboxes)]
    os.environ["ROOMSYNC_BENCH_EWS_PASSWORD"] = password
    with running_simulator("exchange2007", ews_seed(service, mailboxes, [], password), validate=False) as sim:
        options = Exchange2007Options.model_validate(
            simulator_options(
                sim.ews_url, username=service, password={"env": "ROOMSYNC_BENCH_EWS_PASSWORD"}, auth="basic"
            )
        )
        accounts = AccountPool(
            options, Exchange2007Connector.request_server_version, own_connections="watch:b"
        )
        watcher = watcher_class(accounts, "bench")
        woken: list[str] = []
        subscribed = threading.Event()

        def wake(found: list[str]) -> None:
            woken.extend(found)
            if set(mailboxes) <= set(woken):
                subscribed.set()

        watcher.watch(mailboxes, wake)
        if not subscribed.wait(300):
            print("the mailboxes were never all subscribed")
            return 1
        sim.simulator.faults.add("latency", ms=args.latency_ms)
        time.sleep(1.0)  # the round under way ends
        started, cpu = time.time(), time.process_time()
        time.sleep(args.pull_window)
        cpu = time.process_time() - cpu
        asked = [
            r for r in sim.simulator.requests.entries() if r.operation == "GetEvents" and r.started >= started
        ]
        watcher.close()
    per_minute = len(asked) / len(mailboxes) / (args.pull_window / 60)
    print(
        f"Exchange 2007 pull: {len(mailboxes)} mailboxes, {args.latency_ms} ms latency, "
        f"{args.pull_window:.0f} s window, watcher of {args.pull_before or 'this tree'}"
    )
    print(
        f"GetEvents: {len(asked)} ({per_minute:.2f} per mailbox per minute); "
        f"most in flight at once: {most_at_once(asked)}; CPU {cpu:.2f} s; load {os.getloadavg()[0]:.2f}"
    )
    return 0


def most_at_once(requests: list[Any]) -> int:
    edges = sorted([(r.started, 1) for r in requests] + [(r.finished or r.started, -1) for r in requests])
    level = most = 0
    for _, step in edges:
        level += step
        most = max(most, level)
    return most


def old_pull_watcher(revision: str) -> Any:
    """The PullWatcher of ``revision``'s notifications module, loaded beside today's."""
    path = "plugins/ews-common/src/roomsync_ews_common/notifications.py"
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:{path}"], capture_output=True, text=True, check=True
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("roomsync_ews_common_notifications_before", file.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.unlink(file.name)
    return module.PullWatcher


if __name__ == "__main__":
    sys.exit(main())

"""Cycles per second of ``roomsync worker`` against its number of pool processes (1, 2, 4).

Idle cycles of N persons (their calendars read, nothing to write), exchange2013 over HTTP to a
simulator in a child process answering ``--latency-ms`` late, PostgreSQL as the shared database,
Redis or RabbitMQ as the broker. Every person first gets one cycle (the first sync of the
mailbox); then, for each process count, one worker is started, N tasks are sent at once, and
the time from the first sent to the last logged is taken. The worker's CPU (its processes' user
and system time over the measured phase, from /proc) and the server's request count are printed
beside it, with the load average: the machine is shared, so wall time alone says little.

    .venv/bin/python benchmarks/celery_throughput.py --persons 300 --processes 1,2,4 --latency-ms 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from copy import deepcopy
from pathlib import Path

from bench_database import database_for
from roomsync_celery.app import TASK_NAME, make_app
from roomsync_celery.config import celery_config
from roomsync_celery.testing import BROKERS, Cluster, Process, configuration, cycles_logged, delete_queues

from roomsync.config import load_settings
from roomsync.domain import Person
from roomsync_sim.embedded import serve_process
from roomsync_sim.seed import DEFAULT_SEED

PASSWORD_ENV = "ROOMSYNC_BENCH_SIM_PASSWORD"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(process: Process) -> float:
    """User and system time of the worker and its pool processes so far."""
    total = 0
    for pid in [process.popen.pid, *process.children()]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def wait_for_cycles(worker: Process, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sum(1 for _ in cycles_logged([worker])) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {sum(1 for _ in cycles_logged([worker]))} of {count} cycles ran")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=300)
    parser.add_argument("--processes", default="1,2,4", help="pool processes of the worker, one run each")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--broker", choices=sorted(BROKERS), default="redis")
    parser.add_argument(
        "--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/test", help="server to use"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    persons = [f"bench{n}@example.org" for n in range(args.persons)]
    seed = deepcopy(DEFAULT_SEED)
    seed["users"] += [{"smtp": p, "name": p.split("@")[0], "password": "pw"} for p in persons]
    environment = f"bench{uuid.uuid4().hex[:6]}"
    broker = BROKERS[args.broker]
    with tempfile.TemporaryDirectory() as tmp, database_for("postgresql", args.postgresql, Path(tmp)) as db:
        directory = Path(tmp)
        with db.unit_of_work() as uow:
            for email in persons:
                uow.rooms.upsert_person(Person(email=email, environment=environment))
            uow.commit()
        with serve_process("exchange2013", seed, directory=directory, latency_ms=args.latency_ms) as sim:
            config = directory / "roomsync.toml"
            config.write_text(
                configuration(
                    database_url=db.engine.url.render_as_string(hide_password=False),
                    broker_url=broker,
                    environment=environment,
                    ews_url=sim.ews_url,
                    password_env=PASSWORD_ENV,
                    extra='[logging]\nlevel = "info"',
                    celery=f"[celery.environment_concurrency]\n{environment} = 10",
                ),
                encoding="utf-8",
            )
            settings = load_settings(config)
            app = make_app(settings, celery_config(settings))
            queue = f"roomsync.{environment}"
            env = {**os.environ, PASSWORD_ENV: "svc-password"}
            rows = []
            try:
                with Cluster(config, env, directory) as cluster:
                    for round_, processes in enumerate(["warm-up", *counts]):
                        pool = 4 if processes == "warm-up" else int(processes)
                        worker = cluster.worker(f"worker{round_}", concurrency=pool)
                        before_cpu, before_requests = cpu_seconds(worker), sum(sim.counts().values())
                        started = time.monotonic()
                        for email in persons:
                            app.send_task(TASK_NAME, args=[email, "person", "interval"], queue=queue)
                        wait_for_cycles(worker, len(persons), timeout=1800)
                        wall = time.monotonic() - started
                        cpu = cpu_seconds(worker) - before_cpu
                        requests = sum(sim.counts().values()) - before_requests
                        load = os.getloadavg()[0]
                        Cluster.stop(worker)
                        if processes != "warm-up":
                            rows.append((pool, len(persons), wall, cpu, requests, load))
            finally:
                delete_queues(broker, ["roomsync", queue])
    print(
        f"\nidle cycles of {args.persons} persons, exchange2013, {args.latency_ms} ms latency, "
        f"broker {args.broker}, PostgreSQL"
    )
    print(
        f"{'processes':>9} {'cycles':>6} {'wall s':>7} {'cycles/s':>8} {'CPU s':>6} {'CPU ms/cycle':>12} "
        f"{'requests':>8} {'load':>5}"
    )
    for pool, cycles, wall, cpu, requests, load in rows:
        print(
            f"{pool:>9} {cycles:>6} {wall:>7.1f} {cycles / wall:>8.1f} {cpu:>6.1f} "
            f"{1000 * cpu / cycles:>12.1f} {requests:>8} {load:>5.1f}"
        )
    print(f"cores: {os.cpu_count()}; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()

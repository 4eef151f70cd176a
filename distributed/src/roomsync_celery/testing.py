"""Running workers and schedulers as real processes, for tests and benchmarks.

    url = broker_or_skip("redis")                    # skipped (failed under CI) without Redis
    with Cluster(config_file, env) as cluster:
        cluster.worker("w1", concurrency=2)          # ``roomsync worker``, waited for until ready
        cluster.scheduler("a")                       # ``roomsync scheduler``
        cluster.wait_for(cluster.processes["a"], "scheduler active")

Each process writes its standard error to a file of its own (``<name>.err``), read by
:meth:`Process.text`; every process still running when the block ends is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

BROKERS = {
    "redis": os.environ.get("ROOMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "rabbitmq": os.environ.get("ROOMSYNC_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}


def broker_problem(url: str) -> str | None:
    """Why the broker at ``url`` cannot be used, or None when it answers."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def broker_or_skip(kind: str) -> str:
    """The test broker of ``kind``: skipped with the reason when it is not running, but failed
    under CI (``CI`` set), where ``.ci/run`` starts it."""
    import pytest

    url = BROKERS[kind]
    problem = broker_problem(url)
    if problem is not None:
        shown = url.split("@")[-1]
        if os.environ.get("CI"):
            pytest.fail(f"{kind} at {shown} does not answer (.ci/run starts it under CI): {problem}")
        pytest.skip(f"{kind} at {shown} does not answer: {problem}")
    return url


def delete_queues(url: str, names: Sequence[str]) -> None:
    """Remove the queues a test made (RabbitMQ keeps durable queues; Redis drops empty lists)."""
    from kombu import Connection

    with Connection(url, connect_timeout=3) as connection:
        channel = connection.default_channel
        for name in names:
            with contextlib.suppress(Exception):  # already gone
                channel.queue_delete(name)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    err: Path

    def text(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace") if self.err.exists() else ""

    def json_lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def children(self) -> list[int]:
        """The pids of this process's children (a prefork worker's pool processes)."""
        try:
            text = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Cluster:
    config: Path
    env: dict[str, str]
    directory: Path | None = None
    processes: dict[str, Process] = field(default_factory=dict)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):  # the group: a worker's pool processes too
                os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait(30)

    def start(self, name: str, *args: str) -> Process:
        """``roomsync --config <the cluster's> ARGS``."""
        return self.spawn(name, ["--config", str(self.config), *args])

    def spawn(self, name: str, args: Sequence[str]) -> Process:
        """``roomsync ARGS`` exactly, its standard error into ``<name>.err``."""
        directory = self.directory or self.config.parent
        err = directory / f"{name}.err"
        command = [sys.executable, "-m", "roomsync", *args]
        with err.open("wb") as errors:
            popen = subprocess.Popen(
                command, env=self.env, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True
            )
        process = self.processes[name] = Process(name, popen, err)
        return process

    def worker(self, name: str, *args: str, concurrency: int = 1, wait: bool = True) -> Process:
        process = self.start(name, "worker", "-c", str(concurrency), "-n", f"{name}@%h", *args)
        if wait:
            self.wait_for(process, "roomsync worker ready")
        return process

    def scheduler(self, name: str, *args: str) -> Process:
        return self.start(name, "scheduler", *args)

    @staticmethod
    def wait_for(process: Process, text: str, timeout: float = 90, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while process.text().count(text) < count:
            if not process.alive():
                raise AssertionError(f"{process.name} ended ({process.popen.returncode}):\n{process.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{process.name} never said {text!r}:\n{process.text()[-3000:]}")
            time.sleep(0.05)

    @staticmethod
    def stop(process: Process, timeout: float = 60) -> int:
        """SIGTERM, then its exit code."""
        if process.alive():
            process.popen.send_signal(signal.SIGTERM)
        return process.popen.wait(timeout)


def configuration(
    *,
    database_url: str,
    broker_url: str,
    environment: str,
    ews_url: str,
    password_env: str,
    extra: str = "",
    celery: str = "",
) -> str:
    """A ``roomsync.toml`` for an exchange2013 environment over HTTP to a simulator."""
    return f"""
data_dir = "data"
database_url = "{database_url}"
{extra}
[celery]
broker_url = "{broker_url}"
{celery}
[environments.{environment}]
plugin = "exchange2013"
[environments.{environment}.options]
url = "{ews_url}"
allow_http = true
username = "svc@example.org"
password = {{ env = "{password_env}" }}
auth = "basic"
access = "impersonation"
timezone = "Europe/Berlin"
"""


def cycles_logged(processes: Sequence[Process]) -> Iterator[dict[str, Any]]:
    """The ``task cycle`` lines the workers logged (``roomsync.celery``, level info)."""
    for process in processes:
        for line in process.json_lines():
            if str(line.get("message", "")).startswith("task cycle of "):
                yield {**line, "process": process.name}


@contextlib.contextmanager
def in_memory_scheduler(settings: Any, persons: Sequence[Any]) -> Iterator[Any]:
    """A scheduler beside a real Celery worker in a thread on Celery's in-memory broker, the
    database upgraded and holding ``persons``: for tests of one process's tasks."""
    from celery.contrib.testing.worker import start_worker

    from roomsync.engine.runner import SyncRunner
    from roomsync.storage import Database
    from roomsync_celery import runtime
    from roomsync_celery.app import make_app
    from roomsync_celery.config import CeleryConfig
    from roomsync_celery.marks import Marks
    from roomsync_celery.scheduler import Scheduler

    config = CeleryConfig.model_validate(settings.celery)  # memory:// is for tests only
    database = Database(settings.resolved_database_url())
    database.upgrade()
    Marks(database.engine).ensure()
    with database.unit_of_work() as uow:
        for person in persons:
            uow.rooms.upsert_person(person)
        uow.commit()
    runtime.configure(settings, config)
    app = make_app(settings, config)
    # The in-memory transport is polled, once a second by default: a task starts as soon as a
    # real broker's would, well within the wakes' debounce.
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "polling_interval": 0.01}
    try:
        with start_worker(app, perform_ping_check=False, queues=["roomsync", "roomsync.local"]):
            yield Scheduler(settings, config, app, database, SyncRunner(settings, database))
    finally:
        runtime.current().close()
        database.dispose()

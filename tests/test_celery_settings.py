"""roomsync-celery's own part: the ``[celery]`` table's check, SQLite refused for many hosts, the
broker's password never shown, the queued marks and the scheduler's lock (SQLite, Celery's
in-memory broker: a real application, no server needed)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from kombu import Connection
from roomsync_celery.app import make_app
from roomsync_celery.config import CeleryConfig
from roomsync_celery.marks import LOCK, QUEUED, Marks
from roomsync_celery.scheduler import Scheduler
from roomsync_celery.testing import broker_or_skip

from roomsync.cli.main import cli
from roomsync.config import settings_from_mapping
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.testkit.databases import empty_database_url

ROOMSYNC = Path(sys.executable).with_name("roomsync")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config_check_names_every_wrong_key_of_the_celery_table(tmp_path: Path) -> None:
    config = write(
        tmp_path / "roomsync.toml",
        """
[celery]
broker_url = "kafka://127.0.0.1:9092"
scheduler_lease_seconds = -1
colour = "blue"
[celery.environment_concurrency]
nowhere = 3
""",
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "config", "check"])
    assert result.exit_code == 1, result.output
    assert "celery.scheduler_lease_seconds: Input should be greater than 0" in result.output
    assert "celery.colour: Extra inputs are not permitted" in result.output
    config.write_text(
        '[celery]\nbroker_url = "kafka://127.0.0.1:9092"\n[celery.environment_concurrency]\nnowhere = 3\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "config", "check"])
    assert result.exit_code == 1, result.output
    assert "celery.broker_url: 'kafka' is not a supported scheme; use redis:// or amqp://" in result.output
    assert (
        "celery.environment_concurrency: names environments that are not configured: nowhere" in result.output
    )


def test_a_worker_refuses_sqlite_unless_every_process_is_on_one_host(tmp_path: Path) -> None:
    config = write(tmp_path / "roomsync.toml", '[celery]\nbroker_url = "redis://127.0.0.1:6379/0"\n')
    refused = subprocess.run(
        [str(ROOMSYNC), "--config", str(config), "worker"], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert "database_url: workers on several hosts need a database they share" in refused.stderr
    assert "[celery] single_host = true" in refused.stderr and "Traceback" not in refused.stderr


def test_the_broker_password_is_never_shown(tmp_path: Path) -> None:
    url = broker_or_skip("rabbitmq")
    password = url.split("@")[0].rsplit(":", 1)[1]
    config = write(
        tmp_path / "roomsync.toml", '[celery]\nbroker_url = { env = "TEST_BROKER" }\nsingle_host = true\n'
    )
    database = Database(f"sqlite:///{tmp_path / 'roomsync-data' / 'roomsync.db'}")
    database.upgrade()
    database.dispose()
    env = {"TEST_BROKER": url, "PATH": "/usr/bin:/bin"}
    worker = subprocess.Popen(
        [str(ROOMSYNC), "--config", str(config), "-v", "worker", "-Q", f"roomsync.pw{time.time_ns()}"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        assert worker.stderr is not None
        for line in worker.stderr:
            lines.append(line)
            if "roomsync worker ready" in line:
                break
        worker.terminate()
        out, err = worker.communicate(timeout=60)
    finally:
        worker.kill()
    text = "".join(lines) + err + out
    assert "roomsync worker ready: broker amqp://guest:***@127.0.0.1:5672" in text
    assert f":{password}@" not in text and worker.returncode == 0


def test_a_claimed_mark_is_not_claimed_again_until_released_or_expired(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'marks.db'}")
    marks = Marks(database.engine)
    marks.ensure()
    marks.ensure()  # every process may make the table
    assert marks.claim(["queued:a", "queued:b", "queued:a"], "s1", 60) == {"queued:a", "queued:b"}
    assert marks.claim(["queued:a", "queued:c"], "s2", 60) == {"queued:c"}
    assert marks.claim(["queued:a"], "s1", 60) == set()  # not renewed by its own holder either
    marks.release("queued:a")
    assert marks.claim(["queued:a"], "s2", 0.2) == {"queued:a"}
    time.sleep(0.3)
    assert marks.queued() == {"b", "c"}
    assert marks.claim(["queued:a"], "s1", 60) == {"queued:a"}  # expired
    # A lock: renewed by its holder, refused to another until it expires or is released.
    assert marks.hold(LOCK, "s1", 0.3) and marks.hold(LOCK, "s1", 0.3)
    assert not marks.hold(LOCK, "s2", 0.3)
    marks.release(LOCK, "s2")  # not the holder: nothing happens
    assert not marks.hold(LOCK, "s2", 0.3)
    time.sleep(0.4)
    assert marks.hold(LOCK, "s2", 10)
    assert marks.get(LOCK) is not None and marks.get(LOCK).holder == "s2"  # type: ignore[union-attr]
    database.dispose()


@pytest.fixture
def memory_broker(tmp_path: Path) -> tuple[Scheduler, Connection]:
    settings = settings_from_mapping(
        {
            "database_url": f"sqlite:///{tmp_path / 'roomsync.db'}",
            "celery": {"broker_url": "memory://", "single_host": True, "scheduler_lease_seconds": 1},
        }
    )
    # Celery's in-process broker, which a configuration may not name (no worker would see it).
    config = CeleryConfig.model_validate(settings.celery)
    database = Database(settings.resolved_database_url())
    database.upgrade()
    Marks(database.engine).ensure()
    app = make_app(settings, config)
    return Scheduler(settings, config, app, database, SyncRunner(settings, database)), app.connection()


def waiting(connection: Connection, queue: str) -> list[list[object]]:
    """The arguments of the tasks waiting in ``queue`` (taken out of it)."""
    found = []
    with connection.SimpleQueue(queue) as simple:
        while True:
            try:
                message = simple.get(block=False)
            except simple.Empty:
                return found
            found.append(message.payload[0] if isinstance(message.payload, list) else message.payload)
            message.ack()


def test_a_mailbox_whose_task_waits_gets_no_second_one(memory_broker: tuple[Scheduler, Connection]) -> None:
    scheduler, connection = memory_broker
    last: dict[str, float] = {}
    work = [("a@example.org", "person", "onprem"), ("b@example.org", "person", None)]
    assert scheduler.enqueue(work, "interval", last) == 2
    assert scheduler.enqueue(work, "wake", last) == 0  # both still wait
    assert set(last) == {"a@example.org", "b@example.org"}
    scheduler.marks.release(QUEUED + "a@example.org")  # what the task does when it starts
    assert scheduler.enqueue(work, "wake", last) == 1
    assert waiting(connection, "roomsync.onprem") == [
        ["a@example.org", "person", "interval"],
        ["a@example.org", "person", "wake"],
    ]
    assert waiting(connection, "roomsync") == [["b@example.org", "person", "interval"]]


def test_one_scheduler_schedules_and_the_other_takes_over_when_it_stops(
    memory_broker: tuple[Scheduler, Connection],
) -> None:
    first, _ = memory_broker
    second = Scheduler(first.settings, first.config, first.app, first.database, first.runner)
    said: dict[str, list[str]] = {"first": [], "second": []}
    first.say, second.say = said["first"].append, said["second"].append
    stops = {"first": threading.Event(), "second": threading.Event()}
    threads = {
        "first": threading.Thread(target=first.run, args=(stops["first"],)),
        "second": threading.Thread(target=second.run, args=(stops["second"],)),
    }
    threads["first"].start()
    deadline = time.monotonic() + 30
    while not said["first"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    threads["second"].start()
    while not said["second"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert said["first"][0].startswith("scheduler active")
    assert said["second"][0].startswith("scheduler standing by: the lock is held by host")
    stops["first"].set()
    threads["first"].join()  # gives the lock back: the standby needs not wait for its expiry
    while len(said["second"]) < 2:
        assert time.monotonic() < deadline, said
        time.sleep(0.01)
    assert said["second"][1].startswith("scheduler active")
    stops["second"].set()
    threads["second"].join()
    assert first.marks.get(LOCK) is None


@pytest.mark.postgresql
def test_processes_starting_together_make_the_marks_table_once(tmp_path: Path) -> None:
    """Workers started at once each make the table (two CREATE TABLE of one name race in PostgreSQL)."""
    with empty_database_url("postgresql", tmp_path) as url:
        databases = [Database(url) for _ in range(8)]
        barrier = threading.Barrier(len(databases))
        failures: list[BaseException] = []

        def ensure(database: Database) -> None:
            barrier.wait()
            try:
                Marks(database.engine).ensure()
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=ensure, args=(database,)) for database in databases]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert failures == []
            assert Marks(databases[0].engine).claim(["queued:a"], "s", 60) == {"queued:a"}
        finally:
            for database in databases:
                database.dispose()

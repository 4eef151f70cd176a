"""What a worker process keeps between tasks: the settings, the database and one runner.

The runner (connectors with their sessions, the stamps) is made once per process, when its
first task arrives: after the fork of Celery's pool, so no connection is shared between
processes. Its cycles share the environments' budgets with every other process on the database.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

from roomsync.config import Settings
from roomsync.engine.budgets import SharedBudgets
from roomsync.engine.runner import SyncRunner
from roomsync.storage.database import Database
from roomsync.storage.leases import Holder
from roomsync_celery.config import CeleryConfig, shared_database_url
from roomsync_celery.marks import Marks

log = logging.getLogger("roomsync.celery")


@dataclass
class Runtime:
    settings: Settings
    config: CeleryConfig
    pid: int = field(default_factory=os.getpid)
    _database: Database | None = None
    _runner: SyncRunner | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def database(self) -> Database:
        with self._lock:
            if self._database is None:
                self._database = Database(shared_database_url(self.settings, self.config))
            return self._database

    def marks(self) -> Marks:
        return Marks(self.database().engine)

    def runner(self) -> SyncRunner:
        database = self.database()
        with self._lock:
            if self._runner is None:
                self._runner = build_runner(self.settings, self.config, database)
            return self._runner

    def close(self) -> None:
        with self._lock:
            if self._runner is not None:
                self._runner.close()
            if self._database is not None:
                self._database.dispose()
            self._runner = self._database = None


def build_runner(settings: Settings, config: CeleryConfig, database: Database) -> SyncRunner:
    """A runner whose cycles hold a slot of their environment's budget shared by all workers."""
    made: list[SyncRunner] = []

    def limit_of(environment: str) -> int:
        if environment in config.environment_concurrency:
            return config.environment_concurrency[environment]
        return made[0].host(environment).capabilities().max_concurrency

    budgets = SharedBudgets(database, limit_of, Holder.of_this_process())
    made.append(SyncRunner(settings, database, budgets=budgets))
    return made[0]


_current: Runtime | None = None


def configure(settings: Settings, config: CeleryConfig) -> None:
    """Set the process's settings (the ``roomsync worker`` command, before the pool forks)."""
    global _current
    _current = Runtime(settings, config)


def current() -> Runtime:
    """This process's runtime: the parent's settings, with a database and runner of its own."""
    global _current
    if _current is None:
        from roomsync.config import config_path, load_settings
        from roomsync_celery.config import celery_config

        settings = load_settings(config_path(None))
        _current = Runtime(settings, celery_config(settings))
    if _current.pid != os.getpid():  # forked: the parent's connections are not ours
        _current = Runtime(_current.settings, _current.config)
    return _current

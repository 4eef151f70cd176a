"""What the web service runs on: the configuration, the database, a runner, and optionally the
daemon's cycles in the same process.

``roomsync serve --run`` runs the daemon's cycles on a thread beside the web server (one process
to deploy; Graph's webhooks then arrive on the web service itself). Without ``--run`` the service
serves beside a separate ``roomsync run``; either way a person's cycle holds the mailbox's lease,
so a cycle the API triggers never runs at the same time as the daemon's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from roomsync.config import Settings
from roomsync.domain import Person
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.storage.database import Database
from roomsync_web.config import WebConfig
from roomsync_web.metrics import Metrics
from roomsync_web.tokens import TokenVerifier

log = logging.getLogger("roomsync.web")
RECENT_REPORTS = 200


class WebService:
    def __init__(
        self,
        settings: Settings,
        config: WebConfig,
        database: Database,
        run_daemon: bool = False,
        share: bool = False,
    ) -> None:
        self.settings = settings
        self.config = config
        self.database = database
        self.runner = SyncRunner(settings, database)
        self.verifier = TokenVerifier(config.oidc) if config.oidc else None
        self.metrics = Metrics(self)
        self.run_daemon = run_daemon
        self.share = share
        self.started = time.monotonic()
        self.recent: deque[CycleReport] = deque(maxlen=RECENT_REPORTS)
        self.last_cycle_at: datetime | None = None
        self._stop = threading.Event()
        self._daemon: threading.Thread | None = None
        self.watching: dict[str, int] = {}
        if run_daemon:
            self._receive_webhooks()

    # --- the daemon in this process ------------------------------------------------------------

    def _receive_webhooks(self) -> None:
        """Connectors hand their webhooks to this service instead of opening ports of their own."""
        for environment in self.settings.environments:
            try:
                self.runner.host(environment).connector.webhooks_elsewhere = True
            except Exception as exc:  # the environment's error shows in its persons' cycles
                log.warning("environment %s cannot be opened: %s", environment, exc)

    @contextmanager
    def registered(self) -> Iterator[None]:
        """With ``run_daemon``: this process as a daemon of the database while the block runs;
        refused at once (before anything serves) while another daemon works on it, unless ``share``."""
        if not self.run_daemon:
            yield
            return
        with self.runner.registered(self.share):
            yield

    def start(self) -> None:
        if self.run_daemon and self._daemon is None:
            self._daemon = threading.Thread(target=self._run, name="roomsync-daemon", daemon=True)
            self._daemon.start()

    def _run(self) -> None:
        try:
            self.runner.run(self._stop, self.finished, self._announce)
        except Exception:
            log.exception("the daemon's cycles stopped")

    def _announce(self, environment: str, watching: bool, mailboxes: int) -> None:
        if watching:
            self.watching[environment] = mailboxes
        else:
            self.watching.pop(environment, None)

    def finished(self, person: Person, report: CycleReport) -> None:
        """A cycle of this process ended (the daemon's or one the API asked for)."""
        self.recent.appendleft(report)
        self.last_cycle_at = datetime.now(UTC)
        self.metrics.cycle(report)

    def changed(self, *organizers: str) -> None:
        """A reservation of these organizers changed through the API: with the daemon in this
        process, their cycles run at once, before its ROOMS change feed would read the journal;
        a daemon in another process (``roomsync run``) learns of the change from its own feed."""
        self.runner.wake([o for o in organizers if o])

    def sync_person(self, person: Person) -> CycleReport:
        report = self.runner.sync_person(person)
        self.finished(person, report)
        return report

    def stop(self) -> None:
        self._stop.set()
        if self._daemon is not None:
            self._daemon.join(timeout=30)
        self.runner.close()
        self.database.dispose()

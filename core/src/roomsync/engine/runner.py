"""The runner: every assigned person's cycle, once or as a daemon.

Each person is synchronised through the connector of the environment they are assigned to, in a
unit of work of their own, so one failing person never rolls back or blocks another. As a daemon
it also listens to connectors that watch their mailboxes and gives a woken person a cycle at
once, keeping the full cycle every interval as the safety net.

Cycles of different mailboxes run at once in a pool of threads (``[sync] max_parallel_cycles``),
each environment's within its connector's ``max_concurrency`` (:mod:`roomsync.engine.dispatch`,
:mod:`roomsync.engine.budgets`); an environment that throttles pauses alone.

Every cycle holds its mailbox's lease in the database (:mod:`roomsync.storage.leases`), so two
runners (daemons, ``sync`` commands, later workers) never run one person's cycle at the same
time: a cycle whose mailbox another runner is synchronising is skipped, not waited for, and the
person gets the next one.

A paused person (``roomsync persons pause``) gets no cycle at all, woken or not, until resumed;
their sync state is kept, so the first cycle after the pause catches up incrementally.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

import pluggy

from roomsync.config import Settings
from roomsync.connector.base import Wake
from roomsync.connector.host import ConnectorHost
from roomsync.domain import Person, Room
from roomsync.engine.apply import OnBatch, now
from roomsync.engine.budgets import Backoff, Budgets, LocalBudgets, hinted_seconds, throttled
from roomsync.engine.cycle import CycleContext, deliver, sync_mailbox
from roomsync.engine.dispatch import Dispatcher, Job
from roomsync.engine.heartbeat import Renewals, heartbeat
from roomsync.engine.report import CycleReport
from roomsync.engine.room_cycle import RoomCycleContext, sync_room
from roomsync.engine.wakes import WakeQueue
from roomsync.engine.watching import Announce, Watches
from roomsync.errors import (
    Fault,
    MassDeletionRefused,
    NotFound,
    PersonNotAssigned,
    RoomsyncError,
    UnknownEnvironment,
    fault_of,
)
from roomsync.notify.message import Notification, NotificationKind
from roomsync.plugins import extension_manager, open_connector
from roomsync.stamps import StampCodec
from roomsync.status import paused_text
from roomsync.storage.database import Database
from roomsync.storage.leases import LEASE_SECONDS, Holder, Lease
from roomsync.storage.protocols import LogEntry, UnitOfWork

log = logging.getLogger("roomsync.runner")
# A failing sync is told once, when it has failed this many cycles in a row: to the organizer in
# plain words, to the administrators with the detail.
NOTIFY_AFTER_FAILURES = 3
# Wakes of one mailbox within this many seconds become one cycle (an item and its folder, a batch).
WAKE_DEBOUNCE_SECONDS = 0.5
LOGGED_MAILBOXES = 20  # of one wake, in the log line
# A cycle writing in another person's mailbox waits this long for that mailbox's own cycle.
VISIT_WAIT_SECONDS = 15.0
WOKEN_ONE_BY_ONE = 50  # more woken mailboxes at once are looked up with one read of all

Progress = Callable[[Person, CycleReport], None]
BatchesOf = Callable[[Person], OnBatch | None]
# Database connections a cycle may hold at once: its unit of work, and a short one beside it
# (its lease's renewal, a look-up of another mailbox's person).
CONNECTIONS_PER_CYCLE = 2


class SyncRunner:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        pm: pluggy.PluginManager | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        """``budgets``: the environments' concurrency slots; by default this process's own
        (:class:`~roomsync.engine.budgets.LocalBudgets`), :class:`~roomsync.engine.budgets.SharedBudgets`
        where several processes cycle on one database."""
        self.settings = settings
        self.database = database
        database.ensure_pool(CONNECTIONS_PER_CYCLE * settings.sync.max_parallel_cycles + 2)
        self.pm = pm or extension_manager()
        self._hosts: dict[str, ConnectorHost] = {}
        self._lock = threading.Lock()
        self._last_cycle: dict[str, float] = {}  # monotonic time of each person's last cycle
        self._person_locks: dict[str, threading.Lock] = {}
        self._stamps: StampCodec | None = None
        # (environment, fault) the administrators know of: a fault of a whole environment is told
        # once, not once per person, until a cycle in that environment succeeds again.
        self._faults_told: set[tuple[str, Fault]] = set()
        self.holder = Holder.of_this_process()  # this runner, as the holder of its leases
        self._wakes: WakeQueue | None = None  # while run() runs
        self.lease_seconds = LEASE_SECONDS
        self.budgets: Budgets = budgets or LocalBudgets(self.concurrency_of)
        self.backoff = Backoff()
        self._pool: ThreadPoolExecutor | None = None
        self._dispatcher: Dispatcher | None = None
        self._leases_renewed: Renewals | None = None  # once a lease is first held

    # --- connectors --------------------------------------------------------------------------

    def host(self, environment: str) -> ConnectorHost:
        with self._lock:
            if environment not in self._hosts:
                config = self.settings.environments.get(environment)
                if config is None:
                    raise UnknownEnvironment(environment, list(self.settings.environments))
                source = str(self.settings.source) if self.settings.source else None
                host = open_connector(environment, config, source, self.pm)
                host.stamps = self.stamps()
                self._hosts[environment] = host
            return self._hosts[environment]

    def concurrency_of(self, environment: str) -> int:
        """Cycles of the environment that may run at once: its connector's ``max_concurrency``
        (1 for an environment that cannot be opened; its cycles fail alike)."""
        try:
            return self.host(environment).capabilities().max_concurrency
        except Exception:
            return 1

    def dispatcher(self) -> Dispatcher:
        """The pool the cycles run in, made on first use and ended by :meth:`close`."""
        with self._lock:
            if self._dispatcher is None:
                workers = self.settings.sync.max_parallel_cycles
                self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cycle")
                self._dispatcher = Dispatcher(self._pool, workers, self.concurrency_of, self.backoff)
            return self._dispatcher

    def hosts(self) -> dict[str, ConnectorHost]:
        """The environments opened so far, by name."""
        with self._lock:
            return dict(self._hosts)

    def stamps(self) -> StampCodec:
        """This installation's stamps, read from the database once."""
        if self._stamps is None:
            self._stamps = StampCodec(self.database.installation())
        return self._stamps

    def host_for_person(self, person: Person) -> ConnectorHost:
        if not person.environment:
            raise PersonNotAssigned(person.email)
        return self.host(person.environment)

    def host_for_mailbox(self, mailbox: str) -> ConnectorHost | None:
        with self.database.unit_of_work() as uow:
            person = uow.rooms.get_person(mailbox)
        if person is None or not person.environment:
            return None
        try:
            return self.host(person.environment)
        except RoomsyncError:
            return None

    def syncable(self, email: str) -> bool:
        with self.database.unit_of_work() as uow:
            person = uow.rooms.get_person(email)
        return bool(person and person.environment and person.sync_enabled)

    def close(self) -> None:
        with self._lock:
            pool, self._pool, self._dispatcher = self._pool, None, None
            renewals, self._leases_renewed = self._leases_renewed, None
        if pool is not None:
            pool.shutdown(wait=True)
        if renewals is not None:
            renewals.close()
        for host in self._hosts.values():
            try:
                host.close()
            except Exception:  # closing must not hide the result of the work
                log.exception("closing environment %s failed", host.environment)
        self._hosts.clear()
        self._stamps = None  # read again: the database may have been given a new identity

    # --- cycles ------------------------------------------------------------------------------

    def persons(self, only: Sequence[str] | None = None) -> list[Person]:
        with self.database.unit_of_work() as uow:
            if only:
                found = []
                for email in only:
                    person = uow.rooms.get_person(email)
                    if person is None:
                        raise NotFound(
                            f"unknown person {email}; import persons with 'roomsync persons import'"
                        )
                    found.append(person)
                return found
            return [p for p in uow.rooms.list_persons() if p.sync_enabled and p.paused_at is None]

    def sync_once(
        self,
        only: Sequence[str] | None = None,
        allow_mass_delete: bool = False,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> list[CycleReport]:
        return self.sync_persons(self.persons(only), allow_mass_delete, progress, stop)

    def sync_persons(
        self,
        persons: Sequence[Person],
        allow_mass_delete: bool = False,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        batches: BatchesOf | None = None,
    ) -> list[CycleReport]:
        """A cycle of each person, many at once (:mod:`roomsync.engine.dispatch`); the reports
        in the order of ``persons``, of those whose cycle ran before ``stop``.

        ``progress`` hears each finished cycle in this thread, in the order they finish;
        ``batches`` gives a person's cycle its ``on_batch``.
        """
        reports: dict[int, CycleReport] = {}

        def job(i: int, person: Person) -> Job:
            def run() -> CycleReport:
                on_batch = batches(person) if batches is not None else None
                return self.sync_person(person, allow_mass_delete, on_batch)

            def done(report: CycleReport) -> None:
                reports[i] = report
                if progress is not None:
                    progress(person, report)

            return Job(person.email, person.environment, run, done)

        self.dispatcher().run([job(i, p) for i, p in enumerate(persons)], stop)
        return [reports[i] for i in sorted(reports)]

    def sync_person(
        self, person: Person, allow_mass_delete: bool = False, on_batch: OnBatch | None = None
    ) -> CycleReport:
        """One cycle of ``person``; a second call for the same person waits for the first.

        While another runner holds the mailbox's lease, or the person is paused, the cycle is
        skipped: the report says why (``skipped``) and no ``roomsync_cycle_finished`` is called.
        ``on_batch`` hears (entries written, entries to write) after every batch the cycle writes.
        """
        with self._lock:
            person_lock = self._person_locks.setdefault(person.email, threading.Lock())
        with person_lock:
            return self._sync_person(person, allow_mass_delete, on_batch, forget=False)

    # --- rooms ---------------------------------------------------------------------------------

    def rooms(self, only: Sequence[str] | None = None) -> list[Room]:
        """The rooms whose calendars are read: every active room, or those named in ``only``."""
        with self.database.unit_of_work() as uow:
            known = {room.mailbox: room for room in uow.rooms.list_rooms()}
        if only:
            found = []
            for mailbox in only:
                room = known.get(mailbox.strip().lower())
                if room is None:
                    raise NotFound(
                        f"unknown room {mailbox}; add it with 'roomsync rooms add' or 'rooms import'"
                    )
                found.append(room)
            return found
        return [room for room in known.values() if room.active]

    def room_environment(self, room: Room) -> str | None:
        """The environment holding the room's mailbox: its own, else the first configured."""
        return room.environment or next(iter(self.settings.environments), None)

    def sync_rooms_once(
        self,
        only: Sequence[str] | None = None,
        allow_mass_delete: bool = False,
        progress: Callable[[Room, CycleReport], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[CycleReport]:
        """A cycle of each room's calendar, many at once as :meth:`sync_persons`."""
        rooms = self.rooms(only)
        reports: dict[int, CycleReport] = {}

        def job(i: int, room: Room) -> Job:
            def done(report: CycleReport) -> None:
                reports[i] = report
                if progress is not None:
                    progress(room, report)

            return Job(
                room.mailbox,
                self.room_environment(room),
                lambda: self.sync_room(room, allow_mass_delete),
                done,
            )

        self.dispatcher().run([job(i, r) for i, r in enumerate(rooms)], stop)
        return [reports[i] for i in sorted(reports)]

    def sync_room(self, room: Room, allow_mass_delete: bool = False) -> CycleReport:
        """One cycle of the room's calendar (:mod:`roomsync.engine.room_cycle`), under its mailbox's
        lease; a failure is recorded on the room's mailbox state and never raised."""
        with self._lock:
            room_lock = self._person_locks.setdefault(room.mailbox, threading.Lock())
        started = now()
        environment = self.room_environment(room)
        with room_lock:
            try:
                with self._mailbox_lease(room.mailbox) as other:
                    if other is not None:
                        return self._skipped_room(room, environment, started, other)
                    if environment is None:
                        raise UnknownEnvironment(
                            room.environment or "(none)", list(self.settings.environments)
                        )
                    host = self.host(environment)
                    with self.budgets.slot(environment), self.database.unit_of_work() as uow:
                        ctx = RoomCycleContext(
                            limits=self.settings.sync,
                            pm=self.pm,
                            language=self.settings.notify.language,
                            allow_mass_delete=allow_mass_delete,
                        )
                        report = sync_room(uow, host, room, ctx)
            except Exception as exc:  # one room's failure is recorded, never propagated
                self._throttled(environment, exc)
                if not isinstance(exc, RoomsyncError):
                    log.exception("sync of room %s failed unexpectedly", room.mailbox)
                report = CycleReport(
                    mailbox=room.mailbox,
                    environment=environment,
                    started=started,
                    finished=now(),
                    ok=False,
                    error=str(exc) if isinstance(exc, RoomsyncError) else f"{type(exc).__name__}: {exc}",
                    kind="room",
                )
                self._record_room_failure(room, report, fault_of(exc))
                self.pm.hook.roomsync_cycle_finished(report=report)
                return report
        if environment is not None:
            self.backoff.succeeded(environment)
        log.info(
            "cycle of room %s: %s",
            room.mailbox,
            report.summary(),
            extra={"mailbox": room.mailbox, "environment": environment, "seconds": report.seconds},
        )
        self.pm.hook.roomsync_cycle_finished(report=report)
        return report

    def _skipped_room(
        self, room: Room, environment: str | None, started: datetime, other: Lease
    ) -> CycleReport:
        why = f"in a cycle of another runner ({other.holder.describe()})"
        log.info("cycle of room %s skipped: %s", room.mailbox, why, extra={"mailbox": room.mailbox})
        return CycleReport(
            mailbox=room.mailbox, environment=environment, started=started, finished=now(), skipped=why
        )

    def _record_room_failure(self, room: Room, report: CycleReport, fault: Fault) -> None:
        failures = self._failed(room.mailbox, report.environment, report, fault)
        if failures == NOTIFY_AFTER_FAILURES:
            facts = {
                "fault": fault.value,
                "person": room.mailbox,
                "environment": report.environment or "(none)",
                "failures": failures,
                "detail": f"room {room.name}: {report.error}",
            }
            deliver(self.pm, Notification(kind=NotificationKind.FAULT, facts=facts))

    def resync_person(
        self, person: Person, allow_mass_delete: bool = False, on_batch: OnBatch | None = None
    ) -> CycleReport:
        """Forget what the sync knows of ``person``'s mailbox, then one cycle that reads it all again.

        The forgetting (:meth:`~roomsync.storage.protocols.SyncStore.forget_mailbox`) and the
        cycle share the mailbox's lease and one unit of work, so they never run beside another
        runner's cycle of the mailbox, and a cycle that fails before it wrote anything leaves the
        old state as it was. Entries are found again by their stamps: none is created twice and
        none deleted. A mailbox in which none of its linked entries can be found is refused
        (:class:`~roomsync.errors.MassDeletionRefused`) unless ``allow_mass_delete``: writing them
        all anew would send every invitation again.
        """
        with self._lock:
            person_lock = self._person_locks.setdefault(person.email, threading.Lock())
        with person_lock:
            return self._sync_person(person, allow_mass_delete, on_batch, forget=True)

    def _sync_person(
        self, person: Person, allow_mass_delete: bool, on_batch: OnBatch | None, forget: bool
    ) -> CycleReport:
        started = now()
        ctx = CycleContext(
            limits=self.settings.sync,
            pm=self.pm,
            host_for=self.host_for_mailbox,
            syncable=self.syncable,
            allow_mass_delete=allow_mass_delete,
            on_batch=on_batch,
            visit=self.visiting,
        )
        try:
            with self._mailbox_lease(person.email) as other:
                if other is not None:
                    return self._skipped(person, started, other)
                try:
                    host = self.host_for_person(person)
                except Exception:  # no environment, or one that does not open: paused goes first
                    with self.database.unit_of_work() as uow:
                        paused = _paused(uow, person)
                    if paused is not None:
                        return self._skipped(person, started, paused)
                    raise
                with self.budgets.slot(host.environment), self.database.unit_of_work() as uow:
                    paused = _paused(uow, person)
                    if paused is not None:
                        return self._skipped(person, started, paused)
                    if forget:
                        self._forget(uow, host, person, allow_mass_delete)
                    report = sync_mailbox(uow, host, person, ctx)
        except Exception as exc:  # one person's failure is recorded, never propagated
            self._throttled(person.environment, exc)
            if not isinstance(exc, RoomsyncError):
                log.exception("sync of %s failed unexpectedly", person.email)
            report = CycleReport(
                mailbox=person.email,
                environment=person.environment,
                started=started,
                finished=now(),
                ok=False,
                error=str(exc) if isinstance(exc, RoomsyncError) else f"{type(exc).__name__}: {exc}",
            )
            self._record_failure(person, report, fault_of(exc))
        if report.ok:
            if report.environment is not None and report.skipped is None:
                self.backoff.succeeded(report.environment)
            with self._lock:
                self._faults_told = {told for told in self._faults_told if told[0] != report.environment}
            log.info(
                "cycle of %s: %s",
                report.mailbox,
                report.summary(),
                extra={
                    "mailbox": report.mailbox,
                    "environment": report.environment,
                    "seconds": report.seconds,
                },
            )
        self.pm.hook.roomsync_cycle_finished(report=report)
        return report

    def _throttled(self, environment: str | None, exc: BaseException) -> None:
        """A busy or throttling server pauses its environment's new cycles (the others go on)."""
        if environment is not None and throttled(exc):
            self.backoff.throttled(environment, hinted_seconds(exc))

    @contextmanager
    def _mailbox_lease(self, mailbox: str) -> Iterator[Lease | None]:
        """Hold the mailbox's lease for the block (None), or answer the other holder's lease.

        The lease is renewed while the block runs and released when it ends, also on errors; a
        release that fails leaves the lease to expire.
        """
        leases = self.database.leases
        lease = leases.acquire(mailbox, self.holder, now(), self.lease_seconds)
        if lease.holder != self.holder:
            yield lease
            return

        try:
            with self._renewals().holding(mailbox):
                yield None
        finally:
            try:
                leases.release(mailbox, self.holder)
            except Exception as exc:  # it expires on its own
                log.warning("releasing the lease of %s failed: %s: %s", mailbox, type(exc).__name__, exc)

    def _renewals(self) -> Renewals:
        with self._lock:
            if self._leases_renewed is None:
                leases = self.database.leases
                self._leases_renewed = Renewals(
                    self.lease_seconds / 6,
                    lambda: leases.renew(self.holder, now(), self.lease_seconds),
                    f"lease renewals of runner {self.holder.runner_id}",
                )
            return self._leases_renewed

    @contextmanager
    def holding(self, mailbox: str) -> Iterator[bool]:
        """The mailbox to itself for the block, as a cycle has it (a repair writing outside a
        cycle, say): ``True`` once held; ``False`` while another runner's cycle holds it."""
        with self._lock:
            person_lock = self._person_locks.setdefault(mailbox, threading.Lock())
        with person_lock, self._mailbox_lease(mailbox) as other:
            yield other is None

    @contextmanager
    def visiting(self, mailbox: str, wait_seconds: float = VISIT_WAIT_SECONDS) -> Iterator[bool]:
        """Another mailbox to a cycle of this runner for a write in it (the old organizer's entry
        of a handed reservation): ``True`` once that mailbox's own cycle in this runner is not
        running, waited for up to ``wait_seconds``; ``False`` after that, and the write is left
        to that mailbox's own cycle. Two cycles visiting each other's mailboxes give up instead
        of waiting for each other. The mailbox's lease is not taken: on SQLite a second
        connection cannot write beside the cycle's open unit of work."""
        with self._lock:
            person_lock = self._person_locks.setdefault(mailbox, threading.Lock())
        if not person_lock.acquire(timeout=wait_seconds):
            yield False
            return
        try:
            yield True
        finally:
            person_lock.release()

    def _forget(self, uow: UnitOfWork, host: ConnectorHost, person: Person, allowed: bool) -> None:
        """Forget the mailbox's sync state, once its calendar is seen to hold its entries."""
        mailbox = person.email
        linked = [link.reservation_id for link in uow.sync.links_in_mailbox(mailbox) if link.item_id]
        asked = linked[: host.capabilities().max_batch]  # one look-up tells a lost calendar
        if asked and not allowed and not any(host.find_by_stamp(mailbox, asked).values()):
            raise MassDeletionRefused(
                f"mailbox {mailbox}: none of {len(asked)} of its synced entries is in its calendar; "
                "nothing was forgotten or written. If they really are gone, run "
                f"'roomsync persons resync {mailbox} --allow-mass-delete' (invitations are sent again)"
            )
        forgotten = uow.sync.forget_mailbox(mailbox)
        uow.sync.log(
            LogEntry(
                now(),
                mailbox,
                "info",
                "resync",
                f"sync state forgotten; {len(forgotten)} entries to be found again by their stamps",
            )
        )
        log.info(
            "resync of %s: sync state forgotten, %d linked entries to find again",
            mailbox,
            len(forgotten),
            extra={"mailbox": mailbox, "environment": person.environment, "count": len(forgotten)},
        )

    def _skipped(self, person: Person, started: datetime, other: Lease | Person) -> CycleReport:
        if isinstance(other, Person):
            why = paused_text(other) or "paused"
        else:
            why = (
                f"in a cycle of another runner ({other.holder.describe()}) "
                f"since {other.acquired_at:%Y-%m-%d %H:%M:%S} UTC"
            )
        log.info(
            "cycle of %s skipped: %s",
            person.email,
            why,
            extra={"mailbox": person.email, "environment": person.environment},
        )
        return CycleReport(
            mailbox=person.email,
            environment=person.environment,
            started=started,
            finished=now(),
            skipped=why,
        )

    def _record_failure(self, person: Person, report: CycleReport, fault: Fault) -> None:
        failures = self._failed(person.email, person.environment, report, fault)
        if failures == NOTIFY_AFTER_FAILURES:
            self._tell(person, report.error or "failed", fault, failures)

    def _failed(self, mailbox: str, environment: str | None, report: CycleReport, fault: Fault) -> int:
        """Record a failed cycle on the mailbox's state and in the log; the failures in a row."""
        with self.database.unit_of_work() as uow:
            state = uow.sync.mailbox_state(mailbox)
            # The environment of the stored sync state and links: a failed cycle does not move it.
            state.environment = state.environment or environment
            state.last_attempt = now()
            state.last_error = report.error
            state.last_fault = fault.value
            state.consecutive_failures += 1
            uow.sync.save_mailbox_state(state)
            uow.sync.log(LogEntry(now(), mailbox, "error", "failure", report.error or "failed"))
            uow.commit()
            failures = state.consecutive_failures
        log.warning(
            "sync of %s failed: %s",
            mailbox,
            report.error,
            extra={"mailbox": mailbox, "environment": environment, "failures": failures},
        )
        return failures

    def _tell(self, person: Person, detail: str, fault: Fault, failures: int) -> None:
        """The organizer hears that their calendar waits; the administrators hear why."""
        if person.environment:  # a person never assigned has no calendar in sync to miss
            organizer = Notification(
                kind=NotificationKind.FAILURE,
                recipient=person.email,
                facts={"failures": failures},
                language=person.language,
            )
            deliver(self.pm, organizer)
        environment = person.environment or "(none)"
        told = (environment, fault)
        with self._lock:
            already = fault.environment_wide and told in self._faults_told
            self._faults_told.add(told)
        if already:
            log.info(
                "administrators already told of %s in environment %s; not again for %s",
                fault.value,
                environment,
                person.email,
                extra={"mailbox": person.email, "environment": environment, "fault": fault.value},
            )
            return
        facts = {
            "fault": fault.value,
            "person": person.email,
            "environment": environment,
            "failures": failures,
            "detail": detail,
        }
        deliver(self.pm, Notification(kind=NotificationKind.FAULT, facts=facts))

    @contextmanager
    def registered(self, share: bool = False) -> Iterator[None]:
        """Work as a daemon of the database for the block, its registration kept alive meanwhile.

        Unless ``share``, refuses (:class:`~roomsync.storage.leases.AnotherRunnerActive`, naming
        it) while another daemon is registered and alive. Daemons that share the database still
        never run one mailbox together: the mailbox leases keep them apart.
        """
        leases = self.database.leases
        leases.register(self.holder, now(), share)

        def beat() -> None:
            if not leases.heartbeat(self.holder, now()):
                log.warning("this runner's registration was removed as stale; its leases still hold")

        try:
            with heartbeat(self.lease_seconds / 6, beat, "runner registration"):
                yield
        finally:
            try:
                leases.unregister(self.holder)
            except Exception as exc:  # it goes stale on its own
                log.warning("unregistering this runner failed: %s: %s", type(exc).__name__, exc)

    def run(
        self, stop: threading.Event, progress: Progress | None = None, announce: Announce | None = None
    ) -> int:
        """Cycle until ``stop`` is set; the cycles in progress finish, no new one starts.

        Every interval each person gets a cycle. Environments whose connector watches (capability
        ``push``) wake the persons whose calendars changed, who get a cycle within about a second
        instead of at the next interval; the full cycle stays the safety net for anything a
        notification missed. Persons are read again at every full cycle and the watches follow
        them. ``announce`` hears which environments watch. Answers the number of full cycles.
        With ``[repair] scan_every_hours``, the differences scans run beside the cycles.
        """
        # The scans are built on the runner: imported here, where both exist.
        from roomsync.engine.difference_schedule import DifferenceSchedule
        from roomsync.engine.rooms_changes import RoomsChangeFeed

        wakes = self._wakes = WakeQueue(WAKE_DEBOUNCE_SECONDS)
        watches = Watches(self.host, lambda environment: self._waker(environment, wakes), announce)
        cycles = 0
        try:
            # Reservations changed in ROOMS wake their organizers as Exchange's changes do.
            rooms_changes = RoomsChangeFeed(self.database, self.settings.sync.rooms_poll_seconds)
            with DifferenceSchedule(self).running(stop), rooms_changes.running(wakes.wake, stop):
                while not stop.is_set():
                    persons, rooms = self.persons(), self.rooms()
                    # Before the cycle: a connector's first wake of everyone then mostly finds
                    # persons whose cycle is still to come, and is satisfied by it.
                    watches.update(persons, self._room_mailboxes(rooms))
                    self._full_cycle(self._due(persons, watches), wakes, progress, stop)
                    self._room_cycles(self._due_rooms(rooms, watches), stop)
                    cycles += 1
                    deadline = time.monotonic() + self.settings.sync.interval_seconds
                    while due := wakes.wait(deadline, stop):
                        self._woken(due, wakes, progress, stop)
        finally:
            self._wakes = None
            watches.stop()
        return cycles

    def wake(self, mailboxes: Sequence[str]) -> bool:
        """Give these persons a cycle soon, as a connector's wake would (a change made in ROOMS
        through this process, say); ``False`` when :meth:`run` is not running here."""
        wakes = self._wakes
        if wakes is None:
            return False
        wakes.wake(mailboxes)
        return True

    def _waker(self, environment: str, wakes: WakeQueue) -> Wake:
        def wake(mailboxes: list[str]) -> None:
            log.info(
                "environment %s reports changes in %d mailboxes",
                environment,
                len(mailboxes),
                extra={
                    "environment": environment,
                    "woken": mailboxes[:LOGGED_MAILBOXES],
                    "count": len(mailboxes),
                },
            )
            wakes.wake(mailboxes)

        return wake

    def _due(self, persons: list[Person], watches: Watches) -> list[Person]:
        """Everyone, except watched persons whose last cycle is newer than the watched interval."""
        now_ = time.monotonic()
        seldom = self.settings.sync.watched_interval_seconds
        return [
            p
            for p in persons
            if p.environment not in watches.watching
            or now_ - self._last_cycle.get(p.email, -float("inf")) >= seldom
        ]

    def _full_cycle(
        self, persons: list[Person], wakes: WakeQueue, progress: Progress | None, stop: threading.Event
    ) -> None:
        """Every person once, many at once; woken persons go first, and a woken person's cycle
        counts for this one."""
        served: set[str] = set()

        def job(person: Person) -> Job:
            def run() -> CycleReport | None:
                if person.email in served:
                    return None
                wakes.discard(person.email)  # this cycle reads everything the wakes were about
                return self._cycle(person)

            return Job(person.email, person.environment, run, self._told(progress, person))

        def woken() -> list[Job]:
            jobs = self._woken_jobs(wakes.due(), wakes, progress)
            served.update(job.key for job in jobs)
            return jobs

        self.dispatcher().run([job(p) for p in persons], stop, urgent=woken)

    def _woken(
        self, due: dict[str, float], wakes: WakeQueue, progress: Progress | None, stop: threading.Event
    ) -> set[str]:
        """The cycles of the woken mailboxes, and of those woken meanwhile; answers the mailboxes
        given a cycle."""
        jobs = self._woken_jobs(due, wakes, progress)
        served = {job.key for job in jobs}

        def more() -> list[Job]:
            later = self._woken_jobs(wakes.due(), wakes, progress)
            served.update(job.key for job in later)
            return later

        self.dispatcher().run(jobs, stop, urgent=more)
        return served

    def _woken_jobs(self, due: dict[str, float], wakes: WakeQueue, progress: Progress | None) -> list[Job]:
        """A job for each woken mailbox that gets a cycle (a person's or a room's), the first
        woken first."""
        jobs: list[Job] = []
        if not due:
            return jobs
        with self.database.unit_of_work() as uow:
            if len(due) <= WOKEN_ONE_BY_ONE:
                persons = {m: p for m in due if (p := uow.rooms.get_person(m)) is not None}
                rooms = {m: r for m in due if m not in persons and (r := uow.rooms.room_by_mailbox(m))}
            else:  # a watch's first wake of everyone: two reads instead of one per mailbox
                persons = {p.email: p for p in uow.rooms.list_persons() if p.email in due}
                rooms = {r.mailbox: r for r in uow.rooms.list_rooms() if r.mailbox in due}
        for mailbox, first in sorted(due.items(), key=lambda item: item[1]):
            person = persons.get(mailbox)
            room = rooms.get(mailbox) if person is None else None
            if room is not None and room.active:
                jobs.append(Job(mailbox, self.room_environment(room), self._woken_room(room, wakes)))
                continue
            if person is None or not person.environment or not person.sync_enabled or person.paused_at:
                continue
            jobs.append(
                Job(
                    mailbox,
                    person.environment,
                    self._woken_person(person, first, wakes),
                    self._told(progress, person),
                )
            )
        return jobs

    def _woken_room(self, room: Room, wakes: WakeQueue) -> Callable[[], None]:
        def run() -> None:
            wakes.discard(room.mailbox)
            self._room_cycle(room)

        return run

    def _woken_person(self, person: Person, first: float, wakes: WakeQueue) -> Callable[[], CycleReport]:
        def run() -> CycleReport:
            waited = time.monotonic() - first
            log.info(
                "woken cycle of %s, %.2f s after its first wake",
                person.email,
                waited,
                extra={
                    "mailbox": person.email,
                    "environment": person.environment,
                    "waited": round(waited, 3),
                },
            )
            wakes.discard(person.email)
            return self._cycle(person)

        return run

    @staticmethod
    def _told(progress: Progress | None, person: Person) -> Callable[[CycleReport | None], None] | None:
        if progress is None:
            return None

        def done(report: CycleReport | None) -> None:
            if report is not None:
                progress(person, report)

        return done

    def _room_mailboxes(self, rooms: Sequence[Room]) -> list[tuple[str, str]]:
        """(environment, mailbox) of each room whose calendar is read."""
        return [(env, room.mailbox) for room in rooms if (env := self.room_environment(room))]

    def _due_rooms(self, rooms: list[Room], watches: Watches) -> list[Room]:
        """As :meth:`_due`: a watched room's full cycle is only the safety net."""
        now_ = time.monotonic()
        seldom = self.settings.sync.watched_interval_seconds
        return [
            room
            for room in rooms
            if self.room_environment(room) not in watches.watching
            or now_ - self._last_cycle.get(room.mailbox, -float("inf")) >= seldom
        ]

    def _room_cycles(self, rooms: list[Room], stop: threading.Event) -> None:
        wakes = self._wakes

        def job(room: Room) -> Job:
            def run() -> None:
                if wakes is not None:
                    wakes.discard(room.mailbox)
                self._room_cycle(room)

            return Job(room.mailbox, self.room_environment(room), run)

        self.dispatcher().run([job(r) for r in rooms], stop)

    def _room_cycle(self, room: Room) -> None:
        began = time.monotonic()
        report = self.sync_room(room)
        if report.skipped is None:
            self._last_cycle[room.mailbox] = began

    def _cycle(self, person: Person) -> CycleReport:
        began = time.monotonic()
        report = self.sync_person(person)
        if report.skipped is None:  # a skipped person is due again at the next full cycle
            self._last_cycle[person.email] = began
        return report


def _paused(uow: UnitOfWork, person: Person) -> Person | None:
    """The person as stored if paused (perhaps since ``person`` was read), else None; read in the
    cycle's own unit of work, which a transaction of its own would cost as much again."""
    stored = uow.rooms.get_person(person.email)
    return stored if stored is not None and stored.paused_at is not None else None

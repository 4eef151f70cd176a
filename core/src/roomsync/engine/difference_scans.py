"""Scans: find the differences of a scope, store them as records, resolve and repair them.

A scan covers persons (all, some, one environment's, or the organizers of some reservations)
over a window. What it finds is merged into the stored records
(:class:`~roomsync.storage.differences.DifferenceStore`); resolutions and repairs are recorded
on them with who did it. Resolving several differences of one entry one after another reads the
entry again between them, so no write goes out with a stale change key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from roomsync.domain import Person, Room
from roomsync.engine.cycle import deliver
from roomsync.engine.difference_resolution import resolve
from roomsync.engine.differences import (
    DEFAULT_DAYS,
    Compared,
    Difference,
    DifferenceKind,
    Resolution,
    person_differences,
    window,
)
from roomsync.engine.repair import Decision, decide
from roomsync.engine.room_differences import room_differences
from roomsync.engine.runner import SyncRunner
from roomsync.errors import InvalidInput, NotFound, RoomsyncError
from roomsync.notify.message import Notification, NotificationKind
from roomsync.repair_settings import RepairRule
from roomsync.storage.differences import DifferenceRecord, DifferenceState, ScanScope
from roomsync.storage.protocols import LogEntry, UnitOfWork

OPEN_STATES = (DifferenceState.OPEN,)


@dataclass
class ScanRequest:
    days: int = DEFAULT_DAYS
    start: datetime | None = None
    persons: list[str] | None = None
    environment: str | None = None
    reservation_ids: list[str] | None = None
    occurrence: date | None = None
    """Only the differences of the occurrences on this day (and the series' own)."""


@dataclass
class ScanResult:
    differences: list[Difference] = field(default_factory=list)
    not_compared: dict[str, str] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    """Requests each environment's connector sent for the scan."""

    @property
    def open(self) -> list[Difference]:
        return [d for d in self.differences if d.record is None or d.record.state is DifferenceState.OPEN]


@dataclass
class Outcome:
    difference: Difference
    resolution: Resolution | None
    done: str | None = None
    error: str | None = None
    decision: Decision | None = None


def scan(runner: SyncRunner, request: ScanRequest) -> ScanResult:
    """Compare the persons of ``request`` and store what was found."""
    start, end = window(request.days, request.start)
    result = ScanResult()
    for person in _persons(runner, request):
        try:
            compared = _compare(runner, person, start, end, result)
        except RoomsyncError as exc:
            result.not_compared[person.email] = str(exc)
            continue
        result.differences.extend(_stored(runner, person.email, compared, request, start, end))
    for room in _rooms(runner, request):
        try:
            compared = room_differences(runner, room, start, end)
        except RoomsyncError as exc:
            result.not_compared[room.mailbox] = str(exc)
            continue
        result.differences.extend(_stored(runner, room.mailbox, compared, request, start, end))
    return result


def _rooms(runner: SyncRunner, request: ScanRequest) -> list[Room]:
    """The rooms a scan of everyone (or of one environment) compares too."""
    if request.persons or request.reservation_ids:
        return []
    rooms = runner.rooms()
    if request.environment is not None:
        rooms = [room for room in rooms if runner.room_environment(room) == request.environment]
    return rooms


def _persons(runner: SyncRunner, request: ScanRequest) -> list[Person]:
    wanted = request.persons
    if request.reservation_ids:
        with runner.database.unit_of_work() as uow:
            known = uow.rooms.get_reservations(request.reservation_ids)
        unknown = [rid for rid in request.reservation_ids if rid.strip() not in known]
        if unknown:
            raise NotFound(f"no reservation {', '.join(unknown)}")
        organizers = sorted({r.organizer for r in known.values()})
        wanted = [p for p in wanted if p.lower() in organizers] if wanted else organizers
    persons = [p for p in runner.persons(wanted) if p.environment]
    if request.environment is not None:
        if request.environment not in runner.settings.environments:
            raise InvalidInput(f"unknown environment {request.environment!r}")
        persons = [p for p in persons if p.environment == request.environment]
    return persons


def _compare(
    runner: SyncRunner, person: Person, start: datetime, end: datetime, result: ScanResult
) -> Compared:
    counter = getattr(runner.host_for_person(person).connector, "requests_sent", None)
    before = counter.value if counter is not None else 0
    try:
        return person_differences(runner, person, start, end)
    finally:
        if counter is not None and person.environment:
            spent = counter.value - before
            result.requests[person.environment] = result.requests.get(person.environment, 0) + spent


def _stored(
    runner: SyncRunner,
    mailbox: str,
    compared: Compared,
    request: ScanRequest,
    start: datetime,
    end: datetime,
) -> list[Difference]:
    found = compared.differences
    if request.reservation_ids:
        wanted = {rid.strip() for rid in request.reservation_ids}
        found = [d for d in found if d.reservation_id in wanted]
    if request.occurrence is not None:
        day = request.occurrence
        found = [d for d in found if d.occurrence is None or d.occurrence.date() == day]
    narrowed = bool(request.reservation_ids) or request.occurrence is not None
    scope = ScanScope(
        mailboxes=frozenset({mailbox}),
        start=start,
        end=end,
        reservation_ids=frozenset(d.reservation_id for d in found if d.reservation_id)
        if narrowed
        else frozenset(compared.reservation_ids),
        item_ids=frozenset() if narrowed else frozenset(compared.item_ids),
        narrowed=narrowed,
    )
    records = {
        r.ident: r for r in runner.database.differences.merge_scan([d.to_record() for d in found], scope)
    }
    for d in found:
        d.record = records.get(d.ident)
    return found


def resolve_each(
    runner: SyncRunner,
    differences: list[Difference],
    choose: Callable[[Difference], tuple[Resolution | None, Decision | None]],
    by: str,
    state: DifferenceState = DifferenceState.RESOLVED,
) -> list[Outcome]:
    """Resolve the differences ``choose`` picks a resolution for, recording each on its record.

    After a write to an entry or a reservation, the differences left on the same one are read
    again (their values and change keys moved), and those gone meanwhile are dropped.
    """
    outcomes: list[Outcome] = []
    pending = list(differences)
    while pending:
        d = pending.pop(0)
        resolution, decision = choose(d)
        if resolution is None:
            outcomes.append(Outcome(d, None, decision=decision))
            continue
        try:
            done = resolve(runner, d, resolution, by)
        except RoomsyncError as exc:
            outcomes.append(Outcome(d, resolution, error=str(exc), decision=decision))
            continue
        if d.record is not None and d.record.id is not None:
            settled = DifferenceState.IGNORED if resolution is Resolution.IGNORE else state
            d.record = runner.database.differences.mark(d.record.id, settled, by, done)
        outcomes.append(Outcome(d, resolution, done=done, decision=decision))
        if resolution is not Resolution.IGNORE and any(_same_subject(d, other) for other in pending):
            pending = _refreshed(runner, d, pending)
    return outcomes


def _same_subject(one: Difference, other: Difference) -> bool:
    return one.mailbox == other.mailbox and (
        (one.reservation_id is not None and one.reservation_id == other.reservation_id)
        or (one.item_id is not None and one.item_id == other.item_id)
    )


def _refreshed(runner: SyncRunner, done: Difference, pending: list[Difference]) -> list[Difference]:
    """``pending`` with the differences of ``done``'s entry read again; those gone are dropped."""
    with runner.database.unit_of_work() as uow:
        person = uow.rooms.get_person(done.mailbox)
    if person is None:
        return [d for d in pending if not _same_subject(done, d)]
    starts = [d.starts_at for d in pending if _same_subject(done, d)] + [done.starts_at]
    start, end = min(starts) - timedelta(minutes=1), max(starts) + timedelta(days=1)
    fresh = {d.ident: d for d in person_differences(runner, person, start, end).differences}
    kept = []
    for d in pending:
        if not _same_subject(done, d):
            kept.append(d)
        elif d.ident in fresh:
            fresh[d.ident].record = d.record
            kept.append(fresh[d.ident])
        elif d.record is not None and d.record.id is not None:
            runner.database.differences.mark(d.record.id, DifferenceState.RESOLVED, "scan", "no longer found")
    return kept


def resolve_records(runner: SyncRunner, ids: list[int], resolution: Resolution, by: str) -> list[Outcome]:
    """Resolve stored differences by their numbers, each looked up afresh in its mailbox: one
    that went away meanwhile is marked resolved and reported, never acted on from stale values."""
    store = runner.database.differences
    records = {r.id: r for r in store.list(ids=ids)}
    missing = [str(i) for i in ids if i not in records]
    if missing:
        raise NotFound(f"no difference {', '.join(missing)}")
    settled = [
        str(r.id)
        for r in records.values()
        if r.state in (DifferenceState.RESOLVED, DifferenceState.AUTO_RESOLVED)
    ]
    if settled:
        raise InvalidInput(f"difference {', '.join(settled)} is already resolved")
    live = []
    for mailbox in sorted({r.mailbox for r in records.values()}):
        mine = [r for r in records.values() if r.mailbox == mailbox]
        current = _live(runner, mailbox, mine)
        for record in mine:
            found = current.get(record.ident)
            if found is None:
                store.mark(record.id or 0, DifferenceState.RESOLVED, "scan", "no longer found")
                raise NotFound(f"difference {record.id} is gone: the two sides agree now (marked resolved)")
            found.record = record
            live.append(found)
    return resolve_each(runner, live, lambda _: (resolution, None), by)


def _live(runner: SyncRunner, mailbox: str, records: list[DifferenceRecord]) -> dict[str, Difference]:
    """The differences of ``mailbox`` as they are now, read once over the days of ``records``."""
    with runner.database.unit_of_work() as uow:
        person = uow.rooms.get_person(mailbox)
    if person is None or not person.environment:
        return {}
    starts = [r.starts_at for r in records]
    start = min([*starts, datetime.now(UTC)]) - timedelta(minutes=1)
    compared = person_differences(runner, person, start, max(starts) + timedelta(days=1))
    return {d.ident: d for d in compared.differences}


def rule_for(runner: SyncRunner, d: Difference) -> RepairRule:
    settings = runner.settings
    environment = settings.environments.get(d.environment or "")
    return settings.repair.rule(d.mailbox, environment.repair if environment else None)


def repair_scope(
    runner: SyncRunner, request: ScanRequest, dry_run: bool = False
) -> tuple[ScanResult, list[Outcome]]:
    """A scan, then each person's repair policy on what is open.

    Persons with something a policy would change get their cycle first, and are scanned again:
    the sync takes what it can (by the person's conflict policy), and only the drift left is
    repaired. A dry run runs no cycle and only says what the policies would do.
    """
    result = scan(runner, request)
    if dry_run:
        return result, repair(runner, result.open, dry_run=True)
    acting = sorted({d.mailbox for d in result.open if decide(rule_for(runner, d), d, after_cycle=True).acts})
    if acting:
        for person in runner.persons(acting):
            report = runner.sync_person(person)
            if not report.ok:
                result.not_compared[person.email] = f"not repaired: its cycle failed: {report.error}"
        rescanned = [m for m in acting if m not in result.not_compared]
        again = scan(runner, replace(request, persons=rescanned))
        kept = [d for d in result.differences if d.mailbox not in acting or d.mailbox in result.not_compared]
        result = ScanResult(
            kept + again.differences, result.not_compared | again.not_compared, result.requests
        )
    outcomes = []
    for mailbox in sorted({d.mailbox for d in result.open}):
        with runner.holding(mailbox) as held:
            mine = [d for d in result.open if d.mailbox == mailbox]
            if not held:
                result.not_compared[mailbox] = "not repaired: another runner is synchronising this mailbox"
                continue
            outcomes.extend(repair(runner, mine, after_cycle=mailbox in acting))
    return result, outcomes


def repair(
    runner: SyncRunner, differences: list[Difference], dry_run: bool = False, after_cycle: bool = False
) -> list[Outcome]:
    """Apply each person's repair policy to the open ``differences``; with ``dry_run`` only say
    what it would do. Every repair is recorded on its difference (auto-resolved) and logged."""
    open_ones = [d for d in differences if d.record is None or d.record.state is DifferenceState.OPEN]

    def choose(d: Difference) -> tuple[Resolution | None, Decision]:
        decision = decide(rule_for(runner, d), d, after_cycle=after_cycle)
        return (None if dry_run else decision.resolution), decision

    outcomes = resolve_each(runner, open_ones, choose, "repair", DifferenceState.AUTO_RESOLVED)
    for outcome in outcomes:
        if outcome.done is not None and outcome.decision is not None:
            _journal(runner, outcome)
    return outcomes


def _journal(runner: SyncRunner, outcome: Outcome) -> None:
    """The repair in the sync log, and a word to the organizer in their language."""
    d, decision = outcome.difference, outcome.decision
    assert decision is not None and outcome.resolution is not None
    with runner.database.unit_of_work() as uow:
        uow.sync.log(
            LogEntry(
                datetime.now(UTC),
                d.mailbox,
                "info",
                "repair",
                f"repaired by policy {decision.policy.value} ({decision.why}): {outcome.done}",
                d.reservation_id,
                {
                    "difference": d.record.id if d.record else None,
                    "kind": d.kind.value,
                    "resolution": outcome.resolution.value,
                    "policy": decision.policy.value,
                    "keys": list(d.keys),
                },
            )
        )
        notice = _repaired_notice(uow, d, outcome.resolution)
        uow.commit()
    if notice is not None:
        deliver(runner.pm, notice)


def _repaired_notice(uow: UnitOfWork, d: Difference, resolution: Resolution) -> Notification | None:
    """The repair in the organizer's words, naming the reservation as it is now."""
    reservation = uow.rooms.get_reservation(d.reservation_id) if d.reservation_id else None
    if reservation is None or reservation.id is None:
        return None
    fields = reservation.fields
    names = {room.mailbox: room.name for room in uow.rooms.list_rooms()}
    person = uow.rooms.get_person(reservation.organizer)
    if d.kind is DifferenceKind.MISSING_IN_EXCHANGE:
        what = "entry-created"
    else:
        what = "entry-updated" if resolution is Resolution.USE_ROOMS else "reservation-updated"
    return Notification(
        kind=NotificationKind.REPAIRED,
        recipient=reservation.organizer,
        facts={
            "title": fields.title,
            "start": fields.start.astimezone(ZoneInfo(fields.timezone)).isoformat(),
            "rooms": ", ".join(names.get(room, room) for room in fields.rooms),
            "fields": ", ".join(d.keys),
            "what": what,
        },
        reservation_id=reservation.id,
        language=person.language if person is not None else None,
    )

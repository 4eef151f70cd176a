"""Free/busy as ROOMS shows it: Exchange's answer merged with ROOMS's own bookings.

ROOMS's bookings count with their setup and follow-up buffers, which Exchange does not know;
Exchange contributes everything else in the calendar (private appointments, other meetings).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from roomsync.booking import EARLIEST, LATEST
from roomsync.domain import EventFields, Reservation, ShowAs
from roomsync.engine.runner import SyncRunner
from roomsync.errors import InvalidInput, RoomsyncError
from roomsync.recurrence import occurrences
from roomsync.storage.protocols import UnitOfWork

MAX_DAYS = 366
ONE_BY_ONE = 50  # mailboxes whose persons are looked up one by one; more are read with all persons
# Which status wins where intervals of different status overlap.
_WEIGHT = {ShowAs.FREE: 0, ShowAs.TENTATIVE: 1, ShowAs.BUSY: 2, ShowAs.OOF: 3}


@dataclass(frozen=True)
class Busy:
    start: datetime
    end: datetime
    status: ShowAs
    source: str  # "exchange", "rooms" or "both"


@dataclass
class MailboxFreeBusy:
    mailbox: str
    busy: list[Busy] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def free_busy(
    runner: SyncRunner, mailboxes: Sequence[str], start: datetime, end: datetime
) -> list[MailboxFreeBusy]:
    check_window(start, end)
    mailboxes = [m.strip().lower() for m in mailboxes]
    result = {m: MailboxFreeBusy(m) for m in mailboxes}
    raw: dict[str, list[Busy]] = defaultdict(list)
    with runner.database.unit_of_work() as uow:
        by_environment = _by_environment(uow, runner, mailboxes)
        booked = uow.rooms.reservations(
            start=start - timedelta(days=1), end=end + timedelta(days=1), involving=mailboxes
        )
    for reservation in booked:
        _add_rooms_booking(raw, reservation, set(mailboxes), start, end)
    # Each environment is its own server: asked at the same time, the answer takes the slowest's time.
    with ThreadPoolExecutor(max_workers=max(1, len(by_environment))) as pool:
        asked = [
            pool.submit(_add_exchange_answers, raw, result, runner, env, group, start, end)
            for env, group in by_environment.items()
        ]
        for answer in asked:
            answer.result()  # what is not a RoomsyncError is a bug: raised, not lost
    for mailbox, intervals in raw.items():
        if mailbox in result:
            result[mailbox].busy = merge_intervals(intervals)
    return [result[m] for m in mailboxes]


def check_window(start: datetime, end: datetime) -> None:
    """A window a person would ask: a long one costs a request per server piece (42 days on
    EWS), so a year's is the most one call may cost; and times within any calendar."""
    if end <= start:
        raise InvalidInput(f"--end {end.isoformat()} is not after --start {start.isoformat()}")
    for name, value in (("--start", start), ("--end", end)):
        if not EARLIEST <= value <= LATEST:
            raise InvalidInput(f"{name} {value.isoformat()} is outside {EARLIEST.year} to {LATEST.year}")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidInput(f"the window is longer than {MAX_DAYS} days; ask for a shorter one")


def _by_environment(uow: UnitOfWork, runner: SyncRunner, mailboxes: Sequence[str]) -> dict[str, list[str]]:
    """Each mailbox under the environment that answers for it: its person's, its room's, else the first."""
    default_env = next(iter(runner.settings.environments), None)
    room_env = {room.mailbox: room.environment for room in uow.rooms.list_rooms()}
    by_environment: dict[str, list[str]] = defaultdict(list)
    if len(mailboxes) > ONE_BY_ONE:  # one read of every person instead of one per mailbox
        wanted = set(mailboxes)
        persons = {p.email: p for p in uow.rooms.list_persons() if p.email in wanted}
    else:
        persons = {m: p for m in mailboxes if (p := uow.rooms.get_person(m)) is not None}
    for mailbox in mailboxes:
        person = persons.get(mailbox)
        env = (person.environment if person else None) or room_env.get(mailbox) or default_env
        if env:
            by_environment[env].append(mailbox)
    return by_environment


def _add_rooms_booking(
    raw: dict[str, list[Busy]], reservation: Reservation, wanted: set[str], start: datetime, end: datetime
) -> None:
    """A ROOMS booking, with its buffers, as busy time of every asked mailbox it involves."""
    f = reservation.fields
    if f.show_as is ShowAs.FREE:
        return
    involved = wanted & {reservation.organizer, *f.rooms, *(p.email for p in f.participants)}
    if not involved:
        return
    before = timedelta(minutes=reservation.setup_minutes)
    after = timedelta(minutes=reservation.followup_minutes)
    for occ in occurrences(f, start - before, end + after):
        span = Busy(max(occ.start - before, start), min(occ.end + after, end), f.show_as, "rooms")
        for mailbox in involved:
            raw[mailbox].append(span)


def _add_exchange_answers(
    raw: dict[str, list[Busy]],
    result: dict[str, MailboxFreeBusy],
    runner: SyncRunner,
    env: str,
    group: list[str],
    start: datetime,
    end: datetime,
) -> None:
    """Exchange's busy time of one environment's mailboxes; a failure is each mailbox's error."""
    try:
        answers = runner.host(env).free_busy(group, start, end)
    except RoomsyncError as exc:
        for mailbox in group:
            result[mailbox].errors.append(f"{env}: {exc}")
        return
    for answer in answers:
        if answer.mailbox not in result:
            continue
        if answer.error:
            result[answer.mailbox].errors.append(answer.error)
        for interval in answer.intervals:
            if interval.status is not ShowAs.FREE:
                raw[answer.mailbox].append(
                    Busy(max(interval.start, start), min(interval.end, end), interval.status, "exchange")
                )


def merge_intervals(intervals: list[Busy]) -> list[Busy]:
    """Union of overlapping intervals; the stronger status and both sources are kept."""
    merged: list[Busy] = []
    for item in sorted(intervals, key=lambda b: (b.start, b.end)):
        if merged and item.start <= merged[-1].end:
            last = merged[-1]
            status = max(last.status, item.status, key=_WEIGHT.__getitem__)
            source = last.source if last.source == item.source else "both"
            merged[-1] = Busy(last.start, max(last.end, item.end), status, source)
        else:
            merged.append(item)
    return merged


@dataclass(frozen=True)
class SeriesWindow:
    """The times a booking would take: every occurrence of a series, or the one meeting."""

    spans: tuple[tuple[datetime, datetime], ...]
    until: datetime
    """Where the check stops: the last occurrence's end, at most a year after the first start
    (an open-ended series is checked for its first year, as far as one free/busy question goes)."""


def booking_window(fields: EventFields) -> SeriesWindow:
    horizon = fields.start + timedelta(days=MAX_DAYS)
    spans = tuple(
        (o.start, o.end)
        for o in occurrences(fields, fields.start, horizon)
        if o.end <= horizon  # the question is at most a year long
    )
    if not spans:
        raise InvalidInput("the series has no occurrence in its first year")
    return SeriesWindow(spans, max(end for _, end in spans))


def busy_during(runner: SyncRunner, mailboxes: Sequence[str], window: SeriesWindow) -> list[MailboxFreeBusy]:
    """Each mailbox's busy time that falls in one of the window's spans: one free/busy question
    per server for the whole window, however many occurrences a series has."""
    first = min(start for start, _ in window.spans)
    answers = free_busy(runner, mailboxes, first, window.until)
    for answer in answers:
        answer.busy = [b for b in answer.busy if any(b.start < e and b.end > s for s, e in window.spans)]
    return answers

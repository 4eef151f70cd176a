"""Reservations in the SQL ROOMS store: round trips, versions, journal, cursors, listing."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from roomsync.domain import (
    EventFields,
    Frequency,
    OccurrenceChange,
    Participant,
    Recurrence,
    Reservation,
    ReservationStatus,
    ShowAs,
    Weekday,
)
from roomsync.errors import InvalidInput, NotFound
from roomsync.storage import Database, SqlUnitOfWork
from roomsync.storage.protocols import Origin

ALICE, BOB, CAROL = "alice@example.org", "bob@example.org", "carol@example.org"
ROOM_A, ROOM_B, ROOM_C = "room-a@example.org", "room-b@example.org", "room-c@example.org"
BERLIN = ZoneInfo("Europe/Berlin")


def at(month: int, day: int, hour: int, minute: int = 0, tz: tzinfo = UTC) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=tz)


def meeting(
    start: datetime, minutes: int = 60, rooms: tuple[str, ...] = (ROOM_A,), **extra: object
) -> EventFields:
    return EventFields.model_validate(
        {
            "title": "Meeting",
            "start": start,
            "end": start + timedelta(minutes=minutes),
            "rooms": rooms,
            **extra,
        }
    )


def book(uow: SqlUnitOfWork, fields: EventFields, organizer: str = ALICE, **extra: object) -> Reservation:
    return uow.rooms.create_reservation(
        Reservation.model_validate({"fields": fields, "organizer": organizer, **extra})
    )


def assert_utc(value: datetime | None) -> None:
    assert value is not None and value.tzinfo is UTC


# --- round trips -------------------------------------------------------------------------


def test_single_reservation_round_trips_every_field(database: Database, office: SqlUnitOfWork) -> None:
    fields = EventFields(
        title="Quarterly review: Übersicht 5 €",
        start=datetime(2025, 6, 2, 9, 30, tzinfo=BERLIN),
        end=datetime(2025, 6, 2, 11, 0, tzinfo=BERLIN),
        timezone="Europe/Berlin",
        rooms=(ROOM_B, ROOM_A),
        participants=(
            Participant(email="Guest@Partner.com", name="Guest", external=True),
            Participant(email=BOB, name="Bob"),
        ),
        reminder_minutes=None,
        private=True,
        show_as=ShowAs.OOF,
        body="Agenda:\n1. numbers\n2. plans",
    )
    reservation = Reservation(
        fields=fields,
        organizer="Alice@Example.org",
        creator=CAROL,
        person_in_charge=BOB,
        setup_minutes=15,
        followup_minutes=30,
        sync_disabled=True,
    )

    created = office.rooms.create_reservation(reservation)
    office.commit()

    assert created.id is not None and created.id.isdigit()
    assert created == reservation.model_copy(update={"id": created.id, "version": 1})
    with database.unit_of_work() as fresh:
        loaded = fresh.rooms.get_reservation(created.id)
    assert loaded == created
    assert loaded is not None
    assert loaded.fields.rooms == (ROOM_A, ROOM_B)
    assert loaded.fields.participants[0] == Participant(email="bob@example.org", name="Bob")
    assert loaded.fields.participants[1] == Participant(
        email="guest@partner.com", name="Guest", external=True
    )
    assert_utc(loaded.fields.start)
    assert_utc(loaded.fields.end)
    assert loaded.fields.start == datetime(2025, 6, 2, 7, 30, tzinfo=UTC)
    assert loaded.status is ReservationStatus.ACTIVE


RECURRENCES = {
    "daily-by-count": Recurrence(frequency=Frequency.DAILY, interval=2, count=10),
    "weekly-until": Recurrence(
        frequency=Frequency.WEEKLY, weekdays=(Weekday.FR, Weekday.MO, Weekday.WE), until=date(2025, 12, 19)
    ),
    "monthly-by-day-open": Recurrence(frequency=Frequency.MONTHLY, month_day=31),
    "monthly-last-friday": Recurrence(
        frequency=Frequency.MONTHLY, interval=3, weekdays=(Weekday.FR,), week_of_month=-1, count=4
    ),
    "yearly-by-day": Recurrence(frequency=Frequency.YEARLY, month=3, month_day=15, until=date(2030, 3, 15)),
    "yearly-second-tuesday": Recurrence(
        frequency=Frequency.YEARLY, weekdays=(Weekday.TU,), week_of_month=2, month=11, count=999
    ),
}


@pytest.mark.parametrize("recurrence", RECURRENCES.values(), ids=RECURRENCES.keys())
def test_series_round_trips_its_recurrence(
    database: Database, office: SqlUnitOfWork, recurrence: Recurrence
) -> None:
    fields = meeting(at(3, 3, 9, tz=BERLIN), timezone="Europe/Berlin", recurrence=recurrence)
    created = book(office, fields)
    office.commit()

    with database.unit_of_work() as fresh:
        loaded = fresh.rooms.get_reservation(created.id or "")
    assert loaded is not None
    assert loaded.fields.recurrence == recurrence
    assert loaded.fields == fields


def test_modified_and_cancelled_occurrences_round_trip(database: Database, office: SqlUnitOfWork) -> None:
    changes = (
        OccurrenceChange(
            original_start=at(3, 17, 9, tz=BERLIN), start=at(3, 17, 14), end=at(3, 17, 15, 30), title="Moved"
        ),
        OccurrenceChange(original_start=at(3, 10, 9, tz=BERLIN), cancelled=True),
        OccurrenceChange(original_start=at(3, 24, 8), start=at(3, 25, 8), end=at(3, 25, 9)),
    )
    fields = meeting(
        at(3, 3, 9, tz=BERLIN),
        timezone="Europe/Berlin",
        recurrence=Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO,), count=6),
        occurrences=changes,
    )
    created = book(office, fields)
    office.commit()

    with database.unit_of_work() as fresh:
        loaded = fresh.rooms.get_reservation(created.id or "")
    assert loaded is not None
    assert loaded.fields == fields
    cancelled, moved, shifted = loaded.fields.occurrences
    assert cancelled == OccurrenceChange(original_start=at(3, 10, 8), cancelled=True)
    assert moved.title == "Moved" and moved.start == at(3, 17, 14) and moved.original_start == at(3, 17, 8)
    assert shifted.title is None
    for change in loaded.fields.occurrences:
        assert_utc(change.original_start)
    assert_utc(moved.start)
    assert_utc(moved.end)


def test_update_replaces_rooms_participants_and_recurrence(database: Database, office: SqlUnitOfWork) -> None:
    series = meeting(
        at(3, 3, 9),
        rooms=(ROOM_A, ROOM_B),
        participants=(Participant(email=BOB, name="Bob"), Participant(email=CAROL)),
        recurrence=Recurrence(frequency=Frequency.DAILY, count=5),
        occurrences=(OccurrenceChange(original_start=at(3, 4, 9), cancelled=True),),
    )
    created = book(office, series)
    single = meeting(
        at(3, 3, 10),
        rooms=(ROOM_B, ROOM_C),
        participants=(Participant(email=BOB, name="Robert"), Participant(email="dave@example.org")),
        title="Single now",
    )

    updated = office.rooms.update_reservation(
        created.id or "", fields=single, setup_minutes=5, followup_minutes=10
    )
    office.commit()

    assert updated.fields == single
    with database.unit_of_work() as fresh:
        loaded = fresh.rooms.get_reservation(created.id or "")
    assert loaded == updated
    assert loaded is not None
    assert loaded.fields.recurrence is None and loaded.fields.occurrences == ()
    assert (loaded.setup_minutes, loaded.followup_minutes, loaded.version) == (5, 10, 2)


def test_unknown_reservation_ids(office: SqlUnitOfWork) -> None:
    assert office.rooms.get_reservation("424242") is None
    assert office.rooms.get_reservation("not-an-id") is None
    with pytest.raises(NotFound, match="424242"):
        office.rooms.update_reservation("424242", setup_minutes=5)
    with pytest.raises(NotFound, match="nope"):
        office.rooms.cancel_reservation("nope")
    with pytest.raises(NotFound, match="424242"):
        office.rooms.set_sync_disabled("424242", True)


# --- validation --------------------------------------------------------------------------


def test_unknown_organizer_is_refused(office: SqlUnitOfWork) -> None:
    with pytest.raises(NotFound, match=re.escape("nobody@example.org")):
        book(office, meeting(at(3, 3, 9)), organizer="Nobody@example.org")
    assert office.rooms.reservations(include_cancelled=True) == []


def test_unknown_room_is_refused(office: SqlUnitOfWork) -> None:
    with pytest.raises(NotFound, match=re.escape("cellar@example.org")):
        book(office, meeting(at(3, 3, 9), rooms=(ROOM_A, "Cellar@example.org")))
    assert office.rooms.reservations(include_cancelled=True) == []


def test_changing_to_an_unknown_organizer_or_room_is_refused(office: SqlUnitOfWork) -> None:
    created = book(office, meeting(at(3, 3, 9)))

    with pytest.raises(NotFound, match=re.escape("nobody@example.org")):
        office.rooms.update_reservation(created.id or "", organizer="nobody@example.org")
    with pytest.raises(NotFound, match=re.escape("cellar@example.org")):
        office.rooms.update_reservation(
            created.id or "", fields=meeting(at(3, 3, 9), rooms=("cellar@example.org",))
        )
    assert office.rooms.get_reservation(created.id or "") == created


def test_expected_version_guards_against_lost_updates(office: SqlUnitOfWork) -> None:
    created = book(office, meeting(at(3, 3, 9)))
    office.rooms.update_reservation(created.id or "", fields=meeting(at(3, 3, 10)), expected_version=1)

    with pytest.raises(InvalidInput, match="version 2"):
        office.rooms.update_reservation(created.id or "", fields=meeting(at(3, 3, 11)), expected_version=1)
    current = office.rooms.get_reservation(created.id or "")
    assert current is not None and current.version == 2 and current.fields.start == at(3, 3, 10)


def test_expected_version_sees_a_change_committed_by_another_unit(
    database: Database, office: SqlUnitOfWork
) -> None:
    created = book(office, meeting(at(3, 3, 9)))
    office.commit()
    with database.unit_of_work() as reader:
        seen = reader.rooms.get_reservation(created.id or "")
        assert seen is not None
        with database.unit_of_work() as writer:
            writer.rooms.update_reservation(created.id or "", fields=meeting(at(3, 3, 12)))
            writer.commit()
        with pytest.raises(InvalidInput, match="version"):
            reader.rooms.update_reservation(
                created.id or "", fields=meeting(at(3, 3, 14)), expected_version=seen.version
            )


# --- versions and journal ----------------------------------------------------------------


def test_every_write_adds_a_version_and_a_journal_row(office: SqlUnitOfWork) -> None:
    created = book(office, meeting(at(3, 3, 9)))
    rid = created.id or ""
    updated = office.rooms.update_reservation(
        rid, fields=meeting(at(3, 3, 10)), origin=Origin.EXCHANGE, actor=BOB
    )
    cancelled = office.rooms.cancel_reservation(rid, actor=CAROL, reason="not needed")
    disabled = office.rooms.set_sync_disabled(rid, True, reason="too many conflicts")

    assert [created.version, updated.version, cancelled.version, disabled.version] == [1, 2, 3, 4]
    assert cancelled.status is ReservationStatus.CANCELLED and disabled.sync_disabled
    journal = office.rooms.journal(rid)
    assert [(e.action, e.origin, e.organizer, e.actor) for e in journal] == [
        ("sync-disabled", Origin.ADMIN, ALICE, None),
        ("cancelled", Origin.ROOMS, ALICE, CAROL),
        ("updated", Origin.EXCHANGE, ALICE, BOB),
        ("created", Origin.ROOMS, ALICE, None),
    ]
    assert [e.seq for e in journal] == sorted((e.seq for e in journal), reverse=True)
    for entry in journal:
        assert entry.reservation_id == rid
        assert_utc(entry.at)
        assert abs(entry.at - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_write_that_changes_nothing_is_not_a_write(office: SqlUnitOfWork) -> None:
    created = book(office, meeting(at(3, 3, 9)), setup_minutes=10)
    rid = created.id or ""

    same = office.rooms.update_reservation(
        rid, fields=meeting(at(3, 3, 9)), organizer="ALICE@example.org", setup_minutes=10
    )
    office.rooms.cancel_reservation(rid)
    again = office.rooms.cancel_reservation(rid)
    office.rooms.set_sync_disabled(rid, False)

    assert same == created
    assert again.version == 2
    assert [e.action for e in office.rooms.journal(rid)] == ["cancelled", "created"]


def test_sync_can_be_resumed(office: SqlUnitOfWork) -> None:
    rid = book(office, meeting(at(3, 3, 9))).id or ""
    office.rooms.set_sync_disabled(rid, True)

    resumed = office.rooms.set_sync_disabled(rid, False)

    assert not resumed.sync_disabled and resumed.version == 3
    assert office.rooms.journal(rid)[0].action == "sync-enabled"


def test_organizer_change_journals_for_old_and_new_organizer(office: SqlUnitOfWork) -> None:
    rid = book(office, meeting(at(3, 3, 9))).id or ""

    moved = office.rooms.update_reservation(
        rid, organizer="Bob@Example.org", origin=Origin.ADMIN, actor=CAROL
    )

    assert moved.organizer == BOB and moved.version == 2
    latest = office.rooms.journal(rid, limit=2)
    assert sorted((e.organizer, e.action, e.origin, e.actor) for e in latest) == [
        (ALICE, "organizer-changed", Origin.ADMIN, CAROL),
        (BOB, "organizer-changed", Origin.ADMIN, CAROL),
    ]
    assert office.rooms.changes_since(None, ALICE)[0] == [rid]
    assert office.rooms.changes_since(None, BOB)[0] == [rid]
    assert [r.id for r in office.rooms.reservations(organizer=BOB)] == [rid]
    assert office.rooms.reservations(organizer=ALICE) == []


def test_journal_limit_keeps_the_newest(office: SqlUnitOfWork) -> None:
    first = book(office, meeting(at(3, 3, 9))).id
    second = book(office, meeting(at(3, 3, 11))).id

    assert [e.reservation_id for e in office.rooms.journal(limit=1)] == [second]
    assert [e.reservation_id for e in office.rooms.journal(limit=10)] == [second, first]
    assert office.rooms.journal("not-an-id") == []


def test_changes_since_walks_the_journal_of_one_organizer(office: SqlUnitOfWork) -> None:
    first = book(office, meeting(at(3, 3, 9))).id or ""
    second = book(office, meeting(at(3, 3, 11))).id or ""
    book(office, meeting(at(3, 3, 13)), organizer=BOB)
    office.rooms.update_reservation(first, fields=meeting(at(3, 3, 8)))

    ids, cursor = office.rooms.changes_since(None, "Alice@example.org")
    assert ids == [second, first]  # without repeats, in the order of their last change

    assert office.rooms.changes_since(cursor, ALICE) == ([], cursor)
    office.rooms.cancel_reservation(second)
    later, next_cursor = office.rooms.changes_since(cursor, ALICE)
    assert later == [second] and next_cursor > cursor
    assert office.rooms.changes_since(next_cursor, ALICE) == ([], next_cursor)


def test_changes_since_without_rows(office: SqlUnitOfWork) -> None:
    ids, cursor = office.rooms.changes_since(None, CAROL)
    assert ids == []
    book(office, meeting(at(3, 3, 9)), organizer=CAROL)
    assert len(office.rooms.changes_since(cursor, CAROL)[0]) == 1


def test_cursor_survives_across_units_of_work(database: Database, office: SqlUnitOfWork) -> None:
    first = book(office, meeting(at(3, 3, 9))).id
    office.commit()
    _, cursor = office.rooms.changes_since(None, ALICE)
    with database.unit_of_work() as later:
        second = book(later, meeting(at(3, 3, 11))).id
        later.commit()
    with database.unit_of_work() as reader:
        assert reader.rooms.changes_since(cursor, ALICE)[0] == [second]
        assert reader.rooms.changes_since(None, ALICE)[0] == [first, second]


# --- listing -----------------------------------------------------------------------------


def test_reservations_filter_by_organizer_and_status_in_start_order(office: SqlUnitOfWork) -> None:
    late = book(office, meeting(at(3, 5, 9))).id
    early = book(office, meeting(at(3, 3, 9))).id
    bobs = book(office, meeting(at(3, 4, 9)), organizer=BOB).id
    gone = book(office, meeting(at(3, 6, 9))).id or ""
    office.rooms.cancel_reservation(gone)

    assert [r.id for r in office.rooms.reservations()] == [early, bobs, late]
    assert [r.id for r in office.rooms.reservations(organizer="ALICE@example.org")] == [early, late]
    assert [r.id for r in office.rooms.reservations(organizer=ALICE, include_cancelled=True)] == [
        early,
        late,
        gone,
    ]


def test_reservations_in_a_window_include_series_by_occurrence(office: SqlUnitOfWork) -> None:
    weekly = Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO,), count=10)
    inside = book(office, meeting(at(4, 8, 9), rooms=())).id
    straddling = book(office, meeting(at(4, 6, 23), minutes=120, rooms=())).id
    book(office, meeting(at(4, 10, 9), rooms=()))  # after the window
    series = book(office, meeting(at(3, 3, 9), rooms=(), recurrence=weekly)).id  # Mondays until 5 May
    book(
        office, meeting(at(1, 6, 9), rooms=(), recurrence=weekly.model_copy(update={"count": 3}))
    )  # over by then
    skipped = meeting(
        at(3, 4, 9),
        rooms=(),
        recurrence=Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.TU,), count=6),
        occurrences=(OccurrenceChange(original_start=at(4, 8, 9), cancelled=True),),
    )
    book(office, skipped)  # its only occurrence in the window is cancelled

    found = office.rooms.reservations(start=at(4, 7, 0), end=at(4, 9, 0))

    assert [r.id for r in found] == [series, straddling, inside]


def test_reservations_with_an_open_window(office: SqlUnitOfWork) -> None:
    old = book(office, meeting(at(1, 6, 9), rooms=())).id
    new = book(office, meeting(at(6, 2, 9), rooms=())).id
    open_series = book(
        office, meeting(at(1, 1, 9), rooms=(), recurrence=Recurrence(frequency=Frequency.DAILY))
    ).id

    assert [r.id for r in office.rooms.reservations(start=at(3, 1, 0))] == [open_series, new]
    assert [r.id for r in office.rooms.reservations(end=at(1, 2, 0))] == [open_series]
    assert [r.id for r in office.rooms.reservations(end=at(3, 1, 0))] == [open_series, old]


@pytest.mark.parametrize("given", ["²", "٣", "+3", "99999999999999999999", "", "x1"])
def test_ids_this_store_never_issued_are_unknown_not_errors(office: SqlUnitOfWork, given: str) -> None:
    """Unicode digits are not ids ("٣" is not reservation 3), nor is a number past the 64-bit key."""
    for hour in (9, 11, 13):
        book(office, meeting(at(3, 4, hour), rooms=()))
    office.commit()
    assert office.rooms.get_reservation("3") is not None
    assert office.rooms.get_reservation(given) is None
    assert office.rooms.get_reservations([given]) == {}
    with pytest.raises(NotFound):
        office.rooms.cancel_reservation(given)


def test_reservations_involving_mailboxes_as_organizer_room_or_participant(office: SqlUnitOfWork) -> None:
    organised = book(office, meeting(at(4, 8, 9), rooms=()), organizer=BOB).id
    in_room = book(office, meeting(at(4, 8, 11), rooms=(ROOM_B,))).id
    invited = book(office, meeting(at(4, 8, 13), rooms=(), participants=[{"email": BOB}])).id
    book(office, meeting(at(4, 8, 15), rooms=(ROOM_A,), participants=[{"email": CAROL}]))  # none of them

    found = office.rooms.reservations(
        start=at(4, 8, 0), end=at(4, 9, 0), involving=[" Bob@example.org", ROOM_B]
    )

    assert [r.id for r in found] == [organised, in_room, invited]
    assert office.rooms.reservations(involving=[]) == []

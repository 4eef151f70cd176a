"""The whole path, specified once: ROOMS, the runner and a connector against a server.

A protocol's end-to-end tests subclass :class:`EndToEndSuite` and provide an ``estate`` fixture
that returns an :class:`Estate`: the ROOMS side in a database (:class:`RoomsSide`, how ROOMS
books and edits), the runner with its notifier, and the server side: the person in Outlook
(a :class:`~roomsync.testkit.kit.MailboxUser`), the entries a mailbox holds by stamp, and the
subjects a calendar holds as the server stores them. The suite's scenarios then run through
that connector exactly as they would in production::

    class TestMyServer(EndToEndSuite):
        @pytest.fixture
        def estate(self, tmp_path) -> Iterator[Estate]:
            ...  # start the server, configure the runner, add the persons and rooms
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from roomsync.connector.types import Answer, CalendarEntry
from roomsync.domain import ConflictPolicy, EventFields, Participant, Reservation, ReservationStatus
from roomsync.engine.freebusy import MailboxFreeBusy, free_busy
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.storage import Database
from roomsync.storage.protocols import Origin
from roomsync.testkit.kit import MailboxUser
from roomsync.testkit.notifications import NotificationRecorder

ALICE, BOB = "alice@example.org", "bob@example.org"
ROOM1, ROOM2 = "room.1@example.org", "room.2@example.org"


class RoomsSide:
    """The ROOMS side: booking, editing and reading reservations as ROOMS does."""

    database: Database
    start: datetime
    """The day's first hour; bookings are given in hours after it."""

    def book(
        self, organizer: str, title: str, hour: int, *, extra: dict[str, Any] | None = None, **fields: Any
    ) -> Reservation:
        """A reservation made in ROOMS; ``extra`` sets reservation attributes (creator, buffers)."""
        start = self.start + timedelta(hours=hour)
        with self.database.unit_of_work() as uow:
            made = uow.rooms.create_reservation(
                Reservation(
                    fields=EventFields(
                        title=title,
                        start=start,
                        end=start + timedelta(hours=1),
                        timezone="Europe/Berlin",
                        **fields,
                    ),
                    organizer=organizer,
                    **(extra or {}),
                ),
                origin=Origin.ROOMS,
            )
            uow.commit()
        return made

    def retitle_in_rooms(self, reservation_id: str, title: str) -> None:
        with self.database.unit_of_work() as uow:
            current = uow.rooms.get_reservation(reservation_id)
            assert current is not None
            uow.rooms.update_reservation(
                reservation_id, fields=current.fields.model_copy(update={"title": title})
            )
            uow.commit()

    def set_policy(self, email: str, policy: ConflictPolicy) -> None:
        with self.database.unit_of_work() as uow:
            person = uow.rooms.get_person(email)
            assert person is not None
            uow.rooms.upsert_person(person.model_copy(update={"conflict_policy": policy}))
            uow.commit()

    def reservation(self, reservation_id: str) -> Reservation:
        with self.database.unit_of_work() as uow:
            found = uow.rooms.get_reservation(reservation_id)
        assert found is not None
        return found


class Estate(RoomsSide, ABC):
    """ROOMS, the runner and the server of one protocol, with persons ALICE and BOB and rooms
    ROOM1 and ROOM2 assigned to the runner's environment."""

    runner: SyncRunner
    notes: NotificationRecorder

    @abstractmethod
    def outlook(self, mailbox: str) -> MailboxUser:
        """The person of ``mailbox`` in Outlook."""

    @abstractmethod
    def entries(self, mailbox: str, stamp: str) -> list[CalendarEntry]:
        """The entries of ``mailbox`` carrying a reservation's stamp."""

    @abstractmethod
    def subjects(self, mailbox: str) -> list[str]:
        """The subjects in a mailbox's calendar, as the server holds them."""

    @abstractmethod
    def writes(self) -> int:
        """How many item writes (creates, updates, deletes) the server has answered so far."""

    def sync(self) -> list[CycleReport]:
        reports = self.runner.sync_once()
        assert all(r.ok for r in reports), [r.error for r in reports if not r.ok]
        return reports


class EndToEndSuite:
    """The scenarios every protocol runs end to end; ``estate`` is the subclass's fixture."""

    reads_modified = False
    """Whether the connector reads each entry's last-modified time (``CalendarEntry.modified``)."""
    reads_uid = False
    """Whether the connector reads each meeting's identity across mailboxes (``CalendarEntry.uid``)."""
    reads_answers = False
    """Whether the connector reads the attendees' answers on the organizer's entries
    (``CalendarEntry.answers``): what tells the engine that a room declined."""

    def after_booking(self, estate: Estate, entry: CalendarEntry) -> None:
        """What else a protocol checks once a booking with a room and an attendee is exported."""

    def after_free_busy(self, estate: Estate, views: dict[str, MailboxFreeBusy]) -> None:
        """What else a protocol checks of a free/busy question over four mailboxes."""

    def test_booking_edit_and_deletion_flow_both_ways(self, estate: Estate) -> None:
        r = estate.book(ALICE, "Planning", 1, rooms=(ROOM1,), participants=(Participant(email=BOB),))
        estate.sync()
        [entry] = estate.entries(ALICE, r.id or "")
        assert entry.fields.title == "Planning" and entry.fields.rooms == (ROOM1,)
        # Bob got the meeting request as an entry of his own, which roomsync leaves alone
        assert "Planning" in estate.subjects(BOB)
        self.after_booking(estate, entry)

        changed = entry.fields.model_copy(update={"title": "Planning (Outlook)"})
        estate.outlook(ALICE).update(ALICE, entry.item_id, changed)
        estate.sync()
        assert estate.reservation(r.id or "").fields.title == "Planning (Outlook)"

        estate.outlook(ALICE).delete(ALICE, entry.item_id, to_deleted_items=True)
        estate.sync()
        assert estate.reservation(r.id or "").status is ReservationStatus.CANCELLED
        assert estate.entries(ALICE, r.id or "") == []

    def test_a_meeting_has_one_identity_in_every_mailbox(self, estate: Estate) -> None:
        """The organizer's entry and the attendee's copy carry the same ``uid``, as will a room's
        booking: what tells a booking ROOMS made from one it does not know."""
        r = estate.book(ALICE, "Shared", 8, participants=(Participant(email=BOB),))
        estate.sync()
        [mine] = estate.entries(ALICE, r.id or "")
        start = estate.start + timedelta(hours=8)
        host = estate.runner.host_for_mailbox(BOB)
        assert host is not None
        window = host.list_entries(BOB, start - timedelta(hours=1), start + timedelta(hours=2))
        copies = [e for e in window if e.fields.title == "Shared"]
        assert len(copies) == 1 and copies[0].organizer == ALICE
        if self.reads_uid:
            assert mine.uid and copies[0].uid == mine.uid
        estate.sync()
        [again] = estate.entries(ALICE, r.id or "")
        assert again.uid == mine.uid  # stable across reads

    def test_the_organizers_entry_reads_back_with_the_attendees_answers(self, estate: Estate) -> None:
        """A room answers at once by its booking policy (here it accepts), a person has not
        answered yet; the attendee's own copy, an invitation, carries no answers."""
        r = estate.book(ALICE, "Answered", 2, rooms=(ROOM1,), participants=(Participant(email=BOB),))
        estate.sync()
        [entry] = estate.entries(ALICE, r.id or "")
        if not self.reads_answers:
            return
        assert {a.mailbox: a.answer for a in entry.answers} == {ROOM1: Answer.ACCEPTED, BOB: Answer.NONE}
        start = estate.start + timedelta(hours=2)
        host = estate.runner.host_for_mailbox(BOB)
        assert host is not None
        window = host.list_entries(BOB, start - timedelta(hours=1), start + timedelta(hours=2))
        assert [e.answers for e in window if not e.is_own] == [()]

    def test_outlook_booking_of_a_room_becomes_a_reservation(self, estate: Estate) -> None:
        start = estate.start + timedelta(hours=3)
        fields = EventFields(
            title="From Outlook",
            start=start,
            end=start + timedelta(hours=1),
            timezone="Europe/Berlin",
            rooms=(ROOM2,),
        )
        item_id = estate.outlook(BOB).create(BOB, fields)
        estate.sync()
        with estate.database.unit_of_work() as uow:
            [booked] = uow.rooms.reservations(organizer=BOB)
        assert booked.fields.title == "From Outlook" and booked.fields.rooms == (ROOM2,)
        [entry] = estate.entries(BOB, booked.id or "")
        assert entry.item_id == item_id  # the same item, now stamped

    def test_organizer_change_moves_the_entry_and_a_quiet_cycle_writes_nothing(self, estate: Estate) -> None:
        r = estate.book(ALICE, "Handover", 5)
        estate.sync()
        with estate.database.unit_of_work() as uow:
            uow.rooms.update_reservation(r.id or "", organizer=BOB, origin=Origin.ROOMS)
            uow.commit()
        estate.sync()
        assert estate.entries(ALICE, r.id or "") == []
        [moved] = estate.entries(BOB, r.id or "")
        assert moved.fields.title == "Handover"
        writes = estate.writes()
        assert not any(report.changed_anything for report in estate.sync())
        assert estate.writes() == writes

    def test_a_reservation_handed_to_an_attendee_gets_an_entry_of_its_own(self, estate: Estate) -> None:
        # Found by the convergence test: the attendee's copy of the meeting carries the
        # organizer's properties, and was taken for the new organizer's entry.
        r = estate.book(ALICE, "To Bob", 6, participants=(Participant(email=BOB),))
        estate.sync()
        [entry] = estate.entries(ALICE, r.id or "")
        estate.outlook(ALICE).update(
            ALICE, entry.item_id, entry.fields.model_copy(update={"reminder_minutes": 0})
        )
        with estate.database.unit_of_work() as uow:
            uow.rooms.update_reservation(r.id or "", organizer=BOB, origin=Origin.ROOMS)
            uow.commit()
        estate.sync()
        assert estate.entries(ALICE, r.id or "") == []
        assert [e.organizer.lower() for e in estate.entries(BOB, r.id or "") if e.is_own] == [BOB]

    @pytest.mark.parametrize("policy", list(ConflictPolicy))
    def test_a_conflict_is_settled_by_the_persons_policy(
        self, estate: Estate, policy: ConflictPolicy
    ) -> None:
        estate.set_policy(ALICE, policy)
        r = estate.book(ALICE, "Disputed", 11)
        estate.sync()
        rounds = 2 if policy is ConflictPolicy.CANCEL else 1  # cancel: ROOMS wins once, then cancels
        for n in range(rounds):
            [entry] = estate.entries(ALICE, r.id or "")
            changed = entry.fields.model_copy(update={"title": f"Outlook {n}"})
            estate.outlook(ALICE).update(ALICE, entry.item_id, changed)
            estate.retitle_in_rooms(r.id or "", f"ROOMS {n}")
            estate.sync()

        reservation = estate.reservation(r.id or "")
        if policy is ConflictPolicy.EXCHANGE_WINS:
            [entry] = estate.entries(ALICE, r.id or "")
            assert reservation.fields.title == entry.fields.title == "Outlook 0"
            assert estate.notes.sent == []
        elif policy is ConflictPolicy.ROLLBACK:
            [entry] = estate.entries(ALICE, r.id or "")
            assert reservation.fields.title == entry.fields.title == "ROOMS 0"
            assert [n.recipient for n in estate.notes.sent] == [ALICE]
        else:
            assert reservation.status is ReservationStatus.CANCELLED
            assert estate.entries(ALICE, r.id or "") == []
            assert [n.recipient for n in estate.notes.sent] == [ALICE, ALICE]  # the conflict, then the cancel

    def test_free_busy_of_persons_and_rooms_merges_exchange_and_rooms(self, estate: Estate) -> None:
        booked = estate.book(ALICE, "Booked", 13, rooms=(ROOM1,), participants=(Participant(email=BOB),))
        estate.sync()
        start = estate.start + timedelta(hours=15)
        private = EventFields(title="Dentist", start=start, end=start + timedelta(hours=1), timezone="UTC")
        estate.outlook(BOB).create(BOB, private)  # known to Exchange only

        day_start = estate.start.replace(hour=0)
        asked = [ALICE, BOB, ROOM1, ROOM2]
        views = {
            v.mailbox: v for v in free_busy(estate.runner, asked, day_start, day_start + timedelta(days=1))
        }

        meeting = (booked.fields.start, booked.fields.end)
        assert all(not v.errors for v in views.values()), {m: v.errors for m, v in views.items()}
        for mailbox in (ALICE, BOB, ROOM1):
            assert meeting in {(b.start, b.end) for b in views[mailbox].busy}, mailbox
        assert {b.source for b in views[ALICE].busy} == {"both"}  # Exchange agrees with ROOMS
        assert (private.start, private.end) in {(b.start, b.end) for b in views[BOB].busy}
        assert views[ROOM2].busy == []
        self.after_free_busy(estate, views)

    def test_drift_a_scan_finds_is_repaired_by_policy(self, estate: Estate) -> None:
        """Drift the sync cannot see on both sides (a change its feed lost, a row changed behind
        ROOMS' journal): the scan says which side changed each, a newer-wins repair takes that
        side after the cycle it runs first, and the next cycle has nothing left to do."""
        from roomsync.engine.difference_scans import ScanRequest, repair_scope, scan
        from roomsync.repair_settings import RepairConfig

        in_outlook = estate.book(ALICE, "Drift in Outlook", 5)
        in_rooms = estate.book(ALICE, "Drift in ROOMS", 6)
        estate.sync()
        [entry] = estate.entries(ALICE, in_outlook.id or "")
        estate.outlook(ALICE).update(
            ALICE, entry.item_id, entry.fields.model_copy(update={"title": "Outlook title"})
        )
        _feed_loses_the_changes(estate, ALICE)
        with estate.database.engine.begin() as db:
            db.execute(
                text("UPDATE reservations SET title = :title WHERE id = :id"),
                {"title": "ROOMS title", "id": int(in_rooms.id or 0)},
            )
        request = ScanRequest(days=3, start=estate.start - timedelta(days=1), persons=[ALICE])

        found = {d.reservation_id: d for d in scan(estate.runner, request).open}

        assert {rid: d.advice.changed_last for rid, d in found.items()} == {
            in_outlook.id: "exchange",
            in_rooms.id: "rooms",
        }
        read = found[in_outlook.id].entry
        assert read is not None and (read.modified is not None or not self.reads_modified)
        if read.modified is not None:  # the server's clock: this machine's, give or take
            assert abs(read.modified - datetime.now(UTC)) < timedelta(minutes=10)
        estate.runner.settings.repair = RepairConfig(policy="newer-wins")
        _, outcomes = repair_scope(estate.runner, request)
        assert sorted((o.difference.reservation_id, o.done is not None) for o in outcomes) == sorted(
            [(in_outlook.id, True), (in_rooms.id, True)]
        ), [o.error for o in outcomes]
        assert estate.reservation(in_outlook.id or "").fields.title == "Outlook title"
        [rewritten] = estate.entries(ALICE, in_rooms.id or "")
        assert rewritten.fields.title == "ROOMS title"
        assert scan(estate.runner, request).open == []
        writes = estate.writes()
        assert not any(r.changed_anything for r in estate.sync())
        assert estate.writes() == writes


def _feed_loses_the_changes(estate: Estate, mailbox: str) -> None:
    """Move the mailbox's sync state past its pending changes without applying them."""
    with estate.database.unit_of_work() as uow:
        state = uow.sync.mailbox_state(mailbox)
        person = uow.rooms.get_person(mailbox)
        assert person is not None and person.environment
        host = estate.runner.host(person.environment)
        page = host.changes(mailbox, state.sync_state)
        while page.more:
            page = host.changes(mailbox, page.sync_state)
        state.sync_state = page.sync_state
        uow.sync.save_mailbox_state(state)
        uow.commit()

"""Conformance: meeting response objects, change keys on DeleteItem, calendar subfolders and
item copies/moves, driven through exchangelib against every EWS dialect."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import IMPERSONATION, Attendee, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.errors import (
    ErrorInvalidChangeKey,
    ErrorMissingInformationReferenceItemId,
)
from exchangelib.folders import Calendar, Folder
from exchangelib.items import AcceptItem, MeetingCancellation, MeetingRequest, MeetingResponse

from sim_support import Org, calendar_item_class

BERLIN = EWSTimeZone("Europe/Berlin")
SEND = "SendToAllAndSaveCopy"


def at(day: int, hour: int) -> EWSDateTime:
    return EWSDateTime(2030, 3, day, hour, tzinfo=BERLIN)


def _meeting(org: Org, *attendees: str, subject: str = "Planning"):  # type: ignore[no-untyped-def]
    alice = org.account("alice@example.org")
    item = calendar_item_class(org.dialect)(
        account=alice,
        folder=alice.calendar,
        subject=subject,
        start=at(4, 10),
        end=at(4, 11),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=a)) for a in attendees],
    )
    item.save(send_meeting_invitations=SEND)
    return alice, alice.calendar.get(id=item.id)


def _as(org: Org, smtp: str):  # type: ignore[no-untyped-def]
    return org.account(smtp, login="svc@example.org", access_type=IMPERSONATION)


def _copy_of(account, subject: str):  # type: ignore[no-untyped-def]
    return account.calendar.get(subject=subject)


# --- response objects --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "response", "item_class"),
    [
        ("accept", "Accept", "IPM.Schedule.Meeting.Resp.Pos"),
        ("tentatively_accept", "Tentative", "IPM.Schedule.Meeting.Resp.Tent"),
        ("decline", "Decline", "IPM.Schedule.Meeting.Resp.Neg"),
    ],
)
def test_attendee_response_reaches_organizer(org: Org, verb: str, response: str, item_class: str) -> None:
    alice, organizer_item = _meeting(org, "bob@example.org")
    bob = _as(org, "bob@example.org")
    copy = _copy_of(bob, "Planning")
    assert copy.my_response_type == "NoResponseReceived"
    getattr(copy, verb)()
    if response == "Decline":
        # A declined meeting leaves the attendee's calendar (Exchange moves it to Deleted Items).
        assert not list(bob.calendar.filter(subject="Planning"))
    else:
        assert bob.calendar.get(subject="Planning").my_response_type == response
    answers = list(alice.inbox.all())
    assert len(answers) == 1
    assert isinstance(answers[0], MeetingResponse)
    assert answers[0].item_class == item_class
    assert answers[0].subject.endswith("Planning")
    refreshed = alice.calendar.get(id=organizer_item.id)
    assert [a.response_type for a in refreshed.required_attendees] == [response]
    # The response is sent and a copy saved (exchangelib's default SendAndSaveCopy).
    assert len(list(bob.sent.all())) == 1


def test_meeting_request_in_inbox_can_be_accepted(org: Org) -> None:
    alice, organizer_item = _meeting(org, "bob@example.org")
    bob = _as(org, "bob@example.org")
    requests = list(bob.inbox.all())
    assert len(requests) == 1 and isinstance(requests[0], MeetingRequest)
    requests[0].accept()
    assert bob.calendar.get(subject="Planning").my_response_type == "Accept"
    refreshed = alice.calendar.get(id=organizer_item.id)
    assert refreshed.required_attendees[0].response_type == "Accept"


def test_accept_without_reference_item_id(org: Org) -> None:
    bob = org.account("bob@example.org")
    with pytest.raises(ErrorMissingInformationReferenceItemId):
        AcceptItem(account=bob).send()


def test_cancel_calendar_item(org: Org) -> None:
    alice, organizer_item = _meeting(org, "bob@example.org")
    bob = _as(org, "bob@example.org")
    organizer_item.cancel()
    # The organizer's meeting goes to Deleted Items; the attendee's copy is marked cancelled.
    assert not list(alice.calendar.filter(subject="Planning"))
    assert [i.subject for i in alice.trash.all().only("subject")] == ["Planning"]
    copy = bob.calendar.get(subject="Canceled: Planning")
    assert copy.is_cancelled
    kinds = [type(i) for i in bob.inbox.all()]
    assert MeetingCancellation in kinds


# --- change keys -------------------------------------------------------------------------------


def test_delete_with_malformed_change_key(org: Org) -> None:
    alice = org.account("alice@example.org")
    item = calendar_item_class(org.dialect)(
        account=alice, folder=alice.calendar, subject="Keep", start=at(5, 9), end=at(5, 10)
    )
    item.save(send_meeting_invitations="SendToNone")
    item.changekey = "not-a-change-key"
    with pytest.raises(ErrorInvalidChangeKey):
        item.delete(send_meeting_cancellations="SendToNone")
    assert alice.calendar.get(id=item.id).subject == "Keep"


# --- calendar subfolders -----------------------------------------------------------------------


def test_calendar_subfolder_lifecycle(org: Org) -> None:
    alice = org.account("alice@example.org")
    sub = Calendar(parent=alice.calendar, name="Project")
    sub.save()
    names = [f.name for f in alice.calendar.children]
    assert names == ["Project"]
    assert (alice.calendar / "Project").id == sub.id
    sub.name = None
    sub.refresh()  # GetFolder
    assert sub.name == "Project"
    item = calendar_item_class(org.dialect)(
        account=alice, folder=sub, subject="In sub", start=at(6, 9), end=at(6, 10)
    )
    item.save(send_meeting_invitations="SendToNone")
    view = list(sub.view(start=at(6, 0), end=at(7, 0)))
    assert [i.subject for i in view] == ["In sub"]
    state_items = list(sub.sync_items())
    assert [getattr(c, "subject", None) for _, c in state_items] == ["In sub"]
    assert not list(alice.calendar.view(start=at(6, 0), end=at(7, 0)))
    sub.delete()
    assert list(alice.calendar.children) == []


def test_folder_name_must_be_unique(org: Org) -> None:
    alice = org.account("alice@example.org")
    Folder(parent=alice.inbox, name="Dup").save()
    from exchangelib.errors import ErrorFolderExists

    with pytest.raises(ErrorFolderExists):
        Folder(parent=alice.inbox, name="Dup").save()


# --- copy and move -----------------------------------------------------------------------------


def test_copy_and_move_item(org: Org) -> None:
    alice = org.account("alice@example.org")
    sub = Calendar(parent=alice.calendar, name="Archive")
    sub.save()
    item = calendar_item_class(org.dialect)(
        account=alice, folder=alice.calendar, subject="Movable", start=at(7, 9), end=at(7, 10)
    )
    item.save(send_meeting_invitations="SendToNone")
    copied = item.copy(to_folder=sub)
    assert [i.subject for i in sub.all()] == ["Movable"]
    assert [i.subject for i in alice.calendar.filter(subject="Movable")] == ["Movable"]
    item.move(to_folder=sub)
    assert sorted(i.subject for i in sub.all()) == ["Movable", "Movable"]
    assert not list(alice.calendar.filter(subject="Movable"))
    assert item.id != copied[0] if isinstance(copied, tuple) else True


def test_room_answer_is_a_meeting_response(org: Org) -> None:
    alice = org.account("alice@example.org")
    soon = EWSDateTime.from_datetime(
        dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=2)
    )
    item = calendar_item_class(org.dialect)(
        account=alice,
        folder=alice.calendar,
        subject="Booked",
        start=soon,
        end=soon + dt.timedelta(hours=1),
        resources=[Attendee(mailbox=Mailbox(email_address="room.1@example.org"))],
    )
    item.save(send_meeting_invitations=SEND)
    answers = list(alice.inbox.all())
    assert [(type(a), a.item_class, a.sender.email_address) for a in answers] == [
        (MeetingResponse, "IPM.Schedule.Meeting.Resp.Pos", "room.1@example.org")
    ]


def test_distinguished_folder_cannot_be_deleted(org: Org) -> None:
    from exchangelib.errors import ErrorDeleteDistinguishedFolder

    alice = org.account("alice@example.org")
    with pytest.raises(ErrorDeleteDistinguishedFolder):
        alice.calendar.delete()


def test_sync_folder_hierarchy(org: Org) -> None:
    alice = org.account("alice@example.org")
    first = list(alice.calendar.sync_hierarchy())
    assert first == []
    state = alice.calendar.folder_sync_state
    sub = Calendar(parent=alice.calendar, name="Team")
    sub.save()
    changes = list(alice.calendar.sync_hierarchy(sync_state=state))
    assert [(kind, f.name) for kind, f in changes] == [("create", "Team")]
    state = alice.calendar.folder_sync_state
    sub.delete()
    changes = list(alice.calendar.sync_hierarchy(sync_state=state))
    assert [(kind, f) for kind, f in changes] == [("delete", sub.id)] or [k for k, _ in changes] == ["delete"]


def test_send_message_between_mailboxes(org: Org) -> None:
    from exchangelib import Message

    alice = org.account("alice@example.org")
    bob = _as(org, "bob@example.org")
    Message(account=alice, subject="Hello", body="hi", to_recipients=["bob@example.org"]).send_and_save()
    assert [m.subject for m in bob.inbox.all().only("subject")] == ["Hello"]
    assert [m.subject for m in alice.sent.all().only("subject")] == ["Hello"]
    draft = Message(account=alice, folder=alice.drafts, subject="Later", to_recipients=["bob@example.org"])
    draft.save()
    draft.send()  # SendItem
    assert sorted(m.subject for m in bob.inbox.all().only("subject")) == ["Hello", "Later"]
    assert not list(alice.drafts.all())

"""Booleans are answered as Exchange writes them, whatever form the client sent."""

from __future__ import annotations

from exchangelib import EWSDateTime, EWSTimeZone

from sim_support import Org, calendar_item_class


def test_boolean_written_as_digit_reads_back_as_true(org: Org) -> None:
    # exchangelib writes ReminderIsSet as "1"; Exchange answers "true", which is all it reads
    account = org.account()
    zone = EWSTimeZone("UTC")
    item = calendar_item_class(org.dialect)(
        account=account,
        folder=account.calendar,
        subject="Reminder at the start",
        start=EWSDateTime(2030, 3, 4, 10, tzinfo=zone),
        end=EWSDateTime(2030, 3, 4, 11, tzinfo=zone),
        reminder_is_set=True,
        reminder_minutes_before_start=0,
    )
    item.save(send_meeting_invitations="SendToNone")
    got = account.calendar.get(id=item.id)
    assert got.reminder_is_set is True
    assert got.reminder_minutes_before_start == 0

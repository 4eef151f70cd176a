"""Pull subscriptions (Subscribe with PullSubscriptionRequest, GetEvents) as Exchange answers them,
read through exchangelib in every EWS dialect.

Each test names the Microsoft page that documents the behaviour it checks. Already covered in
``simulator/tests/test_sim_notifications.py`` and not repeated here: created/modified/moved-to-trash
events from one watermark, unsubscribe then ``ErrorSubscriptionNotFound``
(``test_pull_subscription_reports_changes_with_watermarks``), expiry after the subscription's
timeout, answered with ``ErrorSubscriptionNotFound`` (``test_pull_subscription_expires_after_its_timeout``),
and subscriptions being their creator's.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorSubscriptionNotFound
from exchangelib.folders import Calendar
from exchangelib.properties import CreatedEvent, DeletedEvent, ModifiedEvent, MovedEvent, StatusEvent

from sim_support import Org, calendar_item_class

# Exchange 2007 knows no FreeBusyChangedEvent, exchangelib subscribes to it by default.
EVENT_TYPES = ("CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent")
UTC = EWSTimeZone("UTC")


def _item(org: Org, account: Any, subject: str) -> Any:
    start = EWSDateTime(2030, 3, 5, 10, tzinfo=UTC)
    item = calendar_item_class(org.dialect)(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=start,
        end=start + dt.timedelta(hours=1),
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def _pull(account: Any, sub_id: str, watermark: str) -> tuple[list[Any], str]:
    """The item events after ``watermark`` and the watermark to ask from next."""
    notes = list(account.calendar.get_events(sub_id, watermark))
    events = [e for n in notes for e in n.events]
    assert notes[0].previous_watermark == watermark
    return [e for e in events if e.event_type == "item"], events[-1].watermark


# https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-stream-notifications-about-mailbox-events-by-using-ews-in-exchange
# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getevents
# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createdevent
# (and DeletedEvent, ModifiedEvent, MovedEvent: ItemId, ParentFolderId; OldItemId and
# OldParentFolderId of a move); each event carries the Watermark to ask from next, and a
# Notification its PreviousWatermark. With nothing new, GetEvents answers a StatusEvent.


def test_each_change_arrives_once_with_its_item_and_the_watermark_advances(org: Org) -> None:
    account = org.account()
    other = Calendar(parent=account.calendar, name="Elsewhere")
    other.save()
    sub_id, watermark = account.calendar.subscribe_to_pull(event_types=EVENT_TYPES, timeout=5)
    seen = [watermark]

    item = _item(org, account, "Pulled")
    events, watermark = _pull(account, sub_id, watermark)
    assert [type(e) for e in events] == [CreatedEvent]
    assert events[0].item_id.id == item.id and events[0].parent_folder_id.id == account.calendar.id
    seen.append(watermark)

    item.subject = "Pulled, changed"
    item.save(update_fields=["subject"])
    events, watermark = _pull(account, sub_id, watermark)
    assert [type(e) for e in events] == [ModifiedEvent] and events[0].item_id.id == item.id
    seen.append(watermark)

    old_id = item.id
    item.move(other)
    events, watermark = _pull(account, sub_id, watermark)
    [moved] = events
    assert isinstance(moved, MovedEvent)
    assert moved.old_item_id.id == old_id and moved.old_parent_folder_id.id == account.calendar.id
    assert moved.parent_folder_id.id == other.id and moved.item_id.id != old_id
    seen.append(watermark)

    doomed = _item(org, account, "Doomed")
    doomed_id = doomed.id
    _, watermark = _pull(account, sub_id, watermark)
    doomed.delete(send_meeting_cancellations="SendToNone")
    events, watermark = _pull(account, sub_id, watermark)
    assert [type(e) for e in events] == [DeletedEvent] and events[0].item_id.id == doomed_id
    seen.append(watermark)

    assert len(set(seen)) == len(seen), seen  # every pull moved the watermark on
    [idle] = list(account.calendar.get_events(sub_id, watermark))
    assert [type(e) for e in idle.events] == [StatusEvent] and idle.events[0].watermark == watermark
    account.calendar.unsubscribe(sub_id)


# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode
# ErrorSubscriptionNotFound: "the subscription was not found" - for an id of the form the server
# hands out that names no subscription of it.


def test_an_unknown_subscription_id_is_not_found(org: Org) -> None:
    account = org.account()
    sub_id, watermark = account.calendar.subscribe_to_pull(event_types=EVENT_TYPES, timeout=5)
    raw = bytearray(base64.b64decode(sub_id))
    raw[-1] ^= 0xFF
    unknown = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(ErrorSubscriptionNotFound):
        list(account.calendar.get_events(unknown, watermark))
    list(account.calendar.get_events(sub_id, watermark))  # the real one still answers
    account.calendar.unsubscribe(sub_id)

"""A mailbox (a room) declining meetings as itself: DeclineItem response objects in CreateItem.

One CreateItem carries up to 100 DeclineItems, each referring to the mailbox's calendar item
and sent with ``SendAndSaveCopy``: the organizer receives the decline with the comment as its
body, and Exchange moves the declined item out of the calendar. Exchange answers one response
message per DeclineItem, but a successful one may hold several items (exchangelib #886), so
exchangelib's CreateItem, which flattens the items of all messages, cannot be matched to the
request; :class:`DeclineItems` answers one value per message instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorCalendarIsOrganizerForDecline,
    ErrorCalendarMeetingRequestIsOutOfDate,
    ErrorInvalidItemForOperationCreateItem,
    ErrorInvalidReferenceItem,
    ErrorIrresolvableConflict,
    ErrorMissingInformationReferenceItemId,
    ErrorServerBusy,
    ErrorStaleObject,
    ErrorTimeoutExpired,
)
from exchangelib.items import SEND_AND_SAVE_COPY, SEND_TO_NONE, DeclineItem
from exchangelib.properties import Body, ReferenceItemId
from exchangelib.services import CreateItem

from roomsync.connector.types import ItemRef

PER_ITEM = (
    ErrorCalendarIsOrganizerForDecline,
    ErrorCalendarMeetingRequestIsOutOfDate,
    ErrorInvalidItemForOperationCreateItem,
    ErrorInvalidReferenceItem,
    ErrorMissingInformationReferenceItemId,
    ErrorIrresolvableConflict,  # the change key sent is stale: the organizer changed the meeting
    ErrorStaleObject,
    ErrorAccessDenied,
    # Busy or timed out for this item alone: retrying the whole request, as exchangelib does for
    # a busy request, would decline the others a second time.
    ErrorServerBusy,
    ErrorTimeoutExpired,
)
"""Answers of one response message that concern its item alone."""


class DeclineItems(CreateItem):
    """CreateItem of response objects: ``True`` or the item's error, one per response message."""

    ERRORS_TO_CATCH_IN_RESPONSE = (*CreateItem.ERRORS_TO_CATCH_IN_RESPONSE, *PER_ITEM)

    def _get_elements_in_response(self, response: Any) -> Any:
        for message in response:
            answer = self._get_element_container(message=message, name=None)
            yield answer if isinstance(answer, Exception) else True


def decline(account: Any, refs: Sequence[ItemRef], comment: str, chunk_size: int) -> list[Any]:
    """Each ref's answer (``True`` or an exception), in order; ``chunk_size`` per request."""
    items = [
        DeclineItem(
            account=account,
            reference_item_id=ReferenceItemId(id=ref.item_id, changekey=ref.change_key),
            body=Body(comment) if comment else None,
        )
        for ref in refs
    ]
    service = DeclineItems(account=account, chunk_size=chunk_size)
    answers = list(
        service.call(
            items=items,
            folder=None,  # the copy goes to Sent Items, as Outlook keeps it
            message_disposition=SEND_AND_SAVE_COPY,
            send_meeting_invitations=SEND_TO_NONE,
        )
    )
    if len(answers) != len(refs):
        raise ValueError(f"CreateItem answered {len(answers)} response messages for {len(refs)} declines")
    return answers

"""The values Exchange's store refuses in one calendar item, checked the same way over EWS and Graph.

* A Subject is limited to 255 characters (the EWS reference for ``Subject``). Over EWS a longer
  one is cut, not refused: the item is stored with the first 252 characters and "...", 255 in
  all (exchangelib's maintainer, nylas/exchangelib#68: "EWS will truncate the subject at 255
  chars, adding a ``...`` at the end if it was truncated"). Over Graph a longer one is refused
  for that item with ``ErrorDataSizeLimitExceeded``, the code Microsoft documents for "a value
  that exceeds the maximum size for the property" (no Graph page says it is cut).
* Times are FILETIMEs in the store and Outlook's calendar ends before 4501-01-01:
  ``ErrorCalendarOutOfRange`` outside [1601-01-01, 4501-01-01).
* A meeting request goes to at most 500 recipients (the default MaxRecipientEnvelopeLimit, and
  Exchange Online's limit): ``ErrorExceededMaxRecipientLimit`` where the dialect's schema has the
  code (2013 and later), ``ErrorInvalidRecipients`` before.

Characters XML cannot carry never get this far over EWS: the request fails to parse and is
refused whole with ``ErrorSchemaValidation`` (:mod:`roomsync_sim.soap`). Graph reads JSON, and
answers such a character in an event's text with 400 ``ErrorInvalidArgument`` (:func:`check_text`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from lxml import etree

from roomsync_sim.timezones import parse_datetime

MAX_SUBJECT = 255
ELLIPSIS = "..."
MAX_RECIPIENTS = 500
EARLIEST = datetime(1601, 1, 1, tzinfo=UTC)
LATEST = datetime(4501, 1, 1, tzinfo=UTC)
_ATTENDEE_GROUPS = ("RequiredAttendees", "OptionalAttendees", "Resources")
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class ValueRefused(Exception):
    """One item's value the store does not take: the response code and Exchange's wording."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def check_item(props: dict[str, etree._Element], recipients_code: str | None = None) -> None:
    """Raise :class:`ValueRefused` for the first value of a calendar item's properties beyond the limits.

    ``recipients_code`` is EWS's code for too many recipients, which depends on the dialect: EWS
    gives it, and for EWS a Subject over 255 characters is cut in place (:func:`cut_subject`).
    Graph gives none: its code is ``ErrorExceededMaxRecipientLimit`` and a long Subject is refused.
    """
    ews = recipients_code is not None
    subject = props.get("Subject")
    if ews and subject is not None:
        cut_subject(subject)
    if subject is not None and len(subject.text or "") > MAX_SUBJECT:
        raise ValueRefused(
            "ErrorDataSizeLimitExceeded",
            f"The value of property Subject exceeds the maximum size of {MAX_SUBJECT} characters.",
        )
    for name in ("Start", "End"):
        elem = props.get(name)
        if elem is None or not elem.text:
            continue
        try:
            value = parse_datetime(elem.text)
        except (ValueError, OverflowError):
            value = None
        if value is None or not EARLIEST <= value < LATEST:
            raise ValueRefused(
                "ErrorCalendarOutOfRange", f"The {name} date is out of the range the calendar supports."
            )
    recipients = sum(len(props[g]) for g in _ATTENDEE_GROUPS if props.get(g) is not None)
    if recipients > MAX_RECIPIENTS:
        raise ValueRefused(
            recipients_code or "ErrorExceededMaxRecipientLimit",
            f"The meeting has {recipients} recipients; at most {MAX_RECIPIENTS} are allowed.",
        )


def cut_subject(subject: etree._Element) -> None:
    """A Subject over :data:`MAX_SUBJECT` characters cut as EWS stores it: its first characters
    and "...", :data:`MAX_SUBJECT` in all."""
    text = subject.text or ""
    if len(text) > MAX_SUBJECT:
        subject.text = text[: MAX_SUBJECT - len(ELLIPSIS)] + ELLIPSIS


def check_text(name: str, text: str) -> None:
    """Graph's answer to text that no XML can carry (JSON escapes can spell it)."""
    bad = _NOT_XML.search(text)
    if bad is not None:
        raise ValueRefused(
            "ErrorInvalidArgument",
            f"The value of property {name} contains the invalid character U+{ord(bad.group()):04X}.",
        )

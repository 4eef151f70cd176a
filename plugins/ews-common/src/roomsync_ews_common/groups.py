"""Distribution groups over ``ExpandDL``: one level of a group, as every EWS generation answers it.

ExpandDL (Exchange 2007 and later) lists a group's direct members: mailboxes, rooms and contacts
as ``Mailbox`` entries, a nested group as one entry of ``MailboxType`` ``PublicDL`` that is
expanded in turn (the host does that, once per group, so a loop of groups ends). An address that
is no group (a person's mailbox, or unknown) is answered ``ErrorNameResolutionNoResults``. The
request is sent with the environment's protocol, as its other requests; reading the directory
needs no right beyond a mailbox-enabled service account, except for groups whose membership is
hidden (``HiddenGroupMembershipEnabled``), which Exchange does not expand for anyone.
"""

from __future__ import annotations

from typing import Any

from exchangelib.errors import ErrorNameResolutionNoResults

from roomsync.connector.groups import GroupMember

NESTED = frozenset({"PublicDL"})
"""Member types that are groups expandable by address (a ``PrivateDL`` lives in someone's contacts)."""


def expand_dl(protocol: Any, address: str) -> list[GroupMember] | None:
    """The direct members of the group at ``address``; ``None`` when it is no group."""
    try:
        answers = list(protocol.expand_dl(address))
    except ErrorNameResolutionNoResults:
        return None
    members = []
    for answer in answers:
        if isinstance(answer, ErrorNameResolutionNoResults):
            return None
        if isinstance(answer, Exception):
            raise answer
        if not answer.email_address:
            continue  # a one-off member without an SMTP address: nothing to invite
        members.append(
            GroupMember(
                address=answer.email_address, name=answer.name or "", is_group=answer.mailbox_type in NESTED
            )
        )
    return members

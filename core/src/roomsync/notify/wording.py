"""The English words of every notification, rendered from its kind and facts.

The facts of each kind (all of them strings unless marked):

- ``conflict``: ``title``, ``fields`` (the conflicting fields, comma-separated)
- ``rejected``: ``title``, ``start`` (ISO 8601), ``rooms`` (the names of the rooms invited),
  ``taken`` (of those that are not free)
- ``sync-disabled`` and ``cancelled``: ``title``, ``fields``, ``attempts`` (int)
- ``failure``: ``failures`` (int, the failed cycles in a row)
- ``not-sent``: ``title``, ``start`` and ``until`` (ISO 8601: when it stopped waiting)
- ``fault``: ``fault`` (a :class:`~roomsync.errors.Fault` value), ``person``, ``environment``,
  ``failures`` (int), ``detail`` (the error as the connector or the core reported it)

What an organizer reads names their reservations, rooms and times and nothing internal: no
server, account, secret, setting or error text. Those are in the administrators' ``fault``.
"""

from __future__ import annotations

from datetime import datetime

from roomsync.errors import Fault
from roomsync.notify.message import Notification, NotificationKind

FAULTS: dict[Fault, tuple[str, str]] = {
    Fault.CONFIGURATION: (
        "a configuration error",
        "correct the setting the error names in the configuration file",
    ),
    Fault.CREDENTIALS: (
        "credentials refused",
        "check the account, its password or secret (and where it is read from) and that the account "
        "is neither locked nor expired",
    ),
    Fault.PERMISSION: (
        "a missing right",
        "grant the service account the right the error names on the person's mailbox",
    ),
    Fault.TLS: (
        "a TLS failure",
        "make the server's certificate trusted (the ca_file option) or use the host name it is made out to",
    ),
    Fault.SERVER: (
        "the server is unreachable or failing",
        "check that the server is up and reachable from this machine; the cycle is retried at every interval",
    ),
    Fault.MAILBOX: (
        "no such mailbox",
        "check the person's address and that their mailbox is on the environment's server",
    ),
    Fault.PLUGIN: ("a plugin is missing", "install the plugin the error names"),
    Fault.ENVIRONMENT: (
        "no usable environment",
        "assign the person an environment from the configuration with 'roomsync persons set'",
    ),
    Fault.DATABASE: ("a database problem", "bring the database and roomsync to the same version"),
    Fault.SAFETY: ("a safety stop", "check the mailbox and confirm as the error says, if it is right"),
    Fault.DATA: ("data roomsync cannot use", "correct the record the error names"),
    Fault.INTERNAL: (
        "an unexpected error",
        "the log holds the traceback; please report it with the roomsync and plugin versions",
    ),
}
"""Each fault: a short name for the subject, and what an administrator checks first."""


def subject(notification: Notification) -> str:
    f = notification.facts
    match notification.kind:
        case NotificationKind.CONFLICT:
            return f"Change not applied: {f['title']}"
        case NotificationKind.REJECTED:
            return f"Not booked: {f['title']}"
        case NotificationKind.SYNC_DISABLED:
            return f"Sync stopped: {f['title']}"
        case NotificationKind.CANCELLED:
            return f"Reservation cancelled: {f['title']}"
        case NotificationKind.FAILURE:
            return "Your calendar is not being synchronised at the moment"
        case NotificationKind.NOT_WRITTEN:
            return f"Not in your calendar: {f['title']}"
        case NotificationKind.NOT_SENT:
            return f"Room booking released: {f['title']}"
        case NotificationKind.WRITE_REFUSED:
            return (
                f"roomsync: a reservation of {f['person']} was not written (environment {f['environment']})"
            )
        case NotificationKind.FAULT:
            name = FAULTS[Fault(str(f["fault"]))][0]
            return f"roomsync: {name} in environment {f['environment']} ({f['person']})"


def body(notification: Notification) -> str:
    text = _body(notification)
    if notification.reservation_id is not None:
        text = f"{text}\n\nReservation {notification.reservation_id}."
    return text


def _body(notification: Notification) -> str:
    f = notification.facts
    match notification.kind:
        case NotificationKind.CONFLICT:
            return (
                f"Your change to '{f['title']}' in Outlook ({f['fields']}) conflicts with the reservation "
                "in ROOMS; the calendar entry was reset to the reservation."
            )
        case NotificationKind.REJECTED:
            return (
                f"Your calendar entry '{f['title']}' on {_when(str(f['start']))} invites {f['rooms']}, "
                f"but {f['taken']} is not free at that time. No reservation was made; choose another "
                "time or room in Outlook or in ROOMS."
            )
        case NotificationKind.SYNC_DISABLED:
            return (
                f"Your changes to '{f['title']}' in Outlook could not be applied {f['attempts']} times "
                f"({f['fields']}). The reservation no longer syncs; please edit it in ROOMS."
            )
        case NotificationKind.CANCELLED:
            return (
                f"Your changes to '{f['title']}' in Outlook conflicted with the reservation ({f['fields']}) "
                f"{f['attempts']} times, so the reservation was cancelled as your sync policy says."
            )
        case NotificationKind.FAILURE:
            return (
                f"The last {f['failures']} attempts to synchronise your Outlook calendar with ROOMS did "
                "not succeed. The administrators have been told and are looking into it.\n\n"
                "Your reservations in ROOMS are safe: changes made in the meantime, in ROOMS or in "
                "Outlook, are synchronised once it works again. You need not do anything."
            )
        case NotificationKind.NOT_WRITTEN:
            return (
                f"Your reservation '{f['title']}' on {_when(str(f['start']))} could not be put into "
                f"your Outlook calendar: {f['why']}. Please change it in ROOMS; it is written to your "
                "calendar as soon as it changes."
            )
        case NotificationKind.NOT_SENT:
            return (
                f"You booked a room for '{f['title']}' on {_when(str(f['start']))} in Outlook, but the "
                f"meeting had not reached your calendar by {_when(str(f['until']))} (it was closed "
                "without being sent), so the reservation was cancelled and the room is free "
                "again. Open the meeting and book the room anew if you still need it."
            )
        case NotificationKind.WRITE_REFUSED:
            return (
                f"{f['detail']}\n\nThe organizer {f['person']} was told in plain words which value to "
                "change. Nothing is sent for this reservation again until it changes in ROOMS."
            )
        case NotificationKind.FAULT:
            fault = Fault(str(f["fault"]))
            name, check = FAULTS[fault]
            return (
                f"The synchronisation of {f['person']} (environment {f['environment']}) failed "
                f"{f['failures']} times in a row: {name} ({f['fault']}).\n\n"
                f"{f['detail']}\n\n"
                f"{_others(fault, str(f['environment']))}"
                f"What to check: {check}. 'roomsync test {f['person']}' repeats the checks, and "
                f"'roomsync status' shows every person's last error. {f['person']} was told that their "
                "calendar is not synchronised at the moment and that the administrators know, "
                "without these details."
            )


def _when(iso: str) -> str:
    """A start as people write it, in the entry's own time zone: Monday 7 December 2026, 08:00."""
    start = datetime.fromisoformat(iso)
    return f"{start:%A} {start.day} {start:%B %Y, %H:%M}"


def _others(fault: Fault, environment: str) -> str:
    if not fault.environment_wide:
        return ""
    return (
        f"A fault of this kind stops every person of environment {environment} alike; it is told once, "
        f"not for each of them, until a cycle in {environment} succeeds again.\n\n"
    )

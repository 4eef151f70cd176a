"""The facts of every notification kind, and the English names of the faults.

The words of the mails are templates (:mod:`roomsync.notify.render`, in ``templates/<language>/``);
they receive these facts. The facts of each kind (all of them strings unless marked):

- ``conflict``: ``title``, ``fields`` (the conflicting fields, comma-separated)
- ``rejected``: ``title``, ``start`` (ISO 8601), ``rooms`` (the names of the rooms invited),
  ``taken`` (of those that are not free)
- ``sync-disabled`` and ``cancelled``: ``title``, ``fields``, ``attempts`` (int)
- ``failure``: ``failures`` (int, the failed cycles in a row)
- ``not-written``: ``title``, ``start`` (ISO 8601), ``why`` (which value Exchange cannot take, in
  English: for the log and templates of an installation that use it), and one numbered group of
  facts per value beyond the limits the connector declared (none: the server refused a value
  itself). For problem ``<n>`` (from 1, without gaps; the templates also receive them as the list
  ``problems``, see :mod:`roomsync.notify.render`):

  - ``problem_<n>``: why, a code; ``problem_<n>_value`` and ``problem_<n>_limit`` are by code:

    - ``too-long``: the length in characters (int); the most characters taken (int)
    - ``character``: the position, from 1, of a character the server refuses (int); no limit,
      but ``problem_<n>_character``: its code point (int). These characters are invisible
      (control characters, U+FFFE, U+FFFF, lone surrogates): the position is what a person can use
    - ``too-many-attendees``: participants and rooms together (int); the most taken (int)
    - ``too-early``: the time (ISO 8601); the earliest time taken (ISO 8601)
    - ``too-late``: the time (ISO 8601); the first time no longer taken (ISO 8601)

  - ``problem_<n>_field``: which value: ``title``, ``description``, ``participant-name`` (and
    ``problem_<n>_participant``: the participant's address), ``participants`` (with the rooms),
    ``start``, ``end``, ``series-end``, ``occurrence-title``, ``occurrence-start`` or
    ``occurrence-end`` (and ``problem_<n>_occurrence``: the occurrence's original start, ISO 8601)

  Times are in the reservation's zone, like ``start``; the templates write them in the person's.
- ``not-sent``: ``title``, ``start`` and ``until`` (ISO 8601: when it stopped waiting)
- ``repaired``: ``title``, ``start`` (ISO 8601), ``rooms``, ``fields`` (what differed, merge keys
  comma-separated; empty for a missing entry), ``what`` (``entry-created``, ``entry-updated`` or
  ``reservation-updated``)
- ``room-declined``: a room turned down (part of) the meeting of a reservation in the organizer's
  calendar: ``title``, ``start`` (ISO 8601), ``rooms`` (the room's name), ``reason`` (a code:
  ``conflict``, the room is already booked then; ``booking-window``, further ahead than the room
  may be booked; ``policy``, the room's booking policy refused it otherwise, e.g. its length, a
  series or the organizer), ``occurrences`` (the original starts of the declined occurrences of a
  series, ISO 8601, comma-separated; empty: the whole meeting was declined) and ``outcome`` (a
  code, what the person's conflict policy made of it: ``cancelled``, the reservation was cancelled
  and the room is free in ROOMS; ``kept``, the reservation stays as it is and roomsync keeps
  trying; ``room-removed``, the room, or the declined occurrences, left the reservation;
  ``sync-disabled``, after repeated declines the reservation no longer syncs)
- ``write-refused``: ``person``, ``environment``, ``detail`` (the limit or the server's answer)
- ``fault``: ``fault`` (a :class:`~roomsync.errors.Fault` value), ``person``, ``environment``,
  ``failures`` (int), ``detail`` (the error as the connector or the core reported it)
- ``room-collision``: a booking of a room made in Outlook collides with a ROOMS reservation of
  the room: ``room`` (its name), ``title`` (the booking's), ``start`` (ISO 8601), ``person`` (the
  booking's organizer), ``environment``, ``holder`` (the title of the reservation holding the
  room), ``outcome`` (a code: ``declined``, the room is sync master and its organizer received the
  room's decline; ``kept``, the room is not sync master, both stay and ``roomsync diff`` lists
  the collision; ``decline-failed``, declining it failed) and ``detail`` (in English: the room's mailbox, the
  booking's item id and why, the error if declining failed)

What an organizer reads names their reservations, rooms and times and nothing internal: no
server, account, secret, setting or error text. Those are in the administrators' ``fault``.
"""

from __future__ import annotations

from roomsync.errors import Fault

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
"""Each fault: a short name and what an administrator checks first (``roomsync status``; the
mails have their own words in every language, ``templates/<language>/_macros.txt``)."""

"""The hook contract: the one page a connector or extension author reads.

Two kinds of hooks live here.

*Connector hooks* (``firstresult``, listed in :data:`CONNECTOR_HOOKS`) are what a connector
promises: one connector object, chosen by name from the ``roomsync.connectors`` entry points for
an environment in the configuration, implements them as methods marked with :data:`hookimpl`.
Every environment gets its own plugin manager holding its connector, so a call goes to exactly one
connector and its answer is the connector's. Extension plugins in the same manager may wrap those
calls (``@hookimpl(wrapper=True)``, or pluggy's older ``hookwrapper=True``) to measure, log or
retry them, except :func:`roomsync_capabilities`, which is the connector's declaration and cannot
be wrapped. An extension that answers a connector hook itself (a plain ``@hookimpl``) or wraps
``roomsync_capabilities`` is refused when the environment's connector is opened, with an error
naming the plugin and the hook.

*Extension hooks* are called on every plugin that implements them. Extension plugins are modules
or objects registered under the ``roomsync.plugins`` entry-point group; the SMTP notifier that
ships with the core is one of them. Entry-point plugins are registered in the order of their
entry-point names; plugins registered in code (``pm.register``) come after them, in the order of
their registration. That order matters only for the chained hooks, :func:`roomsync_map_export`
and :func:`roomsync_map_import`.

Mailboxes are e-mail addresses in lower case. Every batched hook answers one result per input, in
the input's order; a failure of one item is a failed :class:`~roomsync.connector.types.WriteResult`, not an
exception. Exceptions are for failures of the whole call: raise
:class:`~roomsync.errors.AccessDenied` when the service account may not use the mailbox,
:class:`~roomsync.errors.TransientConnectorError` for time-outs and throttling that outlasted the
connector's own retries, :class:`~roomsync.errors.ConnectorError` for the rest. Pass the kind of
fault where it is known (``fault=Fault.CREDENTIALS``, ``Fault.TLS``, ``Fault.CONFIGURATION``,
``Fault.MAILBOX``; the default is ``Fault.SERVER``): it decides the administrators' subject and
what they are told to check. The error's text, with every hint for the administrator, goes to the
administrators only; organizers are told in plain words that their calendar waits.

What a connector vendor must know
---------------------------------

* **The class.** Subclass :class:`roomsync.connector.Connector` and set its ``Options`` to a
  pydantic model with ``extra="forbid"``; the environment's ``options`` table is validated with
  it before anything connects. A connector that talks HTTP(S) inherits
  :class:`~roomsync.connector.TlsOptions` (``verify_tls``, ``ca_file``) and
  :class:`~roomsync.connector.TimeoutOptions` (``connect_timeout_seconds``,
  ``read_timeout_seconds``; ``timeouts`` is the pair ``requests`` takes) into it. Register the
  class under the ``roomsync.connectors`` entry-point group; its name is the environment's
  ``plugin``.
* **Batches.** The engine calls through :class:`roomsync.connector.host.ConnectorHost`, which
  cuts every batched call (writes, stamp lookups) to the declared ``max_batch`` and free/busy to
  ``max_freebusy_mailboxes`` per call: a connector never sees more than it declared.
* **Stamps.** Each entry carries the stamp it was drafted with (``EntryDraft.stamp``), which the
  connector stores with the entry and finds again with :func:`roomsync_find_by_stamp`. Stamps are
  opaque: the host encodes them for this installation, and a connector never reads meaning into
  one beyond the companion suffix below.
* **Buffers.** A meeting's setup and follow-up time (``setup_minutes``, ``followup_minutes``) are
  written as *companion* entries beside it, so the server's free/busy shows them busy:
  :mod:`roomsync.connector.companions` computes them. :func:`~roomsync.connector.companions.companion_drafts`
  gives those of new entries, each stamped with the meeting's stamp and the suffix
  ``#setup`` or ``#followup`` (:func:`~roomsync.connector.companions.companion_stamp`); after an
  update, look up :func:`~roomsync.connector.companions.companion_lookups` and carry out what
  :func:`~roomsync.connector.companions.reconcile_companions` answers (rewrite, create,
  delete); on delete, remove the companions with the entry. Companions are the connector's own:
  keep them out of what the read hooks answer (:func:`~roomsync.connector.companions.is_companion`),
  and never let a companion's failure fail its entry (log it).
* **Free/busy windows.** Refuse a window with naive times or no length before any request
  (:func:`roomsync.connector.windows.require_window`). Declare the longest window the server
  takes as ``max_freebusy_days``, ask a longer one in the pieces
  :func:`~roomsync.connector.windows.split_window` cuts to it and join the answers with
  :func:`~roomsync.connector.windows.joined`.
* **The sync test.** :func:`roomsync_check` is :func:`roomsync.connector.checks.sync_test` with
  the connector's :class:`~roomsync.connector.checks.SyncTestActions`;
  :func:`~roomsync.connector.checks.through_hooks` builds them from the connector's own hooks
  and takes how to connect and how to read the first page of changes. The steps' names and
  wording are then the same for every connector.
* **Proof.** The connector passes :class:`roomsync.testkit.ConnectorSuite` against a test server.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    import click

    from roomsync.connector.directory import RoomList
    from roomsync.connector.groups import GroupMember
    from roomsync.connector.types import (
        CalendarEntry,
        Capabilities,
        ChangeSet,
        CheckStep,
        EntryDraft,
        EntryUpdate,
        FreeBusy,
        ItemRef,
        WriteResult,
    )
    from roomsync.domain import Reservation
    from roomsync.engine.report import CycleReport
    from roomsync.notify.message import Notification

PROJECT = "roomsync"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

CONNECTOR_HOOKS = frozenset(
    {
        "roomsync_capabilities",
        "roomsync_check",
        "roomsync_create_entries",
        "roomsync_update_entries",
        "roomsync_delete_entries",
        "roomsync_changes",
        "roomsync_list_entries",
        "roomsync_find_by_stamp",
        "roomsync_decline_entries",
        "roomsync_free_busy",
        "roomsync_watch",
        "roomsync_room_directory",
        "roomsync_expand_group",
        "roomsync_close",
    }
)
"""Answered by the environment's connector alone; extensions may only wrap them."""

CHAINED_HOOKS = frozenset({"roomsync_map_export", "roomsync_map_import"})
"""Each implementation receives the previous one's result (see :func:`roomsync_map_export`)."""

UNWRAPPABLE_HOOKS = frozenset({"roomsync_capabilities"}) | CHAINED_HOOKS
"""Hooks no plugin may implement with ``wrapper=True`` or ``hookwrapper=True``."""


# --- connector hooks -----------------------------------------------------------------------


@hookspec(firstresult=True)
def roomsync_capabilities() -> Capabilities:
    """What this connector supports: recurrence, push, batch sizes, free/busy limits.

    Asked once per environment; the host cuts batches to ``max_batch`` and
    ``max_freebusy_mailboxes``. No extension may answer or wrap it.

    ``limits`` (:class:`~roomsync.connector.types.WriteLimits`) declares the values the server takes in one
    entry: title length, attendees per meeting, the range of times, whether text must be XML 1.0
    characters. The engine checks every draft and update against them before calling the write
    hooks and leaves out what is beyond them, so declare every limit whose violation would fail
    more than the one item (a request the server refuses whole, a client library that raises).
    """


@hookspec(firstresult=True)
def roomsync_check(mailbox: str) -> list[CheckStep]:
    """The connector's part of the per-person sync test.

    Connect, read the calendar of ``mailbox``, write and remove a probe entry, read free/busy and
    change detection; one :class:`CheckStep` per step, each with a reason a server administrator
    understands when it fails. Never raises for a failing step.
    """


@hookspec(firstresult=True)
def roomsync_create_entries(mailbox: str, drafts: list[EntryDraft]) -> list[WriteResult]:
    """Create entries in ``mailbox``, each stamped with its ``draft.stamp`` as it is created.

    Participants and rooms become attendees and receive invitations; the mailbox is the
    organizer. A retried create (the first attempt timed out) must not leave two entries: look
    the stamp up before writing again. Drafts marked ``known_new`` by the engine cannot have an
    entry yet, so their lookup may be skipped (a create whose answer was lost is still looked up).

    One item the server refuses must not fail the others: if the server refuses a whole request
    for the content of one item, write the items one by one. An item refused for its content is
    an ``INVALID`` result, which the engine reports to the organizer and does not send again until
    the reservation changes; anything that may pass on a later try must be another kind.
    """


@hookspec(firstresult=True)
def roomsync_update_entries(mailbox: str, updates: list[EntryUpdate]) -> list[WriteResult]:
    """Replace the synced fields of existing entries. A stale change key gives ``STALE``.

    Content the server refuses gives ``INVALID`` for that item alone, as for creates.
    """


@hookspec(firstresult=True)
def roomsync_delete_entries(mailbox: str, refs: list[ItemRef]) -> list[WriteResult]:
    """Delete entries (cancelling the meeting for its attendees). Already gone gives ``NOT_FOUND``."""


@hookspec(firstresult=True)
def roomsync_changes(mailbox: str, sync_state: str | None) -> ChangeSet:
    """Changes of the calendar of ``mailbox`` since ``sync_state`` (``None``: from the start).

    The state is opaque to the core, which stores it only after the changes were applied. An
    unusable state is not an error: start over and set ``reset`` on the answer. The connector's
    own writes come back here too; the engine recognises them.
    """


@hookspec(firstresult=True)
def roomsync_list_entries(mailbox: str, start: datetime, end: datetime) -> list[CalendarEntry]:
    """Every entry of the calendar of ``mailbox`` that overlaps the window; series as masters."""


@hookspec(firstresult=True)
def roomsync_find_by_stamp(mailbox: str, stamps: list[str]) -> dict[str, list[CalendarEntry]]:
    """Entries in ``mailbox`` carrying each ROOMS stamp; stamps without entries may be absent."""


@hookspec(firstresult=True)
def roomsync_decline_entries(mailbox: str, refs: list[ItemRef], comment: str) -> list[WriteResult]:
    """Decline meetings in ``mailbox``'s calendar as the mailbox itself answers them.

    A sync-master room turns down an Outlook booking that collides with a ROOMS reservation: the
    organizer receives the decline from the room, with ``comment`` as its text, and the meeting
    leaves the room's calendar (EWS DeclineItem, Graph ``decline`` with ``sendResponse``). An
    entry already gone is ``NOT_FOUND``; one that ``mailbox`` organises itself is ``INVALID``. A
    connector without this hook cannot decline: the host says so.
    """


@hookspec(firstresult=True)
def roomsync_free_busy(mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
    """Busy intervals of many mailboxes over one window, one answer per mailbox in order."""


@hookspec(firstresult=True)
def roomsync_watch(mailboxes: list[str], wake: Callable[[list[str]], None]) -> bool:
    """Watch the calendars of ``mailboxes`` for changes, replacing whatever was watched before.

    ``roomsync run`` asks connectors whose capabilities say ``push``; an empty list stops watching.
    Return at once (subscribe in the background) and call ``wake(mailboxes)``, from any thread,
    whenever calendars of watched mailboxes changed. A wake carries no data: the engine reads the
    changes with :func:`roomsync_changes` as in every cycle, so a spurious wake costs one cycle and
    a missed one only latency, since the runner keeps polling every interval as the safety net.

    Wake *every* watched mailbox once watching stands and again after any gap in which a change
    may have gone unreported (a reconnect, a lost or expired subscription): the sync state then
    catches up, and nothing is missed when a connection drops. A mailbox added to the watched set
    is woken once its own watch stands. Answer ``False`` when the connector cannot watch; it is
    then polled, like connectors without this hook. :func:`roomsync_close` stops watching.
    """


@hookspec(firstresult=True)
def roomsync_room_directory(room_list: str | None) -> list[RoomList]:
    """The room lists of the environment's directory with their rooms, for ``rooms import``.

    One :class:`~roomsync.connector.directory.RoomList` per list, each room with its mailbox
    address, its display name and, where the server records them, capacity, building and floor;
    rooms that are in no list form one more list with ``mailbox=None`` where the server can tell
    them. ``room_list`` (an address) asks for that list alone; a list the directory does not have
    is a :class:`~roomsync.errors.ConnectorError` naming the lists it has. A list whose rooms
    could not be read carries its ``error`` and does not fail the others; raise only when no list
    could be read. A connector without this hook cannot list rooms: the host says so. A server
    generation that has no room lists raises a ``ConnectorError`` (``Fault.CONFIGURATION``)
    saying so and how rooms are added instead.
    """


@hookspec(firstresult=True)
def roomsync_expand_group(address: str) -> list[GroupMember] | None:
    """The direct members of the distribution group ``address``; ``None`` when it is no group.

    One level only, as Exchange's ExpandDL answers: a nested group is one
    :class:`~roomsync.connector.groups.GroupMember` with ``is_group`` set, which the host expands
    in turn (with the ``[sync]`` depth limit, size cap and loop detection, once per cycle). An
    address that is a person's mailbox, or unknown, is ``None``, not an error. Raise
    :class:`~roomsync.errors.AccessDenied` when the service account may not read groups, naming
    the right it lacks. A connector without this hook leaves groups as they are.
    """


@hookspec(firstresult=True)
def roomsync_close() -> None:
    """Release connections and stop watching; called once when the runner stops using the connector."""


# --- extension hooks ----------------------------------------------------------------------


@hookspec
def roomsync_map_export(reservation: Reservation, draft: EntryDraft) -> EntryDraft | None:
    """Adjust an entry before it is written to Exchange; return a replacement or ``None``.

    Called for creates and updates. Replacements chain: ``draft`` is what the previous
    implementation returned (the engine's draft for the first), ``None`` passes it on unchanged,
    and the last result is written; ``reservation`` is always the ROOMS reservation as stored.
    The chain runs ``tryfirst`` implementations first, then the others, then ``trylast`` ones,
    each group in registration order (see the top of this page): the plugin registered first
    adjusts first. This is not pluggy's usual last-registered-first order, because the engine runs
    the chain itself; wrappers (``wrapper=True``, ``hookwrapper=True``) are refused.
    """


@hookspec
def roomsync_map_import(entry: CalendarEntry) -> CalendarEntry | None:
    """Adjust an entry read from Exchange before the engine compares it; a replacement or ``None``.

    Chains like :func:`roomsync_map_export`, in exactly the reverse order: ``trylast``
    implementations first, then the others, then ``tryfirst`` ones, each group last-registered
    first. Mappings thus nest: each plugin's import sees the entry as its own export left it, so
    two plugins that each prefix the title on export (the first registered ``A:``, the second
    ``B:``, giving ``B:A:T``) and strip their prefix on import give back ``T``.
    """


@hookspec
def roomsync_notify(notification: Notification) -> None:
    """Deliver a message (a conflict, a sync failure, a fault); every notifier gets it.

    A notification is data: a ``kind``, its ``audience`` (which follows from the kind) and the
    ``facts``; ``subject`` and ``body`` render it in English (:mod:`roomsync.notify.wording`).
    ``Audience.ORGANIZER`` goes to ``recipient`` and says only what concerns that person, in plain
    words. ``Audience.ADMINISTRATORS`` (kind ``fault``) has no recipient: it carries the technical
    detail (the error, the environment, the person, the kind of fault) and goes to the
    administrators the notifier knows (the SMTP notifier: ``[smtp] admin``), never to an
    organizer. Connectors choose its kind by raising errors with a
    :class:`~roomsync.errors.Fault` (``ConnectorError(..., fault=Fault.CREDENTIALS)``).
    """


@hookspec
def roomsync_cycle_finished(report: CycleReport) -> None:
    """React to one finished sync cycle (metrics, audit, chat messages): a person's, or a room
    calendar's (``report.kind`` is ``"room"``).

    Not called for a cycle that was skipped because another process was synchronising the
    mailbox (it holds the mailbox's lease); that person's next cycle is reported as usual.
    """


@hookspec
def roomsync_register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``roomsync`` command line (``cli.add_command(...)``)."""


@hookspec
def roomsync_config_problems(settings: Any) -> list[Any]:
    """The :class:`~roomsync.errors.ConfigProblem` list of the plugin's own part of the
    configuration (a table of ``roomsync.toml`` it reads); ``roomsync config check`` shows them
    with the core's, and the commands that synchronise refuse to start on any."""


@hookspec
def roomsync_configure(settings: Any) -> None:
    """Receive the loaded :class:`~roomsync.config.Settings` once, before any other hook."""

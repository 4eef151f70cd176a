"""The connector contract in one place: what a connector plugin subclasses, takes and returns.

A vendor imports from here: :class:`Connector` with its ``Options`` model (HTTP(S) connectors
inherit :class:`TlsOptions` and :class:`TimeoutOptions`), the hook types of
:mod:`roomsync.connector.types`, the sync test's :func:`sync_test` and :func:`through_hooks`
(over :func:`run_check` and :func:`probe_draft`). Buffers as companion entries are in
:mod:`roomsync.connector.companions`, free/busy windows in :mod:`roomsync.connector.windows`. The
hooks themselves are specified in :mod:`roomsync.hookspecs`, whose docstring is the hook page;
the engine calls a connector through :class:`roomsync.connector.host.ConnectorHost`, which cuts
batches to ``max_batch`` and speaks stamps.
"""

from roomsync.connector.base import Connector, Wake, chunked
from roomsync.connector.checks import (
    NOT_TRIED,
    PROBE_PREFIX,
    SyncTestActions,
    probe_draft,
    run_check,
    sync_test,
    through_hooks,
)
from roomsync.connector.options import NoOptions, TimeoutOptions, TlsOptions
from roomsync.connector.types import (
    Answer,
    AttendeeAnswer,
    BusyInterval,
    CalendarEntry,
    Capabilities,
    ChangeSet,
    CheckStep,
    EntryDraft,
    EntryUpdate,
    FreeBusy,
    ItemRef,
    WriteErrorKind,
    WriteLimits,
    WriteResult,
)

__all__ = [
    "NOT_TRIED",
    "PROBE_PREFIX",
    "Answer",
    "AttendeeAnswer",
    "BusyInterval",
    "CalendarEntry",
    "Capabilities",
    "ChangeSet",
    "CheckStep",
    "Connector",
    "EntryDraft",
    "EntryUpdate",
    "FreeBusy",
    "ItemRef",
    "NoOptions",
    "SyncTestActions",
    "TimeoutOptions",
    "TlsOptions",
    "Wake",
    "WriteErrorKind",
    "WriteLimits",
    "WriteResult",
    "chunked",
    "probe_draft",
    "run_check",
    "sync_test",
    "through_hooks",
]

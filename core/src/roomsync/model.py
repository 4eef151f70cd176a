"""Former home of the domain and the connector types, kept so that existing plugins still import.

The domain is now :mod:`roomsync.domain`, the connector contract :mod:`roomsync.connector`.
Importing this module warns; it will be removed in a later release.
"""

import warnings

from roomsync.connector.types import (  # noqa: F401
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
from roomsync.domain import (  # noqa: F401
    ConflictPolicy,
    EventFields,
    Frequency,
    OccurrenceChange,
    Participant,
    Person,
    Recurrence,
    Reservation,
    ReservationStatus,
    Room,
    ShowAs,
    Weekday,
    canonical,
)

warnings.warn(
    "roomsync.model is deprecated: import the domain from roomsync.domain and the connector "
    "types from roomsync.connector",
    DeprecationWarning,
    stacklevel=2,
)

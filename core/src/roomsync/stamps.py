"""The stamp roomsync writes on every entry: which installation made it, for which reservation.

Several installations (a test and a production system, two organisations' ROOMS) may write into
the same Exchange organisation. A stamp that named only the reservation id would let one take
the other's entries for its own: ``"1"`` is reservation 1 everywhere. The stamp therefore reads
``<installation id>:<reservation id>``, and an installation acts only on entries whose stamp
carries its own id (or on unstamped entries, the Outlook bookings).

Connectors store and search stamps as opaque strings; :class:`ConnectorHost` encodes them on
the way out and decodes them on the way in, so the engine only ever sees reservation ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from roomsync.connector.types import CalendarEntry

_SCOPED = re.compile(
    r"^(?P<installation>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(?P<id>.+)$"
)
UNSCOPED = "an installation from before stamps named their installation"
"""What a bare stamp's owner is called when this installation never wrote bare stamps."""


@dataclass(frozen=True)
class Installation:
    """This installation's identity, stored in its database when the database is created.

    ``bare_stamps``: the database existed before stamps were scoped, so entries stamped with a
    bare reservation id are its own (each is re-stamped on its next write).
    """

    id: str
    bare_stamps: bool = False


@dataclass(frozen=True)
class StampCodec:
    """Turns reservation ids into this installation's stamps and back."""

    installation: Installation

    def encode(self, reservation_id: str) -> str:
        return f"{self.installation.id}:{reservation_id}"

    def lookups(self, reservation_id: str) -> list[str]:
        """Every stamp an entry of this reservation may carry (the bare one too, for old entries)."""
        scoped = [self.encode(reservation_id)]
        return [*scoped, reservation_id] if self.installation.bare_stamps else scoped

    def decode(self, stamp: str) -> tuple[str | None, str | None]:
        """``(reservation id, None)`` for this installation's stamp, ``(None, owner)`` for another's."""
        match = _SCOPED.match(stamp)
        if match is None:
            return (stamp, None) if self.installation.bare_stamps else (None, UNSCOPED)
        if match["installation"] == self.installation.id:
            return match["id"], None
        return None, match["installation"]

    def entry(self, entry: CalendarEntry) -> CalendarEntry:
        """The entry as the engine sees it: stamp a reservation id, or the owner named."""
        if entry.stamp is None:
            return entry
        reservation_id, owner = self.decode(entry.stamp)
        if owner is not None:
            return entry.model_copy(update={"stamp": None, "stamped_by": owner})
        if reservation_id == entry.stamp:
            return entry
        return entry.model_copy(update={"stamp": reservation_id})

    def entries(self, entries: Iterable[CalendarEntry]) -> list[CalendarEntry]:
        return [self.entry(entry) for entry in entries]

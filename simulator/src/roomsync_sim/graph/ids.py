"""Graph ids of events: the store's EWS ids in the URL-safe alphabet Graph's REST ids use.

Graph (like the Outlook REST API) writes an item's id as its EWS id with ``+`` and ``/``
replaced by ``-`` and ``_``, so an id fits a URL path; occurrences have ids of their own.
"""

from __future__ import annotations

from roomsync_sim import ids as ews_ids
from roomsync_sim.graph.errors import GraphError

_TO_REST = str.maketrans("+/", "-_")
_TO_EWS = str.maketrans("-_", "+/")


def rest_id(ews_id: str) -> str:
    return ews_id.translate(_TO_REST)


def item_id(key: bytes) -> str:
    return rest_id(ews_ids.item_id(key))


def occurrence_id(master_key: bytes, index: int) -> str:
    return rest_id(ews_ids.occurrence_id(master_key, index))


def decode(value: str) -> tuple[str, bytes, int]:
    """``(kind, key, occurrence index)`` of an event id; 400 ErrorInvalidIdMalformed otherwise."""
    try:
        kind, key, index = ews_ids.decode(value.strip().translate(_TO_EWS))
    except ews_ids.MalformedId:
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.") from None
    if kind == "folder":
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    return kind, key, index

"""One call of each connector hook that needs a server, through the host as the engine calls it.

For tests that check every such hook behaves alike: a connector whose server nobody answers
raises the same clear error, naming its plugin and the endpoint, from each.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import EntryDraft, EntryUpdate, ItemRef
from roomsync.domain import EventFields

START = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)
FIELDS = EventFields(title="Board meeting", start=START, end=START + timedelta(hours=1))


def server_hook_calls(mailbox: str = "ada@example.org") -> dict[str, Callable[[ConnectorHost], Any]]:
    """Hook name to a call of it through a :class:`ConnectorHost`."""
    return {
        "roomsync_check": lambda host: host.check(mailbox),
        "roomsync_create_entries": lambda host: host.create_entries(
            mailbox, [EntryDraft(stamp="R-1", fields=FIELDS)]
        ),
        "roomsync_update_entries": lambda host: host.update_entries(
            mailbox, [EntryUpdate(item_id="AAMk1", stamp="R-1", fields=FIELDS)]
        ),
        "roomsync_delete_entries": lambda host: host.delete_entries(mailbox, [ItemRef(item_id="AAMk1")]),
        "roomsync_changes": lambda host: host.changes(mailbox, None),
        "roomsync_list_entries": lambda host: host.list_entries(mailbox, START, START + timedelta(days=7)),
        "roomsync_find_by_stamp": lambda host: host.find_by_stamp(mailbox, ["R-1"]),
        "roomsync_decline_entries": lambda host: host.decline_entries(
            mailbox, [ItemRef(item_id="AAMk1")], "taken"
        ),
        "roomsync_free_busy": lambda host: host.free_busy([mailbox], START, START + timedelta(days=1)),
    }

"""Change detection with ``calendarView/delta`` over a rolling window, and the sync state.

Graph tracks changes only inside a window (here ``delta_past_days`` back to ``delta_future_days``
ahead); changes to events outside it come as ``@removed``, like deletions. So:

* every ``@removed`` id is looked up before it counts as deleted: an event still in the
  calendar that lies outside the window changed (it is read in full); one that lies inside the
  window but was reported removed left the calendar (moved to Deleted Items);
* a cancelled occurrence comes as a removed occurrence id the engine never saw: the series
  masters the state remembers (id and change key) are checked, and a master whose change key
  moved is read in full, one that is gone is reported deleted;
* a full listing (first read, unusable state, ``410 Gone``) first starts a new delta round and
  then lists the whole calendar (``/calendar/events``), so an entry far in the past or future is
  never mistaken for a deletion;
* a window older than ``RENEW_AFTER`` is replaced by starting a new round, then draining the old
  one to its end: both overlap, so no change falls between them.

The state is opaque to the core: ``graph1:`` and compressed JSON holding the links and masters.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from roomsync.connector.companions import is_companion
from roomsync.connector.own_writes import WrittenEntries
from roomsync.connector.types import CalendarEntry, ChangeSet, ItemRef
from roomsync_o365.events import FULL, MailboxCalendar, utc_param
from roomsync_o365.graph_client import READ_PREFER, GraphError, user
from roomsync_o365.mapping import parse_time

STATE_PREFIX = "graph1:"
PAGE_SIZE = 1000
LIST_PAGE = 200
RENEW_AFTER = timedelta(days=7)
DISCARD_PAGES = 20
"""Pages of a new round's first pass read per call while only its delta link is wanted."""

DELTA_PREFER = f"odata.maxpagesize={PAGE_SIZE}, {READ_PREFER}"


@dataclass
class SyncState:
    phase: str
    """``baseline``, ``list``, ``delta``, ``renew`` or ``catchup`` (see the module)."""
    link: str
    """What to GET next in this phase."""
    other: str = ""
    """``list``/``catchup``: the new round's delta link; ``renew``: the old round's."""
    window: tuple[str, str] = ("", "")
    """The window of the round ``link`` belongs to."""
    other_window: tuple[str, str] = ("", "")
    """The window of the round ``other`` belongs to."""
    masters: dict[str, str] = field(default_factory=dict)
    """Series masters seen: id to change key."""

    def encode(self) -> str:
        fields = {
            "phase": self.phase,
            "link": self.link,
            "other": self.other,
            "window": self.window,
            "other_window": self.other_window,
            "masters": self.masters,
        }  # what dataclasses.asdict gives, without its deep copy
        raw = json.dumps(fields, separators=(",", ":")).encode("utf-8")
        return STATE_PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode("ascii")

    @classmethod
    def decode(cls, text: str | None) -> SyncState | None:
        if not text or not text.startswith(STATE_PREFIX):
            return None
        try:
            raw = zlib.decompress(base64.urlsafe_b64decode(text[len(STATE_PREFIX) :].encode("ascii")))
            data = json.loads(raw)
            state = cls(
                phase=str(data["phase"]),
                link=str(data["link"]),
                other=str(data.get("other", "")),
                window=_pair(data["window"]),
                other_window=_pair(data.get("other_window", ("", ""))),
                masters={str(k): str(v) for k, v in dict(data.get("masters", {})).items()},
            )
        except (ValueError, KeyError, TypeError, IndexError, zlib.error, binascii.Error):
            return None
        if state.phase not in ("baseline", "list", "delta", "renew", "catchup") or not state.link:
            return None
        return state


class DeltaReader:
    """One page of a mailbox's changes per call."""

    def __init__(
        self,
        calendar: MailboxCalendar,
        past_days: int,
        future_days: int,
        written: WrittenEntries | None = None,
    ) -> None:
        self.calendar = calendar
        self.written = written if written is not None else WrittenEntries(limit=0)
        self.past = timedelta(days=past_days)
        self.future = timedelta(days=future_days)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        start = datetime.combine((now - self.past).date(), time(0), UTC)
        return start, start + self.past + self.future

    def initial_link(self, window: tuple[datetime, datetime]) -> str:
        start, end = window
        params = {"startDateTime": utc_param(start), "endDateTime": utc_param(end)}
        return self.calendar.client.url(user(self.calendar.mailbox, "calendarView", "delta", params=params))

    def listing_link(self) -> str:
        return self.calendar.client.url(self.calendar.events_url({**FULL, "$top": LIST_PAGE}))

    def fresh(self, now: datetime) -> SyncState:
        window = self.window(now)
        return SyncState("baseline", self.initial_link(window), window=_iso(window))

    # --- the hook ------------------------------------------------------------------------------

    def changes(self, sync_state: str | None, now: datetime | None = None) -> ChangeSet:
        now = now or datetime.now(UTC)
        state = SyncState.decode(sync_state)
        reset = sync_state is not None and (state is None or not self._ours(state))
        if state is None or reset:
            state = self.fresh(now)
        try:
            return self._step(state, now, reset)
        except GraphError as exc:
            if exc.status != 410 or state.phase == "list":
                raise
            # The delta token expired or the server lost it: resynchronise from the start.
            return self._step(self.fresh(now), now, True)

    def _ours(self, state: SyncState) -> bool:
        """Links to another endpoint (another graph_url) are never followed with our token."""
        client = self.calendar.client
        return client.owns(state.link) and (not state.other or client.owns(state.other))

    def _step(self, state: SyncState, now: datetime, reset: bool) -> ChangeSet:
        if state.phase in ("baseline", "renew"):
            return self._first_pass(state, reset)
        if state.phase == "list":
            return self._list(state, reset)
        return self._delta(state, now, reset)

    def _first_pass(self, state: SyncState, reset: bool) -> ChangeSet:
        """Follow a new round to its delta link; its content is known otherwise (see the module)."""
        for _ in range(DISCARD_PAGES):
            body = self.calendar.get(state.link, DELTA_PREFER)
            for item in body.get("value") or ():
                if item.get("type") == "seriesMaster" and "@removed" not in item:
                    state.masters.setdefault(str(item["id"]), str(item.get("changeKey") or ""))
            next_link, delta_link = self._links(body)
            if next_link:
                state.link = next_link
                continue
            if state.phase == "baseline":
                state = SyncState(
                    "list", self.listing_link(), delta_link, ("", ""), state.window, state.masters
                )
            else:
                state = SyncState(
                    "catchup", state.other, delta_link, state.other_window, state.window, state.masters
                )
            break
        return ChangeSet(sync_state=state.encode(), more=True, reset=reset)

    def _list(self, state: SyncState, reset: bool) -> ChangeSet:
        body = self.calendar.get(state.link)
        entries = self.calendar.entries(body.get("value") or ())
        self._remember(state, entries, ())
        entries = reported(entries)
        next_link = body.get("@odata.nextLink")
        if next_link:
            self._require_ours(next_link)
            state.link = next_link
            more = True
        else:
            state = SyncState("delta", state.other, "", state.other_window, ("", ""), state.masters)
            more = False
        return ChangeSet(entries=tuple(entries), sync_state=state.encode(), more=more, reset=reset)

    def _delta(self, state: SyncState, now: datetime, reset: bool) -> ChangeSet:
        body = self.calendar.get(state.link, DELTA_PREFER)
        entries, deleted, unchanged = self._page(state, body.get("value") or (), state.window)
        next_link, delta_link = self._links(body)
        more = bool(next_link)
        if next_link:
            state.link = next_link
        elif state.phase == "catchup":
            state = SyncState("delta", state.other, "", state.other_window, ("", ""), state.masters)
        else:
            state.link = delta_link
            if _stale(state.window, self.window(now)):
                window = self.window(now)
                state = SyncState(
                    "renew", self.initial_link(window), delta_link, _iso(window), state.window, state.masters
                )
                more = True
        return ChangeSet(
            entries=tuple(entries),
            deleted=tuple(deleted),
            unchanged=tuple(unchanged),
            sync_state=state.encode(),
            more=more,
            reset=reset,
        )

    # --- one page of changes -----------------------------------------------------------------------

    def _page(
        self, state: SyncState, items: Iterable[dict[str, Any]], window_text: tuple[str, str]
    ) -> tuple[list[CalendarEntry], list[str], list[ItemRef]]:
        page = _Page()
        for item in items:
            self._sort(page, item)
        deleted = self._removed(state, page, window_text) if page.removed else []
        entries, deleted, unchanged = self._entries(page, deleted)
        self._remember(state, entries, deleted)
        for ref in unchanged:  # a series known as written keeps its master's change key
            if ref.item_id in page.series:
                state.masters[ref.item_id] = ref.change_key or ""
            else:
                state.masters.pop(ref.item_id, None)
        return reported(entries), deleted, unchanged

    def _entries(
        self, page: _Page, deleted: list[str]
    ) -> tuple[list[CalendarEntry], list[str], list[ItemRef]]:
        """The page's entries read, all its deleted ids, and its items known as written."""
        entries, gone_now = self.calendar.read_entries(
            i for i in page.changed if i not in deleted and i not in page.known
        )
        deleted = list(dict.fromkeys([*deleted, *gone_now]))
        unchanged = [
            ref
            for item_id, ref in page.known.items()
            if item_id not in deleted and item_id not in page.changed
        ]
        return [e for e in entries if e.item_id not in deleted], deleted, unchanged

    def _sort(self, page: _Page, item: dict[str, Any]) -> None:
        """Note one item of a delta page by its kind: removed, occurrence or exception, single, master."""
        item_id = str(item.get("id") or "")
        if not item_id:
            return
        if "@removed" in item:
            self.written.forget(self.calendar.mailbox, item_id)
            page.removed.setdefault(item_id)
        elif item.get("type") in ("occurrence", "exception") and item.get("seriesMasterId"):
            self._sort_occurrence(page, item)
        elif item.get("type") == "singleInstance":
            ours = self.written.take(self.calendar.mailbox, item_id, str(item.get("changeKey") or ""))
            if ours:
                page.known[item_id] = ours  # our own write, unchanged since: no need to read it
            else:
                page.changed.setdefault(item_id)
        else:
            page.changed.setdefault(item_id)

    def _sort_occurrence(self, page: _Page, item: dict[str, Any]) -> None:
        """An occurrence or exception stands for its master."""
        master = str(item["seriesMasterId"])
        key = str(item.get("changeKey") or "")
        # A plain occurrence carries its master's change key: the same key as our own
        # write means the whole series is still as written. An exception has its own.
        ours = (
            self.written.peek(self.calendar.mailbox, master, key)
            if item.get("type") == "occurrence"
            else None
        )
        if ours is not None and master not in page.changed:
            page.known[master] = ours
            page.series.setdefault(master)
        else:
            page.known.pop(master, None)
            page.changed.setdefault(master)

    def _removed(self, state: SyncState, page: _Page, window_text: tuple[str, str]) -> list[str]:
        """The removed ids that are deleted; those still in the calendar join ``page.changed``."""
        window = (datetime.fromisoformat(window_text[0]), datetime.fromisoformat(window_text[1]))
        present = self.calendar.locate(list(page.removed))
        gone = [item_id for item_id, event in present.items() if event is None]
        deleted = list(gone)
        for item_id, event in present.items():
            if event is None:
                continue
            if left_calendar(event, window):
                deleted.append(item_id)
            else:
                page.changed.setdefault(entry_id(event, item_id))
        if any(item_id not in state.masters for item_id in gone):
            page.changed.update(dict.fromkeys(self._masters_changed(state, deleted)))
        return deleted

    def _masters_changed(self, state: SyncState, deleted: list[str]) -> list[str]:
        """Known masters that changed (an occurrence was cancelled); the gone ones join ``deleted``."""
        if not state.masters:
            return []
        keys = self.calendar.change_keys(state.masters)
        changed = []
        for master_id, key in keys.items():
            if key is None:
                deleted.append(master_id)
            elif key != state.masters.get(master_id):
                changed.append(master_id)
        return changed

    @staticmethod
    def _remember(state: SyncState, entries: Iterable[CalendarEntry], deleted: Iterable[str]) -> None:
        for entry in entries:
            if entry.fields.recurrence is not None:
                state.masters[entry.item_id] = entry.change_key
            else:
                state.masters.pop(entry.item_id, None)
        for item_id in deleted:
            state.masters.pop(item_id, None)

    def _links(self, body: dict[str, Any]) -> tuple[str | None, str]:
        next_link = body.get("@odata.nextLink")
        delta_link = body.get("@odata.deltaLink")
        if next_link:
            self._require_ours(str(next_link))
            return str(next_link), ""
        if not delta_link:
            raise GraphError("Graph answered a delta page without @odata.nextLink or @odata.deltaLink")
        self._require_ours(str(delta_link))
        return None, str(delta_link)

    def _require_ours(self, link: str) -> None:
        if not self.calendar.client.owns(link):
            raise GraphError(f"Graph answered a link outside {self.calendar.client.graph_url}")


@dataclass
class _Page:
    """What one delta page says, by id (dicts as ordered sets)."""

    changed: dict[str, None] = field(default_factory=dict)
    """Entries to read in full."""
    removed: dict[str, None] = field(default_factory=dict)
    """Reported ``@removed``: deleted, or changed outside the window (see the module)."""
    known: dict[str, ItemRef] = field(default_factory=dict)
    """Entries as roomsync wrote them and still unchanged: no need to read them."""
    series: dict[str, None] = field(default_factory=dict)
    """The series masters among ``known``."""


def left_calendar(event: dict[str, Any], window: tuple[datetime, datetime]) -> bool:
    """Whether an event reported removed but still found left the calendar (moved to Deleted Items).

    A single event inside the window was; an occurrence, an exception or a series master, or an
    event outside the window, changed instead.
    """
    return event.get("type") not in ("occurrence", "exception", "seriesMaster") and _overlaps(event, window)


def entry_id(event: dict[str, Any], item_id: str) -> str:
    """The id of the entry an event belongs to: an occurrence's or exception's master, else its own."""
    if event.get("type") in ("occurrence", "exception"):
        return str(event.get("seriesMasterId") or item_id)
    return item_id


def reported(entries: Iterable[CalendarEntry]) -> list[CalendarEntry]:
    """What the engine sees: buffer companions are the connector's own business."""
    return [e for e in entries if not is_companion(e.stamp)]


def _pair(value: Any) -> tuple[str, str]:
    return str(value[0]), str(value[1])


def _iso(window: tuple[datetime, datetime]) -> tuple[str, str]:
    return window[0].isoformat(), window[1].isoformat()


def _overlaps(event: dict[str, Any], window: tuple[datetime, datetime]) -> bool:
    try:
        return parse_time(event.get("start")) < window[1] and parse_time(event.get("end")) > window[0]
    except ValueError:
        return False


def _stale(current: tuple[str, str], wanted: tuple[datetime, datetime]) -> bool:
    try:
        start = datetime.fromisoformat(current[0])
    except ValueError:
        return True
    return wanted[0] - start >= RENEW_AFTER

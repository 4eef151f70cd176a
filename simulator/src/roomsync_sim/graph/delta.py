"""``calendarView/delta``: rounds of change tracking over one calendar window.

A round starts with ``startDateTime``/``endDateTime`` (or a ``$deltatoken``), pages through
``@odata.nextLink`` URLs with a ``$skiptoken`` and ends with an ``@odata.deltaLink`` holding a
``$deltatoken``. The first round lists every occurrence, exception and single instance in the
window (series masters are not listed, as Graph's calendar view delta does not); later rounds
list what was added or changed (the change key differs) in full, and what left the window or was
deleted as ``{"id", "@removed": {"reason": "deleted"}}``. The server keeps the state each token
names (the ids and change keys of the window at the end of the round); a token that is unknown
or expired answers 410 ``syncStateNotFound``, one from before a reset of the store
``resyncRequired``, each with a ``Location`` header that starts a new round.

``$count`` is not among the query parameters of calendarView delta
(https://learn.microsoft.com/en-us/graph/api/event-delta): a delta page carries its link and
never an ``@odata.count``, whatever ``$count`` says.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from roomsync_sim.graph import ids, timefmt
from roomsync_sim.graph.errors import GraphError
from roomsync_sim.graph.events import DEFAULT_PAGE, MAX_PAGE, calendar_items, in_window
from roomsync_sim.graph.router import CAL, USER, Router
from roomsync_sim.graph.serialize import event_json, removed_json
from roomsync_sim.graph.service import Call, Reply

RETAINED_STATES = 10_000


@dataclass
class State:
    """What a delta token names: the window and the change keys it had when the token was made."""

    mailbox: str
    start: datetime
    end: datetime
    known: dict[str, str]


@dataclass
class Pages:
    """A round in progress: the entries still to send and the state the round ends in."""

    mailbox: str
    entries: list[dict[str, Any]]
    state_id: int


class DeltaStates:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.states: OrderedDict[int, State] = OrderedDict()
        self.pages: OrderedDict[int, Pages] = OrderedDict()
        self._ids = itertools.count(1)
        self.epoch = base64.urlsafe_b64encode(__import__("os").urandom(6)).decode()

    def clear(self) -> None:
        """Forget every state (a reset; old tokens are then from another generation)."""
        with self._lock:
            self.states.clear()
            self.pages.clear()
            self.epoch = base64.urlsafe_b64encode(__import__("os").urandom(6)).decode()

    def expire(self) -> None:
        """Test switch: every token issued so far is now expired (410 syncStateNotFound)."""
        with self._lock:
            self.states.clear()
            self.pages.clear()

    def save_state(self, state: State) -> int:
        with self._lock:
            number = next(self._ids)
            self.states[number] = state
            while len(self.states) > RETAINED_STATES:
                self.states.popitem(last=False)
            return number

    def save_pages(self, pages: Pages) -> int:
        with self._lock:
            number = next(self._ids)
            self.pages[number] = pages
            while len(self.pages) > RETAINED_STATES:
                self.pages.popitem(last=False)
            return number

    def token(self, kind: str, number: int, state: State) -> str:
        raw = json.dumps(
            [self.epoch, kind, number, state.mailbox, timefmt.stamp(state.start), timefmt.stamp(state.end)],
            separators=(",", ":"),
        ).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, token: str) -> tuple[str, str, int, str, str, str]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            epoch, kind, number, mailbox, start, end = json.loads(raw)
            return str(epoch), str(kind), int(number), str(mailbox), str(start), str(end)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise _gone("syncStateNotFound", "The sync state is invalid or not found.", None) from None


def _gone(code: str, message: str, location: str | None) -> GraphError:
    headers = [("Location", location)] if location else []
    return GraphError(410, code, message, headers)


def _window_entries(call: Call, start: datetime, end: datetime) -> dict[str, tuple[str, Any]]:
    """The instances in the window: id -> (change key, (item, occurrence))."""
    mbx = call.tenant.store.mailbox(call.smtp)
    found: dict[str, tuple[str, Any]] = {}
    if mbx is None:
        return found
    for item in calendar_items(mbx):
        for master, occ in in_window(item, start, end):
            event_id = ids.occurrence_id(master.key, occ.index) if occ else ids.item_id(master.key)
            found[event_id] = (master.change_key, (master, occ))
    return found


def _generation(
    call: Call, states: DeltaStates, token: str, expected: str, held: Mapping[int, Any]
) -> tuple[int, Any]:
    """The number of the generation a skip or delta token names; 410 Gone as Graph answers a
    token of an earlier server epoch, another kind or mailbox, or a generation no longer held."""
    epoch, kind, number, mailbox, start_text, end_text = states.decode(token)
    fresh = _fresh_link(call, start_text, end_text)
    if epoch != states.epoch:
        raise _gone(
            "resyncRequired",
            "The delta token is no longer valid, and the app must reset the sync state.",
            fresh,
        )
    found = held.get(number)
    if kind != expected or found is None or mailbox != call.smtp:
        raise _gone("syncStateNotFound", "The sync state generation is not found.", fresh)
    return number, found


def delta(call: Call) -> Reply:
    service_states: DeltaStates = call.service.delta
    skip = call.query.get("skiptoken")
    token = call.query.get("deltatoken")
    view = call.view()
    if skip:
        number, pages = _generation(call, service_states, skip, "skip", service_states.pages)
        return _page(call, pages, number)
    start: datetime
    end: datetime
    if token:
        _, previous = _generation(call, service_states, token, "delta", service_states.states)
        start, end, known = previous.start, previous.end, previous.known
    else:
        start = timefmt.query_time(call.query.get("startdatetime"), "startDateTime")
        end = timefmt.query_time(call.query.get("enddatetime"), "endDateTime")
        known = {}
    current = _window_entries(call, start, end)
    entries: list[dict[str, Any]] = []
    for event_id, (change_key, (item, occ)) in current.items():
        if known.get(event_id) != change_key:
            data = event_json(item, view, occ)
            entries.append({"@odata.type": "#microsoft.graph.event", **data})
    entries += [removed_json(event_id) for event_id in known if event_id not in current]
    state = State(call.smtp, start, end, {k: v[0] for k, v in current.items()})
    state_id = service_states.save_state(state)
    pages = Pages(call.smtp, entries, state_id)
    number = service_states.save_pages(pages)
    return _page(call, pages, number)


def _page(call: Call, pages: Pages, number: int) -> Reply:
    states: DeltaStates = call.service.delta
    size = DEFAULT_PAGE
    preferred = call.prefer("odata.maxpagesize")
    if preferred and preferred.isdigit():
        size = max(1, min(int(preferred), MAX_PAGE))
    chunk, rest = pages.entries[:size], pages.entries[size:]
    state = states.states.get(pages.state_id)
    assert state is not None
    path = f"{call.base}/users/{quote(call.params['user'])}/calendarView/delta"
    body: dict[str, Any] = {"@odata.context": f"{call.base}/$metadata#Collection(event)"}
    if rest:
        following = Pages(pages.mailbox, rest, pages.state_id)
        next_number = states.save_pages(following)
        body["@odata.nextLink"] = f"{path}?$skiptoken={states.token('skip', next_number, state)}"
    else:
        body["@odata.deltaLink"] = f"{path}?$deltatoken={states.token('delta', pages.state_id, state)}"
    body["value"] = chunk
    headers = [("Preference-Applied", f"odata.maxpagesize={size}")] if preferred else []
    return Reply(200, body, headers)


def _fresh_link(call: Call, start: str, end: str) -> str:
    params = urlencode({"startDateTime": start, "endDateTime": end})
    return f"{call.base}/users/{quote(call.params['user'])}/calendarView/delta?{params}"


def register(router: Router) -> None:
    router.add("GET", rf"{USER}{CAL}/calendarView/delta(?:\(\))?", "calendarView.delta", delta)

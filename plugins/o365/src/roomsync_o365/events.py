"""One mailbox's calendar through Graph: reading events in full, in batches.

An entry as the engine needs it is a single event or a series master with its exceptions; a
master is read with its ``/instances`` so modified and cancelled occurrences come along. Every
read goes through ``$batch``, 20 events per round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from roomsync.connector.types import CalendarEntry
from roomsync_o365 import batch, mapping
from roomsync_o365 import properties as props
from roomsync_o365 import recurrence as series
from roomsync_o365.errors import is_mailbox_level, mailbox_error
from roomsync_o365.graph_client import READ_PREFER, GraphClient, GraphError, GraphResponse, user
from roomsync_o365.tokens import TenantTokens

INSTANCES_PAGE = 500

FULL = {"$select": ",".join(mapping.EVENT_FIELDS), "$expand": props.expand()}
"""Query options that read an event in full, roomsync's properties included."""


def utc_param(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MailboxCalendar:
    """The calendar of one mailbox, as the app of that mailbox's tenant reaches it."""

    def __init__(self, client: GraphClient, tokens: TenantTokens, mailbox: str, default_zone: str) -> None:
        self.client = client
        self.tokens = tokens
        self.mailbox = mailbox.lower()
        self.default_zone = default_zone

    # --- plumbing ----------------------------------------------------------------------------

    def batch(self, requests: Sequence[batch.BatchRequest]) -> list[GraphResponse]:
        """Run requests in batches; an answer that concerns the whole mailbox is raised."""
        answers = batch.run(self.client, self.tokens, requests)
        for answer in answers:
            self.check(answer)
        return answers

    def check(self, answer: GraphResponse) -> None:
        if is_mailbox_level(answer):
            raise mailbox_error(answer, self.mailbox, self.tokens.who, self.client.graph_url)

    def fail(self, exc: GraphError) -> None:
        """Raise the mailbox-level error of a failed single request, or the request's own."""
        self.check(exc.response)
        raise exc

    def get(self, relative: str, prefer: str = READ_PREFER) -> Any:
        try:
            return self.client.get(self.tokens, relative, {"Prefer": prefer})
        except GraphError as exc:
            self.fail(exc)
            raise

    def pages(self, relative: str) -> Iterable[dict[str, Any]]:
        try:
            yield from self.client.pages(self.tokens, relative, {"Prefer": READ_PREFER})
        except GraphError as exc:
            self.fail(exc)
            raise

    def event_url(self, item_id: str, *rest: str, params: dict[str, Any] | None = None) -> str:
        return user(self.mailbox, "events", item_id, *rest, params=params)

    def events_url(self, params: dict[str, Any] | None = None) -> str:
        return user(self.mailbox, "calendar", "events", params=params)

    # --- reading -----------------------------------------------------------------------------

    def read_events(self, ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """Events in full by id; ``None`` for an id that is gone."""
        return self.get_each({i: self.event_url(i, params=FULL) for i in ids}, "reading event")

    def locate(self, ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """Where events are, if still in the calendar (not deleted, not in Deleted Items)."""
        params = {"$select": "id,type,seriesMasterId,start,end"}
        urls = {i: user(self.mailbox, "calendar", "events", i, params=params) for i in ids}
        return self.get_each(urls, "looking up events")

    def get_each(
        self, urls: dict[str, str], doing: str, prefer: str | None = READ_PREFER
    ) -> dict[str, dict[str, Any] | None]:
        """One GET per id, batched: each id's answer, ``None`` for an id that is gone (404)."""
        answers = self.batch([batch.get(url, prefer) for url in urls.values()])
        found: dict[str, dict[str, Any] | None] = {}
        for item_id, answer in zip(urls, answers, strict=True):
            if answer.status == 404:
                found[item_id] = None
            elif answer.ok and isinstance(answer.body, dict):
                found[item_id] = answer.body
            else:
                raise GraphError(f"{doing} of {self.mailbox}: {answer.describe()}", answer)
        return found

    def instances(
        self, masters: Sequence[dict[str, Any]], reach: dict[str, datetime] | None = None
    ) -> dict[str, tuple[list[dict[str, Any]], datetime]]:
        """Each master's ``/instances`` over the window its exceptions may lie in, and that window's end."""
        now = datetime.now(UTC)
        windows: dict[str, tuple[datetime, datetime]] = {}
        for master in masters:
            recurrence = series.from_graph(master.get("recurrence"))
            if recurrence is None:
                continue
            first = mapping.parse_time(master.get("start"))
            zone = mapping.zone_of(master, props.values(master).get(props.TIMEZONE), self.default_zone)
            windows[str(master["id"])] = series.instance_window(
                recurrence, first, zone, now, (reach or {}).get(str(master["id"]))
            )
        requests = [
            batch.get(
                self.event_url(
                    master_id,
                    "instances",
                    params={
                        "startDateTime": utc_param(start),
                        "endDateTime": utc_param(end),
                        "$select": ",".join(mapping.INSTANCE_FIELDS),
                        "$top": INSTANCES_PAGE,
                    },
                ),
                READ_PREFER,
            )
            for master_id, (start, end) in windows.items()
        ]
        found: dict[str, tuple[list[dict[str, Any]], datetime]] = {}
        for (master_id, (_, end)), answer in zip(windows.items(), self.batch(requests), strict=True):
            if answer.status == 404:
                continue
            if not answer.ok or not isinstance(answer.body, dict):
                raise GraphError(f"reading occurrences of {self.mailbox}: {answer.describe()}", answer)
            items = list(answer.body.get("value") or ())
            link = answer.body.get("@odata.nextLink")
            if link:
                if not self.client.owns(link):
                    raise GraphError(f"Graph answered a next link outside {self.client.graph_url}")
                items.extend(self.pages(link))
            found[master_id] = (items, end)
        return found

    def entries(self, events: Iterable[dict[str, Any] | None]) -> list[CalendarEntry]:
        """Entries of events read in full; occurrences stand for their masters (read here)."""
        unique: dict[str, dict[str, Any]] = {}
        masters_wanted: list[str] = []
        for event in events:
            if event is None:
                continue
            if event.get("type") in ("occurrence", "exception"):
                if event.get("seriesMasterId"):
                    masters_wanted.append(str(event["seriesMasterId"]))
                continue
            unique.setdefault(str(event["id"]), event)
        missing = [m for m in dict.fromkeys(masters_wanted) if m not in unique]
        if missing:
            for master_id, master in self.read_events(missing).items():
                if master is not None:
                    unique[master_id] = master
        masters = [e for e in unique.values() if e.get("type") == "seriesMaster" or e.get("recurrence")]
        instances = self.instances(masters) if masters else {}
        entries = []
        for item_id, event in unique.items():
            items, end = instances.get(item_id, (None, None))
            entries.append(mapping.to_entry(event, self.mailbox, self.default_zone, items, end))
        return entries

    def read_entries(self, ids: Iterable[str]) -> tuple[list[CalendarEntry], list[str]]:
        """Entries of ids (occurrence ids give their masters), and the ids that are gone."""
        events = self.read_events(ids)
        gone = [item_id for item_id, event in events.items() if event is None]
        return self.entries(events.values()), gone

    def find_stamped(self, stamps: Sequence[str]) -> list[CalendarEntry]:
        """Entries carrying any of ``stamps`` (singles and masters), read in full."""
        unique = list(dict.fromkeys(stamps))
        params = {"$select": FULL["$select"], "$expand": FULL["$expand"], "$top": 50}
        requests = [
            batch.get(self.events_url({"$filter": props.stamp_filter(stamp), **params}), READ_PREFER)
            for stamp in unique
        ]
        events: list[dict[str, Any]] = []
        for answer in self.batch(requests):
            if not answer.ok or not isinstance(answer.body, dict):
                raise GraphError(f"looking up stamps in {self.mailbox}: {answer.describe()}", answer)
            events.extend(answer.body.get("value") or ())
        return self.entries(events)

    def window_ids(self, start: datetime, end: datetime) -> list[str]:
        """Ids of the singles and series masters with an occurrence overlapping the window."""
        params = {
            "startDateTime": utc_param(start),
            "endDateTime": utc_param(end),
            "$select": "id,type,seriesMasterId",
            "$top": 500,
        }
        ids: dict[str, None] = {}
        for event in self.pages(user(self.mailbox, "calendar", "calendarView", params=params)):
            if event.get("type") in ("occurrence", "exception") and event.get("seriesMasterId"):
                ids.setdefault(str(event["seriesMasterId"]))
            else:
                ids.setdefault(str(event["id"]))
        return list(ids)

    def change_keys(self, ids: Iterable[str]) -> dict[str, str | None]:
        """Current change keys of events; ``None`` for those that are gone."""
        urls = {i: self.event_url(i, params={"$select": "id,changeKey"}) for i in ids}
        found = self.get_each(urls, "reading change keys", prefer=None)
        return {i: None if event is None else str(event.get("changeKey") or "") for i, event in found.items()}

"""Events of a user's default calendar: create, list, get, update, delete, instances, cancel and
``calendarView``.

Writes go through the store like EWS writes, and a meeting written by its organizer is sent at
once (Graph has no "save without sending" for events with attendees): attendees get their copies,
rooms answer by their booking policy (``roomsync_sim.meetings``). Deleting an event moves it to
Deleted Items (cancelling it for the attendees when it is the organizer's meeting); an occurrence
is deleted from its series. ``transactionId`` makes a create idempotent: a second POST with the
same value answers the event the first one created. ``If-Match`` with a stale ``@odata.etag``
is refused with 412.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from lxml import etree

from roomsync_sim import limits, meetings, recurrence
from roomsync_sim.graph import convert, extprops, ids, odata, timefmt
from roomsync_sim.graph.errors import GraphError, bad_request, not_found
from roomsync_sim.graph.router import CAL, EVENT, USER, Router
from roomsync_sim.graph.serialize import View, etag, event_json
from roomsync_sim.graph.service import Call, Reply
from roomsync_sim.properties import (
    OccurrenceView,
    ensure_uid,
    fill_attendees,
    find_occurrence,
    master_times,
    occurrences,
)
from roomsync_sim.store import Item, Mailbox

SEND = "SendToAllAndSaveCopy"
DEFAULT_PAGE = 10
MAX_PAGE = 1000


# --- reading ---------------------------------------------------------------------------------------


def calendar_items(mbx: Mailbox) -> list[Item]:
    return [
        i for i in mbx.folder("calendar").items.values() if i.kind == "CalendarItem" and "Start" in i.props
    ]


def find_event(call: Call, event_id: str) -> tuple[Item, OccurrenceView | None]:
    kind, key, index = ids.decode(event_id)
    item = call.tenant.store.item_by_key(key)
    if item is None or item.mailbox.smtp != call.smtp or item.kind != "CalendarItem":
        raise not_found()
    if kind == "occurrence":
        occ = find_occurrence(item, index)
        if occ is None:
            raise not_found()
        return item, occ
    return item, None


def in_window(item: Item, start: datetime, end: datetime) -> Iterator[tuple[Item, OccurrenceView | None]]:
    """The instances of an item overlapping ``[start, end)``: occurrences of a series."""
    if "Recurrence" in item.props:
        for occ in occurrences(item, until=end):
            if occ.start < end and occ.end > start:
                yield item, occ
        return
    s, e = master_times(item)
    if s < end and (e > start or (s == e and s >= start)):
        yield item, None


def full_json(item: Item, view: View, occ: OccurrenceView | None) -> dict[str, Any]:
    """The event with every single-value extended property (what ``$filter`` sees)."""
    data = event_json(item, view, occ)
    data["singleValueExtendedProperties"] = extprops.single_values(item.extended)
    return data


def shape(call: Call, data: dict[str, Any], extended: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """``$select`` and ``$expand`` applied to one event."""
    ext = data.pop("singleValueExtendedProperties", extended)
    out = odata.select(data, call.query.select())
    expand = call.query.expand()
    if "singlevalueextendedproperties" in expand:
        flt = expand["singlevalueextendedproperties"]
        values = ext or []
        out["singleValueExtendedProperties"] = [v for v in values if flt is None or flt({"$vars": {}, **v})]
    return out


def page_size(call: Call, default: int = DEFAULT_PAGE) -> int:
    top = call.query.integer("top")
    if top is not None:
        return max(1, min(top, MAX_PAGE))
    preferred = call.prefer("odata.maxpagesize")
    if preferred and preferred.isdigit():
        return max(1, min(int(preferred), MAX_PAGE))
    return default


def collection(
    call: Call, rows: list[dict[str, Any]], context: str, default_page: int = DEFAULT_PAGE
) -> Reply:
    """Filter, order, page and shape a list of events or other Outlook resources (``$skip``
    paging as Graph does, ``default_page`` to a page without ``$top``; ``$count=true`` adds
    ``@odata.count``, the total after ``$filter``)."""
    flt = call.query.get("filter")
    if flt:
        node = odata.parse_filter(flt)
        rows = [r for r in rows if node(r)]
    orderby = call.query.orderby()
    if orderby:
        rows = odata.order(rows, orderby)
    skip = call.query.integer("skip", 0) or 0
    size = page_size(call, default_page)
    chunk = rows[skip : skip + size]
    body: dict[str, Any] = {"@odata.context": f"{call.base}/$metadata#{context}"}
    if odata.wants_count(call.query):
        # https://learn.microsoft.com/en-us/graph/query-parameters#count-parameter: the total of
        # the items matching, whatever $top and $skip take of them. Outlook resources (events)
        # need no ConsistencyLevel: eventual (only directory objects do). The nextLink keeps
        # $count=true, so every page carries the same total.
        body["@odata.count"] = len(rows)
    if skip + size < len(rows):
        params = {k: v for k, v in _original_params(call).items() if k.lower() not in ("$skip", "skip")}
        params["$top"] = str(size)
        params["$skip"] = str(skip + size)
        body["@odata.nextLink"] = f"{call.base}{call.path}?{urlencode(params)}"
    body["value"] = [shape(call, dict(r)) for r in chunk]
    return Reply(200, body, _preference(call))


def _original_params(call: Call) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(call.raw_query, keep_blank_values=True))


def _preference(call: Call) -> list[tuple[str, str]]:
    applied = []
    zone = call.prefer("outlook.timezone")
    if zone:
        applied.append(f'outlook.timezone="{zone}"')
    if call.prefer("odata.maxpagesize") and call.query.get("top") is None:
        applied.append(f"odata.maxpagesize={page_size(call)}")
    return [("Preference-Applied", ", ".join(applied))] if applied else []


def _context(call: Call, suffix: str) -> str:
    return f"users('{call.smtp}')/{suffix}"


# --- handlers --------------------------------------------------------------------------------------


def list_events(call: Call) -> Reply:
    view = call.view()
    mbx = _mailbox(call)
    rows = [full_json(i, view, None) for i in sorted(calendar_items(mbx), key=lambda i: i.created)]
    return collection(call, rows, _context(call, "events"))


def calendar_view(call: Call) -> Reply:
    start = timefmt.query_time(call.query.get("startdatetime"), "startDateTime")
    end = timefmt.query_time(call.query.get("enddatetime"), "endDateTime")
    view = call.view()
    found = [pair for item in calendar_items(_mailbox(call)) for pair in in_window(item, start, end)]
    found.sort(key=lambda p: p[1].start if p[1] else master_times(p[0])[0])
    rows = [full_json(item, view, occ) for item, occ in found]
    return collection(call, rows, _context(call, "calendarView"))


def instances(call: Call) -> Reply:
    item, occ = find_event(call, call.params["event"])
    start = timefmt.query_time(call.query.get("startdatetime"), "startDateTime")
    end = timefmt.query_time(call.query.get("enddatetime"), "endDateTime")
    view = call.view()
    rows = []
    if occ is None and "Recurrence" in item.props:
        rows = [full_json(i, view, o) for i, o in in_window(item, start, end)]
    return collection(call, rows, _context(call, f"events('{call.params['event']}')/instances"))


def get_event(call: Call) -> Reply:
    item, occ = find_event(call, call.params["event"])
    data = shape(call, full_json(item, call.view(), occ))
    return Reply(
        200,
        {"@odata.context": f"{call.base}/$metadata#{_context(call, 'events/$entity')}", **data},
        _preference(call),
    )


def create_event(call: Call) -> Reply:
    mbx = _mailbox(call)
    _check_text(call.body)
    changes = convert.read_event(call.body)
    transaction = call.body.get("transactionId")
    view = call.view()
    if transaction:
        for existing in calendar_items(mbx):
            elem = existing.props.get("TransactionId")
            if elem is not None and elem.text == str(transaction) and "organizer" not in existing.meeting:
                return _entity(call, existing, None, view, 201)
    props = {k: v for k, v in changes.props.items() if v is not None}
    if "Subject" not in props:
        props["Subject"] = convert._el("Subject", "")
    convert.check_times(props)
    _check_recurrence(props)
    _check_values(props)
    ctx = call.context()
    fill_attendees(props, ctx)
    item = call.tenant.store.add_item(mbx.folder("calendar"), "CalendarItem", props, dict(changes.extended))
    ensure_uid(item)
    if _has_attendees(item):
        item.field_versions["_sent"] = 1
    meetings.after_write(ctx, item, SEND)
    return _entity(call, item, None, view, 201)


def update_event(call: Call) -> Reply:
    item, occ = find_event(call, call.params["event"])
    _check_etag(call, item)
    target = item.exceptions.setdefault(occ.index, {}) if occ is not None else item.props
    current = {**item.props, **target} if occ is not None else item.props
    _check_text(call.body)
    changes = convert.read_event(call.body, current)
    changes.props.pop("TransactionId", None)
    backup = (
        copy.deepcopy(item.props),
        dict(item.extended),
        copy.deepcopy(item.exceptions),
        set(item.deleted_occurrences),
    )
    try:
        for name, elem in changes.props.items():
            if occ is not None and name in ("Recurrence", "StartTimeZone", "EndTimeZone"):
                if name == "Recurrence":
                    raise bad_request(
                        "The recurrence of an occurrence cannot be set.", "ErrorInvalidPropertySet"
                    )
                continue
            if elem is None:
                target.pop(name, None)
            else:
                target[name] = elem
            if name == "Recurrence" and occ is None:
                item.exceptions.clear()
                item.deleted_occurrences.clear()
        for key, elem in changes.extended.items():
            old = extprops.find(item.extended, key)
            if old is not None:
                del item.extended[old]
            item.extended[key] = elem
        fill_attendees(target, call.context())
        convert.check_times({**item.props, **target} if occ is not None else item.props)
        _check_values({**item.props, **target} if occ is not None else item.props)
        if occ is None:
            _check_recurrence(item.props)
    except GraphError:
        item.props, item.extended, item.exceptions, item.deleted_occurrences = backup
        if occ is not None:
            item.exceptions = backup[2]
        raise
    if occ is not None and not target:
        item.exceptions.pop(occ.index, None)
    item.touch(changes.names)
    call.tenant.store.record_update(item)
    meetings.after_write(call.context(), item, SEND)
    if occ is not None:
        occ = find_occurrence(item, occ.index)
    return _entity(call, item, occ, call.view(), 200)


def delete_event(call: Call) -> Reply:
    item, occ = find_event(call, call.params["event"])
    _check_etag(call, item)
    _remove(call, item, occ)
    return Reply(204)


def cancel_event(call: Call) -> Reply:
    item, occ = find_event(call, call.params["event"])
    if not meetings.is_organizer_item(item):
        raise GraphError(
            400,
            "ErrorAccessDenied",
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
        )
    if call.body is not None and not isinstance(call.body, dict):
        raise bad_request("The request body must be a JSON object.", "RequestBodyRead")
    _remove(call, item, occ)
    return Reply(202)


# Graph's answers to an invitation (event-accept, event-tentativelyaccept, event-decline).
ANSWERS = {"accept": "AcceptItem", "tentativelyAccept": "TentativelyAcceptItem", "decline": "DeclineItem"}


def answer_event(call: Call, action: str) -> Reply:
    """``accept``, ``tentativelyAccept`` or ``decline`` of an invitation in the mailbox: 202, no body.

    ``comment`` becomes the response's text and ``sendResponse`` (default true) whether the
    organizer hears of it; a declined event leaves the calendar. The organizer cannot answer
    their own meeting: 400 (the code is Exchange's ErrorInvalidRequest, as Graph passes it on;
    Microsoft's page documents no code for it).
    """
    body = call.body if call.body is not None else {}
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "RequestBodyRead")
    _check_text(body)
    comment = body.get("comment")
    send = body.get("sendResponse", True)
    if comment is not None and not isinstance(comment, str):
        raise bad_request("Cannot convert the literal to the expected type 'Edm.String'.", "RequestBodyRead")
    if not isinstance(send, bool):
        raise bad_request(
            f"Cannot convert the literal '{send}' to the expected type 'Edm.Boolean'.", "RequestBodyRead"
        )
    item, occ = find_event(call, call.params["event"])
    if meetings.is_organizer_item(item):
        raise bad_request(
            "Your request can't be completed. You can't respond to a meeting you organized.",
            "ErrorInvalidRequest",
        )
    if occ is not None:
        # The store keeps one answer per meeting; answering one occurrence is not simulated.
        raise GraphError(
            501, "NotImplemented", "The simulator answers a series as a whole, not one occurrence."
        )
    text = convert._el("Body", comment, BodyType="Text") if comment else None
    meetings.respond(call.context(), ANSWERS[action], item, SEND, text, notify=send)
    return Reply(202)


def _remove(call: Call, item: Item, occ: OccurrenceView | None) -> None:
    ctx = call.context()
    meetings.before_delete(ctx, item, occ.index if occ else None, SEND)
    store = call.tenant.store
    if occ is not None:
        item.deleted_occurrences.add(occ.index)
        item.exceptions.pop(occ.index, None)
        item.touch(["DeletedOccurrences"])
        store.record_update(item)
    else:
        store.move_item(item, item.mailbox.folder("deleteditems"))


def get_user(call: Call) -> Reply:
    user = call.tenant.directory.user(call.smtp)
    name = user.name if user else call.smtp
    return Reply(
        200,
        {
            "@odata.context": f"{call.base}/$metadata#users/$entity",
            "businessPhones": [],
            "displayName": name,
            "givenName": None,
            "jobTitle": None,
            "mail": call.smtp,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": None,
            "surname": None,
            "userPrincipalName": call.smtp,
            "id": call.tenant.user_id(call.smtp),
        },
    )


def get_calendar(call: Call) -> Reply:
    mbx = _mailbox(call)
    folder = mbx.folder("calendar")
    user = call.tenant.directory.user(call.smtp)
    return Reply(
        200,
        {
            "@odata.context": f"{call.base}/$metadata#{_context(call, 'calendar/$entity')}",
            "id": ids.rest_id(folder.id),
            "name": "Calendar",
            "color": "auto",
            "hexColor": "",
            "isDefaultCalendar": True,
            "changeKey": folder.change_key,
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": False,
            "owner": {"name": user.name if user else call.smtp, "address": call.smtp},
        },
    )


# --- helpers -----------------------------------------------------------------------------------------


def _mailbox(call: Call) -> Mailbox:
    mbx = call.tenant.store.mailbox(call.smtp)
    if mbx is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{call.smtp}' is invalid.")
    return mbx


def _entity(call: Call, item: Item, occ: OccurrenceView | None, view: View, status: int) -> Reply:
    data = event_json(item, view, occ)
    body = {"@odata.context": f"{call.base}/$metadata#{_context(call, 'events/$entity')}", **data}
    if "singlevalueextendedproperties" in call.query.expand():
        body = shape(call, {**body, "singleValueExtendedProperties": extprops.single_values(item.extended)})
    return Reply(status, body, _preference(call))


def _has_attendees(item: Item) -> bool:
    return any(item.props.get(g) is not None and len(item.props[g]) for g in convert.GROUPS.values())


def _check_recurrence(props: dict[str, etree._Element]) -> None:
    rec = props.get("Recurrence")
    if rec is None:
        return
    from roomsync_sim.timezones import parse_datetime

    start = parse_datetime(props["Start"].text or "")
    end = parse_datetime(props["End"].text or "")
    try:
        if next(recurrence.expand(rec, start, end, None), None) is None:
            raise GraphError(
                400, "ErrorRecurrenceHasNoOccurrence", "The recurrence pattern has no occurrences."
            )
    except recurrence.InvalidRecurrence as e:
        raise GraphError(400, "ErrorInvalidRecurrence", str(e)) from None


def _check_values(props: dict[str, etree._Element]) -> None:
    try:
        limits.check_item(props)
    except limits.ValueRefused as exc:
        raise GraphError(400, exc.code, exc.text) from None


def _check_text(body: Any, name: str = "event") -> None:
    """Every string of a request body, before any is stored (see :mod:`roomsync_sim.limits`)."""
    try:
        if isinstance(body, str):
            limits.check_text(name, body)
        elif isinstance(body, dict):
            for key, value in body.items():
                _check_text(value, str(key))
        elif isinstance(body, list):
            for value in body:
                _check_text(value, name)
    except limits.ValueRefused as exc:
        raise GraphError(400, exc.code, exc.text) from None


def _check_etag(call: Call, item: Item) -> None:
    wanted = call.headers.get("if-match")
    if wanted and wanted.strip() != "*" and wanted.strip() not in (etag(item.change_key), item.change_key):
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the "
            "change key passed in the request "
            "does not match the current change key for the item.",
        )


def register(router: Router) -> None:
    events = f"{USER}{CAL}/events"
    router.add("GET", USER, "users.get", get_user)
    router.add("GET", f"{USER}/calendar", "calendar.get", get_calendar)
    router.add("POST", events, "events.create", create_event, writes=True)
    router.add("GET", events, "events.list", list_events)
    router.add("GET", f"{USER}{CAL}{EVENT}/instances", "events.instances", instances)
    router.add("POST", f"{USER}{CAL}{EVENT}/cancel", "events.cancel", cancel_event, writes=True)
    for action in ANSWERS:
        router.add(
            "POST",
            f"{USER}{CAL}{EVENT}/{action}",
            f"events.{action}",
            partial(answer_event, action=action),
            writes=True,
        )
    router.add("GET", f"{USER}{CAL}{EVENT}", "events.get", get_event)
    router.add("PATCH", f"{USER}{CAL}{EVENT}", "events.update", update_event, writes=True)
    router.add("DELETE", f"{USER}{CAL}{EVENT}", "events.delete", delete_event, writes=True)
    router.add("GET", f"{USER}{CAL}/calendarView", "calendarView", calendar_view)

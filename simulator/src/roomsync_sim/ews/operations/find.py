"""FindItem: paged item views, calendar views that expand series, restrictions, sort order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree

from roomsync_sim.context import Context, OperationError
from roomsync_sim.ews.operations import operation
from roomsync_sim.ews.operations.common import item_ids, resolve_folder
from roomsync_sim.ews.restrictions import matches, sort_value
from roomsync_sim.properties import (
    OccurrenceView,
    Path,
    master_times,
    occurrences,
    parse_path,
    parse_shape,
    render_item,
)
from roomsync_sim.soap import m, response_message, t
from roomsync_sim.store import Item
from roomsync_sim.timezones import parse_datetime

# The default throttling policy's EWSFindCountLimit.
FIND_COUNT_LIMIT = 1000

Entry = tuple[Item, OccurrenceView | None]


def _calendar_view(ctx: Context, items: list[Item], view: etree._Element) -> list[Entry]:
    try:
        start = parse_datetime(view.get("StartDate") or "", ctx.tz_context)
        end = parse_datetime(view.get("EndDate") or "", ctx.tz_context)
    except ValueError:
        raise OperationError("ErrorInvalidRequest", "The CalendarView dates are invalid.") from None
    if end < start:
        raise OperationError(
            "ErrorInvalidRequest",
            "EndDate is earlier than StartDate.",
        )
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/calendarview
    # Items that end before StartDate are left out, and those that start on or after EndDate: an
    # item ending exactly at StartDate is in the view, one starting exactly at EndDate is not.
    found: list[tuple[datetime, Entry]] = []
    for item in items:
        if item.kind != "CalendarItem" or "Start" not in item.props or "End" not in item.props:
            continue
        if "Recurrence" in item.props:
            for occ in occurrences(item, until=end):
                if occ.start < end and occ.end >= start:
                    found.append((occ.start, (item, occ)))
            continue
        s, e = master_times(item)
        if s < end and e >= start:
            found.append((s, (item, None)))
    found.sort(key=lambda pair: pair[0])
    return [entry for _, entry in found]


def _sort(ctx: Context, entries: list[Entry], order: etree._Element | None) -> list[Entry]:
    """``SortOrder``: its ``FieldOrder`` elements apply in the order given (the first is the
    main key), each Ascending unless it says Descending. Values are typed as restrictions type
    them (:func:`roomsync_sim.ews.restrictions.sort_value`); an item without the property sorts
    before every value in Ascending order and after them in Descending (simulator/README.md,
    FindItem). Items equal on every field keep the order they had."""
    if order is None:
        return entries
    for field_order in reversed([f for f in order if isinstance(f.tag, str)]):
        paths = [c for c in field_order if isinstance(c.tag, str)]
        if not paths:
            raise OperationError("ErrorInvalidRequest", "The FieldOrder names no property.")
        path: Path = parse_path(paths[0])
        descending = field_order.get("Order") == "Descending"

        def key(entry: Entry, path: Path = path) -> tuple[int, Any]:
            value = sort_value(path, entry[0], ctx, entry[1])
            return (0, None) if value is None else (1, value)

        entries = sorted(entries, key=key, reverse=descending)
    return entries


@operation("FindItem")
def find_item(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    shape = parse_shape(request.find(m("ItemShape")))
    traversal = request.get("Traversal") or "Shallow"
    restriction = request.find(m("Restriction"))
    for folder_elem in item_ids(request.find(m("ParentFolderIds"))):
        try:
            folder = resolve_folder(ctx, folder_elem)
            if traversal == "SoftDeleted":
                folder = folder.mailbox.folder("recoverableitemsdeletions")
            items = list(folder.items.values()) if traversal != "Associated" else []
            calendar = request.find(m("CalendarView"))
            entries: list[Entry]
            if calendar is not None:
                entries = _calendar_view(ctx, items, calendar)
            else:
                entries = [(i, None) for i in items]
            if restriction is not None and len(restriction):
                entries = [e for e in entries if matches(restriction[0], e[0], ctx, e[1])]
            entries = _sort(ctx, entries, request.find(m("SortOrder")))
        except OperationError as e:
            response_message(messages, "FindItem", e.code, e.text)
            continue
        total = len(entries)
        attrs: dict[str, str]
        if calendar is not None:
            limit = int(calendar.get("MaxEntriesReturned") or FIND_COUNT_LIMIT)
            page = entries[:limit]
            attrs = {
                "TotalItemsInView": str(len(page)),
                "IncludesLastItemInRange": str(len(page) == total).lower(),
            }
        else:
            page, offset = _page(request, entries)
            attrs = {
                "IndexedPagingOffset": str(offset + len(page)),
                "TotalItemsInView": str(total),
                "IncludesLastItemInRange": str(offset + len(page) >= total).lower(),
            }
        msg = response_message(messages, "FindItem")
        root = etree.SubElement(msg, m("RootFolder"), attrs)
        container = etree.SubElement(root, t("Items"))
        for item, occ in page:
            render_item(container, item, shape, ctx, occ)


def _page(request: etree._Element, entries: list[Entry]) -> tuple[list[Entry], int]:
    view = request.find(m("IndexedPageItemView"))
    fractional = request.find(m("FractionalPageItemView"))
    total = len(entries)
    if view is not None:
        limit = min(int(view.get("MaxEntriesReturned") or FIND_COUNT_LIMIT), FIND_COUNT_LIMIT)
        offset = int(view.get("Offset") or 0)
        if view.get("BasePoint") == "End":
            offset = max(total - offset - limit, 0)
    elif fractional is not None:
        limit = min(int(fractional.get("MaxEntriesReturned") or FIND_COUNT_LIMIT), FIND_COUNT_LIMIT)
        num, den = int(fractional.get("Numerator") or 0), int(fractional.get("Denominator") or 1)
        offset = total * num // max(den, 1)
    else:
        limit, offset = FIND_COUNT_LIMIT, 0
    return entries[offset : offset + limit], offset

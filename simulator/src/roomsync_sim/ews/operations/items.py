"""CreateItem, GetItem, UpdateItem and DeleteItem with Exchange's semantics and error codes.

Change keys change on every modification. An update that carries a stale change key is refused
with ``ErrorIrresolvableConflict`` unless the client asked to overwrite (``AlwaysOverwrite``) or
asked Exchange to resolve (``AutoResolve``) and none of the properties it sets changed since.
"""

from __future__ import annotations

import copy

from lxml import etree

from roomsync_sim import ids, limits, meetings, recurrence
from roomsync_sim.context import Context, OperationError
from roomsync_sim.ews.operations import operation
from roomsync_sim.ews.operations.common import item_ids, resolve_folder, resolve_item
from roomsync_sim.properties import (
    TYPE_OF,
    OccurrenceView,
    Shape,
    ensure_uid,
    fill_attendees,
    master_times,
    normalise_times,
    parse_path,
    parse_shape,
    read_item_element,
    render_item,
)
from roomsync_sim.soap import m, response_message, t
from roomsync_sim.store import Folder, Item
from roomsync_sim.timezones import parse_datetime

_DEFAULT_FOLDER = {"CalendarItem": "calendar", "Message": "drafts", "Contact": "contacts", "Task": "tasks"}
_ID_ONLY = Shape("IdOnly")


def _check_calendar(props: dict[str, etree._Element]) -> None:
    start, end = props.get("Start"), props.get("End")
    if (
        start is not None
        and end is not None
        and parse_datetime(end.text or "") < parse_datetime(start.text or "")
    ):
        raise OperationError(
            "ErrorCalendarEndDateIsEarlierThanStartDate", "The end date occurs before the start date."
        )
    rec = props.get("Recurrence")
    if rec is not None:
        if start is None or end is None:
            raise OperationError("ErrorInvalidRecurrence", "A recurring item needs a start and an end.")
        try:
            s, e = parse_datetime(start.text or ""), parse_datetime(end.text or "")
            if next(recurrence.expand(rec, s, e, None), None) is None:
                raise OperationError(
                    "ErrorRecurrenceHasNoOccurrence", "The recurrence pattern has no occurrences."
                )
        except recurrence.InvalidRecurrence as exc:
            raise OperationError("ErrorInvalidRecurrence", str(exc)) from None


def _check_values(ctx: Context, props: dict[str, etree._Element]) -> None:
    """The store's limits on one item's values (:mod:`roomsync_sim.limits`), refused per item."""
    code = (
        "ErrorInvalidRecipients"
        if ctx.dialect.name in ("exchange2007", "exchange2010")
        else "ErrorExceededMaxRecipientLimit"
    )
    try:
        limits.check_item(props, code)
    except limits.ValueRefused as exc:
        raise OperationError(exc.code, exc.text) from None


@operation("CreateItem", writes=True)
def create_item(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    invitations = request.get("SendMeetingInvitations")
    target: Folder | None = None
    saved = request.find(m("SavedItemFolderId"))
    for elem in item_ids(request.find(m("Items"))):
        kind = etree.QName(elem).localname
        try:
            if saved is not None and len(saved):
                target = resolve_folder(ctx, saved[0])
            else:
                target = ctx.mailbox().folder(_DEFAULT_FOLDER.get(kind, "drafts"))
            if kind == "CalendarItem" and invitations is None:
                raise OperationError(
                    "ErrorSendMeetingInvitationsRequired",
                    "SendMeetingInvitations attribute is required for calendar items.",
                )
            if kind not in TYPE_OF:
                raise OperationError("ErrorInvalidItemForOperationCreateItem", f"{kind} cannot be created.")
            props, extended = read_item_element(copy.deepcopy(elem), ctx)
            normalise_times(props, ctx)
            if kind == "CalendarItem":
                _check_calendar(props)
                _check_values(ctx, props)
                fill_attendees(props, ctx)
            item = ctx.store.add_item(target, kind, props, extended)
            ensure_uid(item)
            if invitations and invitations != "SendToNone":
                item.field_versions["_sent"] = 1
            if kind == "CalendarItem":
                meetings.after_write(ctx, item, invitations)
        except OperationError as e:
            response_message(messages, "CreateItem", e.code, e.text, container="Items")
            continue
        msg = response_message(messages, "CreateItem")
        render_item(etree.SubElement(msg, m("Items")), item, _ID_ONLY, ctx)


@operation("GetItem")
def get_item(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    shape = parse_shape(request.find(m("ItemShape")))
    for elem in item_ids(request.find(m("ItemIds"))):
        try:
            item, occ = resolve_item(ctx, elem)
        except OperationError as e:
            response_message(messages, "GetItem", e.code, e.text, container="Items")
            continue
        msg = response_message(messages, "GetItem")
        render_item(etree.SubElement(msg, m("Items")), item, shape, ctx, occ)


def _stale(item: Item, id_elem: etree._Element, mode: str, names: list[str]) -> bool:
    key = id_elem.get("ChangeKey")
    if not key or mode == "AlwaysOverwrite":
        return False
    version = ids.change_key_version(key)
    if version is None:
        raise OperationError("ErrorInvalidChangeKey", "ChangeKey is invalid.")
    if version >= item.version:
        return False
    if mode == "NeverOverwrite":
        return True
    return any(item.field_versions.get(n, 0) > version for n in names)


def _apply(ctx: Context, item: Item, occ: OccurrenceView | None, updates: etree._Element) -> list[str]:
    """Apply the updates of one ItemChange; returns the property names touched."""
    target = item.exceptions.setdefault(occ.index, {}) if occ is not None else item.props
    touched: list[str] = []
    for update in updates:
        if not isinstance(update.tag, str):
            continue
        op = etree.QName(update).localname
        path = parse_path(update[0])
        name = path.name if path.ext is None else f"ext:{path.ext}"
        touched.append(name)
        if op == "DeleteItemField":
            if path.ext is not None:
                item.extended.pop(path.ext, None)
            elif path.name in ("Start", "End") and item.kind == "CalendarItem":
                raise OperationError("ErrorInvalidPropertyDelete", f"{path.name} cannot be deleted.")
            else:
                target.pop(path.name, None)
            continue
        holder = next((c for c in update if isinstance(c.tag, str) and c is not update[0]), None)
        if holder is None:
            raise OperationError("ErrorInvalidRequest", "The update names no value.")
        props, extended = read_item_element(copy.deepcopy(holder), ctx)
        if path.ext is not None:
            item.extended.update(extended)
            continue
        if occ is not None and path.name in ("Recurrence", "UID"):
            raise OperationError("ErrorInvalidPropertySet", f"{path.name} cannot be set on an occurrence.")
        if op == "AppendToItemField" and path.name in target:
            current = target[path.name]
            new = props.get(path.name)
            if new is not None:
                if len(new):
                    current.extend(list(new))
                else:
                    current.text = (current.text or "") + (new.text or "")
            continue
        if op == "SetItemField" and path.name == "Recurrence" and occ is None:
            item.exceptions.clear()
            item.deleted_occurrences.clear()
        target.update(props)
    # Times are read in the zone of the item (an occurrence has its master's).
    normalise_times(target if occ is None else {**item.props, **target}, ctx)
    if item.kind == "CalendarItem":
        _check_values(ctx, target if occ is None else {**item.props, **target})
        fill_attendees(target, ctx)
        if occ is None:
            _check_calendar(item.props)
        else:
            _check_calendar(
                {
                    "Start": target.get("Start", item.props["Start"]),
                    "End": target.get("End", item.props["End"]),
                }
                if "Start" in target or "End" in target
                else {}
            )
    return touched


@operation("UpdateItem", writes=True)
def update_item(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    mode = request.get("ConflictResolution") or "AutoResolve"
    for change in item_ids(request.find(m("ItemChanges"))):
        id_elem = change[0]
        updates = change.find(t("Updates"))
        try:
            item, occ = resolve_item(ctx, id_elem)
            names = [
                parse_path(u[0]).name
                for u in (updates if updates is not None else [])
                if isinstance(u.tag, str)
            ]
            if _stale(item, id_elem, mode, names):
                raise OperationError(
                    "ErrorIrresolvableConflict",
                    "The send or update operation could not be performed because the change key passed "
                    "in the request does not match the current change key for the item.",
                )
            backup = (copy.deepcopy(item.props), dict(item.extended), copy.deepcopy(item.exceptions))
            try:
                touched = _apply(ctx, item, occ, updates if updates is not None else etree.Element("x"))
            except OperationError:
                item.props, item.extended, item.exceptions = backup
                raise
            item.touch(touched)
            ctx.store.record_update(item)
            if item.kind == "CalendarItem":
                meetings.after_write(ctx, item, request.get("SendMeetingInvitationsOrCancellations"))
        except OperationError as e:
            response_message(messages, "UpdateItem", e.code, e.text, container="Items")
            continue
        msg = response_message(messages, "UpdateItem")
        render_item(etree.SubElement(msg, m("Items")), item, _ID_ONLY, ctx, occ)
        conflicts = etree.SubElement(msg, m("ConflictResults"))
        etree.SubElement(conflicts, t("Count")).text = "0"


@operation("DeleteItem", writes=True)
def delete_item(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    delete_type = request.get("DeleteType") or "HardDelete"
    for elem in item_ids(request.find(m("ItemIds"))):
        try:
            item, occ = resolve_item(ctx, elem)
            if item.kind == "CalendarItem" and request.get("SendMeetingCancellations") is None:
                raise OperationError(
                    "ErrorSendMeetingCancellationsRequired",
                    "SendMeetingCancellations attribute is required for Calendar items.",
                )
            if item.kind == "CalendarItem":
                cancellations = request.get("SendMeetingCancellations")
                meetings.before_delete(ctx, item, occ.index if occ else None, cancellations)
            if occ is not None:
                item.deleted_occurrences.add(occ.index)
                item.exceptions.pop(occ.index, None)
                item.touch(["DeletedOccurrences"])
                ctx.store.record_update(item)
            elif delete_type == "HardDelete":
                ctx.store.remove_item(item)
            else:
                mbx = item.mailbox
                bin_name = "deleteditems"
                if delete_type == "SoftDelete" or item.folder is mbx.folder("deleteditems"):
                    bin_name = "recoverableitemsdeletions"
                ctx.store.move_item(item, mbx.folder(bin_name))
        except OperationError as e:
            response_message(messages, "DeleteItem", e.code, e.text)
            continue
        response_message(messages, "DeleteItem")


__all__ = ["master_times"]

"""CreateItem, GetItem, UpdateItem, DeleteItem, CopyItem and MoveItem with Exchange's semantics
and error codes. CreateItem also takes the meeting response objects (AcceptItem,
TentativelyAcceptItem, DeclineItem, CancelCalendarItem; see :mod:`roomsync_sim.meetings`).

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


_RESPONSE_OBJECTS = (*meetings.RESPONSES, "CancelCalendarItem")


def _response_object(
    ctx: Context, request: etree._Element, elem: etree._Element, msg_parent: etree._Element
) -> None:
    """A meeting response object in CreateItem ("Respond to meeting requests by using EWS",
    https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-respond-to-meeting-requests-by-using-ews-in-exchange;
    "Delete appointments and cancel meetings by using EWS",
    https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-delete-appointments-and-cancel-meetings-by-using-ews-in-exchange).
    Without a ``ReferenceItemId`` Exchange answers ``ErrorMissingInformationReferenceItemId``."""
    kind = etree.QName(elem).localname
    ref = elem.find(t("ReferenceItemId"))
    if ref is None:
        raise OperationError(
            "ErrorMissingInformationReferenceItemId",
            "The ReferenceItemId is missing from the response object.",
        )
    disposition = request.get("MessageDisposition") or "SendAndSaveCopy"
    item, _ = resolve_item(ctx, ref)
    shown: list[Item] = []
    if kind == "CancelCalendarItem":
        draft = meetings.cancel(ctx, item, disposition)
        if draft is not None:
            shown.append(draft)
    else:
        cal, draft = meetings.respond(ctx, kind, item, disposition, elem.find(t("Body")))
        shown.extend(x for x in (draft if draft is not None else cal,) if x is not None)
    msg = response_message(msg_parent, "CreateItem")
    items = etree.SubElement(msg, m("Items"))
    for shown_item in shown:
        render_item(items, shown_item, _ID_ONLY, ctx)


@operation("CreateItem", writes=True)
def create_item(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    invitations = request.get("SendMeetingInvitations")
    target: Folder | None = None
    saved = request.find(m("SavedItemFolderId"))
    for elem in item_ids(request.find(m("Items"))):
        kind = etree.QName(elem).localname
        if kind in _RESPONSE_OBJECTS:
            try:
                _response_object(ctx, request, elem, messages)
            except OperationError as e:
                response_message(messages, "CreateItem", e.code, e.text, container="Items")
            continue
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
            disposition = request.get("MessageDisposition") or "SaveOnly"
            if kind == "Message" and disposition in ("SendOnly", "SendAndSaveCopy"):
                # A sent message is delivered and, with SendAndSaveCopy, saved in Sent Items (or
                # the SavedItemFolderId); Exchange answers without item ids.
                _deliver_message(ctx, props, target.mailbox.smtp)
                if disposition == "SendAndSaveCopy":
                    folder = (
                        target if saved is not None and len(saved) else target.mailbox.folder("sentitems")
                    )
                    ctx.store.add_item(folder, kind, props, extended)
                msg = response_message(messages, "CreateItem")
                etree.SubElement(msg, m("Items"))
                continue
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
            key = elem.get("ChangeKey")
            if key and ids.change_key_version(key) is None:
                # A change key that is no change key is refused before anything is deleted
                # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode).
                raise OperationError("ErrorInvalidChangeKey", "ChangeKey is invalid.")
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


_RECIPIENT_GROUPS = ("ToRecipients", "CcRecipients", "BccRecipients")


def _deliver_message(ctx: Context, props: dict[str, etree._Element], sender: str) -> None:
    """Deliver a message to the recipients that are mailboxes of this organisation (others are
    outside it and not simulated); the copy a recipient gets has no Bcc line."""
    user = ctx.directory.user(sender)
    author = etree.Element(t("From"))
    box = etree.SubElement(author, t("Mailbox"))
    etree.SubElement(box, t("Name")).text = user.name if user else sender
    etree.SubElement(box, t("EmailAddress")).text = sender
    etree.SubElement(box, t("RoutingType")).text = "SMTP"
    seen: set[str] = set()
    for group in _RECIPIENT_GROUPS:
        elem = props.get(group)
        for mailbox in elem if elem is not None else []:
            address = (mailbox.findtext(t("EmailAddress")) or "").strip().lower()
            target = ctx.store.mailbox(address) if address else None
            if target is None or address in seen:
                continue
            seen.add(address)
            copied = {
                k: copy.deepcopy(v) for k, v in props.items() if k not in ("BccRecipients", "From", "Sender")
            }
            copied["From"] = copy.deepcopy(author)
            copied["Sender"] = copy.deepcopy(author)
            copied["Sender"].tag = t("Sender")
            copied["IsRead"] = etree.Element(t("IsRead"))
            copied["IsRead"].text = "false"
            ctx.store.add_item(target.folder("inbox"), "Message", copied, {})


@operation("SendItem", writes=True)
def send_item(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    """SendItem (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/senditem-operation):
    sends saved messages; ``SaveItemToFolder`` moves each into ``SavedItemFolderId`` (Sent Items
    by default), otherwise the message is gone once sent."""
    keep = (request.get("SaveItemToFolder") or "true") == "true"
    saved = request.find(m("SavedItemFolderId"))
    for elem in item_ids(request.find(m("ItemIds"))):
        try:
            item, _ = resolve_item(ctx, elem)
            if item.kind != "Message":
                raise OperationError(
                    "ErrorInvalidItemForOperationSendItem", "Only messages can be sent with SendItem."
                )
            key = elem.get("ChangeKey")
            if key and ids.change_key_version(key) is None:
                raise OperationError("ErrorInvalidChangeKey", "ChangeKey is invalid.")
            folder = (
                resolve_folder(ctx, saved[0])
                if saved is not None and len(saved)
                else item.mailbox.folder("sentitems")
            )
            _deliver_message(ctx, item.props, item.mailbox.smtp)
            if keep:
                ctx.store.move_item(item, folder)
            else:
                ctx.store.remove_item(item)
        except OperationError as e:
            response_message(messages, "SendItem", e.code, e.text)
            continue
        response_message(messages, "SendItem")


def _copy_or_move(ctx: Context, request: etree._Element, messages: etree._Element, op: str) -> None:
    """CopyItem and MoveItem (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/copyitem-operation,
    .../moveitem-operation): the item gets a new id in the target folder. Exchange 2010 and later
    return the new ids (``ReturnNewItemIds``, default true); Exchange 2007 returns none."""
    holder = request.find(m("ToFolderId"))
    want_ids = (request.findtext(m("ReturnNewItemIds")) or "true").strip() == "true"
    new_ids = want_ids and ctx.dialect.name != "exchange2007"
    for elem in item_ids(request.find(m("ItemIds"))):
        try:
            if holder is None or not len(holder):
                raise OperationError("ErrorInvalidRequest", "ToFolderId is required.")
            target = resolve_folder(ctx, holder[0])
            item, occ = resolve_item(ctx, elem)
            if occ is not None:
                raise OperationError(
                    "ErrorCalendarCannotMoveOrCopyOccurrence", "An occurrence cannot be moved or copied."
                )
            result = (
                ctx.store.copy_item(item, target) if op == "CopyItem" else ctx.store.move_item(item, target)
            )
        except OperationError as e:
            response_message(messages, op, e.code, e.text, container="Items")
            continue
        msg = response_message(messages, op)
        items = etree.SubElement(msg, m("Items"))
        if new_ids and target.mailbox is item.mailbox:
            render_item(items, result, _ID_ONLY, ctx)


@operation("CopyItem", writes=True)
def copy_item(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    _copy_or_move(ctx, request, messages, "CopyItem")


@operation("MoveItem", writes=True)
def move_item(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    _copy_or_move(ctx, request, messages, "MoveItem")


__all__ = ["master_times"]

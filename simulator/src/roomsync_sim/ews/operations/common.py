"""Helpers the operations share: resolving folder and item ids with Exchange's errors."""

from __future__ import annotations

from lxml import etree

from roomsync_sim import ids
from roomsync_sim.context import Context, OperationError
from roomsync_sim.properties import OccurrenceView, find_occurrence
from roomsync_sim.soap import t
from roomsync_sim.store import DISTINGUISHED, Folder, Item


def resolve_folder(ctx: Context, elem: etree._Element) -> Folder:
    """A FolderId or DistinguishedFolderId element to a folder the caller may use."""
    local = etree.QName(elem).localname
    if local == "DistinguishedFolderId":
        name = elem.get("Id") or ""
        address = elem.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
        mbx = ctx.mailbox(address)
        if name not in DISTINGUISHED:
            raise OperationError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        return mbx.folder(name)
    if local == "FolderId":
        try:
            kind, key, _ = ids.decode(elem.get("Id") or "")
        except ids.MalformedId:
            raise OperationError("ErrorInvalidIdMalformed", "Id is malformed.") from None
        folder = ctx.store.folder_by_key(key) if kind == "folder" else None
        if folder is None:
            raise OperationError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        ctx.check_access(folder.mailbox)
        return folder
    raise OperationError("ErrorInvalidRequest", f"unsupported folder id {local}")


def resolve_item(ctx: Context, elem: etree._Element) -> tuple[Item, OccurrenceView | None]:
    """An ItemId, OccurrenceItemId or RecurringMasterItemId to (master or item, occurrence)."""
    local = etree.QName(elem).localname
    if local == "OccurrenceItemId":
        master, _ = _by_id(ctx, elem.get("RecurringMasterId") or "")
        occ = find_occurrence(master, int(elem.get("InstanceIndex") or 0))
        if occ is None:
            raise OperationError(
                "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                "The occurrence index is out of the recurrence range.",
            )
        return master, occ
    if local == "RecurringMasterItemId":
        item, occ = _by_id(ctx, elem.get("OccurrenceId") or "")
        return item, None
    return _by_id(ctx, elem.get("Id") or "")


def _by_id(ctx: Context, value: str) -> tuple[Item, OccurrenceView | None]:
    try:
        kind, key, index = ids.decode(value)
    except ids.MalformedId:
        raise OperationError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    if kind == "folder":
        raise OperationError("ErrorInvalidIdMalformed", "Id is malformed.")
    item = ctx.store.item_by_key(key)
    if item is None:
        raise OperationError("ErrorItemNotFound", "The specified object was not found in the store.")
    ctx.check_access(item.mailbox)
    if kind == "occurrence":
        occ = find_occurrence(item, index)
        if occ is None:
            raise OperationError("ErrorItemNotFound", "The specified object was not found in the store.")
        return item, occ
    return item, None


def item_ids(parent: etree._Element | None) -> list[etree._Element]:
    return [c for c in parent if isinstance(c.tag, str)] if parent is not None else []

"""SyncFolderItems: the changes of a folder since an opaque sync state.

Changes are coalesced per item as Exchange reports them: an item created and deleted between
two syncs is not reported, a created-then-updated item is one Create with its current state.
The state names this store instance, the folder and a position in its change log; any other
state is ``ErrorInvalidSyncStateData``.
"""

from __future__ import annotations

import base64
import binascii
import struct

from lxml import etree

from roomsync_sim.context import Context, OperationError
from roomsync_sim.ews.operations import operation
from roomsync_sim.ews.operations.common import item_ids, resolve_folder
from roomsync_sim.properties import parse_shape, render_item
from roomsync_sim.soap import M, T, m, response_message, schema_fault, t
from roomsync_sim.store import Change, Folder

MAX_CHANGES = 512
_MAGIC = b"RSSY"


def encode_state(ctx: Context, folder: Folder, seq: int, magic: bytes = _MAGIC) -> str:
    """An opaque sync state: ``magic`` tells an item sync's state from a hierarchy sync's."""
    return base64.b64encode(magic + ctx.store.epoch + folder.key + struct.pack(">Q", seq)).decode()


def decode_state(ctx: Context, folder: Folder, state: str, magic: bytes = _MAGIC) -> int:
    try:
        raw = base64.b64decode(state.encode(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 36 or raw[:4] != magic or raw[4:12] != ctx.store.epoch or raw[12:28] != folder.key:
        raise OperationError(
            "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
        )
    return int(struct.unpack(">Q", raw[28:36])[0])


@operation("SyncFolderItems")
def sync_folder_items(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    shape = parse_shape(request.find(m("ItemShape")))
    max_text = request.findtext(m("MaxChangesReturned")) or "0"
    if not max_text.strip().isdigit() or not 1 <= int(max_text) <= MAX_CHANGES:
        raise schema_fault(
            f"The '{M}:MaxChangesReturned' element is "
            f"invalid - The value '{max_text}' is invalid according to its datatype "
            f"'{T}:MaxSyncChangesReturnedType'."
        )
    limit = int(max_text)
    ignore = {e.get("Id") for e in item_ids(request.find(m("Ignore")))}
    try:
        holder = request.find(m("SyncFolderId"))
        if holder is None or not len(holder):
            raise OperationError("ErrorInvalidRequest", "SyncFolderId is required.")
        folder = resolve_folder(ctx, holder[0])
        state = (request.findtext(m("SyncState")) or "").strip()
        since = decode_state(ctx, folder, state) if state else 0
    except OperationError as e:
        # Exchange writes an empty state and the (value-typed) flag into error messages too.
        msg = response_message(messages, "SyncFolderItems", e.code, e.text)
        etree.SubElement(msg, m("SyncState"))
        etree.SubElement(msg, m("IncludesLastItemInRange")).text = "true"
        return
    pending = sorted(
        ((key, c) for key, c in folder.changes.items() if c.last_seq > since),
        key=lambda kc: kc[1].last_seq,
    )
    reported: list[tuple[bytes, Change]] = []
    position = since
    complete = True
    for key, change in pending:
        if change.deleted and change.created_seq > since:
            position = change.last_seq  # created and deleted in between: nothing to report
            continue
        if len(reported) >= limit:
            complete = False
            break
        reported.append((key, change))
        position = change.last_seq
    msg = response_message(messages, "SyncFolderItems")
    etree.SubElement(msg, m("SyncState")).text = encode_state(ctx, folder, position)
    etree.SubElement(msg, m("IncludesLastItemInRange")).text = "true" if complete else "false"
    changes = etree.SubElement(msg, m("Changes"))
    for key, change in reported:
        if change.deleted:
            if change.item_id in ignore:
                continue
            entry = etree.SubElement(changes, t("Delete"))
            etree.SubElement(entry, t("ItemId"), {"Id": change.item_id, "ChangeKey": change.change_key})
            continue
        item = folder.items.get(key)
        if item is None or item.id in ignore:
            continue
        entry = etree.SubElement(changes, t("Create" if change.created_seq > since else "Update"))
        render_item(entry, item, shape, ctx)

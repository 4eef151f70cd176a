"""GetFolder, FindFolder, CreateFolder, DeleteFolder and SyncFolderHierarchy.

Every mailbox has its distinguished folders; a client creates folders of its own below them
(calendar subfolders among them), which FindItem, calendar views and SyncFolderItems serve like
any other folder.
"""

from __future__ import annotations

from lxml import etree

from roomsync_sim.context import Context, OperationError
from roomsync_sim.ews.operations import operation
from roomsync_sim.ews.operations.common import item_ids, resolve_folder
from roomsync_sim.ews.operations.sync import decode_state, encode_state
from roomsync_sim.properties import path_children
from roomsync_sim.soap import m, response_message, t
from roomsync_sim.store import Folder, Mailbox

_DEFAULT = {"FolderId", "DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount"}
_ALL = _DEFAULT | {"ParentFolderId", "FolderClass", "EffectiveRights", "DistinguishedFolderId"}


def render_folder(parent: etree._Element, ctx: Context, folder: Folder, shape: etree._Element | None) -> None:
    base = shape.findtext(t("BaseShape")) if shape is not None else "Default"
    wanted = {"FolderId"} if base == "IdOnly" else (_ALL if base == "AllProperties" else set(_DEFAULT))
    wanted |= {
        p.name for p in path_children(shape.find(t("AdditionalProperties")) if shape is not None else None)
    }
    out = etree.SubElement(parent, t(folder.element))
    for name in ctx.dialect.element_order(f"{folder.element}Type"):
        if name not in wanted:
            continue
        if name == "FolderId":
            etree.SubElement(out, t(name), {"Id": folder.id, "ChangeKey": folder.change_key})
        elif name == "ParentFolderId" and folder.parent is not None:
            etree.SubElement(out, t(name), {"Id": folder.parent.id, "ChangeKey": folder.parent.change_key})
        elif name == "FolderClass" and folder.folder_class:
            etree.SubElement(out, t(name)).text = folder.folder_class
        elif name == "DisplayName":
            etree.SubElement(out, t(name)).text = folder.display_name
        elif name == "TotalCount":
            etree.SubElement(out, t(name)).text = str(len(folder.items))
        elif name == "ChildFolderCount":
            etree.SubElement(out, t(name)).text = str(len(ctx.store.child_folders(folder)))
        elif name == "UnreadCount" and folder.element == "Folder":
            etree.SubElement(out, t(name)).text = "0"
        elif name == "DistinguishedFolderId" and folder.distinguished:
            etree.SubElement(out, t(name)).text = folder.distinguished
        elif name == "EffectiveRights":
            rights = etree.SubElement(out, t(name))
            for right in ctx.dialect.element_order("EffectiveRightsType"):
                etree.SubElement(rights, t(right)).text = "true"


@operation("GetFolder")
def get_folder(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    shape = request.find(m("FolderShape"))
    for elem in item_ids(request.find(m("FolderIds"))):
        try:
            folder = resolve_folder(ctx, elem)
        except OperationError as e:
            response_message(messages, "GetFolder", e.code, e.text, container="Folders")
            continue
        msg = response_message(messages, "GetFolder")
        render_folder(etree.SubElement(msg, m("Folders")), ctx, folder, shape)


@operation("FindFolder")
def find_folder(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    shape = request.find(m("FolderShape"))
    deep = request.get("Traversal") == "Deep"
    for elem in item_ids(request.find(m("ParentFolderIds"))):
        try:
            parent = resolve_folder(ctx, elem)
        except OperationError as e:
            response_message(messages, "FindFolder", e.code, e.text)
            continue
        found: list[Folder] = []
        todo = [parent]
        while todo:
            children = ctx.store.child_folders(todo.pop(0))
            found.extend(children)
            if deep:
                todo.extend(children)
        msg = response_message(messages, "FindFolder")
        root = etree.SubElement(
            msg,
            m("RootFolder"),
            {
                "IndexedPagingOffset": str(len(found)),
                "TotalItemsInView": str(len(found)),
                "IncludesLastItemInRange": "true",
            },
        )
        folders = etree.SubElement(root, t("Folders"))
        for folder in found:
            render_folder(folders, ctx, folder, shape)


# --- creating and deleting folders -------------------------------------------------------------

# The folder element a client sends -> the class a folder of that kind has when none is given.
_FOLDER_CLASS = {
    "Folder": "IPF.Note",
    "CalendarFolder": "IPF.Appointment",
    "ContactsFolder": "IPF.Contact",
    "TasksFolder": "IPF.Task",
}


@operation("CreateFolder", writes=True)
def create_folder(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    """CreateFolder (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createfolder-operation):
    one response message per folder; a display name already used under the parent is
    ``ErrorFolderExists``."""
    holder = request.find(m("ParentFolderId"))
    for elem in item_ids(request.find(m("Folders"))):
        try:
            if holder is None or not len(holder):
                raise OperationError("ErrorInvalidRequest", "ParentFolderId is required.")
            parent = resolve_folder(ctx, holder[0])
            kind = etree.QName(elem).localname
            if kind not in _FOLDER_CLASS:
                raise OperationError(
                    "ErrorInvalidFolderTypeForOperation", f"{kind} cannot be created by CreateFolder."
                )
            name = (elem.findtext(t("DisplayName")) or "").strip()
            if not name:
                raise OperationError("ErrorInvalidRequest", "The folder needs a DisplayName.")
            if any(f.display_name.casefold() == name.casefold() for f in ctx.store.child_folders(parent)):
                raise OperationError("ErrorFolderExists", "A folder with the specified name already exists.")
            folder_class = elem.findtext(t("FolderClass")) or _FOLDER_CLASS[kind]
            folder = ctx.store.add_folder(parent, kind, folder_class, name)
        except OperationError as e:
            response_message(messages, "CreateFolder", e.code, e.text, container="Folders")
            continue
        msg = response_message(messages, "CreateFolder")
        out = etree.SubElement(etree.SubElement(msg, m("Folders")), t(folder.element))
        etree.SubElement(out, t("FolderId"), {"Id": folder.id, "ChangeKey": folder.change_key})


@operation("DeleteFolder", writes=True)
def delete_folder(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    """DeleteFolder (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/deletefolder-operation):
    a distinguished folder cannot be deleted (``ErrorDeleteDistinguishedFolder``);
    ``MoveToDeletedItems`` moves the folder into Deleted Items, the other types delete it with
    its subfolders and items."""
    delete_type = request.get("DeleteType") or "HardDelete"
    for elem in item_ids(request.find(m("FolderIds"))):
        try:
            folder = resolve_folder(ctx, elem)
            if folder.distinguished is not None:
                raise OperationError(
                    "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted."
                )
            trash = folder.mailbox.folder("deleteditems")
            if delete_type == "MoveToDeletedItems" and not _within(folder, trash):
                ctx.store.move_folder(folder, trash)
            else:
                ctx.store.remove_folder(folder)
        except OperationError as e:
            response_message(messages, "DeleteFolder", e.code, e.text)
            continue
        response_message(messages, "DeleteFolder")


def _within(folder: Folder, ancestor: Folder) -> bool:
    current: Folder | None = folder
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False


# --- SyncFolderHierarchy -----------------------------------------------------------------------

_MAGIC = b"RSSH"  # SyncFolderItems states use another, so neither is taken for the other


def _below(ctx: Context, top: Folder) -> list[Folder]:
    found: list[Folder] = []
    todo = [top]
    while todo:
        children = ctx.store.child_folders(todo.pop(0))
        found.extend(children)
        todo.extend(children)
    return found


@operation("SyncFolderHierarchy")
def sync_folder_hierarchy(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    """SyncFolderHierarchy (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderhierarchy-operation):
    the folders below ``SyncFolderId`` (the mailbox's root when absent) as Create, Update and
    Delete changes since an opaque state; the first sync reports every folder as created."""
    shape = request.find(m("FolderShape"))
    try:
        holder = request.find(m("SyncFolderId"))
        top = (
            resolve_folder(ctx, holder[0])
            if holder is not None and len(holder)
            else ctx.mailbox().folder("root")
        )
        state = (request.findtext(m("SyncState")) or "").strip()
        since = decode_state(ctx, top, state, _MAGIC) if state else 0
    except OperationError as e:
        msg = response_message(messages, "SyncFolderHierarchy", e.code, e.text)
        etree.SubElement(msg, m("SyncState"))
        etree.SubElement(msg, m("IncludesLastFolderInRange")).text = "true"
        return
    mbx: Mailbox = top.mailbox
    log = ctx.store.hierarchy_changes(mbx)
    position = max((c.last_seq for c in log.values()), default=0)
    position = max(position, since)
    msg = response_message(messages, "SyncFolderHierarchy")
    etree.SubElement(msg, m("SyncState")).text = encode_state(ctx, top, position, _MAGIC)
    etree.SubElement(msg, m("IncludesLastFolderInRange")).text = "true"
    changes = etree.SubElement(msg, m("Changes"))
    live = {f.key: f for f in _below(ctx, top)}
    for folder in live.values():
        change = log.get(folder.key)
        if since == 0 or (change is not None and change.last_seq > since):
            created = since == 0 or change is None or change.created_seq > since
            entry = etree.SubElement(changes, t("Create" if created else "Update"))
            render_folder(entry, ctx, folder, shape)
    for key, change in log.items():
        if change.deleted and key not in live and since and change.last_seq > since >= change.created_seq:
            entry = etree.SubElement(changes, t("Delete"))
            etree.SubElement(entry, t("FolderId"), {"Id": change.item_id, "ChangeKey": change.change_key})


__all__ = ["render_folder"]

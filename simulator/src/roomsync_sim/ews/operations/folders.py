"""GetFolder and FindFolder: the distinguished folders of a mailbox and their properties."""

from __future__ import annotations

from lxml import etree

from roomsync_sim.context import Context, OperationError
from roomsync_sim.ews.operations import operation
from roomsync_sim.ews.operations.common import item_ids, resolve_folder
from roomsync_sim.properties import path_children
from roomsync_sim.soap import m, response_message, t
from roomsync_sim.store import Folder

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

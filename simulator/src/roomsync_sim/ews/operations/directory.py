"""The directory: ResolveNames, ExpandDL, and GetRoomLists/GetRooms (2010 and later).

ResolveNames works like Exchange's ambiguous name resolution over the seed's users, rooms and
lists: an entry matches an address exactly (``SMTP:``/``smtp:`` prefix allowed) or is a prefix
of an address's local part, of the display name or of a word of it, case-insensitively. One
match is a Success; several are a Warning ``ErrorNameResolutionMultipleResults`` with every
candidate (at most 100); none is ``ErrorNameResolutionNoResults``. Contacts folders are not
searched (the seed has no contacts).

ExpandDL (every dialect) lists one level of a distribution list or room list, as Exchange does:
direct members only, a nested list as one ``PublicDL`` entry to be expanded in turn (so a loop of
lists never recurses), users and rooms as ``Mailbox``; ``TotalItemsInView`` counts them and
``IncludesLastItemInRange`` is true (Exchange documents no cap for ExpandDL; none is simulated).
The list is named by address; an address that is not a list (unknown, or a user's) is
``ErrorNameResolutionNoResults``. A private list is named by the ``ItemId`` of a contacts item;
the simulator keeps no contacts, so an id is ``ErrorInvalidIdMalformed``, ``ErrorItemNotFound``
or, for an item that is not a distribution list, ``ErrorInvalidItemForOperationExpandDL`` (its
message text is the simulator's).

GetRoomLists and GetRooms arrived with Exchange 2010 (the 2007 Services.wsdl lacks them, so a
2007 server refuses them as unknown SOAP actions before they get here). GetRoomLists lists the
room lists, ``MailboxType`` ``PublicDL``; GetRooms the rooms of one, each as a ``Room`` whose
``Id`` is the room's address. EWS shows nothing of a room's booking policy or Places attributes.
Where Microsoft's pages are silent the simulator chooses: GetRooms of an address that is not a
room list (unknown, a distribution list or a user) is ``ErrorNameResolutionNoResults``, the code
Exchange uses for addresses it cannot resolve, and the lists and rooms come in seed order.
"""

from __future__ import annotations

from lxml import etree

from roomsync_sim.context import Context, OperationError
from roomsync_sim.ews.operations import operation
from roomsync_sim.ews.operations.availability import bare_response
from roomsync_sim.ews.operations.common import resolve_item
from roomsync_sim.seed import Group, User
from roomsync_sim.soap import m, response_message, t

MAX_CANDIDATES = 100
NO_RESULTS = "No results were found."

Entry = User | Group


def _entries(ctx: Context) -> list[Entry]:
    seed = ctx.directory.seed
    return [*seed.users, *seed.groups]


def _group(ctx: Context, smtp: str) -> Group | None:
    smtp = smtp.strip().lower()
    return next((g for g in ctx.directory.seed.groups if g.smtp == smtp), None)


def _entry(ctx: Context, smtp: str) -> Entry | None:
    return ctx.directory.user(smtp) or _group(ctx, smtp)


def _mailbox_type(entry: Entry) -> str:
    return "PublicDL" if isinstance(entry, Group) else "Mailbox"


def address_element(ctx: Context, tag: str, entry: Entry) -> etree._Element:
    """An EmailAddressType element (``Mailbox``, ``Address``, ``Id``) for a directory entry."""
    elem = etree.Element(tag)
    etree.SubElement(elem, t("Name")).text = entry.name
    etree.SubElement(elem, t("EmailAddress")).text = entry.smtp
    etree.SubElement(elem, t("RoutingType")).text = "SMTP"
    if ctx.dialect.has_element("EmailAddressType", "MailboxType"):
        etree.SubElement(elem, t("MailboxType")).text = _mailbox_type(entry)
    return elem


def _matches(entry: Entry, text: str) -> bool:
    needle = text.strip().lower()
    if needle.startswith("smtp:"):
        return entry.smtp == needle[5:]
    if not needle:
        return False
    if entry.smtp == needle or entry.smtp.split("@")[0].startswith(needle):
        return True
    name = entry.name.lower()
    return name.startswith(needle) or any(word.startswith(needle) for word in name.split())


def _contact(ctx: Context, entry: Entry) -> etree._Element:
    contact = etree.Element(t("Contact"))
    parts: dict[str, etree._Element] = {}
    display = etree.Element(t("DisplayName"))
    display.text = entry.name
    parts["DisplayName"] = display
    addresses = etree.Element(t("EmailAddresses"))
    etree.SubElement(addresses, t("Entry"), {"Key": "EmailAddress1"}).text = f"SMTP:{entry.smtp}"
    parts["EmailAddresses"] = addresses
    if ctx.dialect.has_element("ContactItemType", "ContactSource"):
        source = etree.Element(t("ContactSource"))
        source.text = "ActiveDirectory"
        parts["ContactSource"] = source
    for name in ctx.dialect.element_order("ContactItemType"):
        if name in parts:
            contact.append(parts[name])
    return contact


@operation("ResolveNames")
def resolve_names(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    text = request.findtext(m("UnresolvedEntry")) or ""
    full = (request.get("ReturnFullContactData") or "false") in ("true", "1")
    found = sorted((e for e in _entries(ctx) if _matches(e, text)), key=lambda e: (e.name.lower(), e.smtp))
    if not found:
        response_message(messages, "ResolveNames", "ErrorNameResolutionNoResults", NO_RESULTS)
        return
    if len(found) == 1:
        msg = response_message(messages, "ResolveNames")
    else:
        msg = etree.SubElement(messages, m("ResolveNamesResponseMessage"), {"ResponseClass": "Warning"})
        etree.SubElement(msg, m("MessageText")).text = "Multiple results were found."
        etree.SubElement(msg, m("ResponseCode")).text = "ErrorNameResolutionMultipleResults"
        etree.SubElement(msg, m("DescriptiveLinkKey")).text = "0"
    shown = found[:MAX_CANDIDATES]
    result = etree.SubElement(
        msg,
        m("ResolutionSet"),
        {
            "TotalItemsInView": str(len(found)),
            "IncludesLastItemInRange": "true" if len(shown) == len(found) else "false",
        },
    )
    for entry in shown:
        resolution = etree.SubElement(result, t("Resolution"))
        resolution.append(address_element(ctx, t("Mailbox"), entry))
        if full:
            resolution.append(_contact(ctx, entry))


@operation("ExpandDL")
def expand_dl(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    mailbox = request.find(m("Mailbox"))
    item_id = mailbox.find(t("ItemId")) if mailbox is not None else None
    if item_id is not None:
        try:
            item, _ = resolve_item(ctx, item_id)
        except OperationError as e:
            response_message(messages, "ExpandDL", e.code, e.text)
            return
        if item.kind != "DistributionList":
            response_message(
                messages,
                "ExpandDL",
                "ErrorInvalidItemForOperationExpandDL",
                "The item is not a private distribution list.",
            )
            return
    address = mailbox.findtext(t("EmailAddress")) if mailbox is not None else None
    group = _group(ctx, address or "")
    if group is None:
        response_message(messages, "ExpandDL", "ErrorNameResolutionNoResults", NO_RESULTS)
        return
    members = [e for e in (_entry(ctx, s) for s in group.members) if e is not None]
    msg = response_message(messages, "ExpandDL")
    expansion = etree.SubElement(
        msg, m("DLExpansion"), {"TotalItemsInView": str(len(members)), "IncludesLastItemInRange": "true"}
    )
    for entry in members:
        expansion.append(address_element(ctx, t("Mailbox"), entry))


def _bare_message(messages: etree._Element, code: str = "NoError", text: str | None = None) -> etree._Element:
    response = bare_response(messages)
    response.set("ResponseClass", "Success" if code == "NoError" else "Error")
    if text:
        etree.SubElement(response, m("MessageText")).text = text
    etree.SubElement(response, m("ResponseCode")).text = code
    if code != "NoError":
        etree.SubElement(response, m("DescriptiveLinkKey")).text = "0"
    return response


@operation("GetRoomLists")
def get_room_lists(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    response = _bare_message(messages)
    lists = etree.SubElement(response, m("RoomLists"))
    for group in ctx.directory.seed.groups:
        if group.kind == "roomlist":
            lists.append(address_element(ctx, t("Address"), group))


@operation("GetRooms")
def get_rooms(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    address = request.findtext(f"{m('RoomList')}/{t('EmailAddress')}") or ""
    group = _group(ctx, address)
    if group is None or group.kind != "roomlist":
        _bare_message(messages, "ErrorNameResolutionNoResults", NO_RESULTS)
        return
    response = _bare_message(messages)
    rooms = etree.SubElement(response, m("Rooms"))
    for smtp in group.members:
        user = ctx.directory.user(smtp)
        if user is not None:
            room = etree.SubElement(rooms, t("Room"))
            room.append(address_element(ctx, t("Id"), user))

"""ConvertId: an item or folder id between the formats EWS names.

The simulator's ids are its own (see :mod:`roomsync_sim.ids`), so the other formats are built
around them and convert back losslessly; their shapes imitate Exchange's but are approximations:

- ``EwsId``: the id EWS hands out.
- ``EntryId``: base64 of a MAPI-like PR_ENTRYID (4 flag bytes, the store's provider GUID, the
  object's key); ``HexEntryId``: the same bytes in upper-case hex (what Outlook and the
  availability service's ``CalendarEventDetails/ID`` show); ``StoreId``: base64 of the entry id
  followed by a type byte.
- ``EwsLegacyId`` (Exchange 2007 RTM ids) and ``OwaId`` (Outlook Web App ids, URL-quoted): base64
  of the object's key with a marker of their own.

exchangelib probes the server version with a ConvertId of the id ``DUMMY``: like any id this
server did not issue, it is answered with ``ErrorInvalidIdMalformed``. The ``Mailbox`` attribute is
not checked against the id's mailbox.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote, unquote

from lxml import etree

from roomsync_sim import ids
from roomsync_sim.context import Context
from roomsync_sim.ews.operations import operation
from roomsync_sim.ews.operations.common import item_ids
from roomsync_sim.soap import XSI, m, response_message

_PROVIDER = bytes.fromhex("9A1B5C3D8E0F47A6B2C4D6E8F0A1B3C5")
_FLAGS = b"\x00\x00\x00\x00"
_LEGACY = b"RL"
_OWA = b"RO"
_STORE_TYPE = b"\x07"


def _raw(ews_id: str) -> bytes:
    ids.decode(ews_id)  # raises MalformedId
    return base64.b64decode(ews_id)


def _entry(raw: bytes) -> bytes:
    return _FLAGS + _PROVIDER + raw


def _from_entry(entry: bytes) -> str:
    if not entry.startswith(_FLAGS + _PROVIDER):
        raise ids.MalformedId("not an entry id of this server")
    return base64.b64encode(entry[len(_FLAGS + _PROVIDER) :]).decode()


def hex_entry_id(ews_id: str) -> str:
    return _entry(_raw(ews_id)).hex().upper()


def to_format(ews_id: str, fmt: str) -> str:
    raw = _raw(ews_id)
    if fmt == "EwsId":
        return ews_id
    if fmt == "EntryId":
        return base64.b64encode(_entry(raw)).decode()
    if fmt == "HexEntryId":
        return _entry(raw).hex().upper()
    if fmt == "StoreId":
        return base64.b64encode(_entry(raw) + _STORE_TYPE).decode()
    if fmt == "EwsLegacyId":
        return base64.b64encode(_LEGACY + raw[2:]).decode()
    if fmt == "OwaId":
        return quote(base64.b64encode(_OWA + raw[2:]).decode(), safe="")
    raise ids.MalformedId(fmt)


def from_format(value: str, fmt: str) -> str:
    """The EwsId an id of format ``fmt`` names (MalformedId when it is not one of ours)."""
    try:
        if fmt == "EwsId":
            result = value
        elif fmt == "EntryId":
            result = _from_entry(base64.b64decode(value, validate=True))
        elif fmt == "HexEntryId":
            result = _from_entry(bytes.fromhex(value))
        elif fmt == "StoreId":
            result = _from_entry(base64.b64decode(value, validate=True)[:-1])
        elif fmt in ("EwsLegacyId", "OwaId"):
            raw = base64.b64decode(unquote(value) if fmt == "OwaId" else value, validate=True)
            if raw[:2] != (_LEGACY if fmt == "EwsLegacyId" else _OWA):
                raise ids.MalformedId(value)
            result = base64.b64encode(b"RS" + raw[2:]).decode()
        else:
            raise ids.MalformedId(fmt)
    except (binascii.Error, ValueError) as exc:
        raise ids.MalformedId(value) from exc
    ids.decode(result)
    return result


@operation("ConvertId")
def convert_id(ctx: Context, request: etree._Element, messages: etree._Element) -> None:
    destination = request.get("DestinationFormat") or "EwsId"
    for source in item_ids(request.find(m("SourceIds"))):
        try:
            ews_id = from_format(source.get("Id") or "", source.get("Format") or "EwsId")
            converted = to_format(ews_id, destination)
        except ids.MalformedId:
            response_message(messages, "ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.")
            continue
        msg = response_message(messages, "ConvertId")
        attrs = {f"{{{XSI}}}type": "t:AlternateIdType", "Format": destination, "Id": converted}
        if etree.QName(source).localname == "AlternateId":
            attrs["Mailbox"] = source.get("Mailbox") or ""
        etree.SubElement(msg, m("AlternateId"), attrs)

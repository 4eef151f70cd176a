"""Opaque identifiers: item, occurrence, folder ids and change keys.

Exchange ids are base64 blobs that clients must not interpret; these are too, but the
simulator can decode its own to find an item without a lookup table per mailbox.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid

_ITEM = b"\x01"
_OCCURRENCE = b"\x02"
_FOLDER = b"\x03"
_CK = "CQAAAB"


class MalformedId(ValueError):
    """The id is not one this server issued (``ErrorInvalidIdMalformed``)."""


def new_key() -> bytes:
    return uuid.uuid4().bytes


def item_id(key: bytes) -> str:
    return base64.b64encode(b"RS" + _ITEM + key).decode()


def occurrence_id(master_key: bytes, index: int) -> str:
    return base64.b64encode(b"RS" + _OCCURRENCE + master_key + struct.pack(">I", index)).decode()


def folder_id(key: bytes) -> str:
    return base64.b64encode(b"RS" + _FOLDER + key).decode()


def decode(value: str) -> tuple[str, bytes, int]:
    """``(kind, key, occurrence index)``; kind is ``item``, ``occurrence`` or ``folder``."""
    try:
        raw = base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise MalformedId(value) from None
    if len(raw) < 19 or raw[:2] != b"RS":
        raise MalformedId(value)
    kind, key = raw[2:3], raw[3:19]
    if kind == _ITEM and len(raw) == 19:
        return "item", key, 0
    if kind == _FOLDER and len(raw) == 19:
        return "folder", key, 0
    if kind == _OCCURRENCE and len(raw) == 23:
        return "occurrence", key, struct.unpack(">I", raw[19:23])[0]
    raise MalformedId(value)


def change_key(key: bytes, version: int) -> str:
    return (_CK + base64.b64encode(key[:6] + struct.pack(">I", version)).decode()).rstrip("=")


def change_key_version(value: str) -> int | None:
    """The version a change key names, or None when it is not one of ours."""
    if not value.startswith(_CK):
        return None
    body = value[len(_CK) :]
    body += "=" * (-len(body) % 4)
    try:
        raw = base64.b64decode(body.encode(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 10:
        return None
    return int(struct.unpack(">I", raw[6:10])[0])

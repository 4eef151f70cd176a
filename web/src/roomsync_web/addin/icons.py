"""The add-in's icons, drawn in code and written as PNG (no image library, no binary files).

A white door on a blue square: the ribbon shows the 16, 32 and 80 pixel sizes, the add-in
lists the 64 and 128 pixel ones (``IconUrl``, ``HighResolutionIconUrl``).
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

SIZES = (16, 32, 64, 80, 128)
"""The sizes the manifest names; :func:`png` draws any size, the web app serves only these."""

_BLUE = (0x0F, 0x6C, 0xBD, 0xFF)
_WHITE = (0xFF, 0xFF, 0xFF, 0xFF)
_CLEAR = (0, 0, 0, 0)


def _pixel(x: float, y: float) -> tuple[int, int, int, int]:
    """The colour at ``(x, y)`` of the unit square (0 to 1 on both axes, y downwards)."""
    corner = 0.18
    dx = max(corner - x, x - (1 - corner), 0.0)
    dy = max(corner - y, y - (1 - corner), 0.0)
    if dx * dx + dy * dy > corner * corner:
        return _CLEAR  # rounded corners
    if 0.32 <= x <= 0.68 and 0.2 <= y <= 0.84:  # the door
        knob = (x - 0.6) ** 2 + (y - 0.54) ** 2 <= 0.045**2
        return _BLUE if knob else _WHITE
    return _BLUE


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=len(SIZES))
def png(size: int) -> bytes:
    """The icon as a ``size`` x ``size`` RGBA PNG (8 bits per channel, no interlacing)."""
    if not 1 <= size <= 1024:
        raise ValueError(f"icon size {size} is not between 1 and 1024")
    rows = bytearray()
    for row in range(size):
        rows.append(0)  # filter type None
        for column in range(size):
            rows.extend(_pixel((column + 0.5) / size, (row + 0.5) / size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )

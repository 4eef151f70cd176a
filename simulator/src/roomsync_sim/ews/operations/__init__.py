"""The EWS operations, one module per group; each registers its handlers with :func:`operation`.

A handler receives the request context, the operation element and the response's
``ResponseMessages`` element, and appends one response message per element of the request. A
later group (availability, notifications, ...) is one more module listed in ``MODULES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from lxml import etree

from roomsync_sim.context import Context

Handler = Callable[[Context, etree._Element, etree._Element], None]

OPERATIONS: dict[str, Handler] = {}
# Operations that change data: a fault "apply, then drop the connection" applies to these.
WRITES: set[str] = set()

MODULES = ("folders", "items", "find", "sync", "convert", "notify", "availability", "directory")


def operation(name: str, *, writes: bool = False) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        OPERATIONS[name] = fn
        if writes:
            WRITES.add(name)
        return fn

    return register


def load_all() -> dict[str, Handler]:
    for module in MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return OPERATIONS

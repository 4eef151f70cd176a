"""Graph URL paths to handlers: one table of method, path pattern, handler and request kind.

Path segments are matched case-insensitively (Graph's are); ``/users/{id}/calendar/events`` and
``/users/{id}/events`` name the same default calendar. The kind names a request in the counters
and in fault rules (``events.create``, ``calendarView.delta``, ``getSchedule``, ``$batch``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    kind: str
    handler: Handler
    mailbox: bool = True  # the path names a user whose mailbox the app must be allowed to use
    locked: bool = True  # run under the tenant store's lock
    writes: bool = False


@dataclass(frozen=True)
class Match:
    route: Route
    params: dict[str, str]


_USER = r"/users/(?P<user>[^/]+)"
_CAL = r"(?:/calendar)?"
_EVENT = r"/events/(?P<event>[^/]+)"


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, path: str, kind: str, handler: Handler, **flags: bool) -> None:
        pattern = re.compile(f"^{path}/?$", re.IGNORECASE)
        self.routes.append(Route(method, pattern, kind, handler, **flags))

    def match(self, method: str, path: str) -> Match | str | None:
        """The route, None (no such path), or the allowed methods' string (wrong method)."""
        allowed = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            return Match(route, {k: unquote(v) for k, v in found.groupdict().items() if v is not None})
        return ", ".join(allowed) if allowed else None


USER = _USER
CAL = _CAL
EVENT = _EVENT

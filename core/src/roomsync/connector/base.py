"""The base class of connectors.

A connector plugin is a distribution that registers a :class:`Connector` subclass under the
``roomsync.connectors`` entry-point group; an environment in the configuration names it. The
class declares its options as a pydantic model, so a typo in the configuration is reported with
the environment's key path before anything connects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from roomsync.config import problems_from
from roomsync.connector.options import NoOptions
from roomsync.connector.traffic import RequestCounter
from roomsync.errors import ConfigError

T = TypeVar("T")
Wake = Callable[[list[str]], None]
"""What a watching connector calls with the mailboxes whose calendars changed."""


class Connector:
    """Base of connector plugins: holds the environment's name and validated options.

    Subclasses set ``Options`` and implement the connector hooks of :mod:`roomsync.hookspecs`
    as methods marked ``@hookimpl``.
    """

    Options: ClassVar[type[BaseModel]] = NoOptions

    webhooks_elsewhere: bool = False
    """Set by a process that receives the connector's webhooks on a server of its own (the web
    service, at ``/webhooks/<kind>/<environment>``) before anything watches: the connector then
    opens no port and is handed each post through :meth:`webhook_answer`."""

    def __init__(self, environment: str, options: BaseModel) -> None:
        self.environment = environment
        self.options = options
        self.requests_sent = RequestCounter()
        """Requests sent to the server; transports that count add to it (``/metrics`` reads it)."""

    def webhook_answer(self, path: str, query: str, body: bytes, client: str) -> tuple[int, str]:
        """Answer a webhook post received for this connector: (HTTP status, plain text).

        ``path`` is what follows the environment in the URL, ``query`` the raw query string.
        A connector that takes no webhooks keeps this answer.
        """
        return 404, "this environment takes no webhooks"

    @classmethod
    def from_config(
        cls, environment: str, raw_options: dict[str, Any], source: str | None = None
    ) -> Connector:
        return cls(environment, cls.validated_options(environment, raw_options, source))

    @classmethod
    def validated_options(
        cls, environment: str, raw_options: dict[str, Any], source: str | None = None
    ) -> BaseModel:
        """The environment's options as ``Options``; a :class:`ConfigError` lists every problem."""
        try:
            return cls.Options.model_validate(raw_options)
        except ValidationError as exc:
            problems = problems_from(exc, source, ("environments", environment, "options"))
            raise ConfigError(problems=problems) from None


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]

"""What an operation knows about the request it serves, and the errors it may answer with."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING

from roomsync_sim.auth import Directory
from roomsync_sim.dialects import Dialect
from roomsync_sim.seed import User
from roomsync_sim.store import Mailbox, Store

if TYPE_CHECKING:
    from roomsync_sim.ews.notifications import Notifier

VERSION_ORDER = (
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
)


class OperationError(Exception):
    """An error of one element of a request: answered as an Error response message."""

    def __init__(self, code: str, text: str | None = None) -> None:
        self.code = code
        self.text = text
        super().__init__(f"{code}: {text or ''}")


@dataclass
class Context:
    store: Store
    directory: Directory
    dialect: Dialect
    version: str  # the RequestServerVersion of the request
    caller: User
    identity: str  # the mailbox the request acts as (the impersonated one, or the caller's)
    tz_context: tzinfo | None = None
    notifier: Notifier | None = None
    # Set by GetStreamingEvents: the answer is this stream of SOAP envelopes, not one document.
    stream: Iterator[bytes] | None = None

    def at_least(self, version: str) -> bool:
        return VERSION_ORDER.index(self.version) >= VERSION_ORDER.index(version)

    def mailbox(self, smtp: str | None = None) -> Mailbox:
        """A mailbox this request may use: its own, or one it holds a delegate grant for."""
        address = (smtp or self.identity).lower()
        mbx = self.store.mailbox(address)
        if mbx is None:
            raise OperationError(
                "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
            )
        if address != self.identity and not self.directory.is_delegate(self.identity, address):
            raise OperationError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return mbx

    def check_access(self, mbx: Mailbox) -> None:
        self.mailbox(mbx.smtp)

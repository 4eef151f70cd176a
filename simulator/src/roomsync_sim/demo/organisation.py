"""What every generation of the demo has: an organisation on its server, the server once it
runs, and its people at their mail client; and the installable parts a generation needs."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, Protocol

from roomsync.domain import EventFields


@dataclass(frozen=True)
class Distribution:
    """An installable part of roomsync: its name and its folder in a clone of the repository."""

    name: str
    path: str

    def installed(self) -> bool:
        try:
            distribution(self.name)
        except PackageNotFoundError:
            return False
        return True


SIMULATOR = Distribution("roomsync-exchange-simulator", "./simulator")
EWS_COMMON = Distribution("roomsync-ews-common", "./plugins/ews-common")


@dataclass(frozen=True)
class Mailbox:
    email: str
    name: str


class OutlookUser(Protocol):
    """Someone at their mail client: changes made outside roomsync, not through its connector.

    Over EWS with the user's own password; the simulated Exchange Online tenant has no user
    passwords, so there the client acts in the user's mailbox with a mail client's app token.
    """

    def rename(self, item_id: str, fields: EventFields, title: str) -> None: ...

    def book(self, fields: EventFields) -> str:
        """A meeting that invites ``fields.rooms``, sent so the rooms answer; returns its item id."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Running:
    """A generation's server, up: the environment's options and a way to act as one of its users
    (the person or the outsider) in Outlook."""

    endpoint: str
    options: dict[str, Any]
    outlook: Callable[[Mailbox], OutlookUser]


@dataclass(frozen=True)
class Organisation:
    """Who exists on a generation's server: the service account, the person, the room, and a
    colleague roomsync does not synchronise (the outsider), who books the room in Outlook only."""

    domain: str
    service: Mailbox
    person: Mailbox
    room: Mailbox
    outsider: Mailbox
    password_file: Path
    """Holds the service account's password (Exchange Online: the app's client secret); the
    environment refers to it, as a real one would."""
    tls_dir: Path
    """Where a server that speaks HTTPS keeps its certificate authority and certificate."""

    def write_secret(self, secret: str) -> None:
        """The secret the environment reads from ``password_file``, readable by its owner only."""
        self.password_file.write_text(secret + "\n", encoding="utf-8")
        self.password_file.chmod(0o600)


class Backend(Protocol):
    """How the demo gets a server of one generation."""

    requires: tuple[Distribution, ...]
    """What the generation needs beyond the simulator and its own plugin."""

    def run(self, plugin: str, organisation: Organisation) -> AbstractContextManager[Running]: ...

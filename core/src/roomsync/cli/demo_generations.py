"""The Exchange generations ``roomsync demo`` runs: each a plugin, an environment and a server.

A generation is one row of :data:`GENERATIONS`: the connector plugin that serves it, the
environment it gets in the demo's settings, the person and the room of its organisation, and a
:class:`Backend` that brings up a server for it (a simulated Exchange in this process) and acts
as the person in Outlook. The EWS generations share one backend (:mod:`roomsync.cli.demo_ews`),
Exchange Online over Microsoft Graph has its own (:mod:`roomsync.cli.demo_graph`); the walkthrough
in :mod:`roomsync.cli.demo` is the same for all.

Nothing here imports a plugin or the simulator: the core installs and runs without them, and the
demo says what to install when they are missing.
"""

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
    """The person at their mail client: changes made outside roomsync, not through its connector.

    Over EWS with the person's own password; the simulated Exchange Online tenant has no user
    passwords, so there the client acts in the person's mailbox with an app token.
    """

    def rename(self, item_id: str, fields: EventFields, title: str) -> None: ...

    def book(self, fields: EventFields) -> str:
        """A meeting that invites ``fields.rooms``, sent so the rooms answer; returns its item id."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Running:
    """A generation's server, up: the environment's options and a way to act as a person."""

    endpoint: str
    options: dict[str, Any]
    outlook: Callable[[Mailbox], OutlookUser]


@dataclass(frozen=True)
class Organisation:
    """Who exists on a generation's server: the service account, the person, the room."""

    domain: str
    service: Mailbox
    person: Mailbox
    room: Mailbox
    password_file: Path
    """Holds the service account's password (Exchange Online: the app's client secret); the
    environment refers to it, as a real one would."""
    tls_dir: Path
    """Where a server that speaks HTTPS keeps its certificate authority and certificate."""


class Backend(Protocol):
    """How the demo gets a server of one generation."""

    requires: tuple[Distribution, ...]

    def unavailable(self, connector_class: type) -> str | None:
        """Why this release cannot show the generation, or None when it can."""
        ...

    def run(self, plugin: str, organisation: Organisation) -> AbstractContextManager[Running]: ...


@dataclass(frozen=True)
class Generation:
    label: str
    plugin: str
    environment: str
    domain: str
    person: Mailbox
    room: Mailbox
    backend: Backend

    @property
    def requires(self) -> tuple[Distribution, ...]:
        plugin = Distribution(f"roomsync-{self.plugin}", f"./plugins/{self.plugin}")
        return (*self.backend.requires, plugin)


def _generations() -> tuple[Generation, ...]:
    from roomsync.cli.demo_ews import EwsSimulatorBackend
    from roomsync.cli.demo_graph import GraphSimulatorBackend

    return (
        Generation(
            label="Exchange 2007",
            plugin="exchange2007",
            environment="ex2007",
            domain="fabrikam.example",
            person=Mailbox("carol@fabrikam.example", "Carol"),
            room=Mailbox("room.cirrus@fabrikam.example", "Cirrus"),
            backend=EwsSimulatorBackend("exchange2007"),
        ),
        Generation(
            label="Exchange 2010",
            plugin="exchange2010",
            environment="ex2010",
            domain="northwind.example",
            person=Mailbox("bob@northwind.example", "Bob"),
            room=Mailbox("room.boreas@northwind.example", "Boreas"),
            backend=EwsSimulatorBackend("exchange2010"),
        ),
        Generation(
            label="Exchange 2013+",
            plugin="exchange2013",
            environment="ex2013",
            domain="contoso.example",
            person=Mailbox("alice@contoso.example", "Alice"),
            room=Mailbox("room.atlas@contoso.example", "Atlas"),
            backend=EwsSimulatorBackend("exchange2013"),
        ),
        Generation(
            label="Exchange Online",
            plugin="o365",
            environment="online",
            domain="adatum.example",
            person=Mailbox("dana@adatum.example", "Dana"),
            room=Mailbox("room.draco@adatum.example", "Draco"),
            backend=GraphSimulatorBackend(),
        ),
    )


GENERATIONS: tuple[Generation, ...] = _generations()
"""In the order the demo shows them; each organisation has a domain, a person and a room of its own."""


def missing(generations: tuple[Generation, ...] = GENERATIONS) -> list[Distribution]:
    """What the demo needs and is not installed, each once, in the order of installation."""
    needed: dict[str, Distribution] = {}
    for generation in generations:
        for required in generation.requires:
            needed.setdefault(required.name, required)
    return [d for d in needed.values() if not d.installed()]


def install_hint(absent: list[Distribution]) -> str:
    """Exactly what to run, from the root of a clone of the repository."""
    names = ", ".join(d.name for d in absent)
    paths = " ".join(d.path for d in absent)
    return (
        "roomsync demo runs on the Exchange simulator with the EWS and Exchange Online plugins, and "
        f"these are not installed: {names}.\n"
        "From the root of a clone of the repository, install everything the demo needs with\n"
        "    pip install -r requirements-demo.txt\n"
        f"or only what is missing with\n    pip install {paths}"
    )

"""The Exchange generations ``roomsync demo`` shows, and which of them this installation can show.

A generation is one row of :data:`GENERATIONS`: the connector plugin that serves it, the
environment it gets in the demo's settings, the person, the room and the outsider (a colleague
roomsync does not synchronise) of its organisation, and a :class:`~.organisation.Backend` that
brings up its server (a simulated Exchange in this process) and acts as its users in Outlook.
The EWS generations share one backend (:mod:`.ews`), Exchange Online over Microsoft Graph has its
own (:mod:`.graph`).

The plugins are not dependencies of the simulator: the demo shows the generations whose plugins
are installed and says, for each other one, what to install.
"""

from __future__ import annotations

from dataclasses import dataclass

from roomsync_sim.demo.ews import EwsSimulatorBackend
from roomsync_sim.demo.graph import GraphSimulatorBackend
from roomsync_sim.demo.organisation import Backend, Distribution, Mailbox

OUTSIDER = "Erin"
"""The colleague of every organisation whom roomsync does not synchronise: she books rooms in
Outlook only, and ROOMS learns of it from the rooms' calendars."""


@dataclass(frozen=True)
class Generation:
    label: str
    plugin: str
    environment: str
    domain: str
    person: Mailbox
    room: Mailbox
    outsider: Mailbox
    backend: Backend

    @classmethod
    def of(
        cls,
        label: str,
        plugin: str,
        environment: str,
        backend: Backend,
        domain: str,
        person: str,
        room: str,
        outsider: str = OUTSIDER,
    ) -> Generation:
        """A generation whose person, room and outsider have mail addresses made of their names."""
        return cls(
            label=label,
            plugin=plugin,
            environment=environment,
            domain=domain,
            person=Mailbox(f"{person.lower()}@{domain}", person),
            room=Mailbox(f"room.{room.lower()}@{domain}", room),
            outsider=Mailbox(f"{outsider.lower()}@{domain}", outsider),
            backend=backend,
        )

    @property
    def requires(self) -> tuple[Distribution, ...]:
        plugin = Distribution(f"roomsync-{self.plugin}", f"./plugins/{self.plugin}")
        return (*self.backend.requires, plugin)

    def missing(self) -> list[Distribution]:
        """What this generation needs and is not installed, in the order of installation."""
        return [d for d in self.requires if not d.installed()]


GENERATIONS: tuple[Generation, ...] = (
    Generation.of(
        "Exchange 2007",
        "exchange2007",
        "ex2007",
        EwsSimulatorBackend("exchange2007"),
        "fabrikam.example",
        "Carol",
        "Cirrus",
    ),
    Generation.of(
        "Exchange 2010",
        "exchange2010",
        "ex2010",
        EwsSimulatorBackend("exchange2010"),
        "northwind.example",
        "Bob",
        "Boreas",
    ),
    Generation.of(
        "Exchange 2013+",
        "exchange2013",
        "ex2013",
        EwsSimulatorBackend("exchange2013"),
        "contoso.example",
        "Alice",
        "Atlas",
    ),
    Generation.of(
        "Exchange Online", "o365", "online", GraphSimulatorBackend(), "adatum.example", "Dana", "Draco"
    ),
)
"""In the order the demo shows them; each organisation has a domain, a person and a room of its own
(and its own Erin, whom roomsync does not synchronise)."""


def skip_note(absent: list[Distribution]) -> str:
    """Why a generation is not shown, and exactly what to run (from the root of a clone)."""
    names = ", ".join(d.name for d in absent)
    paths = " ".join(d.path for d in absent)
    return f"not installed: {names} (pip install {paths})"


def installed(generations: tuple[Generation, ...] = GENERATIONS) -> tuple[list[Generation], dict[str, str]]:
    """The generations this installation can show, and a note for each of the others by label."""
    shown: list[Generation] = []
    skipped: dict[str, str] = {}
    for generation in generations:
        absent = generation.missing()
        if absent:
            skipped[generation.label] = skip_note(absent)
        else:
            shown.append(generation)
    return shown, skipped


NOTHING_INSTALLED = (
    "roomsync demo shows the Exchange generations whose plugins are installed, and none is.\n"
    "From the root of a clone of the repository, install everything the demo needs with\n"
    "    pip install -r requirements-demo.txt"
)

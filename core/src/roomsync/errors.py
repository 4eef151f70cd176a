"""Errors that reach users: each says what is wrong and where, never a secret.

Every error carries a :class:`Fault`, the kind of problem it is, so that whoever reports it can
choose who hears of it without reading its text: faults of the installation (configuration,
credentials, rights, TLS, the server) go to the administrators with the detail; the organizer
only hears that their calendar or reservation is affected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Fault(StrEnum):
    """What kind of problem an error is; each one is for the administrators to fix."""

    CONFIGURATION = "configuration"  # a wrong value in roomsync.toml or an environment's options
    CREDENTIALS = "credentials"  # the server refused the service account's or the app's sign-in
    PERMISSION = "permission"  # the service account lacks a right on a mailbox
    TLS = "tls"  # the server's certificate is not trusted, or the TLS handshake failed
    SERVER = "server"  # unreachable, failing, busy or throttling beyond the retries
    MAILBOX = "mailbox"  # the person's mailbox is not on the environment's server
    PLUGIN = "plugin"  # the environment's plugin is not installed
    ENVIRONMENT = "environment"  # the person has no environment, or an unknown one
    DATABASE = "database"  # the database cannot be used as it is
    SAFETY = "safety"  # a safety rule stopped the cycle (a mailbox that suddenly reads empty)
    DATA = "data"  # stored data roomsync cannot use (an unknown id, an invalid value)
    INTERNAL = "internal"  # an unexpected error: a defect in roomsync or a plugin

    @property
    def environment_wide(self) -> bool:
        """A fault that stops everyone in an environment alike, not one mailbox."""
        return self in _ENVIRONMENT_WIDE


_ENVIRONMENT_WIDE = frozenset({Fault.CONFIGURATION, Fault.CREDENTIALS, Fault.TLS, Fault.SERVER, Fault.PLUGIN})


def fault_of(exc: BaseException) -> Fault:
    """The kind of any exception; one that is not ours is an internal fault."""
    return exc.fault if isinstance(exc, RoomsyncError) else Fault.INTERNAL


class RoomsyncError(Exception):
    """Base of every error roomsync reports to a user."""

    fault: Fault = Fault.INTERNAL
    code: str | None = None
    """A stable name for the kind of refusal, for programs (the API's ``code``): words change
    and are translated, codes do not."""
    facts: Mapping[str, str | int] = MappingProxyType({})
    """What a program needs to say it in its own words (the room, the number of days)."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a configuration: the file, the dotted key and what is wrong there."""

    message: str
    key: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.key, self.message) if part)


class ConfigError(RoomsyncError):
    """A configuration file or value is wrong; names the key and the file.

    ``problems`` holds every problem found, so that one run of ``roomsync config check`` lists
    them all; ``file`` and ``key`` are those of the first.
    """

    fault = Fault.CONFIGURATION

    def __init__(
        self,
        message: str = "",
        *,
        file: str | None = None,
        key: str | None = None,
        problems: Sequence[ConfigProblem] = (),
    ) -> None:
        self.problems = list(problems) or [ConfigProblem(message, key=key, file=file)]
        self.file = self.problems[0].file
        self.key = self.problems[0].key
        if len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            listed = "\n".join(f"  {problem}" for problem in self.problems)
            text = f"{len(self.problems)} problems in the configuration:\n{listed}"
        super().__init__(text)


class PluginNotInstalled(RoomsyncError):
    """An environment names a connector plugin that is not installed."""

    fault = Fault.PLUGIN

    def __init__(self, plugin: str, environment: str, installed: list[str]) -> None:
        self.plugin = plugin
        self.environment = environment
        names = ", ".join(sorted(installed)) or "none"
        super().__init__(
            f"environment {environment!r} uses plugin {plugin!r}, which is not installed "
            f"(pip install roomsync-{plugin}); installed connector plugins: {names}"
        )


class PluginContractError(RoomsyncError):
    """A plugin implements a hook in a way the hook page (``roomsync.hookspecs``) does not allow."""


class UnknownEnvironment(RoomsyncError):
    fault = Fault.ENVIRONMENT

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(
            f"environment {name!r} is not in the configuration; configured: "
            f"{', '.join(sorted(known)) or 'none'}"
        )


class PersonNotAssigned(RoomsyncError):
    fault = Fault.ENVIRONMENT

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(
            f"person {email} has no environment; assign one with "
            f"'roomsync persons set {email} --environment NAME'"
        )


class NotFound(RoomsyncError):
    """An unknown person, room or reservation was named."""

    fault = Fault.DATA


class InvalidInput(RoomsyncError):
    """Input that cannot be stored (end before start, a taken room, a broken CSV row)."""

    fault = Fault.DATA


class Conflict(InvalidInput):
    """Input that is right in itself but collides with what is stored: a room taken at that
    time, a reservation changed since the caller read it."""


class RoomTaken(Conflict):
    code = "room-taken"


class RoomInactive(Conflict):
    """The room is inactive (gone from its environment's room directory, or set so by hand)."""

    code = "room-inactive"


class ChangedMeanwhile(Conflict):
    code = "changed-meanwhile"


class OutsideBookingWindow(Conflict):
    """The room may not be booked that far ahead (its booking window, in days from today)."""

    code = "outside-booking-window"

    def __init__(self, message: str, room: str, days: int) -> None:
        super().__init__(message)
        self.facts = {"room": room, "days": days}


class SchemaTooNew(RoomsyncError):
    fault = Fault.DATABASE

    def __init__(self, found: str, known: str) -> None:
        super().__init__(
            f"the database has schema revision {found}, newer than this roomsync knows ({known}); "
            "upgrade roomsync instead of using an older version on this database"
        )


class ConnectorError(RoomsyncError):
    """A connector could not talk to its server; ``transient`` errors are retried next cycle.

    The connector that knows why passes the ``fault`` (a refused logon is
    :attr:`Fault.CREDENTIALS`, an untrusted certificate :attr:`Fault.TLS`); without one the
    server is at fault.
    """

    transient = False
    fault = Fault.SERVER

    def __init__(self, message: str, *, fault: Fault | None = None) -> None:
        super().__init__(message)
        if fault is not None:
            self.fault = fault


class TransientConnectorError(ConnectorError):
    transient = True


class AccessDenied(ConnectorError):
    """The service account lacks a right on a mailbox; the message names the right."""

    fault = Fault.PERMISSION


class MassDeletionRefused(RoomsyncError):
    """A mailbox suddenly reported most of its synced entries deleted; nothing was cancelled."""

    fault = Fault.SAFETY


class MigrationFailed(RoomsyncError):
    """A schema migration would leave the database inconsistent; it was rolled back."""

    fault = Fault.DATABASE


class DatabaseUnavailable(RoomsyncError):
    """The database cannot be used: a malformed URL, a driver not installed, a server that
    cannot be reached or refuses the login. The message shows the URL without its password."""

    fault = Fault.DATABASE

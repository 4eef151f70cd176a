"""Errors that reach users: each says what is wrong and where, never a secret."""

from __future__ import annotations


class RoomsyncError(Exception):
    """Base of every error roomsync reports to a user."""


class ConfigError(RoomsyncError):
    """A configuration file or value is wrong; names the key and the file."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ", ".join(part for part in (file and f"file {file}", key and f"key {key}") if part)
        super().__init__(f"{where}: {message}" if where else message)


class PluginNotInstalled(RoomsyncError):
    """An environment names a connector plugin that is not installed."""

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
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(
            f"environment {name!r} is not in the configuration; configured: "
            f"{', '.join(sorted(known)) or 'none'}"
        )


class PersonNotAssigned(RoomsyncError):
    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(
            f"person {email} has no environment; assign one with "
            f"'roomsync persons set {email} --environment NAME'"
        )


class NotFound(RoomsyncError):
    """An unknown person, room or reservation was named."""


class InvalidInput(RoomsyncError):
    """Input that cannot be stored (end before start, a taken room, a broken CSV row)."""


class SchemaTooNew(RoomsyncError):
    def __init__(self, found: str, known: str) -> None:
        super().__init__(
            f"the database has schema revision {found}, newer than this roomsync knows ({known}); "
            "upgrade roomsync instead of using an older version on this database"
        )


class ConnectorError(RoomsyncError):
    """A connector could not talk to its server; ``transient`` errors are retried next cycle."""

    transient = False


class TransientConnectorError(ConnectorError):
    transient = True


class AccessDenied(ConnectorError):
    """The service account lacks a right on a mailbox; the message names the right."""


class MassDeletionRefused(RoomsyncError):
    """A mailbox suddenly reported most of its synced entries deleted; nothing was cancelled."""

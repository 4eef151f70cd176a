"""The configuration file (TOML), validated at start with errors that name the key and the file.

Secrets are never written in the file: a secret value is a reference, ``{ env = "NAME" }`` or
``{ file = "/run/secrets/name" }``, read only when a connection needs it. Every problem of a file
is reported at once; the options of each environment's plugin are checked by
:mod:`roomsync.config_check`, which needs the installed plugins.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from roomsync.domain import ConflictPolicy, Language
from roomsync.errors import ConfigError, ConfigProblem
from roomsync.redaction import remember
from roomsync.repair_settings import RepairConfig, Rule

DEFAULT_CONFIG = "roomsync.toml"
CONFIG_ENV = "ROOMSYNC_CONFIG"


class SecretRef(BaseModel):
    """Where a secret is read from: an environment variable or a file (first line)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def reveal(self) -> SecretStr:
        """Read the secret; the error names where it was looked for, never a value.

        The value is blanked from the logs from now on (:func:`roomsync.redaction.remember`).
        """
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"environment variable {self.env} is not set")
        else:
            assert self.file is not None
            try:
                value = self.file.read_text(encoding="utf-8").splitlines()[0].strip()
            except (OSError, IndexError) as exc:
                raise ConfigError(f"cannot read secret file {self.file}: {type(exc).__name__}") from None
        remember(value)
        return SecretStr(value)

    def __str__(self) -> str:
        return f"env:{self.env}" if self.env else f"file:{self.file}"


class EnvironmentConfig(BaseModel):
    """One Exchange environment: the plugin that drives it and that plugin's own options."""

    model_config = ConfigDict(extra="forbid")

    plugin: str
    description: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    # What the differences scans repair on their own in this environment (see [repair]).
    repair: Rule | None = None


def _addresses(value: Any) -> Any:
    """One address or a list of them; each a bare address (``ops@example.org``)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return value  # pydantic names the type that was expected
    for address in value:
        if not isinstance(address, str):
            continue
        try:
            parsed = Address(addr_spec=address.strip())
        except (ValueError, HeaderParseError):  # the email package's defects are ValueErrors
            parsed = None
        if parsed is None or not parsed.username or not parsed.domain:
            raise ValueError(f"{address!r} is not an e-mail address such as ops@example.org")
    return [address.strip() if isinstance(address, str) else address for address in value]


class SmtpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = "roomsync@localhost"
    # Who hears of faults of the installation (credentials, rights, TLS, the server) with their
    # detail; organizers only hear that their calendar or reservation is affected.
    admin: Annotated[list[str], BeforeValidator(_addresses)] = Field(default_factory=list)
    username: str | None = None
    password: SecretRef | None = None
    starttls: bool = False
    ssl: bool = False
    timeout_seconds: float = Field(default=10, gt=0)


class NotifyConfig(BaseModel):
    """The ``[notify]`` table: the words of the mails."""

    model_config = ConfigDict(extra="forbid")

    # The language of the mails to persons who have none of their own, and to the administrators.
    language: Language = Language.DE
    # A folder of templates that replace the shipped ones of the same name (e.g. de/conflict.html);
    # relative to the configuration file.
    templates: Path | None = None


class LoggingConfig(BaseModel):
    """The ``[logging]`` table: how much is logged, where to and in which shape.

    The -v flags of the command line only ever make it more verbose than this.
    """

    model_config = ConfigDict(extra="forbid")

    level: Literal["debug", "info", "warning", "error"] = "warning"
    # journald: standard error with each line's priority as a "<N>" prefix, for a systemd service.
    destination: Literal["stderr", "file", "journald"] = "stderr"
    format: Literal["json", "text"] = "json"
    # The log file of destination "file", relative to the configuration file; rotated when it
    # reaches max_bytes, keeping that many backups (roomsync.log.1 ... roomsync.log.N).
    file: Path | None = Field(default=None, validate_default=True)
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    backups: int = Field(default=5, ge=1)

    @field_validator("file")
    @classmethod
    def _file_with_its_destination(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        destination = info.data.get("destination")
        if destination == "file" and value is None:
            raise ValueError('destination "file" needs the path of the log file, e.g. file = "roomsync.log"')
        if destination not in ("file", None) and value is not None:
            raise ValueError(f'is only used with destination = "file", not {destination!r}')
        return value

    def file_path(self, source: Path | None) -> Path | None:
        """The log file, relative to the configuration file ``source`` when it is relative."""
        if self.file is None or self.file.is_absolute() or source is None:
            return self.file
        return Path(source).parent / self.file


class SyncConfig(BaseModel):
    # inf passes "greater than 0" and would make the daemon sleep for ever.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    interval_seconds: float = Field(default=60, gt=0)
    # Persons whose environment watches their mailbox (notifications) are woken on changes; the
    # full cycle is then only the safety net for a missed notification and runs this seldom.
    watched_interval_seconds: float = Field(default=900, gt=0)
    # How often the daemon reads an SQLite journal for ROOMS changes to wake their organizers
    # (PostgreSQL notifies them instead).
    rooms_poll_seconds: float = Field(default=0.25, gt=0, le=60)
    default_conflict_policy: ConflictPolicy = ConflictPolicy.ROLLBACK
    # A mailbox that reports at least this share of its synced entries deleted in one cycle
    # (and at least mass_delete_minimum of them) is not trusted: nothing is cancelled.
    mass_delete_ratio: float = Field(default=0.5, gt=0, le=1)
    mass_delete_minimum: int = Field(default=10, ge=1)
    rollback_attempts: int = Field(default=5, ge=1)
    cancel_attempts: int = Field(default=2, ge=1)
    past_days: int = Field(default=1, ge=0)
    # Distribution groups among participants: ROOMS holds their persons; Exchange gets the group
    # itself ("group", Exchange sends to its members) or the persons ("members").
    groups: Literal["group", "members"] = "group"
    group_depth: int = Field(default=5, ge=1, le=50)  # nested groups followed this deep
    group_size: int = Field(default=500, ge=1)  # a larger group stays the group, unexpanded
    # Cycles of different mailboxes run at once, in threads, up to this many in all; each
    # environment's connector bounds its own share (its max_concurrency).
    max_parallel_cycles: int = Field(default=16, ge=1, le=256)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Path("roomsync-data")
    database_url: str | SecretRef | None = None
    """An SQLAlchemy URL, or a reference to one when it holds a password."""
    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    smtp: SmtpConfig | None = None
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    repair: RepairConfig = Field(default_factory=RepairConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    web: dict[str, Any] = Field(default_factory=dict)
    """The ``[web]`` table: read and checked by the web service's distribution (roomsync-web),
    which reports its problems through the ``roomsync_config_problems`` hook."""
    celery: dict[str, Any] = Field(default_factory=dict)
    """The ``[celery]`` table: read and checked by the distribution of the Celery workers and
    scheduler (roomsync-celery), which reports its problems through ``roomsync_config_problems``."""
    source: Path | None = None

    @field_validator("database_url", mode="before")
    @classmethod
    def _url_or_reference(cls, value: Any) -> Any:
        # One error at the key itself rather than one per member of the union.
        if isinstance(value, dict):
            try:
                return SecretRef.model_validate(value)
            except ValidationError as exc:
                raise ValueError(_plain(exc.errors()[0]["msg"])) from None
        if value is not None and not isinstance(value, str):
            raise ValueError('must be a URL string or a reference such as { env = "ROOMSYNC_DATABASE_URL" }')
        return value

    def resolved_database_url(self) -> str:
        """The database URL, read from its reference if it is one (the result holds a password:
        show only :attr:`roomsync.storage.database.Database.display_url`)."""
        if isinstance(self.database_url, SecretRef):
            try:
                return self.database_url.reveal().get_secret_value()
            except ConfigError as exc:
                file = str(self.source) if self.source else None
                raise ConfigError(str(exc), file=file, key="database_url") from None
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'roomsync.db').resolve()}"


def config_path(explicit: str | os.PathLike[str] | None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")


def problems_from(
    exc: ValidationError, file: str | None = None, prefix: Sequence[str] = ()
) -> list[ConfigProblem]:
    """Every error pydantic found, each with its dotted key below ``prefix``.

    The rejected value is never repeated: it may be a secret written where a reference belongs.
    """
    return [
        ConfigProblem(
            _plain(error["msg"]),
            key=".".join([*prefix, *(str(part) for part in error["loc"])]) or None,
            file=file,
        )
        for error in exc.errors()
    ]


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read and validate a configuration file; relative paths in it are relative to the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found; create one with 'roomsync init'", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror or type(exc).__name__}", file=str(path)) from None
    if b"\0" in data:
        raise ConfigError("is a binary file, not a TOML configuration", file=str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8",
            file=str(path),
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None
    return settings_from_mapping(raw, source=path)


def settings_from_mapping(raw: dict[str, Any], source: Path | None = None) -> Settings:
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(problems=problems_from(exc, str(source) if source else None)) from None
    settings.source = source
    if source is not None and not settings.data_dir.is_absolute():
        settings.data_dir = (source.parent / settings.data_dir).resolve()
    return settings


SAMPLE_CONFIG = """\
# roomsync configuration. Every key is optional unless marked.
# Secrets are never written here: use { env = "VARIABLE" } or { file = "/path/to/secret" }.

# Where the embedded database and logs live (relative to this file).
data_dir = "roomsync-data"
# Another database instead of the embedded SQLite, e.g.
# database_url = "postgresql+psycopg://roomsync@db.example.org/roomsync"
# or, when the URL holds a password, a reference to it:
# database_url = { env = "ROOMSYNC_DATABASE_URL" }

[sync]
interval_seconds = 60              # pause between cycles of 'roomsync run'
watched_interval_seconds = 900     # the safety-net cycle of persons whose changes are notified
default_conflict_policy = "rollback"  # rollback | cancel | exchange-wins
mass_delete_ratio = 0.5            # refuse a cycle that deletes this share of a mailbox...
mass_delete_minimum = 10           # ...when it is at least this many entries

# One table per Exchange environment; persons are assigned to one with
# 'roomsync persons set EMAIL --environment NAME'.
[environments.local]
plugin = "reference"               # the reference connector: a stand-in for Exchange
description = "mailboxes kept in a file, for a first look"
[environments.local.options]
state_file = "roomsync-data/reference-mailboxes.json"

# [environments.onprem]
# plugin = "exchange2013"          # pip install roomsync-exchange2013
# [environments.onprem.options]
# url = "https://mail.example.org/EWS/Exchange.asmx"
# username = "svc-roomsync@example.org"
# password = { env = "ROOMSYNC_EXCHANGE_PASSWORD" }

# Differences between ROOMS and Exchange (roomsync diff): what is repaired without asking.
# report: only recorded; newer-wins: the side that changed last; rooms-wins; exchange-wins.
# Nothing is ever deleted automatically. An environment may have its own: repair = "rooms-wins".
# [repair]
# policy = "report"
# kinds = { "missing-in-exchange" = "report" }
# scan_every_hours = 6          # the daemon scans on its own (0, the default: never)
# requests_per_hour = 120       # per environment, for those scans only
# [repair.persons]
# "ceo@example.org" = "report"

# Logs: JSON lines on standard error at level warning unless set here; -v (info) and -vv (debug)
# on the command line are more verbose still. destination: stderr, file (rotated: max_bytes,
# backups) or journald (a systemd service's standard error with each line's priority);
# format: json or text. Passwords and tokens are blanked from every line.
# [logging]
# level = "info"                   # debug | info | warning | error
# destination = "file"             # stderr | file | journald
# format = "json"                  # json | text
# file = "roomsync-data/roomsync.log"  # relative to this file
# max_bytes = 10485760
# backups = 5

# The web service (pip install roomsync-web; 'roomsync serve'): see its README.
# [web]
# port = 8080
# cors_origins = ["https://rooms.example.org"]
# [web.oidc]
# issuer = "https://login.microsoftonline.com/<tenant id>/v2.0"
# audience = "api://roomsync"

# E-mails: organizers hear in plain words of conflicts and of a calendar that is not being
# synchronised; the administrators (admin) hear of the faults behind it (configuration,
# credentials, rights, TLS, the server) with every detail. Without admin those are only logged.
# [smtp]
# host = "smtp.example.org"
# port = 587
# starttls = true
# sender = "roomsync@example.org"
# admin = "ops@example.org"        # or a list: ["ops@example.org", "exchange-team@example.org"]
# username = "roomsync"
# password = { env = "ROOMSYNC_SMTP_PASSWORD" }

# The words of the mails: German (de), French (fr), Italian (it) or English (en) for persons
# without a language of their own (persons CSV column 'language') and for the administrators;
# templates: a folder whose files replace the shipped templates of the same name.
# [notify]
# language = "de"
# templates = "mail-templates"
"""

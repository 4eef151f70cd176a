"""Logs as the ``[logging]`` table says: JSON lines (for log shippers and ``jq``) or text, to
standard error, a rotated file or the systemd journal; never a credential.

Every record reaching a root handler, ours or the libraries' (exchangelib logs whole requests at
debug level), passes :class:`RedactingFilter` first: message, arguments, extra fields, traceback.
"""

from __future__ import annotations

import http.client
import json
import logging
import logging.handlers
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from roomsync.config import LoggingConfig, load_settings
from roomsync.errors import ConfigError
from roomsync.redaction import REDACTED, redact

_DONE = "roomsync_redacted"
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", _DONE}
_SECRET_FIELDS = ("password", "secret", "token", "authorization", "cookie", "assertion")


def _at(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; without ``at`` where the receiver stamps the time (journald)."""

    def __init__(self, timestamps: bool = True) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {"at": _at(record)} if self.timestamps else {}
        data.update(level=record.levelname.lower(), logger=record.name, message=record.getMessage())
        data.update(_extras(record))
        if record.exc_info or record.exc_text:
            data["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """``<time> <level> <logger>: <message> key=value ...`` for people; traceback on the lines below."""

    def __init__(self, timestamps: bool = True) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        head = f"{record.levelname.lower()} {record.name}: {record.getMessage()}"
        if self.timestamps:
            head = f"{_at(record)} {head}"
        fields = "".join(f" {k}={json.dumps(v, default=str)}" for k, v in _extras(record).items())
        lines = [head + fields]
        if record.exc_info or record.exc_text:
            lines.append(record.exc_text or self.formatException(record.exc_info))  # type: ignore[arg-type]
        if record.stack_info:
            lines.append(record.stack_info)
        return "\n".join(lines)


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level: 7 debug, 6 info, 4 warning, 3 error, 2 critical."""
    for threshold, priority in (
        (logging.CRITICAL, 2),
        (logging.ERROR, 3),
        (logging.WARNING, 4),
        (logging.INFO, 6),
    ):
        if levelno >= threshold:
            return priority
    return 7


class JournaldFormatter(logging.Formatter):
    """Prefixes every line with ``<N>``, its syslog priority, as sd-daemon(3) describes: journald
    reads the prefix of each line a service writes to standard error and stamps the time itself."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).splitlines() or [""])


def _redacted(value: Any, key: str = "") -> Any:
    if any(word in key.lower() for word in _SECRET_FIELDS):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Rewrites a record so that no handler or formatter after it sees a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _DONE, False):
            return True  # a record passes every root handler; once is enough
        record.msg = redact(record.getMessage())
        record.args = None
        for key in [k for k in vars(record) if k not in _STANDARD]:
            setattr(record, key, _redacted(getattr(record, key), key))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # formatters would render the unredacted traceback again
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        setattr(record, _DONE, True)
        return True


_http_client_log = logging.getLogger("http.client")


def _http_client_print(*values: object, **_: object) -> None:
    _http_client_log.debug(" ".join(str(v) for v in values))


_OURS = "roomsync_handler"


def _handler(config: LoggingConfig, source: Path | None) -> logging.Handler:
    """The handler of ``config``'s destination, with its format."""
    journald = config.destination == "journald"
    inner: logging.Formatter = (JsonFormatter if config.format == "json" else TextFormatter)(
        timestamps=not journald
    )
    handler: logging.Handler
    if config.destination == "file":
        path = config.file_path(source)
        assert path is not None  # LoggingConfig refuses destination "file" without a file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=config.max_bytes, backupCount=config.backups, encoding="utf-8"
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot open the log file {path}: {exc.strerror or type(exc).__name__}",
                file=str(source) if source else None,
                key="logging.file",
            ) from None
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(JournaldFormatter(inner) if journald else inner)
    setattr(handler, _OURS, True)
    return handler


def level(config: LoggingConfig, verbosity: int) -> int:
    """The file's level, or info with -v and debug with -vv when that is more verbose."""
    configured = logging.getLevelNamesMapping()[config.level.upper()]
    if verbosity <= 0:
        return configured
    return min(configured, logging.WARNING - 10 * min(verbosity, 2))


def configure(verbosity: int, config: LoggingConfig | None = None, source: Path | None = None) -> None:
    """Log as ``config`` says (warnings as JSON to standard error without one), more with -v or
    -vv; ``source`` is the configuration file, which a relative log file is relative to.

    Every root handler, ours and any other's, redacts.
    """
    config = config or LoggingConfig()
    handler = _handler(config, source)
    root = logging.getLogger()
    # Replace only our own handler: others (a host application's, a test's) stay.
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    for each in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in each.filters):
            each.addFilter(RedactingFilter())
    root.setLevel(level(config, verbosity))
    # http.client prints its wire trace (HTTPConnection.debuglevel, which anything in the process
    # may turn on) to standard output, past logging; send it through the filter instead.
    http.client.print = _http_client_print  # type: ignore[attr-defined]


def configure_from(verbosity: int, path: str | os.PathLike[str]) -> None:
    """:func:`configure` with the ``[logging]`` table of the configuration file ``path``.

    Without the file, or when it has problems, the defaults: a command that reads the
    configuration reports its problems, and one that does not (``init``) still runs.
    """
    try:
        settings = load_settings(path)
    except ConfigError:
        configure(verbosity)
    else:
        configure(verbosity, settings.logging, settings.source)

"""Structured logs: one JSON object per line, for log shippers and ``jq``; never a credential.

Every record reaching a root handler, ours or the libraries' (exchangelib logs whole requests at
debug level), passes :class:`RedactingFilter` first: message, arguments, extra fields, traceback.
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from roomsync.redaction import REDACTED, redact

_DONE = "roomsync_redacted"
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", _DONE}
_SECRET_FIELDS = ("password", "secret", "token", "authorization", "cookie", "assertion")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info or record.exc_text:
            data["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, default=str)


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


def configure(verbosity: int) -> None:
    """Warnings by default, info with -v, debug with -vv; to standard error, redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    # Replace only our own handler: others (a host application's, a test's) stay.
    root.handlers[:] = [h for h in root.handlers if not isinstance(h.formatter, JsonFormatter)] + [handler]
    for each in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in each.filters):
            each.addFilter(RedactingFilter())
    root.setLevel(logging.WARNING - 10 * min(verbosity, 2))
    # http.client prints its wire trace (HTTPConnection.debuglevel, which anything in the process
    # may turn on) to standard output, past logging; send it through the filter instead.
    http.client.print = _http_client_print  # type: ignore[attr-defined]

"""Graph's error answers: ``{"error": {"code", "message", "innerError"}}`` with an HTTP status.

Outlook resources answer with Exchange's error codes (``ErrorItemNotFound``,
``ErrorInvalidIdMalformed``, ...); the simulator's store raises those as
:class:`~roomsync_sim.context.OperationError`, mapped here to the status Graph uses for them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from roomsync_sim.context import OperationError

_STATUS = {
    "ErrorItemNotFound": 404,
    "ErrorInvalidUser": 404,
    "ErrorNonExistentMailbox": 404,
    "ErrorAccessDenied": 403,
}


class GraphError(Exception):
    """An error answer; ``headers`` are added to it (e.g. ``Retry-After``)."""

    def __init__(
        self, status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []

    def body(self, request_id: str, client_request_id: str | None = None) -> dict[str, Any]:
        return error_body(self.code, self.message, request_id, client_request_id)


def error_body(
    code: str, message: str, request_id: str, client_request_id: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }


def from_operation(error: OperationError) -> GraphError:
    return GraphError(_STATUS.get(error.code, 400), error.code, error.text or error.code)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def not_found(message: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", message)


def new_request_id() -> str:
    return str(uuid.uuid4())

"""JSON batching (``POST /$batch``): up to 20 requests in one HTTP round trip.

Graph runs the requests of a batch independently and answers each with its own status, so a
throttled request (429 with ``Retry-After``) comes back inside an otherwise successful batch:
those requests alone are sent again after the longest wait asked for, within the client's
waiting budget. Answers are returned in the order of the requests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from roomsync_o365.graph_client import (
    MAX_ATTEMPTS,
    RETRY_STATUSES,
    GraphClient,
    GraphError,
    GraphResponse,
)
from roomsync_o365.tokens import TenantTokens

log = logging.getLogger(__name__)

MAX_BATCH = 20
"""Graph's limit of requests in one batch."""


@dataclass(frozen=True)
class BatchRequest:
    method: str
    url: str
    """Relative to the version root, e.g. ``/users/ada@example.org/calendar/events``."""
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()

    def to_json(self, request_id: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": request_id, "method": self.method, "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            entry["body"] = self.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            entry["headers"] = headers
        return entry


def get(url: str, prefer: str | None = None) -> BatchRequest:
    return BatchRequest("GET", url, headers=(("Prefer", prefer),) if prefer else ())


def run(client: GraphClient, tokens: TenantTokens, requests: Sequence[BatchRequest]) -> list[GraphResponse]:
    """Every request's answer, in order; ``MAX_BATCH`` requests per ``$batch`` call."""
    answers: list[GraphResponse] = []
    for offset in range(0, len(requests), MAX_BATCH):
        answers.extend(_one_batch(client, tokens, requests[offset : offset + MAX_BATCH]))
    return answers


def _one_batch(
    client: GraphClient, tokens: TenantTokens, requests: Sequence[BatchRequest]
) -> list[GraphResponse]:
    results: dict[int, GraphResponse] = {}
    pending = dict(enumerate(requests))
    reads_only = all(r.method == "GET" for r in requests)
    waited = 0.0
    attempt = 0
    while pending:
        attempt += 1
        payload = {"requests": [request.to_json(str(n)) for n, request in pending.items()]}
        response = client.send(tokens, "POST", "/$batch", body=payload, idempotent=reads_only)
        if not response.ok:
            raise GraphError(f"POST /$batch: {response.describe()}", response)
        answered = _answers(response)
        missing = set(pending) - set(answered)
        if missing:
            raise GraphError(f"POST /$batch answered no response for request(s) {sorted(missing)}", response)
        throttled = {n for n in pending if answered[n].status in RETRY_STATUSES}
        for n in set(pending) - throttled:
            results[n] = answered[n]
        if not throttled:
            break
        asked = [answered[n].retry_after() for n in throttled]
        wait = client.next_wait(max((a for a in asked if a is not None), default=None), attempt, waited)
        if wait is None or attempt >= MAX_ATTEMPTS:
            for n in throttled:
                results[n] = answered[n]
            break
        log.info(
            "Graph throttled %d of %d batched requests; waiting %.1f s", len(throttled), len(pending), wait
        )
        client.sleep(wait)
        waited += wait
        pending = {n: pending[n] for n in sorted(throttled)}
    return [results[n] for n in range(len(requests))]


def _answers(response: GraphResponse) -> dict[int, GraphResponse]:
    found: dict[int, GraphResponse] = {}
    body = response.body if isinstance(response.body, dict) else {}
    for entry in body.get("responses") or ():
        try:
            key = int(entry["id"])
        except (KeyError, TypeError, ValueError):
            continue
        found[key] = GraphResponse(
            int(entry.get("status", 0)), dict(entry.get("headers") or {}), entry.get("body")
        )
    return found

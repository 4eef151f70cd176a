"""JSON batching (``POST /$batch``): up to 20 requests in one, each answered on its own.

Every request of a batch goes through the same checks as a request of its own (permissions,
access policy, MailboxConcurrency, faults), with the batch's token. They run in order; one that
``dependsOn`` a request that failed is answered 424 Failed Dependency without running. A batch of
more than 20 requests, with duplicate or missing ids, or a ``dependsOn`` naming an unknown id is
refused as a whole with 400. The batch itself can lose its answer after its requests ran
(``drop_after_apply`` on the operation ``$batch``), as any connection can.
"""

from __future__ import annotations

from typing import Any

from roomsync_sim.graph.errors import GraphError, bad_request, error_body, new_request_id
from roomsync_sim.graph.router import Router
from roomsync_sim.graph.service import Call, Reply

MAX_REQUESTS = 20


def _relative(url: str) -> str:
    url = url.strip()
    for prefix in ("https://graph.microsoft.com/v1.0", "/v1.0"):
        if url.lower().startswith(prefix.lower()):
            url = url[len(prefix) :]
    return url if url.startswith("/") else "/" + url


def batch(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else None
    requests = body.get("requests") if body else None
    if not isinstance(requests, list) or not requests:
        raise bad_request("Invalid batch payload format.", "BadRequest")
    if len(requests) > MAX_REQUESTS:
        raise bad_request(f"Number of batch request steps exceeds the maximum value of {MAX_REQUESTS}.")
    seen: set[str] = set()
    for entry in requests:
        if (
            not isinstance(entry, dict)
            or not entry.get("id")
            or not entry.get("method")
            or not entry.get("url")
        ):
            raise bad_request("Invalid batch payload format: each request needs an id, a method and a url.")
        if str(entry["id"]) in seen:
            raise bad_request(f"Batch request id '{entry['id']}' is used more than once.")
        seen.add(str(entry["id"]))
    for entry in requests:
        for dep in entry.get("dependsOn") or []:
            if str(dep) not in seen:
                raise bad_request(f"Request '{entry['id']}' depends on an unknown request '{dep}'.")
    statuses: dict[str, int] = {}
    responses: list[dict[str, Any]] = []
    for entry in requests:
        rid = str(entry["id"])
        failed = [d for d in entry.get("dependsOn") or [] if statuses.get(str(d), 599) >= 400]
        if failed:
            statuses[rid] = 424
            responses.append(
                {
                    "id": rid,
                    "status": 424,
                    "headers": {"Content-Type": "application/json"},
                    "body": error_body(
                        "FailedDependency", "Request failed due to a dependency failure.", new_request_id()
                    ),
                }
            )
            continue
        reply = _one(call, entry)
        statuses[rid] = reply.status
        answer: dict[str, Any] = {"id": rid, "status": reply.status, "headers": dict(reply.headers)}
        if reply.body is not None:
            answer["headers"]["Content-Type"] = "application/json"
            answer["body"] = reply.body
        responses.append(answer)
    return Reply(200, {"responses": responses})


def _one(call: Call, entry: dict[str, Any]) -> Reply:
    url = _relative(str(entry["url"]))
    path, _, query = url.partition("?")
    if path.lower().startswith("/$batch"):
        return Reply(400, error_body("BadRequest", "A batch cannot contain a batch.", new_request_id()))
    headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
    try:
        return call.service.execute(
            call.principal, str(entry["method"]).upper(), path, query, headers, entry.get("body"), call.base
        )
    except GraphError as e:
        return Reply(e.status, e.body(new_request_id()), e.headers)


def register(router: Router) -> None:
    router.add("POST", r"/\$batch", "$batch", batch, mailbox=False, locked=False, writes=True)

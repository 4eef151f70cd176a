"""Webhooks of the connectors on the web service: ``/webhooks/graph/<environment>/notify`` and
``.../lifecycle``, instead of a port of the connector's own.

Only while the daemon's cycles run in this process (``roomsync serve --run``): the subscriptions
and their secrets live there. The connector checks each post (``clientState``) as its own
receiver would; the body's size is bounded by the service's guard.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from roomsync.errors import RoomsyncError

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/graph/{environment}/{kind}", include_in_schema=False)
async def graph_webhook(environment: str, kind: str, request: Request) -> PlainTextResponse:
    service = request.app.state.service
    if not service.run_daemon or environment not in service.settings.environments:
        return PlainTextResponse("not found", status_code=404)
    body = await request.body()
    client = request.client.host if request.client else "unknown"
    try:
        host = service.runner.host(environment)
    except RoomsyncError:
        return PlainTextResponse("not found", status_code=404)
    status, text = host.connector.webhook_answer(f"/{kind}", request.url.query, body, client)
    return PlainTextResponse(text, status_code=status)

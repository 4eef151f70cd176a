"""The receiver of Graph's change notifications: a small HTTP server the connector starts.

Graph posts to the notification URL of a subscription:

* once, when the subscription is created, a validation request (``?validationToken=...``),
  answered within 10 seconds with the token as ``text/plain``;
* change notifications (``{"value": [{"subscriptionId", "clientState", ...}]}``), answered 202.
  Only a notification whose ``clientState`` equals the secret of a subscription roomsync made
  wakes anything: a forged, missing or stale one is refused with 403 and logged;
* lifecycle notifications (``lifecycleEvent``: ``reauthorizationRequired``,
  ``subscriptionRemoved``, ``missed``) at the lifecycle URL, checked the same way.

The receiver only checks and hands over; the :class:`Subscriptions` handler does the rest on its
own thread, since Graph wants an answer within three seconds. Graph reaches it over https only:
run it behind a reverse proxy that terminates TLS (``webhook_bind`` is the proxy's upstream).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

NOTIFY_SUFFIX = "/notify"
LIFECYCLE_SUFFIX = "/lifecycle"
MAX_BODY = 1_000_000
"""Graph sends at most a few hundred notifications per post; anything larger is not Graph."""
MAX_TOKEN = 4096


class Subscriptions(Protocol):
    """What the receiver asks of the subscription manager."""

    def client_state(self, subscription_id: str) -> str | None:
        """The secret of a subscription roomsync holds; ``None`` for any other id."""
        ...

    def changed(self, subscription_ids: list[str]) -> None:
        """Calendars of these subscriptions changed (their notifications were genuine)."""
        ...

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """A genuine lifecycle notification."""
        ...


class NotificationReceiver:
    """Listens on ``bind`` until :meth:`stop`; one thread per request."""

    def __init__(self, bind: tuple[str, int], subscriptions: Subscriptions) -> None:
        self.subscriptions = subscriptions
        self.rejected = 0
        """Notifications refused (forged, stale or malformed), for the status view and tests."""
        handler = type("Handler", (_Handler,), {"receiver": self})
        self._server = ThreadingHTTPServer(bind, handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="roomsync-o365-webhooks",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- the checks -------------------------------------------------------------------------

    def handle(self, kind: str, body: bytes, client: str) -> int:
        """The status to answer for a notification post of ``kind`` (``notify`` or ``lifecycle``)."""
        try:
            items = _items(body)
        except ValueError as exc:
            self.rejected += 1
            log.warning("refused a malformed Graph %s post from %s: %s", kind, client, exc)
            return 400
        genuine: list[dict[str, Any]] = []
        forged = 0
        for item in items:
            subscription_id = item.get("subscriptionId")
            state = item.get("clientState")
            secret = (
                self.subscriptions.client_state(subscription_id) if isinstance(subscription_id, str) else None
            )
            if (
                secret is None
                or not isinstance(state, str)
                or not hmac.compare_digest(secret.encode("utf-8"), state.encode("utf-8"))
            ):
                forged += 1
                continue
            genuine.append(item)
        if forged:
            self.rejected += forged
            log.warning(
                "refused %d Graph %s notification(s) from %s: unknown subscription or wrong clientState",
                forged,
                kind,
                client,
            )
        if kind == "lifecycle":
            for item in genuine:
                event = item.get("lifecycleEvent")
                if isinstance(event, str):
                    self.subscriptions.lifecycle(item["subscriptionId"], event)
        elif genuine:
            self.subscriptions.changed(list(dict.fromkeys(item["subscriptionId"] for item in genuine)))
        return 403 if forged else 202


def _items(body: bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("value"), list):
        raise ValueError('no "value" list')
    items = data["value"]
    if not items or not all(isinstance(item, dict) for item in items):
        raise ValueError('"value" is empty or holds something other than notifications')
    return items


class _Handler(BaseHTTPRequestHandler):
    receiver: NotificationReceiver
    server_version = "roomsync-o365"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook %s: " + format, self.client_address[0], *args)

    def _answer(self, status: int, text: str = "") -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        kind = (
            "notify"
            if parts.path.endswith(NOTIFY_SUFFIX)
            else "lifecycle"
            if parts.path.endswith(LIFECYCLE_SUFFIX)
            else None
        )
        if kind is None:
            self._answer(404, "not found")
            return
        token = parse_qs(parts.query).get("validationToken")
        if token is not None:
            # Subscription validation: echo the token, as plain text, so Graph knows we are here.
            if len(token[0]) > MAX_TOKEN:
                self._answer(400, "validation token too long")
                return
            self._answer(200, token[0])
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.receiver.rejected += 1
            log.warning(
                "refused a Graph %s post from %s: Content-Length %s", kind, self.client_address[0], length
            )
            self._answer(400 if length < 0 else 413, "bad length")
            return
        status = self.receiver.handle(kind, self.rfile.read(length), self.client_address[0])
        self._answer(status, "" if status == 202 else "refused")

    def do_GET(self) -> None:
        self._answer(405, "POST only")

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

Whoever can reach the port can send anything, so the receiver bounds what a post may cost: a body
needs a ``Content-Length`` of at most :data:`MAX_BODY` bytes (else 400 or 413) and JSON nested at
most :data:`MAX_DEPTH` deep (else 400, before it is parsed); each connection has
:data:`CONNECTION_SECONDS` in all to deliver its request, however slowly it trickles, and is then
closed; at most :data:`MAX_CONNECTIONS` are served at once, any more are closed at once. Slow or
idle connections thus hold a thread for a bounded time and never keep a real notification waiting.
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

NOTIFY_SUFFIX = "/notify"
LIFECYCLE_SUFFIX = "/lifecycle"
MAX_BODY = 1_000_000
"""Graph sends at most a few hundred notifications per post; anything larger is not Graph."""
MAX_TOKEN = 4096
MAX_DEPTH = 16
"""Graph's notifications nest four or five levels; deeper JSON is not Graph (and would exhaust
the parser's recursion)."""
CONNECTION_SECONDS = 10.0
"""How long one connection may take to deliver its request, from accept to the end of its body."""
MAX_CONNECTIONS = 1024
"""Connections served at once (each holds a thread for at most ``CONNECTION_SECONDS``)."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


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


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most ``limit`` at once; any more are closed unanswered."""

    daemon_threads = True
    request_queue_size = 128  # a burst of connections waits in the kernel instead of being dropped

    def __init__(self, bind: tuple[str, int], handler: type[BaseHTTPRequestHandler], limit: int) -> None:
        super().__init__(bind, handler)
        self._slots = threading.BoundedSemaphore(limit)
        self.turned_away = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.turned_away += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _DeadlineReader(io.RawIOBase):
    """Reads a socket until a deadline for the whole connection, however slowly bytes arrive."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the connection's time to deliver its request is over")
        self.sock.settimeout(remaining)
        return self.sock.recv_into(buffer)


class NotificationReceiver:
    """Listens on ``bind`` until :meth:`stop`; one thread per connection, each for a bounded time."""

    def __init__(
        self,
        bind: tuple[str, int] | None,
        subscriptions: Subscriptions,
        connection_seconds: float = CONNECTION_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.subscriptions = subscriptions
        self.rejected = 0
        """Notifications refused (forged, stale or malformed), for the status view and tests."""
        self.connection_seconds = connection_seconds
        handler = type("Handler", (_Handler,), {"receiver": self})
        # Without ``bind`` another server (the web service) receives the posts and hands them to
        # :meth:`answer`; no port is opened here.
        self._server = _Server(bind, handler, max_connections) if bind is not None else None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "this receiver has no server of its own"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        if self._thread is None and self._server is not None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="roomsync-o365-webhooks",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- the checks -------------------------------------------------------------------------

    def answer(self, path: str, query: str, body: bytes, client: str) -> tuple[int, str]:
        """The status and text to answer a post to ``path`` (ending in ``/notify`` or
        ``/lifecycle``) whose whole body was read: a validation echo, or :meth:`handle`."""
        kind = (
            "notify"
            if path.endswith(NOTIFY_SUFFIX)
            else "lifecycle"
            if path.endswith(LIFECYCLE_SUFFIX)
            else None
        )
        if kind is None:
            return 404, "not found"
        token = parse_qs(query).get("validationToken")
        if token is not None:
            # Subscription validation: echo the token, as plain text, so Graph knows we are here.
            if len(token[0]) > MAX_TOKEN:
                return 400, "validation token too long"
            return 200, token[0]
        if len(body) > MAX_BODY:
            self.rejected += 1
            return 413, f"the body is larger than {MAX_BODY} bytes"
        return self.handle(kind, body, client)

    def handle(self, kind: str, body: bytes, client: str) -> tuple[int, str]:
        """The status and reason to answer a notification post of ``kind`` (``notify`` or ``lifecycle``)."""
        try:
            items = _items(body)
        except ValueError as exc:
            self.rejected += 1
            log.warning("refused a malformed Graph %s post from %s: %s", kind, client, exc)
            return 400, f"malformed notification: {exc}"
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
        return (403, "refused") if forged else (202, "")


def _depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    deepest = depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b'""', body)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _items(body: bytes) -> list[dict[str, Any]]:
    if _depth(body) > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
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

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # read through the deadline instead
        deadline = time.monotonic() + self.receiver.connection_seconds
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook %s: " + format, self.client_address[0], *args)

    def _answer(self, status: int, text: str = "") -> None:
        body = text.encode("utf-8")
        self.connection.settimeout(self.receiver.connection_seconds)  # a client that does not read
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if "validationToken" in parse_qs(parts.query) or not parts.path.endswith(
            (NOTIFY_SUFFIX, LIFECYCLE_SUFFIX)
        ):
            self._answer(*self.receiver.answer(parts.path, parts.query, b"", self.client_address[0]))
            return
        kind = "notify" if parts.path.endswith(NOTIFY_SUFFIX) else "lifecycle"
        given = self.headers.get("Content-Length")
        try:
            length = int(given or "")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.receiver.rejected += 1
            log.warning(
                "refused a Graph %s post from %s: Content-Length %s", kind, self.client_address[0], given
            )
            self.close_connection = True  # the body, if any, is not read
            self._answer(
                400 if length < 0 else 413,
                f"a Content-Length of at most {MAX_BODY} bytes is required"
                if length < 0
                else f"the body is larger than {MAX_BODY} bytes",
            )
            return
        body = self.rfile.read(length)
        if len(body) < length:
            return  # the client left before its body was complete
        status, reason = self.receiver.answer(parts.path, parts.query, body, self.client_address[0])
        self._answer(status, reason)

    def do_GET(self) -> None:
        self._answer(405, "POST only")

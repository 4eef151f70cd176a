"""The HTTP(S) server: EWS at /EWS/Exchange.asmx, the schema documents, the control endpoint,
and (the o365 dialect) Microsoft Graph under /v1.0 and the sign-in endpoints.

HTTP/1.1 with keep-alive and one thread per connection, as clients with a session pool expect.
Binds to loopback unless told otherwise; the control endpoint answers loopback clients only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import re
import select
import socket
import ssl
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from roomsync_sim import control
from roomsync_sim.auth import ConnectionAuth
from roomsync_sim.simulator import EWS_PATH, Answer, Simulator

log = logging.getLogger("roomsync_sim.http")

# A successful Subscribe answer (one subscription per request).
_SUBSCRIBED = re.compile(rb"SubscribeResponseMessage ResponseClass=\"Success\"")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle and delayed ACKs add 40 ms.
    disable_nagle_algorithm = True
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    server: SimHTTPServer

    def setup(self) -> None:
        super().setup()
        # One handler serves one TCP connection: NTLM's authentication lives as long as it does.
        self.auth = ConnectionAuth()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, answer: Answer) -> None:
        if answer.delay and not self._wait_unless_gone(answer.delay):
            answer = Answer(0, drop=True)  # the client gave up: nobody to answer
        if answer.drop:
            self.close_connection = True
            if answer.reset:
                self._reset()
                return
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer.stream is not None:
            self._send_stream(answer)
            return
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("X-FEServer", "ROOMSYNC-SIM")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _reset(self) -> None:
        """Linger 0: close() sends RST, the "connection reset by peer" of a crashed front end."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _wait_unless_gone(self, seconds: float) -> bool:
        """Sleep ``seconds``; False as soon as the client closes its end (no thread outlives it)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    return False
            except (OSError, ValueError):
                return False
            if readable:
                time.sleep(min(left, 0.05))  # pipelined bytes: keep waiting for the deadline
        return True

    def _send_stream(self, answer: Answer) -> None:
        """Chunked transfer, one SOAP envelope per chunk, until the stream ends or the client leaves."""
        stream = answer.stream
        assert stream is not None
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-FEServer", "ROOMSYNC-SIM")
        self.end_headers()
        faults = self.server.simulator.faults
        try:
            self.wfile.flush()
            for chunk in stream:
                if self._peer_gone():
                    # The client left while the stream waited: what this chunk carries was never
                    # written and stays queued for the subscription's next connection.
                    unsent = getattr(stream, "unsent", None)
                    if unsent is not None:
                        unsent()
                    self.close_connection = True
                    return
                if faults.take("cut_stream", "GetStreamingEvents"):
                    self._reset()  # the chunk is lost with the connection
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def _peer_gone(self) -> bool:
        """Whether the client closed its end (a FIN waiting to be read), without waiting."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            # The TCP bytes themselves (under TLS too): a FIN reads as b"", a record as data.
            return not socket.socket.recv(self.connection, 1, socket.MSG_PEEK)
        except (OSError, ValueError):
            return True

    def _affinity_cookie(self, answer: Answer, body: bytes) -> None:
        """``X-BackEndOverrideCookie`` on the answer to a Subscribe that asked for affinity.

        Exchange 2013 and later (Exchange Online too) route a group of subscriptions to their
        Mailbox server by this cookie: a Subscribe sent with ``X-PreferServerAffinity: true`` and
        no cookie yet is answered with ``Set-Cookie: X-BackEndOverrideCookie=...``; later
        requests that carry it get none. Exchange 2010 keeps subscriptions on the Client Access
        server and has no such cookie. ("Maintain affinity between a group of subscriptions and
        the Mailbox server in Exchange",
        https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server)
        """
        sim = self.server.simulator
        if sim.dialect.server_version.major < 15 or answer.status != 200 or answer.stream is not None:
            return
        if (self.headers.get("X-PreferServerAffinity") or "").strip().lower() != "true":
            return
        cookies = self.headers.get("Cookie") or ""
        if self.headers.get("X-BackEndOverrideCookie") or "X-BackEndOverrideCookie=" in cookies:
            return
        if b"Subscribe>" not in body or not _SUBSCRIBED.search(answer.body):
            return
        secure = "; secure" if self.server.ssl_context is not None else ""
        value = f"ROOMSYNC-SIM.{sim.dialect.name}~{zlib.crc32(sim.dialect.name.encode())}"
        answer.headers.append(("Set-Cookie", f"X-BackEndOverrideCookie={value}; path=/{secure}; HttpOnly"))

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over the limit (the connection is then closed)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.server.simulator.max_body:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.client_address[0]).is_loopback
        except ValueError:
            return False

    def _graph(self) -> bool:
        """Answer a Graph or sign-in request (the o365 dialect); False when it is not one."""
        sim = self.server.simulator
        graph = sim.graph
        path = self.path.split("?", 1)[0]
        if graph is None or not graph.handles(path) or path.lower() == EWS_PATH:
            return False
        body = self._read_body() if self.command in ("POST", "PATCH", "PUT") else b""
        if body is None:
            self._send(sim.too_large())
            return True
        scheme = "https" if self.server.ssl_context is not None else "http"
        host = self.headers.get("Host") or "localhost"
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._send(graph.handle(self.command, self.path, headers, body, f"{scheme}://{host}"))
        return True

    def do_PATCH(self) -> None:
        if not self._graph():
            self._send(Answer(405, b"Method Not Allowed", [("Content-Type", "text/plain")]))

    def do_OPTIONS(self) -> None:
        """CORS preflight of the sign-in endpoints (a browser app redeeming a code)."""
        if not self._graph():
            self._send(Answer(405, b"Method Not Allowed", [("Content-Type", "text/plain")]))

    def _answered_elsewhere(self) -> bool:
        """Control requests and Graph requests are answered before EWS sees them."""
        if self.path.split("?", 1)[0].lower().startswith(control.PREFIX):
            self._control()
            return True
        return self._graph()

    def do_POST(self) -> None:
        if self._answered_elsewhere():
            return
        sim = self.server.simulator
        path = self.path.split("?", 1)[0].lower()
        body = self._read_body()
        if body is None:
            self._send(sim.too_large())
            return
        if path != EWS_PATH:
            self._send(Answer(404, b"Not Found", [("Content-Type", "text/html")]))
            return
        answer = sim.handle_ews(
            body, self.headers.get("Authorization"), self.headers.get("SOAPAction"), self.auth
        )
        self._affinity_cookie(answer, body)
        self._send(answer)

    def do_DELETE(self) -> None:
        if self.path.lower().startswith(control.PREFIX):
            self._control()
        elif not self._graph():
            self._send(Answer(405, b"Method Not Allowed", [("Content-Type", "text/plain")]))

    def do_GET(self) -> None:
        if self._answered_elsewhere():
            return
        path = self.path.split("?", 1)[0].lower()
        answer = self.server.simulator.schema_document(path, self.headers.get("Authorization"), self.auth)
        self._send(answer or Answer(404, b"Not Found", [("Content-Type", "text/html")]))

    def _control(self) -> None:
        if not self._is_loopback():
            self._send(Answer(403, b"Forbidden", [("Content-Type", "text/plain")]))
            return
        body = self._read_body() if self.command == "POST" else b""
        if body is None:
            self._send(self.server.simulator.too_large())
            return
        status, payload = control.handle(self.server.simulator, self.command, self.path, body)
        self._send(Answer(status, json.dumps(payload).encode(), [("Content-Type", "application/json")]))


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], simulator: Simulator, ssl_context: ssl.SSLContext | None = None
    ):
        super().__init__(address, _Handler)
        self.simulator = simulator
        self.ssl_context = ssl_context

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is normal (timeouts, faults); anything else is logged."""
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError, ssl.SSLError)):
            log.debug("connection from %s ended: %s", client_address, error)
            return
        log.exception("error serving %s", client_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


def start(
    simulator: Simulator,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[SimHTTPServer, threading.Thread]:
    """Start serving in a background thread; returns the server (``server_address`` has the port)."""
    httpd = SimHTTPServer((host, port), simulator, ssl_context)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="roomsync-sim", daemon=True
    )
    thread.start()
    return httpd, thread

"""Servers that let the client wait: what a hung Exchange looks like.

``unaccepted`` never completes a TCP connection (its listen queue is full, so the kernel drops the
client's SYN, as a firewall that drops packets does); ``silent`` accepts and never sends a byte
(over TLS: never completes the handshake); ``headers`` reads the request, answers a status line
and headers announcing a body, and then sends nothing more. All listen on 127.0.0.1 and hold
every connection until the block ends.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

Stall = Literal["unaccepted", "silent", "headers"]
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: 100000\r\n\r\n<?xml"


@contextmanager
def unanswering_server(stall: Stall, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """The port of a server on 127.0.0.1 that stalls every connection as ``stall`` says."""
    if stall == "unaccepted":
        with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
            port = int(listener.getsockname()[1])
            with socket.create_connection(("127.0.0.1", port)):  # fills the queue of one
                yield port
        return
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve(connection: socket.socket) -> None:
        with suppress(OSError):
            if tls is not None and stall == "headers":
                connection = tls.wrap_socket(connection, server_side=True)
                held.append(connection)
            if stall == "headers":
                received = b""
                while b"\r\n\r\n" not in received and not stop.is_set():
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    received += chunk
                connection.sendall(HEADERS)
            stop.wait()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(30)
            held.append(connection)
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
        for connection in held:
            with suppress(OSError):
                connection.close()

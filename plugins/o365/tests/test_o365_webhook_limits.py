"""What a post to the webhook receiver may cost: bounded body, depth and time, over real sockets.

Anyone who reaches the receiver's port can send anything; a hostile or broken client gets a clear
refusal or a closed connection within a bound, wakes nothing, and never keeps Graph's real
notifications waiting.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field

import pytest
import requests

from roomsync_o365.webhooks import MAX_DEPTH, NotificationReceiver

NOTE = {"value": [{"subscriptionId": "sub-1", "clientState": "s3cret-state", "changeType": "updated"}]}
LIMIT = 1.5
"""Seconds each connection has to deliver its request in these tests (10 in service)."""


@dataclass
class Recorded:
    """One known subscription with its secret; records what the receiver hands over."""

    changes: list[list[str]] = field(default_factory=list)

    def client_state(self, subscription_id: str) -> str | None:
        return "s3cret-state" if subscription_id == "sub-1" else None

    def changed(self, subscription_ids: list[str]) -> None:
        self.changes.append(subscription_ids)

    def lifecycle(self, subscription_id: str, event: str) -> None:
        raise AssertionError("no lifecycle notification is sent here")


@dataclass
class Receiver:
    address: tuple[str, int]
    subscriptions: Recorded
    server: NotificationReceiver

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}/hooks/notify"

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=5)

    def raw(self, request: bytes) -> bytes:
        """The whole answer to a request sent as given."""
        with self.connect() as conn:
            conn.sendall(request)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        return answer


def start(**limits: float) -> Iterator[Receiver]:
    subscriptions = Recorded()
    server = NotificationReceiver(("127.0.0.1", 0), subscriptions, **limits)  # type: ignore[arg-type]
    server.start()
    try:
        yield Receiver(server.address, subscriptions, server)
    finally:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from start(connection_seconds=LIMIT)


def closed_by_server_after(conn: socket.socket, trickle: bool = False, give_up: float = 10.0) -> float:
    """Seconds until the server closes ``conn``; a trickling client sends a byte every 0.1 s."""
    began = time.monotonic()
    while time.monotonic() - began < give_up:
        readable, _, _ = select.select([conn], [], [], 0.1)
        if readable:
            try:
                if conn.recv(65536) == b"":
                    return time.monotonic() - began
            except ConnectionResetError:
                return time.monotonic() - began
        elif trickle:
            try:
                conn.send(b"X")
            except OSError:
                return time.monotonic() - began
    raise AssertionError(f"the server kept the connection open for {give_up} s")


@pytest.mark.parametrize(
    "body",
    [
        b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"value": [{"subscriptionId": "sub-1", "clientState": "s3cret-state", "x": '
        + b"[" * MAX_DEPTH
        + b"]" * MAX_DEPTH
        + b"}]}",
    ],
    ids=["100000-deep", "one-too-deep"],
)
def test_deeply_nested_json_is_refused_with_its_reason_and_wakes_nothing(
    receiver: Receiver, body: bytes
) -> None:
    answer = requests.post(receiver.url, data=body, headers={"Content-Type": "application/json"}, timeout=5)

    assert answer.status_code == 400
    assert answer.text == f"malformed notification: JSON nested deeper than {MAX_DEPTH} levels"
    assert receiver.subscriptions.changes == []
    assert requests.post(receiver.url, json=NOTE, timeout=5).status_code == 202  # still serving


def test_brackets_inside_strings_do_not_count_as_nesting(receiver: Receiver) -> None:
    note = {"value": [{**NOTE["value"][0], "resource": "[" * 100 + '{"' * 50}]}

    assert requests.post(receiver.url, json=note, timeout=5).status_code == 202
    assert receiver.subscriptions.changes == [["sub-1"]]


def test_a_post_without_content_length_is_refused_with_its_reason(receiver: Receiver) -> None:
    answer = receiver.raw(
        b"POST /hooks/notify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )

    assert answer.startswith(b"HTTP/1.0 400 ")
    assert answer.endswith(b"a Content-Length of at most 1000000 bytes is required")
    assert receiver.subscriptions.changes == []


def test_a_body_over_the_limit_is_refused_unread(receiver: Receiver) -> None:
    answer = receiver.raw(b"POST /hooks/notify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000001\r\n\r\n{")

    assert answer.startswith(b"HTTP/1.0 413 ")
    assert answer.endswith(b"the body is larger than 1000000 bytes")


@pytest.mark.parametrize(
    ("sent", "trickle"),
    [
        (b"", False),
        (b"POST /hooks/notify HTTP/1.1\r\nHost: x\r\n", False),
        (b"POST /hooks/notify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", False),
        (b"POST /hooks/notify HTTP/1.1\r\nX-Slow: ", True),
    ],
    ids=["idle", "headers-unfinished", "body-unfinished", "trickling"],
)
def test_a_connection_that_does_not_deliver_its_request_in_time_is_closed(
    receiver: Receiver, sent: bytes, trickle: bool
) -> None:
    with receiver.connect() as conn:
        conn.sendall(sent)
        seconds = closed_by_server_after(conn, trickle=trickle)

    assert LIMIT - 0.2 < seconds < LIMIT + 1.5
    assert receiver.subscriptions.changes == []


def test_connections_over_the_limit_are_closed_at_once() -> None:
    for found in start(connection_seconds=30, max_connections=2):
        with ExitStack() as held:
            for _ in range(2):
                held.enter_context(found.connect())
            time.sleep(0.2)  # both are being served
            with found.connect() as third:
                assert closed_by_server_after(third) < 1.0


def test_four_hundred_slow_connections_do_not_keep_a_real_notification_waiting(receiver: Receiver) -> None:
    slow = [
        b"",
        b"POST /hooks/notify HTTP/1.1\r\nHost: x\r\n",
        b"POST /hooks/notify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{",
    ]
    with ExitStack() as held:
        connections = []
        for n in range(400):
            conn = held.enter_context(receiver.connect())
            with suppress(OSError):
                conn.sendall(slow[n % len(slow)])
            connections.append(conn)
        opened = time.monotonic()

        began = time.monotonic()
        answer = requests.post(receiver.url, json=NOTE, timeout=5)
        assert answer.status_code == 202
        assert time.monotonic() - began < 1.0
        assert receiver.subscriptions.changes == [["sub-1"]]

        for conn in connections:  # each is closed when its time is over, none lingers
            remaining = LIMIT + 3.0 - (time.monotonic() - opened)
            closed_by_server_after(conn, give_up=max(remaining, 0.1))

"""exchangelib reads every answer through ``iter_content()``; the adapter hands it in blocks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from roomsync_ews_common.account import BLOCK, EndpointTlsAdapter

BODY = b"<x>" + b"a" * 200_000 + b"</x>"


class Answer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/EWS/Exchange.asmx"
    finally:
        server.shutdown()


def session() -> requests.Session:
    made = requests.Session()
    made.mount("http://", EndpointTlsAdapter())
    return made


def test_an_answer_read_whole_is_handed_over_in_blocks(url: str) -> None:
    """It came one byte per chunk: a Python call per byte of every EWS answer."""
    answer = session().post(url, data=b"<q/>")
    chunks = list(answer.iter_content())
    assert b"".join(chunks) == BODY
    assert len(chunks) == -(-len(BODY) // BLOCK)


def test_a_streamed_answer_keeps_the_callers_chunks(url: str) -> None:
    """Streaming notifications are read as they come: not touched."""
    answer = session().post(url, data=b"<q/>", stream=True)
    first = next(answer.iter_content(10))
    assert first == BODY[:10]
    answer.close()

"""Streaming subscriptions over raw HTTP: a second ``GetStreamingEvents`` takes the subscription over.

exchangelib opens one stream of an account at a time (its connection pool), so these tests post
the SOAP themselves, each stream on its own connection.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pytest
import requests
from lxml import etree

from roomsync_sim.soap import M, T
from roomsync_sim.testing import running_simulator
from sim_support import SEED, Org
from test_sim_protocol import AUTH, envelope, post

VERSION = "Exchange2010_SP1"


@pytest.fixture(params=["exchange2010", "exchange2013"])
def streaming_org(request: pytest.FixtureRequest) -> Iterator[Org]:
    with running_simulator(request.param, SEED, validate=True) as running:
        org = Org(running, request.param)
        try:
            running.simulator.notifier.minute_seconds = 1.0
            yield org
        finally:
            org.close()
        assert not [v for v in running.simulator.violations if v.direction == "response"]


def _subscribe(org: Org) -> str:
    body = envelope(
        "<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds>"
        '<t:DistinguishedFolderId Id="calendar"/></t:FolderIds><t:EventTypes>'
        "<t:EventType>CreatedEvent</t:EventType></t:EventTypes>"
        "</m:StreamingSubscriptionRequest></m:Subscribe>",
        version=VERSION,
    )
    answer = post(org, body)
    assert answer.status_code == 200, answer.text
    sub_id = etree.fromstring(answer.content).findtext(f".//{{{M}}}SubscriptionId")
    assert sub_id, answer.text
    return sub_id


def _create(org: Org, subject: str) -> str:
    body = envelope(
        '<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>'
        '<t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items>'
        f"<t:CalendarItem><t:Subject>{subject}</t:Subject>"
        "<t:Start>2030-03-04T10:00:00Z</t:Start><t:End>2030-03-04T11:00:00Z</t:End>"
        "</t:CalendarItem></m:Items></m:CreateItem>",
        version=VERSION,
    )
    answer = post(org, body)
    item_id = etree.fromstring(answer.content).find(f".//{{{T}}}ItemId")
    assert item_id is not None, answer.text
    return item_id.get("Id") or ""


class RawStream:
    """One ``GetStreamingEvents`` request on its own connection; a thread puts each envelope
    (one per chunk) on :attr:`envelopes`, then None when the response ends."""

    def __init__(self, org: Org, sub_id: str, minutes: int = 1) -> None:
        self.envelopes: queue.Queue[etree._Element | None] = queue.Queue()
        self.closing = False
        self.session = requests.Session()  # a connection of its own
        self.response = self.session.post(
            org.running.ews_url,
            data=envelope(
                "<m:GetStreamingEvents><m:SubscriptionIds>"
                f"<t:SubscriptionId>{sub_id}</t:SubscriptionId></m:SubscriptionIds>"
                f"<m:ConnectionTimeout>{minutes}</m:ConnectionTimeout></m:GetStreamingEvents>",
                version=VERSION,
            ),
            headers={**AUTH, "Content-Type": "text/xml"},
            stream=True,
            timeout=10,
        )
        assert self.response.status_code == 200
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            buffer = b""
            for piece in self.response.raw.stream(65536, decode_content=False):
                buffer += piece
                while (end := _document_end(buffer)) is not None:
                    self.envelopes.put(etree.fromstring(buffer[:end]))
                    buffer = buffer[end:].lstrip()
        except Exception:
            if not self.closing:  # a connection closed by the test itself ends the reading
                raise
        finally:
            self.envelopes.put(None)

    def next(self, timeout: float = 8) -> etree._Element | None:
        return self.envelopes.get(timeout=timeout)

    def close(self) -> None:
        self.closing = True
        self.response.close()
        self.session.close()


def _document_end(buffer: bytes) -> int | None:
    """The end of the first whole SOAP envelope in ``buffer`` (None while it is incomplete)."""
    start = buffer.find(b"<")
    if start < 0:
        return None
    head = buffer[start:]
    if head.startswith(b"<?xml"):
        head = head[head.find(b"?>") + 2 :].lstrip()
    # the envelope's qualified name, e.g. "s:Envelope" or "soap:Envelope"
    name = head[1 : head.find(b" ") if b" " in head[:80] else head.find(b">")]
    closing = b"</" + name + b">"
    at = buffer.find(closing)
    return None if at < 0 else at + len(closing)


def _message(env: etree._Element) -> etree._Element:
    msg = env.find(f".//{{{M}}}GetStreamingEventsResponseMessage")
    assert msg is not None, etree.tostring(env)
    return msg


def _created_ids(env: etree._Element) -> list[str]:
    return [e.get("Id") or "" for e in env.iterfind(f".//{{{T}}}CreatedEvent/{{{T}}}ItemId")]


def test_a_second_connection_takes_the_subscription_over(streaming_org: Org) -> None:
    org = streaming_org
    sub_id = _subscribe(org)
    first = RawStream(org, sub_id)
    second = None
    try:
        before = _create(org, "before the second connection")
        got = first.next()
        assert got is not None and before in _created_ids(got)

        second = RawStream(org, sub_id)
        ended = first.next()
        assert ended is not None
        msg = _message(ended)
        assert msg.get("ResponseClass") == "Error"
        assert msg.findtext(f"{{{M}}}ResponseCode") == "ErrorNewEventStreamConnectionOpened"
        assert [s.text for s in msg.iterfind(f"{{{M}}}ErrorSubscriptionIds/{{{T}}}SubscriptionId")] == [
            sub_id
        ]
        # ... and that was the first connection's last envelope
        assert first.next() is None

        after = _create(org, "after the second connection")
        seen: list[str] = []
        while after not in seen:
            env = second.next()
            assert env is not None, "the second stream ended without the event"
            assert _message(env).findtext(f"{{{M}}}ResponseCode") == "NoError"
            seen.extend(_created_ids(env))
        assert before not in seen  # the first connection delivered it
    finally:
        first.close()
        if second is not None:
            second.close()

"""EWS notifications as Exchange answers them: streaming across reconnects, affinity, error codes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from exchangelib.errors import ErrorInvalidSubscription
from exchangelib.properties import CreatedEvent

from roomsync_sim.testing import running_simulator
from sim_support import SEED, Org, calendar_item_class
from test_sim_calendar import at

EVENT_TYPES = ("CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent")


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


def _item(org: Org, account: Any, subject: str) -> Any:
    item = calendar_item_class(org.dialect)(
        account=account, folder=account.calendar, subject=subject, start=at(5, 10), end=at(5, 11)
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def _created(notes: list[Any]) -> list[str]:
    return [e.item_id.id for n in notes for e in n.events if isinstance(e, CreatedEvent)]


def test_a_change_between_two_streaming_connections_arrives_on_the_second(streaming_org: Org) -> None:
    org = streaming_org
    watcher = org.account()
    writer = org.account("alice@example.org", login="svc@example.org", access_type="impersonation")
    sub_id = watcher.calendar.subscribe_to_streaming(event_types=EVENT_TYPES)
    first = watcher.calendar.get_streaming_events(sub_id, connection_timeout=1)
    before = _item(org, writer, "before the drop")
    got = next(iter(first))
    assert before.id in _created([got])
    first.close()  # the client drops the first connection (the server still waits on it)
    time.sleep(0.2)
    between = _item(org, writer, "between two connections")
    time.sleep(0.3)  # the abandoned stream wakes for it first
    notes: list[Any] = []
    for note in watcher.calendar.get_streaming_events(sub_id, connection_timeout=1):
        notes.append(note)
        if between.id in _created(notes):
            break
    assert between.id in _created(notes)


def test_unsubscribe_of_a_push_subscription_is_an_invalid_subscription(org: Org) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Ok(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = (
                b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
                b"<s:Body><SendNotificationResult xmlns="
                b'"http://schemas.microsoft.com/exchange/services/2006/messages">'
                b"<SubscriptionStatus>OK</SubscriptionStatus></SendNotificationResult></s:Body></s:Envelope>"
            )
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        account = org.account()
        url = f"http://127.0.0.1:{server.server_address[1]}/ews"
        sub_id, _ = account.calendar.subscribe_to_push(url, event_types=EVENT_TYPES, status_frequency=5)
        # [MS-OXWSNTIF] 3.1.4.4: Unsubscribe of another kind than pull or streaming.
        with pytest.raises(ErrorInvalidSubscription):
            account.calendar.unsubscribe(sub_id)
    finally:
        server.shutdown()
        server.server_close()


def test_a_malformed_subscription_id_is_an_invalid_subscription(streaming_org: Org) -> None:
    watcher = streaming_org.account()
    with pytest.raises(ErrorInvalidSubscription):
        list(watcher.calendar.get_streaming_events("not-a-subscription-id", connection_timeout=1))


def test_subscribe_with_prefer_server_affinity_sets_the_back_end_cookie(streaming_org: Org) -> None:
    # exchangelib sends X-PreferServerAffinity: True with Subscribe and keeps the
    # X-BackEndOverrideCookie of the answer; Exchange 2013 and later set it, 2010 has none
    # (it routes by its exchangecookie).
    account = streaming_org.account()
    account.calendar.subscribe_to_streaming(event_types=EVENT_TYPES)
    if streaming_org.dialect == "exchange2010":
        assert account.affinity_cookie is None
    else:
        assert account.affinity_cookie and "~" in account.affinity_cookie
        # a later Subscribe that carries it is answered without a new one
        account.calendar.subscribe_to_streaming(event_types=EVENT_TYPES)

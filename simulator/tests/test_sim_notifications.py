"""Pull, push and streaming subscriptions with exchangelib as the client, per dialect."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from exchangelib.errors import (
    ErrorInvalidPushSubscriptionUrl,
    ErrorSubscriptionAccessDenied,
    ErrorSubscriptionDelegateAccessNotSupported,
    ErrorSubscriptionNotFound,
)
from exchangelib.properties import CreatedEvent, DeletedEvent, ModifiedEvent, MovedEvent, StatusEvent
from exchangelib.services import SendNotification

from sim_support import Org, calendar_item_class
from test_sim_calendar import at

# Exchange 2007 knows no FreeBusyChangedEvent, exchangelib subscribes to it by default.
EVENT_TYPES = ("CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent")


def _item(org: Org, account: Any, subject: str) -> Any:
    item = calendar_item_class(org.dialect)(
        account=account, folder=account.calendar, subject=subject, start=at(5, 10), end=at(5, 11)
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def _switch(org: Org, **settings: Any) -> None:
    resp = requests.post(org.running.control_url + "notifications", json=settings, timeout=5)
    assert resp.status_code == 200, resp.text


def test_pull_subscription_reports_changes_with_watermarks(org: Org) -> None:
    account = org.account()
    sub_id, watermark = account.calendar.subscribe_to_pull(event_types=EVENT_TYPES, timeout=5)
    [idle] = list(account.calendar.get_events(sub_id, watermark))
    assert [type(e) for e in idle.events] == [StatusEvent]
    item = _item(org, account, "pulled")
    item.subject = "pulled, changed"
    item.save(update_fields=["subject"])
    item_id = item.id
    item.move_to_trash()
    notes = list(account.calendar.get_events(sub_id, watermark))
    events = [e for n in notes for e in n.events if e.event_type == "item"]
    assert [type(e) for e in events] == [CreatedEvent, ModifiedEvent, MovedEvent]
    assert events[0].item_id.id == events[1].item_id.id == item_id
    assert events[2].old_item_id.id == item_id and events[2].item_id.id != item_id
    # the folder itself is reported modified as its content changes
    assert any(isinstance(e, ModifiedEvent) and e.event_type == "folder" for n in notes for e in n.events)
    # from the last watermark on, nothing new: a status event
    last = notes[-1].events[-1].watermark
    [again] = list(account.calendar.get_events(sub_id, last))
    assert [type(e) for e in again.events] == [StatusEvent]
    account.calendar.unsubscribe(sub_id)
    with pytest.raises(ErrorSubscriptionNotFound):
        list(account.calendar.get_events(sub_id, last))


def test_pull_subscription_expires_after_its_timeout(org: Org) -> None:
    account = org.account()
    _switch(org, minute_seconds=0.2)
    sub_id, watermark = account.calendar.subscribe_to_pull(event_types=EVENT_TYPES, timeout=1)
    list(account.calendar.get_events(sub_id, watermark))  # polling keeps it alive
    time.sleep(0.5)
    with pytest.raises(ErrorSubscriptionNotFound):
        list(account.calendar.get_events(sub_id, watermark))


def test_subscriptions_belong_to_their_account(org: Org) -> None:
    alice = org.account()
    sub_id, watermark = alice.calendar.subscribe_to_pull(event_types=EVENT_TYPES)
    bob = org.account("bob@example.org")
    with pytest.raises(ErrorSubscriptionAccessDenied):
        list(bob.calendar.get_events(sub_id, watermark))
    delegate = org.account("alice@example.org", login="carol@example.org")
    with pytest.raises(ErrorSubscriptionDelegateAccessNotSupported):
        delegate.calendar.subscribe_to_pull(event_types=EVENT_TYPES)


class _Receiver:
    """A push callback on loopback: records notifications, answers OK or Unsubscribe."""

    def __init__(self) -> None:
        self.notifications: list[Any] = []
        self.answer = SendNotification.OK
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                svc = SendNotification(protocol=None)
                notes = list(svc.parse(body))
                payload = svc.ok_payload() if receiver.answer == "OK" else svc.unsubscribe_payload()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                with receiver.arrived:
                    receiver.notifications.extend(notes)
                    receiver.arrived.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def wait_for(self, predicate: Any, timeout: float = 5) -> list[Any]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: predicate(self.notifications), timeout), self.notifications
            return list(self.notifications)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    try:
        yield r
    finally:
        r.close()


def _events(notes: list[Any]) -> list[Any]:
    return [e for n in notes for e in n.events]


def test_push_subscription_posts_events_and_status(org: Org, receiver: _Receiver) -> None:
    account = org.account()
    _switch(org, minute_seconds=0.3)
    sub_id, _ = account.calendar.subscribe_to_push(receiver.url, event_types=EVENT_TYPES, status_frequency=1)
    item = _item(org, account, "pushed")
    notes = receiver.wait_for(lambda ns: any(isinstance(e, CreatedEvent) for e in _events(ns)))
    created = next(e for e in _events(notes) if isinstance(e, CreatedEvent) and e.event_type == "item")
    assert created.item_id.id == item.id and notes[0].subscription_id == sub_id
    # without events: a status notification every StatusFrequency (scaled) minute
    receiver.wait_for(lambda ns: any(isinstance(e, StatusEvent) for e in _events(ns)))
    # the callback answers Unsubscribe: the server stops sending
    receiver.answer = SendNotification.UNSUBSCRIBE
    item.delete()
    receiver.wait_for(lambda ns: any(isinstance(e, DeletedEvent) for e in _events(ns)))
    deadline = time.monotonic() + 5
    while org.sim.notifier.stats()["subscriptions"]["push"] and time.monotonic() < deadline:  # type: ignore[index]
        time.sleep(0.05)
    assert org.sim.notifier.stats()["subscriptions"]["push"] == 0  # type: ignore[index]
    seen = len(receiver.notifications)
    time.sleep(0.7)
    assert len(receiver.notifications) == seen


def test_push_callback_must_be_loopback(org: Org) -> None:
    account = org.account()
    with pytest.raises(ErrorInvalidPushSubscriptionUrl):
        account.calendar.subscribe_to_push("http://192.0.2.1/callback", event_types=EVENT_TYPES)


def test_push_to_a_dead_callback_is_retried_then_dropped(org: Org) -> None:
    account = org.account()
    _switch(org, minute_seconds=0.2)
    dead = _Receiver()
    url = dead.url
    dead.close()
    account.calendar.subscribe_to_push(url, event_types=EVENT_TYPES, status_frequency=1)
    _item(org, account, "nobody listens")
    deadline = time.monotonic() + 5
    while org.sim.notifier.stats()["subscriptions"]["push"] and time.monotonic() < deadline:  # type: ignore[index]
        time.sleep(0.05)
    stats = org.sim.notifier.stats()
    assert stats["subscriptions"]["push"] == 0  # type: ignore[index]
    assert [d["status"] for d in stats["push_deliveries"]][:2] == ["failed", "failed"]  # type: ignore[index]


@pytest.mark.parametrize("dialect", ["exchange2010", "exchange2013"])
def test_streaming_delivers_events_as_they_happen(dialect: str) -> None:
    from roomsync_sim.testing import running_simulator
    from sim_support import SEED

    with running_simulator(dialect, SEED, validate=True) as running:
        org = Org(running, dialect)
        try:
            running.simulator.notifier.minute_seconds = 2.0
            watcher = org.account()
            writer = org.account("alice@example.org", login="svc@example.org", access_type="impersonation")
            sub_id = watcher.calendar.subscribe_to_streaming(event_types=EVENT_TYPES)
            received: list[Any] = []
            started = time.monotonic()

            def listen() -> None:
                for note in watcher.calendar.get_streaming_events(sub_id, connection_timeout=1):
                    received.append((time.monotonic() - started, note))

            thread = threading.Thread(target=listen)
            thread.start()
            time.sleep(0.3)
            item = _item(org, writer, "streamed")
            thread.join(timeout=10)
            assert not thread.is_alive()
            events = [(at_s, e) for at_s, n in received for e in n.events]
            created = [(at_s, e) for at_s, e in events if isinstance(e, CreatedEvent)]
            assert created and created[0][1].item_id.id == item.id
            assert created[0][0] < 1.5  # as it happened, not at the end of the connection
            assert time.monotonic() - started >= 1.9  # the connection lived its ConnectionTimeout
            watcher.calendar.unsubscribe(sub_id)
            with pytest.raises(ErrorSubscriptionNotFound):
                list(watcher.calendar.get_streaming_events(sub_id, connection_timeout=1))
        finally:
            org.close()
        assert not [v for v in running.simulator.violations if v.direction == "response"]


def test_streaming_is_refused_by_exchange_2007() -> None:
    from exchangelib.errors import ErrorSchemaValidation

    from roomsync_sim.testing import running_simulator
    from sim_support import SEED

    with running_simulator("exchange2007", SEED, validate=True) as running:
        org = Org(running, "exchange2007")
        try:
            with pytest.raises(ErrorSchemaValidation):
                org.account().calendar.subscribe_to_streaming(event_types=EVENT_TYPES)
        finally:
            org.close()


def test_a_cut_stream_breaks_at_its_next_write_and_loses_what_it_carried() -> None:
    from roomsync_sim.testing import running_simulator
    from sim_support import SEED

    with running_simulator("exchange2013", SEED, validate=True) as running:
        org = Org(running, "exchange2013")
        try:
            watcher = org.account()
            writer = org.account("alice@example.org", login="svc@example.org", access_type="impersonation")
            sub_id = watcher.calendar.subscribe_to_streaming(event_types=EVENT_TYPES)
            outcome: list[Any] = []

            def listen() -> None:
                try:
                    outcome.extend(watcher.calendar.get_streaming_events(sub_id, connection_timeout=1))
                except Exception as exc:  # the reset, as the client sees it
                    outcome.append(exc)

            thread = threading.Thread(target=listen)
            thread.start()
            time.sleep(0.3)
            running.simulator.faults.add("cut_stream", count=1)
            _item(org, writer, "lost with the connection")
            thread.join(timeout=10)
            assert not thread.is_alive()
            assert len(outcome) == 1 and isinstance(outcome[0], Exception), outcome
            assert running.simulator.faults.to_list()[0]["fired"] == 1
            # The subscription lives on, past the lost event: only a sync state finds that change.
            running.simulator.notifier.minute_seconds = 0.2
            again = list(watcher.calendar.get_streaming_events(sub_id, connection_timeout=1))
            assert not [e for n in again for e in n.events if isinstance(e, CreatedEvent)]
        finally:
            org.close()

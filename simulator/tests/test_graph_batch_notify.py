"""The o365 dialect's $batch, webhooks, MailboxConcurrency, faults, counters and migration from
an EWS dialect's store."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from graph_support import EXT_ID, SEED, Graph, event, soon
from roomsync_sim.graph.migrate import export_calendar, import_calendar
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE = "/users/alice@example.org"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSimulator]:
    with running_simulator("o365", SEED, token_lifetime=1) as sim:
        sim.simulator.notifier.minute_seconds = 0.05
        # the receivers listen on plain-http loopback; Graph itself takes https only
        sim.simulator.graph.subscriptions.allow_http_notification_url = True
        yield sim


@pytest.fixture
def graph(running: RunningSimulator) -> Graph:
    running.simulator.reset()
    running.simulator.graph.token_lifetime = 3600
    running.simulator.graph.load()
    return Graph(running)


class Receiver:
    """A webhook receiver on loopback: echoes validation tokens, records notifications."""

    def __init__(self, echo: bool = True) -> None:
        self.notifications: list[dict[str, Any]] = []
        self.lifecycle: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "validationToken" in query:
                    token = query["validationToken"][0] if echo else "wrong"
                    data = token.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                target = receiver.lifecycle if self.path.startswith("/lifecycle") else receiver.notifications
                target.extend(json.loads(body)["value"])
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait(self, what: list[dict[str, Any]], count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(what) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return what

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _expiry(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _subscribe(graph: Graph, receiver: Receiver, **extra: Any) -> requests.Response:
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": f"{receiver.url}/notify",
        "lifecycleNotificationUrl": f"{receiver.url}/lifecycle",
        "resource": "/users/alice@example.org/events",
        "expirationDateTime": _expiry(60),
        "clientState": "secret-state",
        **extra,
    }
    return graph.post("/subscriptions", body)


def test_batch(graph: Graph, running: RunningSimulator) -> None:
    requests_ = [
        {
            "id": "1",
            "method": "POST",
            "url": "/users/alice@example.org/events",
            "body": event("B1", soon()),
            "headers": {"Content-Type": "application/json"},
        },
        {"id": "2", "method": "GET", "url": "/users/alice@example.org/events/garbage", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/users/alice@example.org/events", "dependsOn": ["2"]},
        {"id": "4", "method": "GET", "url": "/users/bob@example.org/events?$top=1"},
    ]
    r = graph.post("/$batch", {"requests": requests_})
    assert r.status_code == 200, r.text
    statuses = {x["id"]: x["status"] for x in r.json()["responses"]}
    assert statuses == {"1": 201, "2": 400, "3": 424, "4": 200}
    assert r.json()["responses"][0]["body"]["subject"] == "B1"
    too_many = [{"id": str(i), "method": "GET", "url": "/users/bob@example.org/events"} for i in range(21)]
    assert graph.post("/$batch", {"requests": too_many}).status_code == 400
    assert (
        graph.post(
            "/$batch", {"requests": [*requests_[:1], {**requests_[3], "dependsOn": ["9"]}]}
        ).status_code
        == 400
    )
    counts = running.simulator.counts
    assert counts["$batch"] == 3 and counts["events.create"] == 1 and counts["events.list"] == 1


def test_subscription_lifecycle(graph: Graph, receiver: Receiver, running: RunningSimulator) -> None:
    r = _subscribe(graph, receiver)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["clientState"] == "secret-state" and sub["changeType"] == "created,updated,deleted"
    created = graph.create("alice@example.org", event("Watched", soon()))
    graph.patch(f"{ALICE}/events/{created['id']}", {"subject": "Watched 2"})
    graph.delete(f"{ALICE}/events/{created['id']}")
    got = receiver.wait(receiver.notifications, 3)
    assert [n["changeType"] for n in got] == ["created", "updated", "deleted"]
    assert all(n["clientState"] == "secret-state" and n["subscriptionId"] == sub["id"] for n in got)
    assert got[0]["resourceData"]["id"] == created["id"] and got[0]["resource"].startswith("Users/")
    renewed = graph.patch(f"/subscriptions/{sub['id']}", {"expirationDateTime": _expiry(10_000)})
    assert renewed.status_code == 200
    too_far = graph.patch(f"/subscriptions/{sub['id']}", {"expirationDateTime": _expiry(10_200)})
    assert too_far.status_code == 400 and too_far.json()["error"]["code"] == "ExtensionError"
    assert [s["id"] for s in graph.get("/subscriptions").json()["value"]] == [sub["id"]]
    running.simulator.graph.subscriptions.lifecycle(sub["id"], "missed", remove=False)
    assert receiver.wait(receiver.lifecycle, 1)[0]["lifecycleEvent"] == "missed"
    assert graph.delete(f"/subscriptions/{sub['id']}").status_code == 204
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404


def test_subscription_validation_and_reauthorization(
    graph: Graph, receiver: Receiver, running: RunningSimulator
) -> None:
    assert _subscribe(graph, receiver, expirationDateTime=_expiry(10_200)).status_code == 400
    silent = Receiver(echo=False)
    try:
        refused = _subscribe(graph, receiver, notificationUrl=f"{silent.url}/notify")
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "ValidationError"
    finally:
        silent.close()
    remote = _subscribe(graph, receiver, notificationUrl="http://192.0.2.1/notify")
    assert remote.status_code == 400
    short = Graph(running)
    short.session.headers["Authorization"] = f"Bearer {running.simulator.graph.access_token(lifetime=1)}"
    sub = _subscribe(short, receiver).json()
    events = receiver.wait(receiver.lifecycle, 1, seconds=4)
    assert events and events[0]["lifecycleEvent"] == "reauthorizationRequired"
    assert graph.post(f"/subscriptions/{sub['id']}/reauthorize").status_code == 204
    running.simulator.graph.subscriptions.lifecycle(sub["id"], "subscriptionRemoved")
    assert receiver.wait(receiver.lifecycle, 2)[1]["lifecycleEvent"] == "subscriptionRemoved"
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404


def test_mailbox_concurrency_and_faults(graph: Graph, running: RunningSimulator) -> None:
    sim = running.simulator
    sim.faults.add("latency", ms=300, operations=["events.list"])
    results: list[requests.Response] = []

    def call() -> None:
        results.append(Graph(running).get(f"{ALICE}/events"))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    throttled = [r for r in results if r.status_code == 429]
    assert len(throttled) == 2 and sum(r.status_code == 200 for r in results) == 4
    assert throttled[0].json()["error"]["code"] == "ApplicationThrottled"
    assert int(throttled[0].headers["Retry-After"]) >= 1
    sim.faults.clear()
    sim.faults.add("http_503", count=1)
    assert graph.get(f"{ALICE}/events").status_code == 503
    sim.faults.add("server_busy", count=1, back_off_ms=2000)
    busy = graph.get(f"{ALICE}/events")
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "2"
    sim.faults.add("reset", count=1)
    with pytest.raises(requests.ConnectionError):
        graph.get(f"{ALICE}/events")
    # Apply, then drop: the retry with the same transactionId finds the event instead of duplicating it.
    sim.faults.add("drop_after_apply", count=1, operations=["events.create"])
    body = event("Dropped", soon(), transactionId="c1f0b4d6-0d4a-4c1e-9a31-000000000001")
    with pytest.raises(requests.ConnectionError):
        graph.post(f"{ALICE}/events", body)
    assert graph.post(f"{ALICE}/events", body).status_code == 201
    assert len(graph.get(f"{ALICE}/events").json()["value"]) == 1
    stats = requests.get(f"{running.control_url}stats", timeout=5).json()
    assert stats["dialect"] == "o365" and stats["counts"]["events.create"] == 2
    assert stats["graph"]["tenants"][0]["id"] == running.tenant_id


def test_a_batch_can_lose_its_answer_after_its_writes_ran(graph: Graph, running: RunningSimulator) -> None:
    running.simulator.faults.add("drop_after_apply", count=1, operations=["$batch"])
    create = {"id": "1", "method": "POST", "url": f"{ALICE}/events", "body": event("In a batch", soon())}
    with pytest.raises(requests.ConnectionError):
        graph.post("/$batch", {"requests": [create]})
    assert [e["subject"] for e in graph.get(f"{ALICE}/events").json()["value"]] == ["In a batch"]
    assert graph.post("/$batch", {"requests": [{**create, "body": event("Answered", soon(8))}]}).ok


def test_migration_from_an_ews_store(graph: Graph, running: RunningSimulator) -> None:
    from exchangelib import (
        DELEGATE,
        Account,
        CalendarItem,
        Configuration,
        Credentials,
        EWSDateTime,
        EWSTimeZone,
        ExtendedProperty,
    )

    class Reservation(ExtendedProperty):  # type: ignore[misc]
        property_set_id = "66f5a359-4659-4830-9070-00047ec6ac6e"
        property_name = "RoomsReservation"
        property_type = "String"

    CalendarItem.register("rooms_reservation", Reservation)
    try:
        with running_simulator("exchange2013", SEED, validate=False) as onprem:
            config = Configuration(
                service_endpoint=onprem.ews_url,
                credentials=Credentials("alice@example.org", "alice-pw"),
                auth_type="basic",
            )
            account = Account("alice@example.org", config=config, autodiscover=False, access_type=DELEGATE)
            start = EWSDateTime.from_datetime(soon()).astimezone(EWSTimeZone("UTC"))
            item = CalendarItem(
                account=account,
                folder=account.calendar,
                subject="On premises",
                start=start,
                end=start + timedelta(hours=1),
            )
            item.rooms_reservation = "R-7"
            item.save(send_meeting_invitations="SendToNone")
            exported = export_calendar(onprem.simulator.store, "alice@example.org")
            account.protocol.close()
    finally:
        CalendarItem.deregister("rooms_reservation")
    mapping = import_calendar(running.tenants[0].store, "alice@example.org", json.loads(json.dumps(exported)))
    assert list(mapping) == [item.id] and mapping[item.id] != item.id
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{EXT_ID}' and ep/value eq 'R-7')"
    found = graph.get(f"{ALICE}/events", params={"$filter": flt}).json()["value"]
    assert [e["subject"] for e in found] == ["On premises"]

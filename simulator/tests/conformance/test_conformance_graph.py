"""Microsoft Graph as Microsoft documents it, where a client can look: ``$count`` on event
collections, https-only notification URLs, the lifetime of Outlook event subscriptions."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from graph_support import SEED, Graph, event, soon
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE = "/users/alice@example.org"


@pytest.fixture(scope="module")
def strict() -> Iterator[RunningSimulator]:
    """A simulator as Graph is: plain-http notification URLs refused."""
    with running_simulator("o365", SEED) as sim:
        yield sim


@pytest.fixture(scope="module")
def lenient() -> Iterator[RunningSimulator]:
    """A simulator whose seed lets tests receive notifications on http://127.0.0.1."""
    seed = copy.deepcopy(SEED)
    seed["allow_http_notification_url"] = True
    with running_simulator("o365", seed) as sim:
        yield sim


@pytest.fixture
def graph(strict: RunningSimulator) -> Graph:
    strict.simulator.reset()
    strict.simulator.graph.load()
    return Graph(strict)


class Receiver:
    """A loopback webhook receiver over plain http that echoes validation tokens."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = query["validationToken"][0].encode() if "validationToken" in query else b""
                self.send_response(200 if data else 202)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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


def _subscription(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "changeType": "created,updated,deleted",
        "notificationUrl": f"{url}/notify",
        "resource": "/users/alice@example.org/events",
        "expirationDateTime": _expiry(60),
        "clientState": "state",
        **extra,
    }


# --- $count -----------------------------------------------------------------------------------------
# https://learn.microsoft.com/en-us/graph/query-parameters#count-parameter: "$count=true" includes
# the total number of items matching alongside the page; only directory objects need an advanced
# query (ConsistencyLevel: eventual), Outlook resources such as events don't.


def _three(graph: Graph) -> datetime:
    start = soon(days=8)
    for i in range(3):
        graph.create("alice@example.org", event(f"C{i}", start + timedelta(hours=i)))
    return start


def test_count_is_the_total_before_paging(graph: Graph) -> None:
    _three(graph)
    r = graph.get(f"{ALICE}/events?$count=true&$top=2")
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body)[:2] == ["@odata.context", "@odata.count"]
    assert body["@odata.count"] == 3 and len(body["value"]) == 2
    assert "%24count=true" in body["@odata.nextLink"] or "$count=true" in body["@odata.nextLink"]
    following = graph.get(body["@odata.nextLink"]).json()
    assert following["@odata.count"] == 3 and len(following["value"]) == 1
    skipped = graph.get(f"{ALICE}/calendar/events?$count=true&$skip=2").json()
    assert skipped["@odata.count"] == 3 and len(skipped["value"]) == 1


def test_count_follows_the_filter_and_needs_no_consistency_header(graph: Graph) -> None:
    start = _three(graph)
    filtered = graph.get(f"{ALICE}/events", params={"$count": "true", "$filter": "subject eq 'C1'"}).json()
    assert filtered["@odata.count"] == 1 and [e["subject"] for e in filtered["value"]] == ["C1"]
    window = {
        "startDateTime": (start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "endDateTime": (start + timedelta(hours=1, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"),
        "$count": "true",
        "$top": "1",
    }
    view = graph.get(f"{ALICE}/calendarView", params=window).json()
    assert view["@odata.count"] == 2 and len(view["value"]) == 1
    eventual = graph.get(f"{ALICE}/events?$count=true", headers={"ConsistencyLevel": "eventual"}).json()
    assert eventual["@odata.count"] == 3


def test_count_false_absent_or_invalid(graph: Graph) -> None:
    _three(graph)
    assert "@odata.count" not in graph.get(f"{ALICE}/events").json()
    assert "@odata.count" not in graph.get(f"{ALICE}/events?$count=false").json()
    bad = graph.get(f"{ALICE}/events?$count=maybe")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BadRequest"


def test_delta_gives_no_count(graph: Graph) -> None:
    # https://learn.microsoft.com/en-us/graph/api/event-delta: $count is not among the query
    # parameters calendarView delta supports; the page carries its links, never a count.
    start = _three(graph)
    window = {
        "startDateTime": (start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "endDateTime": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "$count": "true",
    }
    r = graph.get(f"{ALICE}/calendarView/delta", params=window)
    assert r.status_code == 200, r.text
    assert "@odata.count" not in r.json() and len(r.json()["value"]) == 3


# --- notification URLs ------------------------------------------------------------------------------
# https://learn.microsoft.com/en-us/graph/api/resources/subscription: notificationUrl and
# lifecycleNotificationUrl "must make use of the HTTPS protocol".


def test_http_notification_url_is_refused(graph: Graph, receiver: Receiver) -> None:
    r = graph.post("/subscriptions", _subscription(receiver.url))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "InvalidRequest"
    assert r.json()["error"]["message"] == "NotificationUrl scheme='http' is not supported."
    lifecycle = graph.post(
        "/subscriptions",
        _subscription("https://127.0.0.1:9", lifecycleNotificationUrl=f"{receiver.url}/lifecycle"),
    )
    assert lifecycle.status_code == 400 and lifecycle.json()["error"]["code"] == "InvalidRequest"
    assert "scheme='http' is not supported" in lifecycle.json()["error"]["message"]


def test_the_seed_switch_accepts_http_on_loopback(lenient: RunningSimulator, receiver: Receiver) -> None:
    graph = Graph(lenient)
    body = _subscription(receiver.url, lifecycleNotificationUrl=f"{receiver.url}/lifecycle")
    r = graph.post("/subscriptions", body)
    assert r.status_code == 201, r.text
    assert graph.delete(f"/subscriptions/{r.json()['id']}").status_code == 204


# --- subscription lifetime ---------------------------------------------------------------------------
# https://learn.microsoft.com/en-us/graph/change-notifications-overview#subscription-lifetime:
# Outlook message, event, personal contact: 10,080 minutes (under 7 days).


def test_outlook_event_subscriptions_last_up_to_10080_minutes(
    lenient: RunningSimulator, receiver: Receiver
) -> None:
    graph = Graph(lenient)
    r = graph.post("/subscriptions", _subscription(receiver.url, expirationDateTime=_expiry(10_000)))
    assert r.status_code == 201, r.text
    sub = r.json()
    renewed = graph.patch(f"/subscriptions/{sub['id']}", {"expirationDateTime": _expiry(10_070)})
    assert renewed.status_code == 200, renewed.text
    too_far = graph.patch(f"/subscriptions/{sub['id']}", {"expirationDateTime": _expiry(10_200)})
    assert too_far.status_code == 400
    assert too_far.json()["error"]["code"] == "ExtensionError"
    assert "10080 minutes" in too_far.json()["error"]["message"]
    refused = graph.post("/subscriptions", _subscription(receiver.url, expirationDateTime=_expiry(10_200)))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ExtensionError"
    graph.delete(f"/subscriptions/{sub['id']}")

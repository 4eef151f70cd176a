"""Health, readiness, metrics, and Graph's webhooks arriving on the web service."""

from __future__ import annotations

import socket
import time
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from roomsync.config import load_settings
from roomsync.domain import EventFields
from roomsync.storage import Database
from roomsync_o365.testing import GraphUser, free_port
from roomsync_web.app import create_app
from roomsync_web.config import web_config
from roomsync_web.service import WebService
from support import ALICE, CAROL, ERIN, Installation, installation, next_weekday_at


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_cycles_requests_and_what_the_database_holds(served: Installation) -> None:
    api = served.client(served.key("admin"))
    assert api.post(f"/api/v1/admin/persons/{ALICE}/sync").json()["ok"]
    assert not api.post(f"/api/v1/admin/persons/{CAROL}/sync").json()["ok"]

    scraped = served.client().get("/metrics")

    assert scraped.headers["content-type"].startswith("text/plain")
    found = samples(scraped.text)
    assert found[("roomsync_cycles_total", (("environment", "onprem"), ("result", "ok")))] >= 1
    assert found[("roomsync_cycles_total", (("environment", "broken"), ("result", "failed")))] >= 1
    assert found[("roomsync_cycle_duration_seconds_count", (("environment", "onprem"),))] >= 1
    assert found[("roomsync_exchange_requests_total", (("environment", "onprem"),))] > 0
    assert found[("roomsync_persons", (("environment", "onprem"),))] == 2
    assert found[("roomsync_persons_failing", (("environment", "broken"),))] == 1
    assert ("roomsync_pending_writes", (("environment", "onprem"),)) in found
    assert found[("roomsync_watched_mailboxes", (("environment", "online"),))] == 0  # no daemon here
    assert (
        "roomsync_api_requests_total",
        (("method", "POST"), ("route", "/api/v1/admin/persons/{email}/sync"), ("status", "200")),
    ) in found


def test_health_and_readiness(served: Installation) -> None:
    anonymous = served.client()
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["database"]["ok"]
    assert set(body["environments"]) == {"onprem", "online", "broken"}
    assert "password" not in ready.text


def test_readiness_fails_when_the_database_is_gone(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    config = tmp_path / "roomsync.toml"
    config.write_text('data_dir = "data"\n[environments.local]\nplugin = "reference"\n', encoding="utf-8")
    settings = load_settings(config)
    database = Database(settings.resolved_database_url())
    database.upgrade()
    service = WebService(settings, web_config(settings), database)
    with TestClient(create_app(service)) as client:
        assert client.get("/readyz").status_code == 200
        (tmp_path / "data" / "roomsync.db").unlink()  # a volume lost under a running service
        database.engine.dispose()
        gone = client.get("/readyz")
        assert gone.status_code == 503
        assert gone.json()["database"]["ok"] is False
        assert client.get("/healthz").status_code == 200  # alive, only not ready


def _listening(bind: str) -> bool:
    host, _, port = bind.rpartition(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) == 0


@pytest.mark.parametrize("database", ["sqlite"])
def test_graph_webhooks_arrive_on_the_web_service_and_wake_the_cycle(
    tmp_path_factory: pytest.TempPathFactory, database: str
) -> None:
    port = free_port()
    with installation(tmp_path_factory.mktemp("hooks"), database, serve_port=port) as inst:
        inst.serve("--run", port=port)
        api = inst.client(inst.key("admin"))
        start = next_weekday_at(11, days=4)
        made = api.post(
            "/api/v1/reservations",
            json={
                "title": "Weekly",
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
                "organizer": ERIN,
            },
        ).json()
        link = _wait(
            lambda: [x for x in api.get(f"/api/v1/reservations/{made['id']}").json()["links"] if x["item_id"]]
        )
        subscribed = _wait(lambda: inst.graph.simulator.graph.subscriptions.items)
        assert subscribed
        options = tomllib.loads(inst.config.read_text(encoding="utf-8"))["environments"]["online"]["options"]
        assert not _listening(options["webhook_bind"])  # no receiver of the connector's own

        user = GraphUser(inst.graph)
        try:
            changed = EventFields(
                title="Weekly (renamed in Outlook)",
                start=start,
                end=start + timedelta(hours=1),
                timezone="UTC",
            )
            edited = time.monotonic()
            user.update(ERIN, link[0]["item_id"], changed)
        finally:
            user.close()
        _wait(
            lambda: api.get(f"/api/v1/reservations/{made['id']}").json()["reservation"]["title"] != "Weekly"
        )
        took = time.monotonic() - edited
        assert api.get(f"/api/v1/reservations/{made['id']}").json()["reservation"]["title"] == changed.title
        assert took < 10, f"the change took {took:.1f} s to reach ROOMS"
        assert "POST /webhooks/graph/online/notify 202" in inst.log()
        forged = inst.client().post(
            "/webhooks/graph/online/notify", json={"value": [{"subscriptionId": "x", "clientState": "y"}]}
        )
        assert forged.status_code == 403
        metrics = samples(inst.client().get("/metrics").text)
        assert metrics[("roomsync_watched_mailboxes", (("environment", "online"),))] == 1


def _wait(probe, seconds: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("waited in vain")

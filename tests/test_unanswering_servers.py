"""A server that takes connections and never answers costs its persons a time-out, nobody else more.

One environment points at a server on 127.0.0.1 that accepts and stays silent (or answers the
headers and then stalls), another at the simulator. In one pass of the runner the person on the
hung server fails within the configured time-outs and the person on the simulator is synchronised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from exchangelib.errors import ErrorTimeoutExpired
from unanswering import Stall, unanswering_server

from roomsync.config import settings_from_mapping
from roomsync.connector.host import ConnectorHost
from roomsync.domain import Person
from roomsync.engine.report import CycleReport
from roomsync.engine.runner import SyncRunner
from roomsync.errors import TransientConnectorError
from roomsync.plugins import connector_class
from roomsync.storage import Database
from roomsync.testkit.end_to_end import RoomsSide
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.connector import EwsConnector
from roomsync_ews_common.notifications import _Stream
from roomsync_ews_common.options import EwsOptions
from roomsync_ews_common.testing import SIM_PASSWORD_ENV
from roomsync_ews_common.testing import simulator_options as ews_options
from roomsync_o365.testing import SECRET_ENV
from roomsync_o365.testing import simulator_options as o365_options
from roomsync_sim.testing import running_simulator
from roomsync_sim.tls import CertificatePaths, server_context

ALICE, BOB = "alice@example.org", "bob@example.org"
START = (datetime.now(UTC) + timedelta(days=5)).replace(hour=8, minute=0, second=0, microsecond=0)
CONNECT, READ = 1.0, 1.5
TIMEOUTS = {"connect_timeout_seconds": CONNECT, "read_timeout_seconds": READ}
BOUND = CONNECT + READ + 1.0
"""The longest a hung server may hold up a cycle here: one request's time-outs, and some slack."""


@dataclass
class Pass(RoomsSide):
    start = START
    database: Database
    runner: SyncRunner

    def once(self) -> tuple[dict[str, CycleReport], float]:
        began = time.monotonic()
        reports = {r.mailbox: r for r in self.runner.sync_once()}
        return reports, time.monotonic() - began


@contextmanager
def two_environments(tmp_path: Path, environments: dict[str, Any]) -> Iterator[Pass]:
    """Alice in environment ``hung``, Bob in ``healthy``; each with a reservation to export."""
    database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
    database.upgrade()
    with database.unit_of_work() as uow:
        uow.rooms.upsert_person(Person(email=ALICE, environment="hung"))
        uow.rooms.upsert_person(Person(email=BOB, environment="healthy"))
        uow.commit()
    runner = SyncRunner(settings_from_mapping({"environments": environments}), database)
    try:
        found = Pass(database, runner)
        found.book(ALICE, "Stuck", 1)
        found.book(BOB, "Flows", 2)
        yield found
    finally:
        runner.close()
        database.dispose()


def hosted(plugin: str, options: dict[str, Any]) -> ConnectorHost:
    connector = connector_class(plugin, "hung").from_config("hung", options, "roomsync.toml")
    return ConnectorHost("hung", connector)


def assert_only_the_hung_person_failed(reports: dict[str, CycleReport], seconds: float) -> None:
    assert [r.mailbox for r in reports.values()] == [ALICE, BOB]  # Alice's cycle came first
    hung, healthy = reports[ALICE], reports[BOB]
    assert not hung.ok and "did not answer in time" in (hung.error or ""), hung.error
    assert hung.seconds < BOUND, (hung.seconds, hung.error)
    assert healthy.ok and healthy.created == 1, healthy.error
    assert seconds < BOUND + healthy.seconds + 1.0


# --- EWS -----------------------------------------------------------------------------------------


@pytest.fixture
def ews_sim() -> Iterator[Any]:
    with running_simulator("exchange2013") as sim:
        yield sim


@pytest.mark.parametrize("stall", ["unaccepted", "headers"])
def test_ews_person_on_a_hung_server_fails_in_time_and_the_other_is_synchronised(
    ews_sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stall: Stall
) -> None:
    monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
    with unanswering_server(stall) as port:
        hung = ews_options(f"http://127.0.0.1:{port}/EWS/Exchange.asmx", **TIMEOUTS)
        environments = {
            "hung": {"plugin": "exchange2013", "options": hung},
            "healthy": {"plugin": "exchange2013", "options": ews_options(ews_sim.ews_url)},
        }
        with two_environments(tmp_path, environments) as setup:
            reports, seconds = setup.once()
    assert_only_the_hung_person_failed(reports, seconds)
    assert f"127.0.0.1:{port}" in (reports[ALICE].error or "")


def test_ews_request_without_answer_is_not_repeated_after_a_back_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """exchangelib backs off (10 s, 20 s, ...) and repeats a request that got no answer while its
    protocol holds more than one connection; free/busy on a hung server fails within its time-outs."""
    monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
    with unanswering_server("headers") as port:
        options = ews_options(f"http://127.0.0.1:{port}/EWS/Exchange.asmx", max_concurrency=4, **TIMEOUTS)
        host = hosted("exchange2013", options)
        try:
            connector = host.connector
            assert isinstance(connector, EwsConnector)
            protocol = connector._account(ALICE).protocol
            assert protocol.TIMEOUT == (CONNECT, READ)
            for _ in range(3):
                protocol.increase_poolsize()  # as after concurrent requests
            began = time.monotonic()
            with pytest.raises(TransientConnectorError, match="did not answer in time"):
                host.free_busy([ALICE], START, START + timedelta(days=1))
            assert time.monotonic() - began < BOUND
        finally:
            host.close()


def test_ews_notification_stream_to_a_dead_server_fails_within_the_connect_time_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """exchangelib gives a stream one time-out, its whole lifetime (here 31 minutes)."""
    monkeypatch.setenv(SIM_PASSWORD_ENV, "svc-password")
    with unanswering_server("unaccepted") as port:
        options = EwsOptions.model_validate(
            ews_options(f"http://127.0.0.1:{port}/EWS/Exchange.asmx", **TIMEOUTS)
        )
        pool = AccountPool(options, "Exchange2013", own_connections="notifications")
        outcome: list[BaseException] = []

        def stream() -> None:
            service = _Stream(account=pool.account(ALICE), opened=lambda response: None)
            try:
                list(service.call(subscription_ids=["subscription"], connection_timeout=30))
            except Exception as exc:
                outcome.append(exc)

        try:
            began = time.monotonic()
            thread = threading.Thread(target=stream, daemon=True)
            thread.start()
            thread.join(timeout=BOUND + 2)
            assert not thread.is_alive(), "the stream is still connecting"
            assert time.monotonic() - began < BOUND
            assert outcome and isinstance(outcome[0], ErrorTimeoutExpired)
        finally:
            pool.close()


# --- Microsoft Graph ----------------------------------------------------------------------------


@pytest.fixture
def graph_sim(tmp_path: Path) -> Iterator[tuple[Any, CertificatePaths]]:
    tls = tmp_path / "tls"
    with running_simulator("o365", tls_dir=tls) as sim:
        yield sim, CertificatePaths(tls / "ca.pem", tls / "server.pem", tls / "server-key.pem")


@pytest.mark.parametrize(
    ("hung_part", "stall"),
    [
        ("graph_url", "silent"),
        ("graph_url", "headers"),
        ("login_url", "unaccepted"),
        ("login_url", "headers"),
    ],
)
def test_graph_person_on_a_hung_server_fails_in_time_and_the_other_is_synchronised(
    graph_sim: tuple[Any, CertificatePaths],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hung_part: str,
    stall: Stall,
) -> None:
    sim, certificates = graph_sim
    monkeypatch.setenv(SECRET_ENV, sim.client_secret)
    with ExitStack() as stack:
        port = stack.enter_context(unanswering_server(stall, server_context(certificates)))
        hung = o365_options(sim, **TIMEOUTS)
        hung[hung_part] = f"https://localhost:{port}" + ("/v1.0" if hung_part == "graph_url" else "")
        environments = {
            "hung": {"plugin": "o365", "options": hung},
            "healthy": {"plugin": "o365", "options": o365_options(sim)},
        }
        setup = stack.enter_context(two_environments(tmp_path, environments))
        reports, seconds = setup.once()
    assert_only_the_hung_person_failed(reports, seconds)
    assert f"localhost:{port}" in (reports[ALICE].error or "")


def test_graph_free_busy_on_a_hung_server_is_asked_once(
    graph_sim: tuple[Any, CertificatePaths], monkeypatch: pytest.MonkeyPatch
) -> None:
    """getSchedule is repeated after a broken connection, not after silence."""
    sim, certificates = graph_sim
    monkeypatch.setenv(SECRET_ENV, sim.client_secret)
    with unanswering_server("headers", server_context(certificates)) as port:
        options = o365_options(sim, graph_url=f"https://localhost:{port}/v1.0", **TIMEOUTS)
        host = hosted("o365", options)
        try:
            began = time.monotonic()
            with pytest.raises(TransientConnectorError, match="did not answer in time"):
                host.free_busy([ALICE, BOB], START, START + timedelta(days=1))
            assert time.monotonic() - began < BOUND
        finally:
            host.close()

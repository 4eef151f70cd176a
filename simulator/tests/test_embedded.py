"""Simulated servers for other programs: in this process's threads, or in a child process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from roomsync_sim.embedded import serve, serve_process

SEED = {
    "users": [{"smtp": "alice@example.org", "name": "Alice", "password": "alice-password"}],
    "rooms": [{"smtp": "room.1@example.org", "name": "Room 1"}],
}


def latency(stats: dict[str, object]) -> list[object]:
    return [r["ms"] for r in stats["faults"] if r["kind"] == "latency"]  # type: ignore[attr-defined,index]


def test_serve_adds_the_latency_and_counts_over_the_control_endpoint() -> None:
    with serve("exchange2010", SEED, latency_ms=7) as server:
        stats = server.stats()

        assert stats["dialect"] == "exchange2010"
        assert latency(stats) == [7]
        assert server.counts() == server.simulator.counts
        with pytest.raises(AttributeError, match="serves no Microsoft Graph"):
            _ = server.graph_url


def test_serve_process_runs_the_server_in_a_child_process(tmp_path: Path) -> None:
    with serve_process("exchange2007", SEED, directory=tmp_path, latency_ms=5) as server:
        stats = server.stats()
        assert stats["dialect"] == "exchange2007"
        assert latency(stats) == [5]
        assert server.ews_url == f"http://127.0.0.1:{server.port}/EWS/Exchange.asmx"
        assert server.ca_file is None
        with pytest.raises(AttributeError, match="serves no Microsoft Graph"):
            _ = server.tenant_id
    assert (tmp_path / "seed.json").exists()
    # stopped with the block (its port is free again, and another test's server may take it)
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)


def test_serve_process_o365_over_https_announces_its_tenant(tmp_path: Path) -> None:
    with serve_process("o365", directory=tmp_path, tls=True) as server:
        assert server.ca_file == tmp_path / "tls" / "ca.pem"
        assert server.graph_url == f"https://localhost:{server.port}/v1.0"
        assert server.login_url == f"https://localhost:{server.port}"
        assert server.tenant_id and server.client_id and server.client_secret
        assert server.stats()["dialect"] == "o365"


def test_serve_process_quotes_the_log_of_a_server_that_did_not_start(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="the simulator did not start: Error: auth: nonsense given"),
        serve_process("exchange2013", {"auth": ["nonsense"]}, directory=tmp_path),
    ):
        pass

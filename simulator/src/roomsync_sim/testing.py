"""Running a simulator in-process for tests: a context manager and a pytest-friendly helper.

    with running_simulator("exchange2010") as sim:
        requests.post(sim.ews_url, ...)

    with running_simulator("o365", tls_dir=tmp_path) as sim:   # Microsoft Graph, see roomsync_sim.graph
        requests.get(f"{sim.graph_url}/users/alice@example.org/events",
                     headers={"Authorization": f"Bearer {sim.access_token()}"}, verify=sim.ca_file)

It listens on a free loopback port in a background thread and stops when the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from roomsync_sim.embedded import EmbeddedServer, serve

RunningSimulator = EmbeddedServer
"""What :func:`running_simulator` yields: URLs, the CA file, the simulator behind them."""


@contextmanager
def running_simulator(
    dialect: str = "exchange2013",
    seed: dict[str, Any] | None = None,
    *,
    validate: bool = True,
    tls_dir: Path | None = None,
    **options: Any,
) -> Iterator[RunningSimulator]:
    """A simulator serving on 127.0.0.1 (HTTPS with a fresh CA when ``tls_dir`` is given).

    :func:`roomsync_sim.embedded.serve`, with what tests want by default: every request and
    response checked against the dialect's schemas.
    """
    with serve(dialect, seed, tls_dir=tls_dir, validate=validate, **options) as server:
        yield server

"""Running a simulator in-process for tests: a context manager and a pytest-friendly helper.

    with running_simulator("exchange2010") as sim:
        requests.post(sim.ews_url, ...)

It listens on a free loopback port in a background thread and stops when the block ends.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roomsync_sim.server import SimHTTPServer, start
from roomsync_sim.simulator import Simulator


@dataclass
class RunningSimulator:
    simulator: Simulator
    server: SimHTTPServer
    scheme: str
    ca_file: Path | None = None

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        host = "localhost" if self.scheme == "https" else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/_sim/"


@contextmanager
def running_simulator(
    dialect: str = "exchange2013",
    seed: dict[str, Any] | None = None,
    *,
    validate: bool = True,
    tls_dir: Path | None = None,
    **options: Any,
) -> Iterator[RunningSimulator]:
    """A simulator serving on 127.0.0.1 (HTTPS with a fresh CA when ``tls_dir`` is given)."""
    sim = Simulator(dialect, seed, validate=validate, **options)
    context: ssl.SSLContext | None = None
    ca_file = None
    if tls_dir is not None:
        from roomsync_sim.tls import make_certificates, server_context

        paths = make_certificates(tls_dir)
        context = server_context(paths)
        ca_file = paths.ca_cert
    httpd, thread = start(sim, "127.0.0.1", 0, context)
    try:
        yield RunningSimulator(sim, httpd, "https" if context else "http", ca_file)
    finally:
        sim.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

"""Running a simulator in-process for tests: a context manager and a pytest-friendly helper.

    with running_simulator("exchange2010") as sim:
        requests.post(sim.ews_url, ...)

    with running_simulator("o365", tls_dir=tmp_path) as sim:   # Microsoft Graph, see roomsync_sim.graph
        requests.get(f"{sim.graph_url}/users/alice@example.org/events",
                     headers={"Authorization": f"Bearer {sim.access_token()}"}, verify=sim.ca_file)

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

    # --- the o365 dialect (roomsync_sim.graph) ---------------------------------------------------

    def _graph(self) -> Any:
        if self.simulator.graph is None:
            raise AttributeError(f"the {self.simulator.dialect.name} dialect serves no Microsoft Graph")
        return self.simulator.graph

    @property
    def graph_url(self) -> str:
        """Microsoft Graph's service root, ``…/v1.0``."""
        self._graph()
        return f"{self.base_url}/v1.0"

    @property
    def login_url(self) -> str:
        """The sign-in instance: an authority is ``f"{login_url}/{tenant_id}"``."""
        self._graph()
        return self.base_url

    @property
    def instance_discovery_url(self) -> str:
        """For msal's ``instance_discovery=`` (instead of ``instance_discovery=False``)."""
        self._graph()
        return f"{self.base_url}/common/discovery/instance"

    @property
    def tenants(self) -> list[Any]:
        """Every tenant (``.id``, ``.domains``, ``.apps`` by client id, ``.store``)."""
        return list(self._graph().tenants.values())

    @property
    def tenant_id(self) -> str:
        return str(self.tenants[0].id)

    @property
    def client_id(self) -> str:
        return str(next(iter(self.tenants[0].apps.values())).client_id)

    @property
    def client_secret(self) -> str:
        return str(next(iter(self.tenants[0].apps.values())).secrets[0])

    def authority(self, tenant: str | None = None) -> str:
        return f"{self.login_url}/{tenant or self.tenant_id}"

    def access_token(self, tenant_id: str | None = None, client_id: str | None = None) -> str:
        """An access token minted in-process, as the token endpoint would issue it."""
        return str(self._graph().access_token(tenant_id, client_id))


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

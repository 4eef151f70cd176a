"""Running simulated Exchange servers inside another program: demos, trials, integration tools.

``roomsync sim serve`` runs one server as a process of its own; a program that wants a few
servers for as long as it runs (``roomsync demo`` starts one per Exchange generation) uses
:func:`serve` instead, which runs each in background threads of the calling process::

    from roomsync_sim.embedded import serve

    with serve("exchange2010", seed) as server:
        ...  # server.ews_url, server.ca_file, server.simulator

    with serve("o365", seed, tls_dir=path) as server:   # Exchange Online: msal needs https
        ...  # server.graph_url, server.login_url, server.tenant_id, server.client_id,
             # server.client_secret, server.access_token()

Schema validation is off by default here: it costs time at start and per request, and a
program trying things out needs answers, not a check of its requests (tests use
``roomsync_sim.testing.running_simulator``, which validates).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from roomsync_sim.dialects import DIALECTS
from roomsync_sim.server import start
from roomsync_sim.simulator import Simulator


@dataclass(frozen=True)
class EmbeddedServer:
    """One running simulated server: where to reach it and the simulator behind it."""

    dialect: str
    base_url: str
    ca_file: Path | None
    simulator: Simulator

    @property
    def host(self) -> str:
        return str(urlsplit(self.base_url).hostname)

    @property
    def port(self) -> int:
        return int(urlsplit(self.base_url).port or 0)

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/_sim/"

    # --- the o365 dialect: Microsoft Graph and its sign-in endpoints (roomsync_sim.graph) --------

    def _graph(self) -> Any:
        if self.simulator.graph is None:
            raise AttributeError(f"the {self.dialect} dialect serves no Microsoft Graph")
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
        """The first tenant's id."""
        return str(self.tenants[0].id)

    def authority(self, tenant: str | None = None) -> str:
        return f"{self.login_url}/{tenant or self.tenant_id}"

    @property
    def client_id(self) -> str:
        """The first app registration of the first tenant."""
        return str(self._first_app().client_id)

    @property
    def client_secret(self) -> str:
        """That app's first client secret."""
        return str(self._first_app().secrets[0])

    def _first_app(self) -> Any:
        return next(iter(self.tenants[0].apps.values()))

    def access_token(self, tenant_id: str | None = None, client_id: str | None = None) -> str:
        """An access token minted in-process, as the token endpoint would issue it."""
        return str(self._graph().access_token(tenant_id, client_id))


def dialects() -> list[str]:
    """The Exchange generations a simulated server can speak (``exchange2007``, ...)."""
    return sorted(DIALECTS)


@contextmanager
def serve(
    dialect: str = "exchange2013",
    seed: dict[str, Any] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls_dir: Path | None = None,
    validate: bool = False,
    **options: Any,
) -> Iterator[EmbeddedServer]:
    """Serve EWS in ``dialect`` until the block ends; HTTPS with a fresh CA when ``tls_dir`` is given.

    ``o365`` serves Microsoft Graph and its sign-in endpoints as well; Microsoft's sign-in library
    (msal) accepts only https, so give ``tls_dir`` with it. ``port`` 0 takes a free port. ``seed``
    is the organisation (the built-in one when None); ``options`` go to the
    :class:`~roomsync_sim.simulator.Simulator`, e.g. ``auth="basic,ntlm"`` for the HTTP schemes
    offered or ``token_lifetime`` for o365's access tokens.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(dialects())}")
    simulator = Simulator(dialect, seed, validate=validate, **options)
    context: ssl.SSLContext | None = None
    ca_file = None
    if tls_dir is not None:
        from roomsync_sim.tls import make_certificates, server_context

        paths = make_certificates(tls_dir)
        context = server_context(paths)
        ca_file = paths.ca_cert
    httpd, thread = start(simulator, host, port, context)
    scheme = "https" if context else "http"
    # The certificate is made out to localhost, so an HTTPS client must use that name.
    shown = "localhost" if context and host in ("127.0.0.1", "::1") else host
    try:
        yield EmbeddedServer(dialect, f"{scheme}://{shown}:{httpd.server_address[1]}", ca_file, simulator)
    finally:
        simulator.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

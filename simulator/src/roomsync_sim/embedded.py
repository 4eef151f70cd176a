"""Running simulated Exchange servers for another program: demos, trials, benchmarks.

A program that wants a few servers for as long as it runs (``roomsync demo`` starts one per
Exchange generation) uses :func:`serve`, which runs each in background threads of the calling
process; one that measures itself against a server (the benchmarks) uses :func:`serve_process`,
which runs ``roomsync sim serve`` as a child process, so the server's CPU time is not the
caller's. Both wait until the server answers and stop it when the block ends::

    from roomsync_sim.embedded import serve, serve_process

    with serve("exchange2010", seed, latency_ms=20) as server:
        ...  # server.ews_url, server.ca_file, server.simulator, server.counts()

    with serve("o365", seed, tls_dir=path) as server:   # Exchange Online: msal needs https
        ...  # server.graph_url, server.login_url, server.tenant_id, server.client_id,
             # server.client_secret, server.access_token(),
             # server.register_redirect_uri("https://127.0.0.1:8443/addin/signin.html")

    with serve_process("o365", seed, directory=path, latency_ms=20, tls=True) as server:
        ...  # the same addresses, tenant_id, client_id, client_secret, stats(), counts()

Schema validation is off by default here: it costs time at start and per request, and a
program trying things out needs answers, not a check of its requests (tests use
``roomsync_sim.testing.running_simulator``, which validates).
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from roomsync_sim.dialects import DIALECTS
from roomsync_sim.server import start
from roomsync_sim.simulator import Simulator


@dataclass(frozen=True)
class ServerAddress:
    """Where a running simulated server answers, and its counters over the control endpoint."""

    dialect: str
    base_url: str
    ca_file: Path | None

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

    def stats(self) -> dict[str, Any]:
        """``GET /_sim/stats``: the dialect, request counts per operation, faults, violations."""
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        with urllib.request.urlopen(f"{self.control_url}stats", timeout=30, context=context) as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats

    def counts(self) -> Counter[str]:
        """The requests served so far, per operation."""
        return Counter({str(k): int(v) for k, v in self.stats()["counts"].items()})

    # --- the o365 dialect: Microsoft Graph and its sign-in endpoints (roomsync_sim.graph) --------

    def _require_graph(self) -> None:
        if not DIALECTS[self.dialect].graph:
            raise AttributeError(f"the {self.dialect} dialect serves no Microsoft Graph")

    @property
    def graph_url(self) -> str:
        """Microsoft Graph's service root, ``…/v1.0``."""
        self._require_graph()
        return f"{self.base_url}/v1.0"

    @property
    def login_url(self) -> str:
        """The sign-in instance: an authority is ``f"{login_url}/{tenant_id}"``."""
        self._require_graph()
        return self.base_url

    @property
    def instance_discovery_url(self) -> str:
        """For msal's ``instance_discovery=`` (instead of ``instance_discovery=False``)."""
        self._require_graph()
        return f"{self.base_url}/common/discovery/instance"


@dataclass(frozen=True)
class EmbeddedServer(ServerAddress):
    """One simulated server running in this process: its addresses and the simulator behind it."""

    simulator: Simulator

    def _graph(self) -> Any:
        self._require_graph()
        return self.simulator.graph

    @property
    def tenants(self) -> list[Any]:
        """Every tenant (``.id``, ``.domains``, ``.apps`` by client id, ``.store``)."""
        return list(self._graph().tenants.values())

    def calendar_subjects(self, mailbox: str) -> list[str]:
        """The subjects in a mailbox's calendar as the server stores them (any tenant's)."""
        stores = [tenant.store for tenant in self.tenants] if self.simulator.graph is not None else []
        for store in stores or [self.simulator.store]:
            with store.lock:
                found = store.mailbox(mailbox)
                if found is not None:
                    return sorted(
                        i.props["Subject"].text or "" for i in found.folder("calendar").items.values()
                    )
        raise KeyError(mailbox)

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

    def register_redirect_uri(
        self, uri: str, client_id: str | None = None, tenant_id: str | None = None, platform: str = "spa"
    ) -> None:
        """Register a redirect URI for the authorization code flow on the running simulator: on the
        first app of the first tenant unless named, of the SPA platform (or ``publicClient``)."""
        self._graph().register_redirect_uri(uri, client_id, tenant_id, platform)


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
    latency_ms: int = 0,
    **options: Any,
) -> Iterator[EmbeddedServer]:
    """Serve EWS in ``dialect`` until the block ends; HTTPS with a fresh CA when ``tls_dir`` is given.

    ``o365`` serves Microsoft Graph and its sign-in endpoints as well; Microsoft's sign-in library
    (msal) accepts only https, so give ``tls_dir`` with it. ``port`` 0 takes a free port. ``seed``
    is the organisation (the built-in one when None); ``latency_ms`` is added to every request
    (each request of a Graph ``$batch`` too); ``options`` go to the
    :class:`~roomsync_sim.simulator.Simulator`, e.g. ``auth="basic,ntlm"`` for the HTTP schemes
    offered or ``token_lifetime`` for o365's access tokens.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(dialects())}")
    simulator = Simulator(dialect, seed, validate=validate, **options)
    if latency_ms:
        simulator.faults.add("latency", ms=latency_ms)
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


_TENANT_LINE = re.compile(r"^(?P<tenant>\S+) \([^)]*\) client_id: (?P<client>\S+) secret: (?P<secret>\S+)$")


@dataclass(frozen=True)
class ServerProcess(ServerAddress):
    """A simulated server in a child process: its addresses and its first tenant's app (o365)."""

    app: dict[str, str]
    """``tenant``, ``client`` and ``secret`` of the first app registration ``serve`` printed."""
    pid: int = 0
    """The child process's id (a stopped server's port may already serve another)."""

    def _first(self, key: str) -> str:
        self._require_graph()
        return self.app[key]

    @property
    def tenant_id(self) -> str:
        return self._first("tenant")

    @property
    def client_id(self) -> str:
        return self._first("client")

    @property
    def client_secret(self) -> str:
        return self._first("secret")


@contextmanager
def serve_process(
    dialect: str = "exchange2013",
    seed: dict[str, Any] | None = None,
    *,
    directory: Path,
    latency_ms: int = 0,
    tls: bool = False,
    start_seconds: float = 60,
) -> Iterator[ServerProcess]:
    """``roomsync sim serve`` in a child process until the block ends (then SIGTERM, as Ctrl-C).

    ``directory`` receives the seed (``seed.json``), the server's log (``simulator.log``, quoted
    when it does not start within ``start_seconds``) and with ``tls`` its certificates
    (``tls/``). The server's CPU time is not the caller's, which is what a benchmark wants.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(dialects())}")
    command = [sys.executable, "-c", "from roomsync.cli.main import main; main()", "sim", "serve"]
    command += ["--dialect", dialect, "--latency-ms", str(latency_ms)]
    if seed is not None:
        (directory / "seed.json").write_text(json.dumps(seed), encoding="utf-8")
        command += ["--seed", str(directory / "seed.json")]
    if tls:
        command += ["--tls", "--tls-dir", str(directory / "tls")]
    log_file = directory / "simulator.log"
    with log_file.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert process.stdout is not None
            server = _announced(dialect, process.stdout, time.monotonic() + start_seconds)
            if server is None:
                log.flush()
                tail = log_file.read_text(encoding="utf-8", errors="replace").strip()[-2000:]
                raise RuntimeError(f"the simulator did not start: {tail or '(no output)'}")
            server = replace(server, pid=process.pid)
            server.stats()  # it answers
            yield server
        finally:
            _stop(process)


def _announced(dialect: str, stdout: IO[str], deadline: float) -> ServerProcess | None:
    """The server that ``roomsync sim serve`` announced up to its ``ready`` line, if it did."""
    values: dict[str, str] = {}
    app: dict[str, str] = {}
    while time.monotonic() < deadline:
        key, _, value = stdout.readline().strip().partition(": ")
        if not key or key == "ready":
            break
        if key == "tenant" and not app and (found := _TENANT_LINE.match(value)):
            app = found.groupdict()
        values.setdefault(key, value)
    if "control_url" not in values:
        return None
    base_url = values["control_url"].removesuffix("/_sim/")
    ca_file = Path(values["ca_file"]) if "ca_file" in values else None
    return ServerProcess(dialect, base_url, ca_file, app)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()

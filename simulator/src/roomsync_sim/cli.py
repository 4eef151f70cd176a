"""``roomsync sim serve``: run a simulated Exchange server until interrupted."""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

import click

from roomsync_sim.dialects import DIALECTS
from roomsync_sim.seed import SeedError, load_seed_file


@click.group("sim")
def sim() -> None:
    """The Exchange simulator: an offline Exchange organisation speaking EWS."""


@sim.command("serve")
@click.option(
    "--dialect",
    type=click.Choice(sorted(DIALECTS)),
    default="exchange2013",
    show_default=True,
    help="The Exchange generation to speak.",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default)."
)
@click.option("--port", type=int, default=0, help="Port to listen on (default: a free port, printed).")
@click.option(
    "--seed",
    "seed_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML or JSON seed: users, rooms, passwords, grants.",
)
@click.option("--tls", is_flag=True, help="Serve HTTPS with a freshly made CA; prints the CA file to trust.")
@click.option(
    "--tls-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the CA and server certificate (default: a new temporary directory).",
)
@click.option(
    "--validate/--no-validate",
    default=False,
    show_default=True,
    help="Check requests and responses against the dialect's schema set.",
)
@click.option("--latency-ms", type=int, default=0, help="Added latency for every request.")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def serve(
    dialect: str,
    host: str,
    port: int,
    seed_file: Path | None,
    tls: bool,
    tls_dir: Path | None,
    validate: bool,
    latency_ms: int,
    verbose: bool,
) -> None:
    """Serve EWS at /EWS/Exchange.asmx until interrupted."""
    from roomsync_sim.server import start
    from roomsync_sim.simulator import Simulator

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    try:
        seed = load_seed_file(seed_file) if seed_file else None
        simulator = Simulator(dialect, seed, validate=validate)
    except (SeedError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from e
    if latency_ms:
        simulator.faults.add("latency", ms=latency_ms)
    context = None
    ca_file = None
    if tls:
        from roomsync_sim.tls import make_certificates, server_context

        directory = tls_dir or Path(tempfile.mkdtemp(prefix="roomsync-sim-tls-"))
        paths = make_certificates(directory)
        context = server_context(paths)
        ca_file = paths.ca_cert
    httpd, thread = start(simulator, host, port, context)
    scheme = "https" if context else "http"
    shown_host = "localhost" if context and host in ("127.0.0.1", "::1") else host
    actual_port = httpd.server_address[1]
    click.echo(f"dialect: {dialect} ({simulator.dialect.server_version.version})")
    click.echo(f"ews_url: {scheme}://{shown_host}:{actual_port}/EWS/Exchange.asmx")
    click.echo(f"control_url: {scheme}://{shown_host}:{actual_port}/_sim/")
    if ca_file:
        click.echo(f"ca_file: {ca_file}")
    if not seed_file:
        click.echo("seed: built-in (svc@example.org / svc-password may impersonate everyone)")
    click.echo("ready", nl=True)
    stop = threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

"""``roomsync sim serve``: run a simulated Exchange server until interrupted."""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from roomsync_sim.dialects import DIALECTS
from roomsync_sim.seed import SeedError, load_seed_file


def parse_fault(spec: str) -> tuple[str, dict[str, Any]]:
    """``kind[:key=value,...]`` to the arguments of ``FaultPlan.add``; operations joined by '+'."""
    from roomsync_sim.faults import KINDS

    kind, _, rest = spec.partition(":")
    kind = kind.strip()
    if kind not in KINDS:
        raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(KINDS)}")
    options: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"fault option {part!r} is not key=value")
        if key == "operations":
            options[key] = [o for o in value.split("+") if o]
        elif key in ("count", "ms", "back_off_ms", "limit"):
            options[key] = int(value)
        else:
            raise ValueError(f"unknown fault option {key!r} (count, ms, back_off_ms, limit, operations)")
    return kind, options


@click.group("sim")
def sim() -> None:
    """The Exchange simulator: an offline Exchange organisation speaking EWS."""


@sim.command("serve")
@click.option(
    "--dialect",
    type=click.Choice(sorted(DIALECTS)),
    default="exchange2013",
    show_default=True,
    help="The Exchange generation to speak (o365: an Exchange Online tenant speaking Microsoft Graph).",
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
@click.option(
    "--auth",
    "auth",
    metavar="SCHEMES",
    help=(
        "HTTP authentication schemes to offer, comma-separated: basic, ntlm, negotiate, bearer "
        "(default: the seed's, else basic,ntlm,bearer)."
    ),
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
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND[:key=value,...]",
    help=(
        "A fault rule, repeatable: e.g. server_busy:count=3,back_off_ms=200, concurrency:limit=4, "
        "slow:ms=5000,operations=CreateItem+GetItem, reset:count=1."
    ),
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the organisation in this file across restarts (created when missing).",
)
@click.option(
    "--allow-remote-callbacks",
    is_flag=True,
    help="Let push subscriptions name callback URLs beyond loopback.",
)
@click.option(
    "--minute-seconds",
    type=click.FloatRange(0.01, 60),
    default=60.0,
    show_default=True,
    help="Test switch: real seconds per minute of subscription timers (keep-alives, expiry).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def serve(
    dialect: str,
    host: str,
    port: int,
    seed_file: Path | None,
    auth: str | None,
    tls: bool,
    tls_dir: Path | None,
    validate: bool,
    latency_ms: int,
    faults: tuple[str, ...],
    state_file: Path | None,
    allow_remote_callbacks: bool,
    minute_seconds: float,
    verbose: bool,
) -> None:
    """Serve EWS at /EWS/Exchange.asmx (Microsoft Graph at /v1.0 with --dialect o365) until stopped."""
    from roomsync_sim.server import start
    from roomsync_sim.simulator import Simulator

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    try:
        seed = load_seed_file(seed_file) if seed_file else None
        rules = [parse_fault(spec) for spec in faults]
        simulator = Simulator(dialect, seed, validate=validate, state_file=state_file, auth=auth)
    except (SeedError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from e
    if latency_ms:
        simulator.faults.add("latency", ms=latency_ms)
    for kind, options in rules:
        simulator.faults.add(kind, **options)
    simulator.notifier.minute_seconds = minute_seconds
    simulator.notifier.allow_remote_callbacks = allow_remote_callbacks
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
    if simulator.graph is not None:
        click.echo(f"graph_url: {scheme}://{shown_host}:{actual_port}/v1.0")
        click.echo(f"login_url: {scheme}://{shown_host}:{actual_port}")
        for tenant in simulator.graph.tenants.values():
            for app in tenant.apps.values():
                secret = app.secrets[0] if app.secrets else "(certificate)"
                click.echo(
                    f"tenant: {tenant.id} ({', '.join(tenant.domains)}) client_id: "
                    f"{app.client_id} secret: {secret}"
                )
    click.echo(f"control_url: {scheme}://{shown_host}:{actual_port}/_sim/")
    if ca_file:
        click.echo(f"ca_file: {ca_file}")
    if state_file:
        click.echo(f"state_file: {state_file}")
    click.echo(f"auth: {','.join(simulator.directory.schemes)}")
    if not seed_file:
        click.echo("seed: built-in (svc@example.org / svc-password may impersonate everyone)")
    click.echo("ready", nl=True)
    stop = threading.Event()
    # SIGTERM ends the server the way Ctrl-C does: streams closed, state file written.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        simulator.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

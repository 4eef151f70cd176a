"""``roomsync serve`` and ``roomsync api-key``, added to the command line by the plugin."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import click
import uvicorn
from rich.table import Table

from roomsync.cli.context import AppContext, pass_app
from roomsync.storage.api_keys import Scope, parse_scopes
from roomsync.storage.database import Database
from roomsync_web.config import web_config

ROUTE_THREADS = 40
"""The threads the synchronous routes share (anyio's default)."""


class _Server(uvicorn.Server):
    """Says where it listens once it does (also the port the system chose for ``--port 0``)."""

    scheme = "http"

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                click.echo(
                    f"roomsync web service on {self.scheme}://{host}:{port} "
                    "(API /api/v1, its OpenAPI document /api/openapi.json, admin pages /admin)",
                    err=True,
                )


@click.command()
@click.option("--host", help="Address to listen on (default: [web] host, else 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port (default: [web] port, else 8080; 0: any free one)."
)
@click.option(
    "--certfile", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="TLS certificate (PEM)."
)
@click.option(
    "--keyfile", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="TLS private key (PEM)."
)
@click.option("--run", "run_daemon", is_flag=True, help="Also run the daemon's cycles in this process.")
@click.option("--share", is_flag=True, help="With --run: start beside other daemons on this database.")
@pass_app
def serve(
    app: AppContext,
    host: str | None,
    port: int | None,
    certfile: Path | None,
    keyfile: Path | None,
    run_daemon: bool,
    share: bool,
) -> None:
    """Serve the REST API, the admin pages, /healthz, /readyz and /metrics.

    With --run the daemon's cycles run in the same process (and Graph's webhooks arrive at
    /webhooks/graph/ENVIRONMENT); without it, run 'roomsync run' beside it: the mailbox leases
    keep a cycle the API asks for apart from the daemon's.
    """
    from roomsync_web.app import create_app
    from roomsync_web.service import WebService

    settings = app.checked_settings
    config = web_config(settings)
    updates: dict[str, Any] = {
        k: v
        for k, v in {"host": host, "port": port, "certfile": certfile, "keyfile": keyfile}.items()
        if v is not None
    }
    config = config.model_copy(update=updates)
    if (config.certfile is None) != (config.keyfile is None):
        raise click.UsageError("--certfile and --keyfile go together")
    # A connection for each of the threads the synchronous routes run on, so none waits for one.
    database = Database(settings.resolved_database_url(), pool_size=ROUTE_THREADS)
    database.check_schema()
    service = WebService(settings, config, database, run_daemon=run_daemon, share=share)
    logging.getLogger("roomsync.web.access").setLevel(logging.INFO)
    server = _Server(
        uvicorn.Config(
            create_app(service),
            host=config.host,
            port=config.port,
            ssl_certfile=str(config.certfile) if config.certfile else None,
            ssl_keyfile=str(config.keyfile) if config.keyfile else None,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=30,
        )
    )
    server.scheme = "https" if config.certfile else "http"
    with service.registered():
        server.run()


@click.group(name="api-key")
def api_key() -> None:
    """Keys of the services that call the web API (stored as hashes)."""


@api_key.command(name="add")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice([s.value for s in Scope]),
    help="read, book (includes read) or admin (includes both); repeatable.",
)
@click.option("--person", help="The key acts as this person only (as their own sign-in would).")
@pass_app
def add_key(app: AppContext, name: str, scopes: tuple[str, ...], person: str | None) -> None:
    """Make a key; it is shown this once and cannot be shown again."""
    from roomsync.cli.persons import checked_address

    person = checked_address(person, "--person") if person is not None else None
    key, token = app.database().api_keys.add(name, parse_scopes(scopes), person)
    data = {**_key_data(key), "key": token}
    app.emit(
        data,
        f"API key {key.id} ({key.name}), scopes {', '.join(sorted(key.scopes))}:\n{token}\n"
        "Keep it now: it is stored only as a hash and cannot be shown again.",
    )


def _key_data(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": sorted(s.value for s in key.scopes),
        "person": key.person,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@api_key.command(name="list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@pass_app
def list_keys(app: AppContext, include_revoked: bool) -> None:
    """The keys (never their secrets)."""
    keys = app.database().api_keys.list(include_revoked)
    table = Table("id", "name", "scopes", "person", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            ", ".join(sorted(key.scopes)),
            key.person or "-",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    app.emit([_key_data(k) for k in keys], table if keys else "no API keys")


@api_key.command(name="revoke")
@click.argument("key_id")
@pass_app
def revoke_key(app: AppContext, key_id: str) -> None:
    """Revoke a key at once (its signed-in admin pages too)."""
    key = app.database().api_keys.revoke(key_id)
    app.emit(_key_data(key), f"API key {key.id} ({key.name}) revoked")

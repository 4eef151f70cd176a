"""``roomsync addin manifest``: the manifest administrators deploy to Exchange or Microsoft 365."""

from __future__ import annotations

from pathlib import Path

import click

from roomsync_web.addin.manifest import base_url, manifest


def _base(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return base_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.group()
def addin() -> None:
    """The Outlook add-in that books a room while a meeting is being written."""


@addin.command("manifest")
@click.option(
    "--base-url",
    required=True,
    callback=_base,
    help="Where roomsync serve is reached from Outlook, e.g. https://rooms.example.ch.",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
@click.option("--provider", default="roomsync", show_default=True, help="The provider name users see.")
@click.option(
    "--client-id",
    help="Application (client) id of the web API's Entra registration, for Office single sign-on.",
)
def manifest_command(base_url: str, output: Path | None, provider: str, client_id: str | None) -> None:
    """Write the add-in's XML manifest (Exchange 2013 and later, Microsoft 365)."""
    xml = manifest(base_url, provider=provider, client_id=client_id)
    if output is None:
        click.echo(xml.decode("utf-8"))
        return
    output.write_bytes(xml)
    click.echo(f"manifest written to {output}", err=True)

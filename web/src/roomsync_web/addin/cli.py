"""``roomsync addin manifest``: the manifest administrators deploy to Exchange or Microsoft 365."""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from roomsync_web.addin.manifest import base_url, manifest


def _base(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return base_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _short(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Names the manifest shows: 1 to 125 characters, as the schema's ``ShortString``."""
    if value is not None and not 1 <= len(value.strip()) <= 125:
        raise click.BadParameter("must be 1 to 125 characters", ctx=ctx, param=param)
    return value.strip() if value is not None else None


def _client_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an application (client) id such as 6b1d2a4e-1f7c-4a55-9a53-2f0b3f0a9d11",
            ctx=ctx,
            param=param,
        ) from None


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
@click.option(
    "--name",
    callback=_short,
    help='The add-in\'s name in every language (default: "Raum buchen", "Book a room", ... by language).',
)
@click.option(
    "--provider", default="roomsync", show_default=True, callback=_short, help="The provider name users see."
)
@click.option(
    "--client-id",
    callback=_client_id,
    help="Application (client) id of the web API's Entra registration, for Office single sign-on.",
)
def manifest_command(
    base_url: str, output: Path | None, name: str | None, provider: str, client_id: str | None
) -> None:
    """Write the add-in's XML manifest (Exchange 2013 and later, Microsoft 365)."""
    xml = manifest(base_url, provider=provider, client_id=client_id, name=name)
    if output is None:
        click.echo(xml.decode("utf-8"))
        return
    output.write_bytes(xml)
    click.echo(f"manifest written to {output}", err=True)

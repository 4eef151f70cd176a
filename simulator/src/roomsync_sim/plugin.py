"""The simulator's contribution to the ``roomsync`` command line (``roomsync sim ...``)."""

from __future__ import annotations

import click

from roomsync.hookspecs import hookimpl


@hookimpl
def roomsync_register_commands(cli: click.Group) -> None:
    """Add the ``sim`` command group."""
    from roomsync_sim.cli import sim

    cli.add_command(sim)

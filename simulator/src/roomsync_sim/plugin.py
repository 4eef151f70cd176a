"""The simulator's contribution to the ``roomsync`` command line: ``roomsync sim ...`` and
``roomsync demo`` (which replaces the core's, a hint to install the simulator)."""

from __future__ import annotations

import click

from roomsync.hookspecs import hookimpl


@hookimpl
def roomsync_register_commands(cli: click.Group) -> None:
    """Add the ``sim`` command group and the ``demo`` command."""
    from roomsync_sim.cli import sim
    from roomsync_sim.demo.command import demo

    cli.add_command(sim)
    cli.add_command(demo)

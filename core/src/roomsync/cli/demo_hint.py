"""``roomsync demo`` on an installation without the Exchange simulator: what to install.

The demo ships with the simulator's distribution, whose ``roomsync_register_commands`` replaces
this command with the demo itself; the core imports neither the simulator nor any plugin.
"""

from __future__ import annotations

import click

SIMULATOR = "roomsync-exchange-simulator"

INSTALL_HINT = (
    f"roomsync demo runs on the Exchange simulator, and it is not installed: {SIMULATOR}.\n"
    "From the root of a clone of the repository, install everything the demo needs with\n"
    "    pip install -r requirements-demo.txt\n"
    "or only the simulator (the demo then skips the generations whose plugins are missing) with\n"
    "    pip install ./simulator"
)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def demo(args: tuple[str, ...]) -> None:
    """Install the Exchange simulator to run the demo (see the README)."""
    raise click.ClickException(INSTALL_HINT)


def register(cli: click.Group) -> None:
    cli.add_command(demo)

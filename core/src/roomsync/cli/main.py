"""The ``roomsync`` command line: one click group, commands in modules by topic.

Installed packages add commands through the ``roomsync_register_commands`` hook (the Exchange
simulator adds ``roomsync sim`` and ``roomsync demo`` that way).
"""

from __future__ import annotations

import click

from roomsync import __version__
from roomsync.cli.context import AppContext
from roomsync.cli.stopping import STOPS
from roomsync.errors import RoomsyncError
from roomsync.logs import configure as configure_logging


class RoomsyncGroup(click.Group):
    """Reports roomsync's own errors as one clear line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except RoomsyncError as exc:
            raise click.ClickException(str(exc)) from None


def build_cli(*, plugin_commands: bool = True) -> click.Group:
    """The ``roomsync`` group: the core's commands, then those of the installed plugins.

    A plugin's command replaces a core command of the same name: the core's ``demo`` only says
    to install the simulator, whose distribution brings the demo itself.
    """

    @click.group(cls=RoomsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option(
        "--config",
        "config",
        envvar="ROOMSYNC_CONFIG",
        default="roomsync.toml",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="Configuration file (also ROOMSYNC_CONFIG).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
    @click.version_option(__version__, prog_name="roomsync")
    @click.pass_context
    def cli(ctx: click.Context, config: str, as_json: bool, verbose: int) -> None:
        """Keep ROOMS reservations and Exchange calendars in step."""
        if ctx.invoked_subcommand != "run":
            STOPS.release(redeliver=True)  # only the daemon stops on request; the rest as usual
        configure_logging(verbose)
        ctx.obj = AppContext(config_file=config, as_json=as_json)
        ctx.call_on_close(ctx.obj.close)

    from roomsync.cli import demo_hint, diff, freebusy, persons, reservations, setup, sync
    from roomsync.plugins import extension_manager

    for module in (setup, persons, reservations, sync, freebusy, diff, demo_hint):
        module.register(cli)
    if plugin_commands:
        extension_manager().hook.roomsync_register_commands(cli=cli)
    return cli


cli = build_cli()


def main() -> None:
    cli(prog_name="roomsync")

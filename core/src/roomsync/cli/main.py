"""The ``roomsync`` command line: one click group, commands in modules by topic.

Installed packages add commands through the ``roomsync_register_commands`` hook (the Exchange
simulator adds ``roomsync sim`` and ``roomsync demo`` that way). They are asked only when a
command the core lacks is named, or the commands are listed (``--help``, completion): a core
command such as ``roomsync sync --once`` starts without importing the simulator, the web service
or other plugins' command modules.
"""

from __future__ import annotations

import json
from typing import IO, Any

import click

from roomsync import __version__
from roomsync.cli.context import AppContext
from roomsync.cli.stopping import STOPS
from roomsync.errors import RoomsyncError
from roomsync.logs import configure_from as configure_logging

JSON_WANTED = "roomsync.json"  # key in the main context's ``meta``: --json given anywhere


class JsonError(click.ClickException):
    """An error as one JSON object on stderr, ``{"error": ..., "kind": ...}``, same exit code."""

    def __init__(self, message: str, kind: str, exit_code: int, code: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.exit_code = exit_code  # type: ignore[misc]  # the error it stands for decides

    def show(self, file: IO[Any] | None = None) -> None:
        data: dict[str, str] = {"error": self.message, "kind": self.kind}
        if self.code:
            data["code"] = self.code
        click.echo(json.dumps(data), file=file, err=file is None)


def _json_error(exc: click.ClickException) -> JsonError:
    kind = "usage" if isinstance(exc, click.UsageError) else "error"
    return JsonError(exc.format_message(), kind, exc.exit_code)


def _wants_json(args: list[str]) -> bool:
    """``--json`` anywhere among the options, before or after the command."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    app = ctx.find_object(AppContext)
    if value and app is not None:
        app.as_json = True


def add_json_option(command: click.Command) -> None:
    """Give ``command`` (and, for a group, each of its commands) the ``--json`` of the main group,
    so that it works after the command as well as before it."""
    if not any(isinstance(p, click.Option) and "--json" in p.opts for p in command.params):
        command.params.append(
            click.Option(
                ["--json"],
                is_flag=True,
                expose_value=False,
                callback=_set_json,
                help="Machine-readable output (also before the command).",
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_json_option(sub)


REPLACEABLE = frozenset({"demo"})
"""Core commands a plugin's command of the same name replaces: the core's ``demo`` only says to
install the simulator. Every other core command is the core's own, found without the plugins."""


class RoomsyncGroup(click.Group):
    """Reports roomsync's own errors as one clear line and exit code 1, never a traceback; with
    ``--json`` (before or after the command) every error is one JSON object instead.

    The plugins' commands are added on first need (:meth:`get_command`, :meth:`list_commands`)."""

    plugins_pending = False

    def add_plugin_commands(self) -> None:
        """Let the installed plugins add their commands, once."""
        if not self.plugins_pending:
            return
        self.plugins_pending = False
        from roomsync.plugins import extension_manager

        extension_manager().hook.roomsync_register_commands(cli=self)
        for command in self.commands.values():  # also what a plugin added to its group afterwards
            add_json_option(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands or cmd_name in REPLACEABLE:
            self.add_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.add_plugin_commands()
        return super().list_commands(ctx)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(cmd, name)
        add_json_option(cmd)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        wanted = _wants_json(args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            raise _json_error(exc) if wanted and not isinstance(exc, JsonError) else exc from None
        ctx.meta[JSON_WANTED] = wanted
        return ctx

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except RoomsyncError as exc:
            if self._json(ctx):
                raise JsonError(str(exc), exc.fault.value, 1, exc.code) from None
            raise click.ClickException(str(exc)) from None
        except click.ClickException as exc:
            if self._json(ctx) and not isinstance(exc, JsonError):
                raise _json_error(exc) from None
            raise

    @staticmethod
    def _json(ctx: click.Context) -> bool:
        app = ctx.obj if isinstance(ctx.obj, AppContext) else None
        return bool(ctx.meta.get(JSON_WANTED)) or (app is not None and app.as_json)


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
        configure_logging(verbose, config)  # the [logging] table, -v over its level
        ctx.obj = AppContext(config_file=config, as_json=as_json)
        ctx.call_on_close(ctx.obj.close)

    from roomsync.cli import completion, demo_hint, diff, freebusy, persons, reservations, setup, sync

    for module in (setup, persons, reservations, sync, freebusy, diff, completion, demo_hint):
        module.register(cli)
    assert isinstance(cli, RoomsyncGroup)
    cli.plugins_pending = plugin_commands
    return cli


cli = build_cli()


def main() -> None:
    cli(prog_name="roomsync")

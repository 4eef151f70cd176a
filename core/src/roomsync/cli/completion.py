"""Shell completion: ``roomsync completion bash|zsh|fish`` and what the arguments complete to.

Environment names come from the configuration, persons and rooms from the database. Completing
never fails the shell: an unreadable configuration or a database that cannot be opened (not
there yet, older schema, server down) completes nothing. Nothing is created for it either: a
SQLite file that does not exist is not opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import click
from click.shell_completion import CompletionItem, get_completion_class
from sqlalchemy.engine import make_url

from roomsync.config import Settings, load_settings
from roomsync.storage.database import Database
from roomsync.storage.protocols import UnitOfWork

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_ROOMSYNC_COMPLETE"


def _settings(ctx: click.Context) -> Settings:
    config = ctx.find_root().params.get("config") or "roomsync.toml"
    return load_settings(Path(config))


def _matching(values: Iterable[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(value) for value in sorted(set(values)) if value.startswith(incomplete)]


def complete_environments(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The configuration's environment names."""
    try:
        return _matching(_settings(ctx).environments, incomplete)
    except Exception:  # completing must never break the shell
        return []


def _from_database(ctx: click.Context, read: Callable[[UnitOfWork], Iterable[str]]) -> list[str]:
    try:
        url = _settings(ctx).resolved_database_url()
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").expanduser().is_file():
            return []
        database = Database(url)
        try:
            database.check_schema()
            with database.unit_of_work() as uow:
                return list(read(uow))
        finally:
            database.dispose()
    except Exception:  # completing must never break the shell
        return []


def complete_persons(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The e-mail addresses of the persons in the database."""
    emails = _from_database(ctx, lambda uow: [p.email for p in uow.rooms.list_persons()])
    return _matching(emails, incomplete.lower())


def complete_mailboxes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Persons' and rooms' mailboxes: who free/busy may be asked of."""

    def read(uow: UnitOfWork) -> list[str]:
        return [p.email for p in uow.rooms.list_persons()] + [r.mailbox for r in uow.rooms.list_rooms()]

    return _matching(_from_database(ctx, read), incomplete.lower())


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script of SHELL, e.g. for bash:
    eval "$(roomsync completion bash)" in ~/.bashrc."""
    root = ctx.find_root()
    cls = get_completion_class(shell)
    assert cls is not None  # click ships all three
    click.echo(cls(root.command, {}, "roomsync", COMPLETE_VAR).source())


def register(cli: click.Group) -> None:
    cli.add_command(completion)

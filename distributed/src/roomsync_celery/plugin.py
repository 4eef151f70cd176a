"""The extension plugin: ``roomsync worker``, ``roomsync scheduler`` and the ``[celery]`` table's check."""

from __future__ import annotations

from typing import Any

import click

from roomsync.config import Settings
from roomsync.errors import ConfigError, ConfigProblem
from roomsync.hookspecs import hookimpl


@hookimpl
def roomsync_register_commands(cli: click.Group) -> None:
    from roomsync_celery.cli import scheduler, worker

    cli.add_command(worker)
    cli.add_command(scheduler)


@hookimpl
def roomsync_config_problems(settings: Any) -> list[ConfigProblem]:
    from roomsync_celery.config import celery_config

    if not isinstance(settings, Settings) or not settings.celery:
        return []
    try:
        celery_config(settings)
    except ConfigError as exc:
        return list(exc.problems)
    return []

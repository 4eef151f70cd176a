"""The extension plugin: ``roomsync serve``, ``roomsync api-key`` and the ``[web]`` table's check."""

from __future__ import annotations

from typing import Any

import click

from roomsync.config import Settings
from roomsync.errors import ConfigError, ConfigProblem
from roomsync.hookspecs import hookimpl


@hookimpl
def roomsync_register_commands(cli: click.Group) -> None:
    from roomsync_web.addin.cli import addin
    from roomsync_web.cli import api_key, serve

    cli.add_command(serve)
    cli.add_command(api_key)
    cli.add_command(addin)


@hookimpl
def roomsync_config_problems(settings: Any) -> list[ConfigProblem]:
    from roomsync_web.config import web_config

    if not isinstance(settings, Settings) or not settings.web:
        return []
    try:
        web_config(settings)
    except ConfigError as exc:
        return list(exc.problems)
    return []

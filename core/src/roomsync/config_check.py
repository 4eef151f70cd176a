"""The whole configuration checked before anything runs, every problem at once.

:func:`roomsync.config.load_settings` checks the file against the core's models; this adds what
needs the installed plugins and the machine: that each environment's plugin is installed and its
options are valid, that every secret reference can be read, that the database URL names a
database roomsync can drive, and that the data directory can be created. A daemon started on a
configuration with any of these wrong would fail every cycle, so it is refused at start instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from roomsync.config import SecretRef, Settings
from roomsync.errors import ConfigError, ConfigProblem, DatabaseUnavailable, PluginNotInstalled
from roomsync.plugins import connector_class, extension_manager
from roomsync.storage.database import check_database_url


def configuration_problems(settings: Settings) -> list[ConfigProblem]:
    """Everything wrong in ``settings`` beyond the file's own validation; empty when all is well."""
    file = str(settings.source) if settings.source else None
    problems: list[ConfigProblem] = []
    checked: list[tuple[tuple[str, ...], BaseModel]] = [((), settings)]
    for name, environment in settings.environments.items():
        try:
            cls = connector_class(environment.plugin, name)
            checked.append(
                (("environments", name, "options"), cls.validated_options(name, environment.options))
            )
        except PluginNotInstalled as exc:
            problems.append(ConfigProblem(str(exc), key=f"environments.{name}.plugin", file=file))
        except ConfigError as exc:
            problems.extend(ConfigProblem(p.message, key=p.key, file=file) for p in exc.problems)
    for prefix, model in checked:
        for key, ref in _secret_references(model, prefix):
            try:
                ref.reveal()
            except ConfigError as exc:
                problems.append(ConfigProblem(str(exc), key=key, file=file))
    problems.extend(_database_problems(settings, file))
    for found in extension_manager().hook.roomsync_config_problems(settings=settings):
        problems.extend(found)
    return problems


def check_configuration(settings: Settings) -> None:
    """Raise a :class:`ConfigError` listing every problem of ``settings``."""
    problems = configuration_problems(settings)
    if problems:
        raise ConfigError(problems=problems)


def _secret_references(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, SecretRef]]:
    if isinstance(value, SecretRef):
        yield ".".join(path), value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_references(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_references(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secret_references(item, (*path, str(index)))


def _database_problems(settings: Settings, file: str | None) -> list[ConfigProblem]:
    if settings.database_url is None:
        return _data_dir_problems(settings.data_dir, file)
    try:
        url = settings.resolved_database_url()
    except ConfigError:
        return []  # an unreadable reference is reported with the other secrets
    try:
        check_database_url(url)
    except DatabaseUnavailable as exc:
        return [ConfigProblem(str(exc), key="database_url", file=file)]
    return []


def _data_dir_problems(data_dir: Path, file: str | None) -> list[ConfigProblem]:
    """The embedded database's directory exists or can be made; nothing is created here."""
    existing = data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == data_dir and not data_dir.is_dir():
        reason = "is not a directory"
    elif not existing.is_dir():
        reason = f"cannot be created: {existing} is not a directory"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = (
            "is not writable" if existing == data_dir else f"cannot be created: {existing} is not writable"
        )
    else:
        return []
    return [ConfigProblem(f"{data_dir} {reason}", key="data_dir", file=file)]

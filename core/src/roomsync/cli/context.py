"""What every command shares: the configuration, the database and the runner, opened lazily."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console, RenderableType

from roomsync.config import Settings, load_settings
from roomsync.config_check import check_configuration
from roomsync.engine.runner import SyncRunner
from roomsync.plugins import extension_manager
from roomsync.storage.database import Database


@dataclass
class AppContext:
    config_file: str
    as_json: bool = False
    _settings: Settings | None = None
    _database: Database | None = None
    _runner: SyncRunner | None = None
    _checked: bool = False
    console: Console = field(default_factory=Console)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(Path(self.config_file))
            extension_manager().hook.roomsync_configure(settings=self._settings)
        return self._settings

    def use_settings(self, settings: Settings) -> None:
        self._settings = settings
        self._checked = False
        extension_manager().hook.roomsync_configure(settings=settings)

    @property
    def checked_settings(self) -> Settings:
        """The settings with every environment's plugin and options checked: what a command
        that synchronises needs, so that it refuses a broken configuration before any cycle."""
        if not self._checked:
            check_configuration(self.settings)
            self._checked = True
        return self.settings

    def database(self, check: bool = True) -> Database:
        if self._database is None:
            self._database = Database(self.settings.resolved_database_url())
            if check:
                self._database.check_schema()
        return self._database

    @property
    def runner(self) -> SyncRunner:
        if self._runner is None:
            self._runner = SyncRunner(self.checked_settings, self.database())
        return self._runner

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        if self._database is not None:
            self._database.dispose()

    # --- output ----------------------------------------------------------------------------

    def emit(self, data: Any, table: RenderableType | None = None) -> None:
        """Print ``data`` as JSON with --json, otherwise the human form."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2, default=str))
        elif table is not None:
            self.console.print(table)


def app(ctx: click.Context) -> AppContext:
    obj = ctx.find_object(AppContext)
    assert obj is not None
    return obj


pass_app = click.make_pass_decorator(AppContext)

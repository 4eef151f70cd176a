"""Setting up: ``init``, ``config check``, ``db`` (status, upgrade, history, downgrade) and ``plugins``."""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.script import Script, ScriptDirectory
from rich.table import Table

from roomsync.cli.context import AppContext, pass_app
from roomsync.config import SAMPLE_CONFIG, load_settings
from roomsync.config_check import configuration_problems
from roomsync.errors import ConfigError, ConfigProblem, InvalidInput, RoomsyncError
from roomsync.plugins import installed_plugins, open_connector
from roomsync.storage.database import UPGRADE_HINT, alembic_config


@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
@pass_app
def init(app: AppContext, force: bool) -> None:
    """Create a commented configuration, the data directory and the database."""
    path = Path(app.config_file)
    kept = path.exists() and not force
    if not kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SAMPLE_CONFIG, encoding="utf-8")
    settings = load_settings(path)
    app.use_settings(settings)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"the data directory {settings.data_dir} cannot be created: {exc.strerror or type(exc).__name__}",
            file=str(path),
            key="data_dir",
        ) from None
    revision = app.database(check=False).upgrade()
    config_line = f"{path} exists; keeping it (use --force to overwrite)" if kept else f"wrote {path}"
    app.emit(
        {
            "config": str(path),
            "config_written": not kept,
            "data_dir": str(settings.data_dir),
            "revision": revision,
        },
        f"{config_line}\ndatabase ready at revision {revision} in {settings.data_dir}",
    )


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@pass_app
def upgrade(app: AppContext) -> None:
    """Bring the database to the current schema (any older revision)."""
    database = app.database(check=False)
    before = database.current_revision()
    if before == database.head_revision():
        app.emit(
            {"from": before, "to": before, "upgraded": False},
            f"database already current at revision {before}",
        )
        return
    after = database.upgrade()
    app.emit(
        {"from": before, "to": after, "upgraded": True},
        f"database upgraded from {before or 'empty'} to {after}",
    )


@db.command(name="status")
@pass_app
def db_status(app: AppContext) -> None:
    """Show the database's schema revision, the one this roomsync needs, and the installation
    (exit code 1 when the two revisions differ)."""
    database = app.database(check=False)
    data: dict[str, object] = {"current": database.current_revision(), "head": database.head_revision()}
    current = data["current"] == data["head"]
    data["up_to_date"] = current
    text = f"current {data['current'] or 'empty'}, needed {data['head']}"
    if current:
        installation = database.installation()
        data["installation"] = installation.id
        data["bare_stamps"] = installation.bare_stamps
        text += f"\ninstallation {installation.id}"
        if installation.bare_stamps:
            text += " (also owns entries stamped before stamps named their installation)"
    elif data["current"] is None or data["current"] in {script.revision for script in _revisions()}:
        text += f"; {UPGRADE_HINT}"
    else:
        text += "; the database is newer than this roomsync: install the roomsync that wrote it"
    app.emit(data, text)
    if not current:
        raise click.exceptions.Exit(1)


def _revisions() -> list[Script]:
    """The packaged schema revisions, newest first."""
    return list(ScriptDirectory.from_config(alembic_config()).walk_revisions())


def _description(script: Script) -> str:
    """The first paragraph of the revision's docstring, on one line."""
    return " ".join((script.doc or "").strip().split("\n\n")[0].split())


@db.command(name="history")
@pass_app
def db_history(app: AppContext) -> None:
    """The schema revisions this roomsync knows, newest first; the database's is marked."""
    current = app.database(check=False).current_revision()
    rows = [
        {
            "revision": script.revision,
            "down_revision": script.down_revision,
            "description": _description(script),
            "head": script.is_head,
            "current": script.revision == current,
        }
        for script in _revisions()
    ]
    table = Table("", "revision", "description", title="Schema revisions (newest first)")
    for row in rows:
        mark = "[green]*[/green]" if row["current"] else ""
        table.add_row(mark, str(row["revision"]), str(row["description"]))
    if current is None:
        table.caption = "* the database's revision: none yet (roomsync db upgrade)"
    else:
        table.caption = f"* the database's revision ({current})"
    app.emit(rows, table)


@db.command(name="downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def db_downgrade(app: AppContext, revision: str, yes: bool) -> None:
    """Take the database's schema back to REVISION (see 'roomsync db history'), e.g. to run an
    older roomsync; what the later revisions added is dropped. This roomsync works on the
    database again after 'roomsync db upgrade'."""
    known = [script.revision for script in _revisions()]
    if revision not in known:
        raise InvalidInput(f"no schema revision {revision}; the revisions are {', '.join(reversed(known))}")
    database = app.database(check=False)
    current = database.current_revision()
    if current is None or current not in known:
        raise InvalidInput(
            f"the database is at revision {current or 'none'}, which this roomsync cannot downgrade"
        )
    if known.index(revision) <= known.index(current):
        raise InvalidInput(f"the database is at revision {current}, not newer than {revision}: nothing to do")
    if not yes:
        if app.as_json:
            raise click.UsageError("with --json, give --yes: there is no one to confirm")
        dropped = ", ".join(reversed(known[known.index(current) : known.index(revision)]))
        click.confirm(
            f"Downgrade the database from {current} to {revision}, undoing {dropped}?", abort=True, err=True
        )
    with database.migrating() as connection:
        command.downgrade(alembic_config(connection), revision)
    after = database.current_revision()
    app.emit(
        {"from": current, "to": after, "head": database.head_revision()},
        f"database downgraded from {current} to {after}; this roomsync needs "
        f"{database.head_revision()} again ({UPGRADE_HINT})",
    )


@db.command(name="new-identity")
@click.option("--force", is_flag=True, help="Also when entries are linked: forget the links and write anew.")
@pass_app
def db_new_identity(app: AppContext, force: bool) -> None:
    """Give this database (a restored copy) an installation identity of its own."""
    database = app.database()
    before = database.installation().id
    after = database.new_identity(force=force)
    app.emit(
        {"from": before, "to": after.id},
        f"installation {before} is now {after.id}; entries stamped {before} belong to the original",
    )


@click.group(name="config")
def config_group() -> None:
    """The configuration file."""


def _problem_rows(problems: list[ConfigProblem]) -> list[dict[str, str | None]]:
    return [{"file": p.file, "key": p.key, "message": p.message} for p in problems]


@config_group.command(name="check")
@pass_app
def config_check(app: AppContext) -> None:
    """Check the whole configuration, every environment's plugin options included; list every
    problem with its file and key (exit code 1 if there is any)."""
    try:
        problems = configuration_problems(app.settings)
    except ConfigError as exc:  # the file itself: not readable, not TOML or not valid
        problems = exc.problems
    if app.as_json:
        app.emit({"ok": not problems, "problems": _problem_rows(problems)})
    elif not problems:
        click.echo(f"{app.config_file}: configuration OK")
    else:
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} found", err=True)
    if problems:
        raise click.exceptions.Exit(1)


@click.command()
@pass_app
def plugins(app: AppContext) -> None:
    """Installed plugins, and the capabilities of each configured environment's connector
    (exit code 1 if the configuration has problems)."""
    installed = [
        {"name": p.name, "kind": p.kind, "distribution": p.distribution, "version": p.version}
        for p in installed_plugins()
    ]
    environments = []
    problems: list[ConfigProblem] = []
    if Path(app.config_file).exists():
        try:
            settings = app.settings
            problems = configuration_problems(settings)
        except ConfigError as exc:
            problems = exc.problems
        else:
            environments = [_environment_row(app, name, problems) for name in settings.environments]
    table = Table("plugin", "kind", "distribution", "version", title="Installed plugins")
    for item in installed:
        table.add_row(*(str(item[k]) for k in ("name", "kind", "distribution", "version")))
    app.emit(
        {"installed": installed, "environments": environments, "problems": _problem_rows(problems)}, table
    )
    if not app.as_json and environments:
        envs = Table("environment", "plugin", "capabilities", title="Configured environments")
        for row in environments:
            caps = row.get("capabilities")
            text = (
                ", ".join(f"{k}={v}" for k, v in caps.items() if k != "notes")
                if isinstance(caps, dict)
                else f"[red]{row.get('error')}[/red]"
            )
            envs.add_row(str(row["environment"]), str(row["plugin"]), text)
        app.console.print(envs)
    if problems:
        if not app.as_json:
            for problem in problems:
                click.echo(str(problem), err=True)
        raise InvalidInput(f"the configuration has {len(problems)} problems; see 'roomsync config check'")


def _environment_row(app: AppContext, name: str, problems: list[ConfigProblem]) -> dict[str, object]:
    env = app.settings.environments[name]
    row: dict[str, object] = {"environment": name, "plugin": env.plugin}
    own = [p.message for p in problems if (p.key or "").startswith(f"environments.{name}.")]
    if own:
        row["error"] = "; ".join(own)
        return row
    source = str(app.settings.source) if app.settings.source else None
    try:
        host = open_connector(name, env, source)
    except RoomsyncError as exc:
        row["error"] = str(exc)
        return row
    try:
        row["capabilities"] = host.capabilities().model_dump(mode="json")
    except RoomsyncError as exc:
        row["error"] = str(exc)
    finally:
        host.close()
    return row


def register(cli: click.Group) -> None:
    cli.add_command(init)
    cli.add_command(config_group)
    cli.add_command(db)
    cli.add_command(plugins)

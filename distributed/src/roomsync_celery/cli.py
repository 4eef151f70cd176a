"""``roomsync worker`` and ``roomsync scheduler``, added to the command line by the plugin."""

from __future__ import annotations

import logging
from typing import Any

import click

from roomsync.cli.context import AppContext, pass_app
from roomsync.cli.stopping import STOPS
from roomsync.cli.sync import banner
from roomsync.config import Settings
from roomsync.storage.database import Database
from roomsync_celery import runtime
from roomsync_celery.app import make_app, queues
from roomsync_celery.config import CeleryConfig, celery_config, shared_database_url, shown
from roomsync_celery.marks import Marks

log = logging.getLogger("roomsync.celery")
LEVELS = ["debug", "info", "warning", "error"]


def _prepared(app: AppContext) -> tuple[Settings, CeleryConfig, str]:
    """The checked settings, the ``[celery]`` table and the shared database, its schema checked."""
    settings = app.checked_settings
    config = celery_config(settings)
    url = shared_database_url(settings, config)
    if url.startswith("sqlite"):
        click.echo(
            "warning: SQLite (single_host = true): every worker and the scheduler must run on this "
            "host, and cycles wait for each other's writes; use PostgreSQL for more",
            err=True,
        )
    database = Database(url)
    try:
        database.check_schema()
        Marks(database.engine).ensure()
    finally:
        database.dispose()
    return settings, config, url


@click.command()
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1),
    help="Cycles this worker runs at once: processes (or threads); default: the CPUs.",
)
@click.option(
    "-Q",
    "--queues",
    "queue_names",
    help="Comma-separated queues to take cycles from (default: every environment's, roomsync.<name>).",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads", "solo"]),
    default="prefork",
    show_default=True,
    help="prefork: a process per cycle at once (CPU on every core); threads: one process.",
)
@click.option(
    "-l", "--loglevel", type=click.Choice(LEVELS), help="roomsync's log level (default: [logging] and -v)."
)
@click.option("-n", "--hostname", help="The worker's node name (default: celery@<host>).")
@pass_app
def worker(
    app: AppContext,
    concurrency: int | None,
    queue_names: str | None,
    pool: str,
    loglevel: str | None,
    hostname: str | None,
) -> None:
    """Run cycles from the broker ([celery] broker_url) until SIGTERM (a warm shutdown: the
    cycles in progress finish; a second SIGTERM or SIGQUIT ends them at once)."""
    from celery.signals import worker_process_shutdown, worker_ready

    settings, config, _ = _prepared(app)
    runtime.configure(settings, config)
    celery_app = make_app(settings, config)
    names = (
        [q.strip() for q in queue_names.split(",") if q.strip()] if queue_names else queues(settings, config)
    )
    if not names:
        raise click.UsageError("--queues names no queue")
    if loglevel:
        logging.getLogger().setLevel(loglevel.upper())
    broker = shown(config.broker())

    def ready(**_: Any) -> None:
        click.echo(f"roomsync worker ready: broker {broker}, queues {', '.join(names)}", err=True)

    def process_ends(**_: Any) -> None:
        runtime.current().close()

    worker_ready.connect(ready, weak=False)
    worker_process_shutdown.connect(process_ends, weak=False)
    # --quiet: no banner (ours is the ready line); the broker's password is never shown either way.
    argv = ["--quiet", "worker", f"--pool={pool}", f"--queues={','.join(names)}"]
    argv += ["--without-mingle", "--without-gossip", f"--loglevel={(loglevel or 'warning').upper()}"]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery_app.worker_main(argv)


@click.command()
@click.option(
    "--lease-seconds",
    type=click.FloatRange(min=0.5, max=3600),
    help="How long the lock outlives this scheduler (default: [celery] scheduler_lease_seconds).",
)
@pass_app
def scheduler(app: AppContext, lease_seconds: float | None) -> None:
    """Enqueue every mailbox's cycle each interval, and at once those a notification or a change
    in ROOMS woke; one scheduler at a time: another one stands by and takes over when it dies.
    SIGTERM or Ctrl-C stops it (and hands the lock to the one standing by)."""
    STOPS.catch()
    try:
        _scheduler(app, lease_seconds)
    finally:
        STOPS.release(redeliver=False)


def _scheduler(app: AppContext, lease_seconds: float | None) -> None:
    from roomsync.engine.runner import SyncRunner
    from roomsync_celery.scheduler import Scheduler

    STOPS.listen(lambda received: click.echo(f"scheduler stopping ({received.name})", err=True))
    settings, config, url = _prepared(app)
    if lease_seconds is not None:
        config = config.model_copy(update={"scheduler_lease_seconds": lease_seconds})
    celery_app = make_app(settings, config)
    database = Database(url)
    runner = SyncRunner(settings, database)

    def say(text: str) -> None:
        click.echo(text, err=True)

    def announce(environment: str, watching: bool, mailboxes: int) -> None:
        say(banner(environment, watching, mailboxes, settings.sync))

    try:
        active = Scheduler(settings, config, celery_app, database, runner, say, announce)
        active.run(STOPS.event)
    finally:
        runner.close()
        database.dispose()
    say(f"scheduler stopped after enqueueing {active.enqueued} cycles")

"""The Celery application of an installation: its broker, its queues, and how tasks are acknowledged.

Tasks are acknowledged only once they ran (``acks_late``) and put back when the worker process
running them dies (``reject_on_worker_lost``), so a cycle interrupted by a crash is run again by
another worker; the engine's crash safety (stamps, intents written before each write) makes that
second run create nothing twice. Each worker process takes one task at a time
(``prefetch_multiplier`` 1): a cycle waiting in a busy worker's buffer would wait for nothing.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging

from roomsync.config import Settings
from roomsync_celery.config import CeleryConfig

TASK_NAME = "roomsync.cycle"
DEFAULT_QUEUE = "roomsync"


def queue_of(config: CeleryConfig, environment: str | None) -> str:
    """The queue of an environment's cycles: ``roomsync.<environment>``, or one for all.

    A queue per environment keeps one environment's backlog (40,000 mailboxes of a tenant that
    was away) from delaying another's cycles: a worker takes from its queues in turn. And a
    worker can be given only the environments it is near (``roomsync worker -Q``).
    """
    if not config.queue_per_environment or not environment:
        return DEFAULT_QUEUE
    return f"{DEFAULT_QUEUE}.{environment}"


def queues(settings: Settings, config: CeleryConfig) -> list[str]:
    """Every queue of the installation: what a worker consumes unless told otherwise."""
    names = [DEFAULT_QUEUE]
    if config.queue_per_environment:
        names += [queue_of(config, environment) for environment in settings.environments]
    return names


@setup_logging.connect
def _keep_our_logging(**_: Any) -> None:
    """Celery leaves the logging alone when someone handles this signal: ours is configured."""


def make_app(settings: Settings, config: CeleryConfig) -> Celery:
    """The application with the ``roomsync.cycle`` task registered (:mod:`roomsync_celery.tasks`)."""
    from roomsync_celery.tasks import register

    backend = config.backend()
    app = Celery("roomsync", broker=config.broker(), backend=backend, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=backend is None,
        task_default_queue=DEFAULT_QUEUE,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # Redis hands an unacknowledged task to another worker after this long (a worker host
        # that died); RabbitMQ does at once when the connection drops.
        broker_transport_options={"visibility_timeout": config.visibility_timeout_seconds},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    register(app, config)
    return app

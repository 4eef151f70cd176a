"""The ``[celery]`` table of ``roomsync.toml``: the broker, and how workers and scheduler share work.

::

    [celery]
    broker_url = { env = "ROOMSYNC_BROKER_URL" }   # redis://... or amqp://...; a reference when
                                                   # it holds a password (never logged)
    result_backend = "redis://127.0.0.1:6379/1"    # optional: the tasks' results are not needed
    queue_per_environment = true                   # a queue "roomsync.<environment>" each
    scheduler_lease_seconds = 30                   # a standby scheduler takes over this late
    queued_marker_seconds = 900                    # a mailbox's queued task blocks new ones this long
    visibility_timeout_seconds = 3600              # Redis: an unacknowledged task is sent again
    single_host = false                            # true: allow SQLite (every process on one host)
    [celery.environment_concurrency]               # cycles of an environment at once, all workers
    onprem = 10

The database is the one of the configuration (``database_url``): PostgreSQL, shared by every
worker host. SQLite is refused unless ``single_host = true``: a SQLite file cannot be shared
between machines, and even on one host its single writer makes the workers wait for each other.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url

from roomsync.config import SecretRef, Settings, problems_from
from roomsync.errors import ConfigError, ConfigProblem

BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")
"""Brokers supported and tested: Redis and RabbitMQ (AMQP 0.9.1)."""


def _url_or_reference(value: Any) -> Any:
    if isinstance(value, dict):
        try:
            return SecretRef.model_validate(value)
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    if value is not None and not isinstance(value, str):
        raise ValueError('must be a URL string or a reference such as { env = "ROOMSYNC_BROKER_URL" }')
    return value


class CeleryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    broker_url: str | SecretRef = "redis://127.0.0.1:6379/0"
    result_backend: str | SecretRef | None = None
    queue_per_environment: bool = True
    scheduler_lease_seconds: float = Field(default=30, gt=0, le=3600)
    queued_marker_seconds: float = Field(default=900, gt=0)
    visibility_timeout_seconds: float = Field(default=3600, gt=0)
    single_host: bool = False
    environment_concurrency: dict[str, int] = Field(default_factory=dict)
    task_retries: int = Field(default=5, ge=0, le=100)
    """A task whose cycle raised (the database away, say) is tried again this often, backing off."""

    _refs = field_validator("broker_url", "result_backend", mode="before")(_url_or_reference)

    @field_validator("environment_concurrency")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        for environment, limit in value.items():
            if limit < 1:
                raise ValueError(f"{environment}: must be at least 1, not {limit}")
        return value

    def broker(self) -> str:
        """The broker URL, read from its reference if it is one (never log it: :func:`shown`)."""
        return _reveal(self.broker_url)

    def backend(self) -> str | None:
        return _reveal(self.result_backend) if self.result_backend is not None else None


def _reveal(value: str | SecretRef) -> str:
    return value.reveal().get_secret_value() if isinstance(value, SecretRef) else value


def shown(url: str) -> str:
    """A broker or backend URL as it may be shown: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an URL SQLAlchemy reads: show only its scheme
        return url.split(":", 1)[0] + "://…"


def _scheme(value: str | SecretRef) -> str | None:
    return value.split(":", 1)[0].lower() if isinstance(value, str) else None


def celery_config(settings: Settings) -> CeleryConfig:
    """The checked ``[celery]`` table; a :class:`ConfigError` names each wrong key."""
    file = str(settings.source) if settings.source else None
    try:
        config = CeleryConfig.model_validate(settings.celery)
    except ValidationError as exc:
        raise ConfigError(problems=problems_from(exc, file, ("celery",))) from None
    problems = []
    for key in ("broker_url", "result_backend"):
        value = getattr(config, key)
        scheme = _scheme(value) if value is not None else None
        if scheme is not None and scheme not in BROKER_SCHEMES:
            problems.append(
                ConfigProblem(
                    f"{scheme!r} is not a supported scheme; use redis:// or amqp:// (RabbitMQ)",
                    key=f"celery.{key}",
                    file=file,
                )
            )
    unknown = sorted(set(config.environment_concurrency) - set(settings.environments))
    if unknown:
        problems.append(
            ConfigProblem(
                f"names environments that are not configured: {', '.join(unknown)}",
                key="celery.environment_concurrency",
                file=file,
            )
        )
    if problems:
        raise ConfigError(problems=problems)
    return config


def shared_database_url(settings: Settings, config: CeleryConfig) -> str:
    """The database every worker and the scheduler share; SQLite only with ``single_host``."""
    url = settings.resolved_database_url()
    if url.startswith("sqlite") and not config.single_host:
        raise ConfigError(
            "workers on several hosts need a database they share: set database_url to PostgreSQL "
            "(postgresql+psycopg://...), or set [celery] single_host = true when every worker and "
            "the scheduler run on this one host (SQLite has one writer at a time)",
            file=str(settings.source) if settings.source else None,
            key="database_url",
        )
    return url

"""Per environment, in a few aggregate queries: persons, failing persons, pending writes, and
the newest cycle. What health checks, metrics and overview pages read on every request, so it
never reads person by person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from roomsync.storage.models import LinkRow, MailboxStateRow, PersonRow
from roomsync.storage.protocols import AT_REST


@dataclass
class EnvironmentFigures:
    environment: str | None
    persons: int = 0
    failing: int = 0
    pending: int = 0
    last_attempt: datetime | None = None
    last_success: datetime | None = None


def environment_figures(engine: Engine) -> dict[str | None, EnvironmentFigures]:
    """Keyed by environment name; ``None`` holds the persons assigned to none."""
    figures: dict[str | None, EnvironmentFigures] = {}

    def of(environment: str | None) -> EnvironmentFigures:
        return figures.setdefault(environment, EnvironmentFigures(environment))

    with Session(engine) as session:
        for environment, count in session.execute(
            select(PersonRow.environment, func.count()).group_by(PersonRow.environment)
        ):
            of(environment).persons = count
        states = session.execute(
            select(
                PersonRow.environment,
                func.sum(case((MailboxStateRow.consecutive_failures > 0, 1), else_=0)),
                func.max(MailboxStateRow.last_attempt),
                func.max(MailboxStateRow.last_success),
            )
            .join(MailboxStateRow, MailboxStateRow.mailbox == PersonRow.email)
            .group_by(PersonRow.environment)
        )
        for environment, failing, last_attempt, last_success in states:
            entry = of(environment)
            entry.failing = int(failing or 0)
            entry.last_attempt, entry.last_success = last_attempt, last_success
        pending = session.execute(
            select(PersonRow.environment, func.count())
            .join(LinkRow, LinkRow.mailbox == PersonRow.email)
            .where(LinkRow.state.not_in(AT_REST))
            .group_by(PersonRow.environment)
        )
        for environment, count in pending:
            of(environment).pending = count
    return figures

"""The sync test's shared parts: the probe entry and the running of steps in order."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from roomsync.connector.types import CheckStep, EntryDraft
from roomsync.domain import EventFields, ShowAs

PROBE_PREFIX = "roomsync-probe-"


def probe_draft(now: datetime) -> EntryDraft:
    """The entry a sync test writes and removes: tomorrow, five minutes, free, no reminder."""
    start = now.replace(second=0, microsecond=0) + timedelta(days=1)
    return EntryDraft(
        stamp=f"{PROBE_PREFIX}{uuid.uuid4().hex}",
        fields=EventFields(
            title="roomsync probe (safe to delete)",
            start=start,
            end=start + timedelta(minutes=5),
            reminder_minutes=None,
            show_as=ShowAs.FREE,
        ),
    )


NOT_TRIED = "not tried"
"""How the detail of a step that was not tried starts, so a report can tell it from a failure."""


def run_check(connect: Callable[[], str], steps: Sequence[tuple[str, Callable[[], str]]]) -> list[CheckStep]:
    """The sync test's steps in order, each ok with its detail or failed with the reason.

    Nothing is tried after a failed ``connect`` (every later step would fail for the same reason
    and bury it); the check reports every failure, it never raises.
    """

    def run(name: str, action: Callable[[], str]) -> CheckStep:
        try:
            return CheckStep(name=name, ok=True, detail=action())
        except Exception as exc:
            return CheckStep(name=name, ok=False, detail=str(exc) or type(exc).__name__)

    first = run("connect", connect)
    if not first.ok:
        return [first] + [
            CheckStep(name=name, ok=False, detail=f"{NOT_TRIED}: the connect step failed")
            for name, _ in steps
        ]
    return [first] + [run(name, action) for name, action in steps]

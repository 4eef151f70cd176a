"""The one task: a mailbox's cycle, run by the worker process's runner.

``roomsync.cycle(mailbox, kind, reason)``; ``kind`` is ``person`` or ``room``, ``reason``
``interval`` (the scheduler's round) or ``wake`` (a notification or a change in ROOMS).

The task first deletes its mailbox's ``queued`` mark (:mod:`roomsync_celery.marks`): from then on
a new change enqueues a new task, which the cycle about to start may not see. The cycle holds
the mailbox's lease; when another worker's cycle of the mailbox holds it, the task is put back
with a short delay (:data:`BUSY_RETRY_SECONDS`) and takes the mailbox's mark again: the cycle in
progress may have read the mailbox before the change or round the task is for, so it runs after
it. When a newer task of the mailbox already waits (its mark is taken), this one ends: that task
runs after the cycle in progress as well. So no change is left for the next interval, and no
mailbox has two tasks waiting.

A failing cycle is recorded by the runner (failures in a row, mails) and is not an error of the
task; an exception out of the runner (the database unreachable, say) is, and the task is tried
again with growing pauses.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import Celery, Task

from roomsync.domain import Person, Room
from roomsync.engine.report import CycleReport
from roomsync_celery import runtime
from roomsync_celery.app import TASK_NAME
from roomsync_celery.config import CeleryConfig
from roomsync_celery.marks import QUEUED

log = logging.getLogger("roomsync.celery")
BUSY_RETRY_SECONDS = 1.0
BUSY_RETRIES = 600  # a task waits for another runner's cycle of its mailbox this many times at most
LEASED_ELSEWHERE = "in a cycle of another runner"  # how the runner says why it skipped


def register(app: Celery, config: CeleryConfig) -> Task:
    @app.task(
        name=TASK_NAME,
        shared=False,  # this application's own: a process may hold several (tests)
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(Exception,),
        dont_autoretry_for=(),
        retry_backoff=True,
        retry_backoff_max=300,
        max_retries=config.task_retries,
    )
    def cycle(self: Task, mailbox: str, kind: str = "person", reason: str = "interval") -> dict[str, Any]:
        report = run_cycle(mailbox, kind, self.request.id, reason)
        if report is None:
            return {"mailbox": mailbox, "skipped": "not synchronised"}
        if report.skipped and report.skipped.startswith(LEASED_ELSEWHERE):
            # The cycle in progress may have read the mailbox before what this task is for: run
            # after it, unless a newer task of the mailbox waits already (it runs after it too).
            current = runtime.current()
            marks = current.marks()
            if self.request.retries >= BUSY_RETRIES:  # held that long: the next round's task
                log.warning(
                    "cycle of %s given up: its lease stayed taken", mailbox, extra={"mailbox": mailbox}
                )
            elif marks.claim(
                [QUEUED + mailbox], f"task:{self.request.id}", current.config.queued_marker_seconds
            ):
                raise self.retry(countdown=BUSY_RETRY_SECONDS, max_retries=BUSY_RETRIES, exc=None)
        return dict(report.as_dict())

    return cycle


def run_cycle(
    mailbox: str, kind: str, task_id: str | None = None, reason: str | None = None
) -> CycleReport | None:
    """The mailbox's cycle by this process's runner; None when it is no longer synchronised."""
    current = runtime.current()
    current.marks().release(QUEUED + mailbox)
    runner = current.runner()
    started = time.time()
    subject: Person | Room | None
    with current.database().unit_of_work() as uow:
        subject = uow.rooms.room_by_mailbox(mailbox) if kind == "room" else uow.rooms.get_person(mailbox)
    if isinstance(subject, Room):
        report = runner.sync_room(subject) if subject.active else None
    elif isinstance(subject, Person) and subject.environment and subject.sync_enabled:
        report = runner.sync_person(subject)
    else:
        report = None
    finished = time.time()
    log.info(
        "task cycle of %s: %s",
        mailbox,
        report.summary() if report is not None else "not synchronised",
        extra={
            "mailbox": mailbox,
            "kind": kind,
            "reason": reason,
            "task_id": task_id,
            "pid": os.getpid(),
            "task_started": started,
            "task_finished": finished,
            "skipped": report.skipped if report is not None else "not synchronised",
            "ok": report.ok if report is not None else True,
            "cycle_started": report.started.isoformat() if report is not None else None,
            "cycle_finished": report.finished.isoformat() if report is not None and report.finished else None,
            "entries_created": report.created if report is not None else 0,
        },
    )
    return report

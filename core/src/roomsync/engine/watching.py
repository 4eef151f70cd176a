"""Which environments watch which persons' mailboxes for the runner.

The runner hands every full cycle's persons to :meth:`Watches.update`; an environment is asked
(again) only when the set of its persons changed, and only if its connector declares ``push``. A
connector that cannot watch, or fails to, leaves its persons to polling: watching only ever makes
the runner faster, never less complete. A paused person's mailbox is not watched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from roomsync.connector.base import Wake
from roomsync.connector.host import ConnectorHost
from roomsync.domain import Person

log = logging.getLogger("roomsync.runner")

Announce = Callable[[str, bool, int], None]
"""Told (environment, watching, mailboxes) whenever an environment's watch changes."""


class Watches:
    def __init__(
        self,
        host: Callable[[str], ConnectorHost],
        wake_for: Callable[[str], Wake],
        announce: Announce | None = None,
    ) -> None:
        self._host = host
        self._wake_for = wake_for
        self._announce = announce
        self._asked: dict[str, frozenset[str]] = {}
        self._errors: dict[str, str] = {}
        self.watching: dict[str, int] = {}
        """Environments whose connector watches, with the number of mailboxes watched."""

    def update(self, persons: Sequence[Person], rooms: Sequence[tuple[str, str]] = ()) -> None:
        """Watch these persons' mailboxes and the rooms' (``(environment, mailbox)`` pairs)."""
        wanted: dict[str, set[str]] = {}
        for person in persons:
            if person.environment and person.sync_enabled and person.paused_at is None:
                wanted.setdefault(person.environment, set()).add(person.email)
        for environment, mailbox in rooms:
            wanted.setdefault(environment, set()).add(mailbox)
        for environment in sorted(set(wanted) | set(self._asked)):
            mailboxes = frozenset(wanted.get(environment, ()))
            if self._asked.get(environment) != mailboxes:
                self._ask(environment, mailboxes)

    def stop(self) -> None:
        """Stop every watch this runner started (best effort: closing the connectors stops them too)."""
        for environment in list(self.watching):
            try:
                self._host(environment).watch([], lambda mailboxes: None)
            except Exception as exc:
                log.warning("stopping the watch of environment %s failed: %s", environment, exc)
        self.watching.clear()
        self._asked.clear()

    def _ask(self, environment: str, mailboxes: frozenset[str]) -> None:
        try:
            host = self._host(environment)
            if not host.capabilities().push:
                watching = False
            elif mailboxes or environment in self.watching:
                watching = host.watch(sorted(mailboxes), self._wake_for(environment))
            else:
                watching = False
        except Exception as exc:  # an environment that cannot watch is polled
            self._asked.pop(environment, None)  # asked again at the next full cycle
            self.watching.pop(environment, None)
            if self._errors.get(environment) != str(exc):
                self._errors[environment] = str(exc)
                log.warning(
                    "environment %s cannot watch for changes, its persons are polled: %s",
                    environment,
                    exc,
                    extra={"environment": environment},
                )
            return
        self._errors.pop(environment, None)
        first = environment not in self._asked
        self._asked[environment] = mailboxes
        was = self.watching.get(environment)
        if watching and mailboxes:
            self.watching[environment] = len(mailboxes)
        else:
            self.watching.pop(environment, None)
        if first or was != self.watching.get(environment):
            log.info(
                "environment %s %s",
                environment,
                f"watches {len(mailboxes)} mailboxes for changes" if watching else "is polled",
                extra={"environment": environment, "watching": watching, "mailboxes": len(mailboxes)},
            )
            if self._announce is not None:
                self._announce(environment, bool(watching and mailboxes), len(mailboxes))

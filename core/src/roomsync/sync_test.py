"""The sync test of one person, as ROOMS's administrators know it: is everything in place?

Assigned to an environment, its plugin installed, then the connector's own steps (connect, read,
write, free/busy, change detection). ``roomsync test`` and the web service both run it.
"""

from __future__ import annotations

from roomsync.connector.types import CheckStep
from roomsync.engine.runner import SyncRunner
from roomsync.errors import NotFound, RoomsyncError
from roomsync.plugins import installed_plugins


def sync_test(runner: SyncRunner, email: str) -> list[CheckStep]:
    """Every step, in order; a step after a failed one says it was not tried. A room's mailbox
    gets the room's test (:mod:`roomsync.room_test`)."""
    with runner.database.unit_of_work() as uow:
        person = uow.rooms.get_person(email.strip().lower())
        room = uow.rooms.room_by_mailbox(email) if person is None else None
    if room is not None:
        from roomsync.room_test import room_test  # it builds on this module's steps

        return room_test(runner, room)
    if person is None:
        raise NotFound(f"unknown person {email}; nor is it the mailbox of a room")
    steps = [
        CheckStep(
            name="assigned",
            ok=bool(person.environment),
            detail=f"environment {person.environment}"
            if person.environment
            else f"no environment; run 'roomsync persons set {person.email} --environment NAME'",
        )
    ]
    if not person.environment:
        return steps
    try:
        host = runner.host_for_person(person)
        steps.append(CheckStep(name="plugin", ok=True, detail=plugin_text(runner, host.environment)))
        steps.extend(host.check(person.email))
    except RoomsyncError as exc:
        steps.append(CheckStep(name="plugin", ok=False, detail=str(exc)))
    return steps


def plugin_text(runner: SyncRunner, environment: str) -> str:
    """The environment's connector plugin and the distribution that ships it."""
    plugin = runner.settings.environments[environment].plugin
    found = next((p for p in installed_plugins() if p.kind == "connector" and p.name == plugin), None)
    return f"{plugin} ({found.distribution} {found.version})" if found else plugin

"""A failing person: the organizer hears it plainly, the administrators hear why, each once."""

from __future__ import annotations

from roomsync.domain import Language
from roomsync.engine.runner import NOTIFY_AFTER_FAILURES
from roomsync.errors import ConnectorError, Fault
from roomsync.notify.message import Audience, NotificationKind

from .conftest import ALICE, BOB, World

LOGON_REFUSED = (
    "the server at https://mail.example.org/EWS/Exchange.asmx refused the logon of svc@example.org"
)


def refuse_logons(world: World, cycles: int, persons: int = 2) -> None:
    for _ in range(cycles * persons):
        world.exchange.fail_next("changes", ConnectorError(LOGON_REFUSED, fault=Fault.CREDENTIALS))
    for _ in range(cycles):
        assert not any(r.ok for r in world.sync(ALICE, BOB))


def faults(world: World) -> list[dict[str, str | int]]:
    return [n.facts for n in world.notes.sent if n.kind is NotificationKind.FAULT]


def test_the_administrators_hear_the_detail_and_the_organizer_plain_words(world: World) -> None:
    world.exchange.deny(BOB)
    for _ in range(NOTIFY_AFTER_FAILURES - 1):
        world.sync(BOB)
    assert world.notes.sent == []

    for _ in range(3):
        world.sync(BOB)

    [told, fault] = world.notes.sent
    assert told.kind is NotificationKind.FAILURE and told.recipient == BOB
    assert told.facts == {"failures": NOTIFY_AFTER_FAILURES}  # nothing of the error
    assert fault.audience is Audience.ADMINISTRATORS and fault.recipient is None
    assert fault.facts["fault"] == "permission"
    assert fault.facts["person"] == BOB and fault.facts["environment"] == "ref"
    assert BOB in str(fault.facts["detail"]) and "impersonation" in str(fault.facts["detail"])
    assert "stops every person" not in fault.body  # one mailbox's right: told for each person


def test_a_fault_of_the_whole_environment_is_told_once_until_it_works_again(world: World) -> None:
    refuse_logons(world, NOTIFY_AFTER_FAILURES)

    assert [n.recipient for n in world.notes.sent if n.kind is NotificationKind.FAILURE] == [ALICE, BOB]
    [fault] = faults(world)
    assert fault["fault"] == "credentials" and fault["person"] == ALICE
    assert fault["detail"] == LOGON_REFUSED

    world.sync_ok(ALICE, BOB)  # fixed: the next time it breaks is news again
    refuse_logons(world, NOTIFY_AFTER_FAILURES)
    assert len(faults(world)) == 2


def test_a_fault_of_one_mailbox_is_told_for_each_person(world: World) -> None:
    world.exchange.deny(ALICE)
    world.exchange.deny(BOB)
    for _ in range(NOTIFY_AFTER_FAILURES):
        world.sync(ALICE, BOB)

    assert [(f["fault"], f["person"]) for f in faults(world)] == [("permission", ALICE), ("permission", BOB)]


def test_the_organizer_hears_of_the_failure_in_their_language(world: World) -> None:
    world.set_person(BOB, language=Language.IT)
    world.exchange.deny(BOB)
    for _ in range(NOTIFY_AFTER_FAILURES):
        world.sync(BOB)

    [told, fault] = world.notes.sent
    assert told.kind is NotificationKind.FAILURE and told.language is Language.IT
    assert fault.language is None  # the administrators': the configured default

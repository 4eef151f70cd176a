"""Repair policies on their own: what each decides for every kind of difference, and the rules
no policy breaks (nothing deleted automatically, a missing entry re-created only for an active
reservation still to come), checked over generated differences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from roomsync.connector.types import CalendarEntry
from roomsync.domain import EventFields, Reservation, ReservationStatus
from roomsync.engine.difference_advice import advise
from roomsync.engine.differences import Difference, DifferenceKind, Resolution
from roomsync.engine.merge import snapshot
from roomsync.engine.repair import decide
from roomsync.repair_settings import RepairPolicy, RepairRule
from roomsync.storage.protocols import Link

NOW = datetime(2030, 5, 6, 8, tzinfo=UTC)
ALICE = "alice@example.org"


def _fields(title: str, hours_from_now: int) -> EventFields:
    start = NOW + timedelta(hours=hours_from_now)
    return EventFields(title=title, start=start, end=start + timedelta(hours=1), timezone="Europe/Zurich")


@st.composite
def differences(draw: st.DrawFn) -> Difference:
    kind = draw(st.sampled_from(list(DifferenceKind)))
    hours = draw(st.sampled_from([-48, 2, 48]))
    base = _fields("Base", hours)
    status = draw(st.sampled_from(list(ReservationStatus)))
    ours = draw(st.sampled_from(["Base", "ROOMS title"]))
    theirs = draw(st.sampled_from(["Base", "Exchange title"]))
    reservation = Reservation(
        id="7", fields=base.model_copy(update={"title": ours}), organizer=ALICE, status=status, version=3
    )
    entry = CalendarEntry(
        item_id="AAMk1",
        mailbox=ALICE,
        organizer=ALICE,
        stamp="7",
        fields=base.model_copy(update={"title": theirs}),
        modified=draw(st.sampled_from([None, NOW - timedelta(hours=1), NOW + timedelta(hours=1)])),
    )
    written = draw(st.booleans())
    link = Link(
        "7",
        ALICE,
        "AAMk1" if written else None,
        rooms_snapshot=snapshot(base),
        exchange_snapshot=snapshot(base),
    )
    d = Difference(
        kind,
        ALICE,
        ours,
        reservation_id="7",
        item_id=None if kind is DifferenceKind.MISSING_IN_EXCHANGE else "AAMk1",
        keys=["title"] if kind is DifferenceKind.FIELDS_DIFFER else [],
        rooms=reservation if kind is not DifferenceKind.ANOTHER_INSTALLATION else None,
        entry=None if kind is DifferenceKind.MISSING_IN_EXCHANGE else entry,
        owner="other" if kind is DifferenceKind.ANOTHER_INSTALLATION else None,
        link=link if draw(st.booleans()) else None,
        rooms_changed_at=draw(st.sampled_from([None, NOW - timedelta(hours=2), NOW])),
        holder="9" if kind is DifferenceKind.ROOM_COLLISION else None,
    )
    d.advice = advise(d, NOW)
    return d


rules = st.builds(
    RepairRule,
    policy=st.sampled_from(list(RepairPolicy)),
    kinds=st.dictionaries(
        st.sampled_from([k.value for k in DifferenceKind]), st.sampled_from(list(RepairPolicy))
    ),
)


@given(differences(), rules)
def test_no_policy_deletes_or_acts_where_it_must_only_report(d: Difference, rule: RepairRule) -> None:
    decision = decide(rule, d, NOW)
    if decision.resolution is None:
        assert decision.why
        return
    assert decision.policy is not RepairPolicy.REPORT
    assert d.kind in (DifferenceKind.FIELDS_DIFFER, DifferenceKind.MISSING_IN_EXCHANGE)
    assert d.rooms is not None and d.rooms.active
    if d.kind is DifferenceKind.MISSING_IN_EXCHANGE:
        # re-created, never taken as a cancellation, and only while still to come
        assert decision.resolution is Resolution.USE_ROOMS
        assert d.rooms.fields.end > NOW


@given(differences(), rules)
def test_the_kind_exception_decides_over_the_rule(d: Difference, rule: RepairRule) -> None:
    assert decide(rule, d, NOW).policy is rule.kinds.get(d.kind.value, rule.policy)


def _changed(ours: str, theirs: str, rooms_at: datetime | None, modified: datetime | None) -> Difference:
    base = _fields("Base", 24)
    d = Difference(
        DifferenceKind.FIELDS_DIFFER,
        ALICE,
        ours,
        "7",
        "AAMk1",
        ["title"],
        Reservation(id="7", fields=base.model_copy(update={"title": ours}), organizer=ALICE),
        CalendarEntry(
            item_id="AAMk1",
            mailbox=ALICE,
            organizer=ALICE,
            fields=base.model_copy(update={"title": theirs}),
            modified=modified,
        ),
        link=Link("7", ALICE, "AAMk1", rooms_snapshot=snapshot(base), exchange_snapshot=snapshot(base)),
        rooms_changed_at=rooms_at,
    )
    d.advice = advise(d, NOW)
    return d


def test_newer_wins_takes_the_side_that_changed_last() -> None:
    newer_wins = RepairRule(policy=RepairPolicy.NEWER_WINS)
    earlier, later = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    cases = {
        ("ROOMS title", "Base", None, None): ("rooms", Resolution.USE_ROOMS),
        ("Base", "Exchange title", None, None): ("exchange", Resolution.USE_EXCHANGE),
        ("ROOMS title", "Exchange title", earlier, later): ("both", Resolution.USE_EXCHANGE),
        ("ROOMS title", "Exchange title", later, earlier): ("both", Resolution.USE_ROOMS),
        ("ROOMS title", "Exchange title", later, None): ("both", None),
    }
    for (ours, theirs, rooms_at, modified), (side, resolution) in cases.items():
        d = _changed(ours, theirs, rooms_at, modified)
        assert d.advice.changed_last == side, (ours, theirs)
        assert decide(newer_wins, d, NOW).resolution is resolution, (ours, theirs, rooms_at, modified)


def test_rules_come_from_the_person_then_the_environment_then_the_table() -> None:
    from roomsync.repair_settings import RepairConfig

    config = RepairConfig.model_validate(
        {
            "policy": "newer-wins",
            "persons": {"CEO@example.org": "report"},
            "kinds": {"fields-differ": "rooms-wins"},
        }
    )
    environment = RepairRule(policy=RepairPolicy.EXCHANGE_WINS)
    assert config.rule("ceo@example.org", environment).policy is RepairPolicy.REPORT
    assert config.rule(ALICE, environment).policy is RepairPolicy.EXCHANGE_WINS
    table = config.rule(ALICE, None)
    assert (table.policy, table.for_kind("fields-differ")) == (
        RepairPolicy.NEWER_WINS,
        RepairPolicy.ROOMS_WINS,
    )


def test_the_sample_configuration_shows_a_repair_table_that_parses() -> None:
    import tomllib

    from roomsync.config import SAMPLE_CONFIG, Settings

    block = SAMPLE_CONFIG[SAMPLE_CONFIG.index("# [repair]") :].split("\n\n")[0]
    text = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    repair = Settings.model_validate(tomllib.loads(text)).repair
    assert repair.scan_every_hours == 6 and repair.rule("ceo@example.org", None).policy is RepairPolicy.REPORT

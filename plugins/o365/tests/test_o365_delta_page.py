"""How an event reported ``@removed`` but still found is told apart: deleted or changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from roomsync_o365.delta import entry_id, left_calendar

WINDOW = (datetime(2030, 5, 1, tzinfo=UTC), datetime(2030, 6, 1, tzinfo=UTC))


def event(kind: str, start: str = "2030-05-06T07:00:00", end: str = "2030-05-06T08:00:00") -> dict[str, Any]:
    return {
        "id": "AAMk-1",
        "type": kind,
        "seriesMasterId": "AAMk-master" if kind in ("occurrence", "exception") else None,
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
    }


def test_a_single_event_inside_the_window_left_the_calendar() -> None:
    assert left_calendar(event("singleInstance"), WINDOW)


@pytest.mark.parametrize("kind", ["occurrence", "exception", "seriesMaster"])
def test_occurrences_exceptions_and_masters_changed_instead(kind: str) -> None:
    assert not left_calendar(event(kind), WINDOW)


def test_a_single_event_outside_the_window_or_without_times_changed() -> None:
    assert not left_calendar(event("singleInstance", "2030-07-01T07:00:00", "2030-07-01T08:00:00"), WINDOW)
    assert not left_calendar(event("singleInstance", "2030-06-01T00:00:00", "2030-06-01T01:00:00"), WINDOW)
    assert not left_calendar({"id": "AAMk-1", "type": "singleInstance"}, WINDOW)


def test_an_occurrence_or_exception_belongs_to_its_master() -> None:
    assert entry_id(event("occurrence"), "AAMk-1") == "AAMk-master"
    assert entry_id(event("exception"), "AAMk-1") == "AAMk-master"
    assert entry_id({"type": "occurrence"}, "AAMk-1") == "AAMk-1"
    assert entry_id(event("seriesMaster"), "AAMk-1") == "AAMk-1"
    assert entry_id(event("singleInstance"), "AAMk-1") == "AAMk-1"

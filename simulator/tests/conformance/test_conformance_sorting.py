"""FindItem ``SortOrder`` as Exchange sorts, driven through exchangelib's ``order_by``.

Every test runs against each EWS dialect (the ``org`` fixture). Values sort by the property's
type, as restrictions compare them (simulator/README.md, FindItem): date-times as instants,
numbers as numbers, enumerations by their order, strings ignoring case. ``FieldOrder`` elements
apply in the order given
(https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/sortorder).
Where the pages are silent (items without the property), the choice is in simulator/README.md.
"""

from __future__ import annotations

from typing import Any

import pytest
from exchangelib import Account, EWSDateTime, EWSTimeZone, ExtendedProperty

from sim_support import Org, calendar_item_class, create_item


def _order(qs: Any) -> list[str]:
    return [i.subject for i in qs.only("subject")]


@pytest.fixture
def account(org: Org) -> Account:
    return org.account()


def test_an_enumeration_sorts_by_its_order_not_its_name(org: Org, account: Account) -> None:
    # Importance: Low < Normal < High (as its MAPI values 0, 1, 2); by name High < Low < Normal
    create_item(org, account, "normal", 9, importance="Normal")
    create_item(org, account, "high", 10, importance="High")
    create_item(org, account, "low", 11, importance="Low")
    cal = account.calendar
    assert _order(cal.all().order_by("importance")) == ["low", "normal", "high"]
    assert _order(cal.all().order_by("-importance")) == ["high", "normal", "low"]


def test_free_busy_status_sorts_by_its_order(org: Org, account: Account) -> None:
    create_item(org, account, "oof", 9, legacy_free_busy_status="OOF")
    create_item(org, account, "busy", 10, legacy_free_busy_status="Busy")
    create_item(org, account, "free", 11, legacy_free_busy_status="Free")
    create_item(org, account, "tentative", 12, legacy_free_busy_status="Tentative")
    assert _order(account.calendar.all().order_by("legacy_free_busy_status")) == [
        "free",
        "tentative",
        "busy",
        "oof",
    ]


def test_a_number_sorts_as_a_number(org: Org, account: Account) -> None:
    # as text "120" < "15" < "5"
    create_item(org, account, "five", 9, reminder_minutes_before_start=5)
    create_item(org, account, "two hours", 10, reminder_minutes_before_start=120)
    create_item(org, account, "fifteen", 11, reminder_minutes_before_start=15)
    cal = account.calendar
    assert _order(cal.all().order_by("reminder_minutes_before_start")) == ["five", "fifteen", "two hours"]
    assert _order(cal.all().order_by("-reminder_minutes_before_start")) == [
        "two hours",
        "fifteen",
        "five",
    ]


def test_date_times_sort_as_instants_whatever_their_zone(org: Org, account: Account) -> None:
    berlin = EWSTimeZone("Europe/Berlin")
    # 10:30 in Berlin is 09:30 UTC: earlier than 10:00 UTC, though its local time is later
    create_item(org, account, "ten utc", 10)
    create_item(
        org,
        account,
        "half past nine utc",
        0,
        start=EWSDateTime(2030, 3, 4, 10, 30, tzinfo=berlin),
        end=EWSDateTime(2030, 3, 4, 11, 30, tzinfo=berlin),
    )
    create_item(org, account, "eight utc", 8)
    cal = account.calendar
    assert _order(cal.all().order_by("start")) == ["eight utc", "half past nine utc", "ten utc"]
    assert _order(cal.all().order_by("-start")) == ["ten utc", "half past nine utc", "eight utc"]


def test_a_number_extended_property_sorts_as_a_number(org: Org, account: Account) -> None:
    class Rank(ExtendedProperty):  # type: ignore[misc]
        distinguished_property_set_id = "PublicStrings"
        property_name = "roomsync-sort-rank"
        property_type = "Integer"

    cls = calendar_item_class(org.dialect)
    cls.register("sort_rank", Rank)
    try:
        create_item(org, account, "nine", 9, sort_rank=9)
        create_item(org, account, "eighty", 10, sort_rank=80)
        create_item(org, account, "minus three", 11, sort_rank=-3)
        create_item(org, account, "none", 12)
        # a missing value sorts before every value, ascending (simulator/README.md, FindItem)
        assert _order(account.calendar.all().order_by("sort_rank")) == [
            "none",
            "minus three",
            "nine",
            "eighty",
        ]
        assert _order(account.calendar.all().order_by("-sort_rank")) == [
            "eighty",
            "nine",
            "minus three",
            "none",
        ]
    finally:
        cls.deregister("sort_rank")


def test_several_fields_apply_in_order(org: Org, account: Account) -> None:
    # order_by("importance", "-start"): by importance, then the latest start first
    create_item(org, account, "high early", 8, importance="High")
    create_item(org, account, "normal late", 15, importance="Normal")
    create_item(org, account, "high late", 14, importance="High")
    create_item(org, account, "low", 12, importance="Low")
    create_item(org, account, "normal early", 9, importance="Normal")
    assert _order(account.calendar.all().order_by("importance", "-start")) == [
        "low",
        "normal late",
        "normal early",
        "high late",
        "high early",
    ]
    assert _order(account.calendar.all().order_by("-importance", "start")) == [
        "high early",
        "high late",
        "normal early",
        "normal late",
        "low",
    ]


def test_strings_sort_ignoring_case_and_missing_values_come_first(org: Org, account: Account) -> None:
    create_item(org, account, "b", 9, location="beta room")
    create_item(org, account, "a", 10, location="Alpha room")
    create_item(org, account, "none", 11)
    create_item(org, account, "c", 12, location="Gamma room")
    cal = account.calendar
    assert _order(cal.all().order_by("location")) == ["none", "a", "b", "c"]
    assert _order(cal.all().order_by("-location")) == ["c", "b", "a", "none"]

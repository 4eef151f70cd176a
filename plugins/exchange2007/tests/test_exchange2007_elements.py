"""The 2007 forms of MeetingTimeZone, WeeklyRecurrence and the availability time zone, without a server."""

from __future__ import annotations

import pytest
from exchangelib import CalendarItem, EWSTimeZone
from exchangelib.recurrence import WeeklyPattern
from lxml import etree

from roomsync_ews_common.account import pinned_version
from roomsync_ews_common.availability import utc_zone
from roomsync_exchange2007.items import CalendarItem2007, WeeklyPattern2007
from roomsync_exchange2007.timezones import MeetingTimeZoneField, zone_from_name

T = "http://schemas.microsoft.com/exchange/services/2006/types"
VERSION = pinned_version("Exchange2007_SP1")


def calendar_item(meeting_time_zone: str) -> etree._Element:
    """A CalendarItem element of a GetItem answer, holding only ``meeting_time_zone``."""
    return etree.fromstring(f'<t:CalendarItem xmlns:t="{T}">{meeting_time_zone}</t:CalendarItem>')


def children(elem: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in elem]


def test_meeting_time_zone_is_written_by_its_windows_name_only() -> None:
    elem = MeetingTimeZoneField().to_xml(EWSTimeZone("Europe/Berlin"), VERSION)
    assert etree.QName(elem).localname == "MeetingTimeZone"
    assert dict(elem.attrib) == {"TimeZoneName": "W. Europe Standard Time"}
    assert len(elem) == 0


def test_utc_also_states_its_offset() -> None:
    elem = MeetingTimeZoneField().to_xml(EWSTimeZone("UTC"), VERSION)
    assert elem.get("TimeZoneName") == "UTC"
    assert [(etree.QName(c).localname, c.text) for c in elem] == [("BaseOffset", "PT0M")]


@pytest.mark.parametrize(
    ("xml", "key"),
    [
        ('<t:MeetingTimeZone TimeZoneName="W. Europe Standard Time"/>', "Europe/Berlin"),
        (
            '<t:MeetingTimeZone TimeZoneName="Eastern Standard Time"><t:BaseOffset>PT5H</t:BaseOffset>'
            "</t:MeetingTimeZone>",
            "America/New_York",
        ),
        ('<t:MeetingTimeZone Id="Tokyo Standard Time"/>', "Asia/Tokyo"),
    ],
)
def test_meeting_time_zone_is_read_from_its_name(xml: str, key: str) -> None:
    zone = MeetingTimeZoneField().from_xml(calendar_item(xml), account=None)
    assert zone is not None and zone.key == key


@pytest.mark.parametrize(
    "xml",
    [
        "",
        '<t:MeetingTimeZone TimeZoneName="(GMT+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna">'
        "<t:BaseOffset>-PT1H</t:BaseOffset></t:MeetingTimeZone>",
        "<t:MeetingTimeZone><t:BaseOffset>PT0M</t:BaseOffset></t:MeetingTimeZone>",
    ],
    ids=["absent", "display-name", "unnamed"],
)
def test_a_zone_without_a_windows_name_is_left_to_the_caller(xml: str) -> None:
    """No guess: the entry's zone then comes from roomsync's property or the configured zone."""
    assert MeetingTimeZoneField().from_xml(calendar_item(xml), account=None) is None


def test_exchangelib_alone_cannot_read_the_2007_form() -> None:
    """Why the field exists: exchangelib 5.6.0 looks for Id/Name and fails on TimeZoneName."""
    field = CalendarItem.get_field_by_fieldname("_meeting_timezone")
    with pytest.raises(TypeError):
        field.from_xml(calendar_item('<t:MeetingTimeZone TimeZoneName="W. Europe Standard Time"/>'), None)


def test_the_2007_item_replaces_only_the_meeting_time_zone_field() -> None:
    ours = [f.name for f in CalendarItem2007.FIELDS]
    assert ours == [f.name for f in CalendarItem.FIELDS]
    assert isinstance(CalendarItem2007.get_field_by_fieldname("_meeting_timezone"), MeetingTimeZoneField)
    assert not isinstance(CalendarItem.get_field_by_fieldname("_meeting_timezone"), MeetingTimeZoneField)


def test_weekly_recurrence_has_no_first_day_of_week() -> None:
    ours = WeeklyPattern2007(interval=2, weekdays=[1, 4]).to_xml(VERSION)
    theirs = WeeklyPattern(interval=2, weekdays=[1, 4], first_day_of_week=1).to_xml(VERSION)
    assert children(ours) == ["Interval", "DaysOfWeek"]
    assert children(theirs) == ["Interval", "DaysOfWeek", "FirstDayOfWeek"]
    assert ours.findtext(f"{{{T}}}DaysOfWeek") == "Monday Thursday"


@pytest.mark.parametrize("name", ["W. Europe Standard Time", "UTC", "Europe/Berlin"])
def test_windows_names_and_region_names_resolve(name: str) -> None:
    assert zone_from_name(name) is not None


def test_the_availability_zone_is_utc_with_two_changes_that_shift_nothing() -> None:
    elem = utc_zone().to_xml(VERSION)
    assert children(elem) == ["Bias", "StandardTime", "DaylightTime"]
    assert elem.findtext(f"{{{T}}}Bias") == "0"
    for part, month in (("StandardTime", "3"), ("DaylightTime", "10")):
        change = elem.find(f"{{{T}}}{part}")
        assert change is not None
        assert children(change) == ["Bias", "Time", "DayOrder", "Month", "DayOfWeek"]
        assert (change.findtext(f"{{{T}}}Bias"), change.findtext(f"{{{T}}}Month")) == ("0", month)

"""FindItem restrictions as Exchange evaluates them, driven through exchangelib's QuerySet filters.

Every test runs against each EWS dialect (the ``org`` fixture). The Microsoft pages describing
the behaviour are cited next to the test; where the pages are silent, the choice the simulator
made is described in simulator/README.md (Restrictions).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from exchangelib import Account, EWSDateTime, EWSTimeZone, ExtendedProperty, Q
from exchangelib.recurrence import DailyPattern, Recurrence
from exchangelib.restriction import Q as BaseQ
from exchangelib.util import create_element

from sim_support import DAY, Org, at_hour, calendar_item_class, create_item


def _subjects(qs: Any) -> set[str]:
    return {i.subject for i in qs.only("subject")}


@pytest.fixture
def account(org: Org) -> Account:
    return org.account()


# --- multi-valued properties -------------------------------------------------------------------


def test_is_equal_to_on_categories_matches_any_one_category(org: Org, account: Account) -> None:
    # IsEqualTo compares a property with a constant; on a multi-valued property (item:Categories,
    # an ArrayOfStringsType) the comparison holds when one of the values equals the constant
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/isequalto,
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/categories-ex15websvcsotherref).
    # exchangelib sends categories__contains as And(IsEqualTo ...), categories__in as Or(IsEqualTo ...).
    create_item(org, account, "Red and blue", 9, categories=["Red", "Blue"])
    create_item(org, account, "Only red", 10, categories=["Red"])
    create_item(org, account, "No category", 11)
    cal = account.calendar
    assert _subjects(cal.filter(categories__contains=["Blue"])) == {"Red and blue"}
    assert _subjects(cal.filter(categories__contains=["Red"])) == {"Red and blue", "Only red"}
    assert _subjects(cal.filter(categories__contains=["Red", "Blue"])) == {"Red and blue"}
    assert _subjects(cal.filter(categories__in=["Green", "Blue"])) == {"Red and blue"}
    # strings compare without regard to case
    assert _subjects(cal.filter(categories__contains=["blue"])) == {"Red and blue"}
    assert _subjects(cal.filter(~Q(categories__contains=["Blue"]))) == {"Only red", "No category"}


def test_exists_on_categories(org: Org, account: Account) -> None:
    # Exists: true if the supplied property exists on an item
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/exists)
    create_item(org, account, "Tagged", 9, categories=["Red"])
    create_item(org, account, "Untagged", 10)
    assert _subjects(account.calendar.filter(categories__exists=True)) == {"Tagged"}
    assert _subjects(account.calendar.filter(categories__exists=False)) == {"Untagged"}


# --- booleans ----------------------------------------------------------------------------------


def test_boolean_constants_as_digits_match(org: Org, account: Account) -> None:
    # A Constant's Value is compared as the property's type; a boolean may be written 1/0 or
    # true/false (xs:boolean; exchangelib writes 1/0)
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/constant,
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/isalldayevent).
    create_item(org, account, "All day", 0, start=DAY, end=DAY + timedelta(days=1), is_all_day=True)
    create_item(org, account, "Reminded", 9, reminder_is_set=True)
    create_item(org, account, "Silent", 10, reminder_is_set=False)
    cal = account.calendar
    assert _subjects(cal.filter(is_all_day=True)) == {"All day"}
    assert _subjects(cal.filter(is_all_day=False)) == {"Reminded", "Silent"}
    assert _subjects(cal.filter(reminder_is_set=False)) == {"All day", "Silent"}
    assert "Reminded" in _subjects(cal.filter(reminder_is_set=True))
    assert _subjects(cal.filter(is_recurring=False)) == {"All day", "Reminded", "Silent"}
    assert _subjects(cal.filter(~Q(is_all_day=True))) == {"Reminded", "Silent"}
    assert _subjects(cal.filter(is_all_day__not=True)) == {"Reminded", "Silent"}


def test_boolean_constants_as_words_match(org: Org, account: Account) -> None:
    # true/false are xs:boolean too (https://www.w3.org/TR/xmlschema-2/#boolean), as the
    # Constant page's Value allows any value of the property's type
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/constant).
    create_item(org, account, "All day", 0, start=DAY, end=DAY + timedelta(days=1), is_all_day=True)
    create_item(org, account, "Timed", 9)
    cal = account.calendar
    assert _subjects(cal.filter(_kept(_WordsQ(is_all_day=True)))) == {"All day"}
    assert _subjects(cal.filter(_kept(_WordsQ(is_all_day=False)))) == {"Timed"}
    assert _subjects(cal.filter(_kept(_WordsQ(is_all_day__not=False)))) == {"All day"}


# --- dates, numbers, enumerations --------------------------------------------------------------


def test_dates_compare_as_instants(org: Org, account: Account) -> None:
    # IsGreaterThan/IsLessThan... compare the property with the constant: date-times as instants
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/isgreaterthan,
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/islessthanorequalto)
    create_item(org, account, "Nine", 9)
    create_item(org, account, "Ten", 10)
    create_item(org, account, "Eleven", 11)
    cal = account.calendar
    assert _subjects(cal.filter(start__gt=at_hour(10))) == {"Eleven"}
    assert _subjects(cal.filter(start__gte=at_hour(10))) == {"Ten", "Eleven"}
    assert _subjects(cal.filter(end__lt=at_hour(11))) == {"Nine"}
    assert _subjects(cal.filter(end__lte=at_hour(11))) == {"Nine", "Ten"}
    assert _subjects(cal.filter(start=at_hour(10))) == {"Ten"}
    assert _subjects(cal.filter(start__range=(at_hour(9, 30), at_hour(11)))) == {"Ten", "Eleven"}
    # the same instant written in another offset
    zone = EWSTimeZone("Europe/Berlin")
    assert _subjects(cal.filter(start=at_hour(10).astimezone(zone))) == {"Ten"}
    assert _subjects(cal.filter(start__gt=EWSDateTime(2030, 3, 4, 11, 30, tzinfo=zone))) == {"Eleven"}


def test_numbers_compare_as_numbers(org: Org, account: Account) -> None:
    # ReminderMinutesBeforeStart is an xs:int
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/reminderminutesbeforestart)
    create_item(org, account, "Five", 9, reminder_minutes_before_start=5)
    create_item(org, account, "Ten", 10, reminder_minutes_before_start=10)
    create_item(org, account, "Ninety", 11, reminder_minutes_before_start=90)
    cal = account.calendar
    assert _subjects(cal.filter(reminder_minutes_before_start__gt=9)) == {"Ten", "Ninety"}
    assert _subjects(cal.filter(reminder_minutes_before_start__lt=10)) == {"Five"}
    assert _subjects(cal.filter(reminder_minutes_before_start=10)) == {"Ten"}
    assert _subjects(cal.filter(reminder_minutes_before_start__not=10)) == {"Five", "Ninety"}


def test_conference_type(org: Org, account: Account) -> None:
    # ConferenceType is an xs:int: 0 NetMeeting, 1 NetShow, 2 Chat
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/conferencetype);
    # exchangelib 5.6 cannot write Chat (its field's maximum is off by one)
    create_item(org, account, "Meeting", 9, conference_type="NetMeeting")
    create_item(org, account, "Show", 10, conference_type="NetShow")
    cal = account.calendar
    assert _subjects(cal.filter(conference_type="NetShow")) == {"Show"}
    assert _subjects(cal.filter(conference_type__gte="NetShow")) == {"Show"}
    assert _subjects(cal.filter(conference_type__lt="NetShow")) == {"Meeting"}


def test_importance_compares_by_its_order(org: Org, account: Account) -> None:
    # Importance is Low, Normal, High, stored as PidTagImportance 0, 1, 2, and compared so
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/importance,
    # https://learn.microsoft.com/en-us/office/client-developer/outlook/mapi/pidtagimportance-canonical-property)
    create_item(org, account, "Low", 9, importance="Low")
    create_item(org, account, "Normal", 10, importance="Normal")
    create_item(org, account, "High", 11, importance="High")
    cal = account.calendar
    assert _subjects(cal.filter(importance__gt="Normal")) == {"High"}
    assert _subjects(cal.filter(importance__lt="Normal")) == {"Low"}
    assert _subjects(cal.filter(importance__gte="Low")) == {"Low", "Normal", "High"}
    assert _subjects(cal.filter(importance__not="Normal")) == {"Low", "High"}


def test_sensitivity_compares_by_its_order(org: Org, account: Account) -> None:
    # Sensitivity is Normal, Personal, Private, Confidential (PidTagSensitivity 0..3)
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/sensitivity,
    # https://learn.microsoft.com/en-us/office/client-developer/outlook/mapi/pidtagsensitivity-canonical-property)
    for hour, value in enumerate(("Normal", "Personal", "Private", "Confidential"), start=8):
        create_item(org, account, value, hour, sensitivity=value)
    cal = account.calendar
    assert _subjects(cal.filter(sensitivity__gte="Private")) == {"Private", "Confidential"}
    assert _subjects(cal.filter(sensitivity__lt="Personal")) == {"Normal"}
    assert _subjects(cal.filter(sensitivity="Personal")) == {"Personal"}


def test_legacy_free_busy_status_compares_by_its_order(org: Org, account: Account) -> None:
    # LegacyFreeBusyStatus is Free, Tentative, Busy, OOF, WorkingElsewhere (PidLidBusyStatus 0..4)
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/legacyfreebusystatus,
    # https://learn.microsoft.com/en-us/office/client-developer/outlook/mapi/pidlidbusystatus-canonical-property)
    for hour, value in enumerate(("Free", "Tentative", "Busy", "OOF"), start=8):
        create_item(org, account, value, hour, legacy_free_busy_status=value)
    cal = account.calendar
    assert _subjects(cal.filter(legacy_free_busy_status__lt="Busy")) == {"Free", "Tentative"}
    assert _subjects(cal.filter(legacy_free_busy_status__gt="Busy")) == {"OOF"}
    assert _subjects(cal.filter(legacy_free_busy_status="Busy")) == {"Busy"}
    assert _subjects(cal.filter(legacy_free_busy_status__in=["Free", "OOF"])) == {"Free", "OOF"}


def test_calendar_item_type_and_is_recurring(org: Org, account: Account) -> None:
    # CalendarItemType: Single, Occurrence, Exception, RecurringMaster; a FindItem without a
    # CalendarView returns singles and masters
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/calendaritemtype,
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/isrecurring)
    create_item(org, account, "Once", 9)
    create_item(
        org,
        account,
        "Daily",
        10,
        recurrence=Recurrence(pattern=DailyPattern(interval=1), start=DAY.date(), number=5),
    )
    cal = account.calendar
    assert _subjects(cal.filter(type="RecurringMaster")) == {"Daily"}
    assert _subjects(cal.filter(type="Single")) == {"Once"}
    assert _subjects(cal.filter(type__in=["Single", "RecurringMaster"])) == {"Once", "Daily"}
    # the organizer's single items and masters are not IsRecurring (Microsoft's table on the
    # IsRecurring page); occurrences and exceptions are, but only a CalendarView returns them
    assert _subjects(cal.filter(is_recurring=False)) == {"Once", "Daily"}
    assert _subjects(cal.filter(is_recurring=True)) == set()


# --- strings -----------------------------------------------------------------------------------


def test_subject_equality_and_contains(org: Org, account: Account) -> None:
    # IsEqualTo on a string ignores case (exchangelib documents the same of Exchange); Contains with
    # ContainmentMode FullString/Prefixed/Substring and ContainmentComparison Exact/IgnoreCase
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/contains)
    create_item(org, account, "Quarterly Planning", 9)
    create_item(org, account, "planning poker", 10)
    create_item(org, account, "Lunch", 11)
    cal = account.calendar
    assert _subjects(cal.filter(subject="quarterly planning")) == {"Quarterly Planning"}
    assert _subjects(cal.filter(subject__not="lunch")) == {"Quarterly Planning", "planning poker"}
    assert _subjects(cal.filter(subject__exact="Lunch")) == {"Lunch"}  # FullString, Exact
    assert _subjects(cal.filter(subject__exact="lunch")) == set()
    assert _subjects(cal.filter(subject__iexact="lunch")) == {"Lunch"}  # FullString, IgnoreCase
    assert _subjects(cal.filter(subject__contains="Planning")) == {"Quarterly Planning"}
    assert _subjects(cal.filter(subject__icontains="planning")) == {"Quarterly Planning", "planning poker"}
    assert _subjects(cal.filter(subject__startswith="planning")) == {"planning poker"}
    assert _subjects(cal.filter(subject__istartswith="PLAN")) == {"planning poker"}
    assert _subjects(cal.filter(subject__gt="M")) == {"Quarterly Planning", "planning poker"}


@pytest.mark.parametrize(
    ("mode", "comparison", "needle", "expected"),
    [
        # PrefixOnWords: the constant is the prefix of a word of the string
        ("PrefixOnWords", "IgnoreCase", "plan", {"Quarterly Planning", "planning poker"}),
        ("PrefixOnWords", "IgnoreCase", "ann", set()),
        ("PrefixOnWords", "Exact", "Plan", {"Quarterly Planning"}),
        # ExactPhrase: the constant is a phrase (whole words) of the string
        ("ExactPhrase", "IgnoreCase", "planning", {"Quarterly Planning", "planning poker"}),
        ("ExactPhrase", "IgnoreCase", "plan", set()),
        ("ExactPhrase", "IgnoreCase", "planning poker", {"planning poker"}),
        # Substring ignores non-spacing characters only when asked to
        ("Substring", "Exact", "Cafe", set()),
        ("Substring", "IgnoreNonSpacingCharacters", "Cafe", {"Café"}),
        ("Substring", "IgnoreCaseAndNonSpacingCharacters", "cafe", {"Café"}),
        ("Substring", "IgnoreNonSpacingCharacters", "cafe", set()),
    ],
)
def test_contains_modes(
    org: Org, account: Account, mode: str, comparison: str, needle: str, expected: set[str]
) -> None:
    # ContainmentMode PrefixOnWords / ExactPhrase and the ContainmentComparison values
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/contains);
    # exchangelib has no lookup for them, so a Q subclass writes the attributes.
    create_item(org, account, "Quarterly Planning", 9)
    create_item(org, account, "planning poker", 10)
    create_item(org, account, "Café", 11)
    query = _kept(_contains(mode, comparison)(subject__contains=needle))
    assert _subjects(account.calendar.filter(query)) == expected


def test_location_contains_and_exists(org: Org, account: Account) -> None:
    # Exists and Contains on calendar:Location
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/location)
    create_item(org, account, "Upstairs", 9, location="Room 1, Floor 3")
    create_item(org, account, "Nowhere", 10)
    cal = account.calendar
    assert _subjects(cal.filter(location__exists=True)) == {"Upstairs"}
    assert _subjects(cal.filter(location__exists=False)) == {"Nowhere"}
    assert _subjects(cal.filter(location__icontains="floor 3")) == {"Upstairs"}
    assert _subjects(cal.filter(location="room 1, floor 3")) == {"Upstairs"}


# --- And, Or, Not ------------------------------------------------------------------------------


def test_and_or_not(org: Org, account: Account) -> None:
    # And is true if all its expressions are, Or if any is, Not negates
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/and-searchexpressiontype,
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/or,
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/not)
    create_item(org, account, "Early high", 8, importance="High")
    create_item(org, account, "Early low", 9, importance="Low")
    create_item(org, account, "Late high", 15, importance="High", categories=["Red"])
    cal = account.calendar
    assert _subjects(cal.filter(Q(start__lt=at_hour(12)) & Q(importance="High"))) == {"Early high"}
    assert _subjects(cal.filter(Q(start__gt=at_hour(12)) | Q(importance="Low"))) == {"Early low", "Late high"}
    assert _subjects(cal.filter(~(Q(start__gt=at_hour(12)) | Q(importance="Low")))) == {"Early high"}
    assert _subjects(cal.filter(Q(importance="High") & ~Q(categories__contains=["Red"]))) == {"Early high"}


# --- extended properties -----------------------------------------------------------------------


class _BookingRef(ExtendedProperty):  # type: ignore[misc]
    distinguished_property_set_id = "PublicStrings"
    property_name = "RoomsyncConformanceRef"
    property_type = "String"


class _Floor(ExtendedProperty):  # type: ignore[misc]
    distinguished_property_set_id = "PublicStrings"
    property_name = "RoomsyncConformanceFloor"
    property_type = "Integer"


class _Flag(ExtendedProperty):  # type: ignore[misc]
    distinguished_property_set_id = "PublicStrings"
    property_name = "RoomsyncConformanceFlag"
    property_type = "Boolean"


class _Due(ExtendedProperty):  # type: ignore[misc]
    distinguished_property_set_id = "PublicStrings"
    property_name = "RoomsyncConformanceDue"
    property_type = "SystemTime"


@pytest.fixture
def extended(org: Org) -> Iterator[type]:
    cls = calendar_item_class(org.dialect)
    props = {"booking_ref": _BookingRef, "floor": _Floor, "flag": _Flag, "due": _Due}
    for name, prop in props.items():
        cls.register(name, prop)
    try:
        yield cls
    finally:
        for name in props:
            cls.deregister(name)


def test_extended_properties_compare_as_their_type(org: Org, account: Account, extended: type) -> None:
    # ExtendedFieldURI's PropertyType gives the value's type (Integer, Boolean, SystemTime, String)
    # (https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/extendedfielduri)
    create_item(org, account, "Two", 9, booking_ref="B-2", floor=2, flag=True, due=at_hour(9))
    create_item(org, account, "Ten", 10, booking_ref="B-10", floor=10, flag=False, due=at_hour(20))
    create_item(org, account, "None", 11)
    cal = account.calendar
    assert _subjects(cal.filter(floor__gt=3)) == {"Ten"}
    assert _subjects(cal.filter(floor__lte=2)) == {"Two"}
    assert _subjects(cal.filter(flag=True)) == {"Two"}
    assert _subjects(cal.filter(flag=False)) == {"Ten"}
    assert _subjects(cal.filter(due__gt=at_hour(12))) == {"Ten"}
    assert _subjects(cal.filter(booking_ref="b-10")) == {"Ten"}
    assert _subjects(cal.filter(booking_ref__startswith="B-1")) == {"Ten"}
    assert _subjects(cal.filter(booking_ref__exists=True)) == {"Two", "Ten"}
    assert _subjects(cal.filter(floor__exists=False)) == {"None"}


# --- helpers -----------------------------------------------------------------------------------


def _contains(mode: str, comparison: str) -> type[BaseQ]:
    class ContainsQ(BaseQ):  # type: ignore[misc]
        @classmethod
        def _op_to_xml(cls, op: str) -> Any:
            if op == cls.CONTAINS:
                return create_element(
                    "t:Contains", attrs={"ContainmentMode": mode, "ContainmentComparison": comparison}
                )
            return super()._op_to_xml(op)

    return ContainsQ


class _WordsQ(BaseQ):  # type: ignore[misc]
    """A comparison whose boolean constant is written true/false (exchangelib writes 1/0)."""

    def xml_elem(self, folders: Any, version: Any, applies_to: Any) -> Any:
        elem = super().xml_elem(folders, version, applies_to)
        for const in elem.iter("{*}Constant"):
            const.set("Value", {"1": "true", "0": "false"}[const.get("Value")])
        return elem


def _kept(q: BaseQ) -> BaseQ:
    """``q`` and'ed with a condition every item meets: exchangelib flattens a lone Q given to
    filter() into a plain Q, which would lose the subclass that writes the XML."""
    return q & type(q)(start__exists=True)

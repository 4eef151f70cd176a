"""The ROOMS stamp and roomsync's other item properties, as EWS extended properties.

Extended properties exist in every EWS version, survive edits in Outlook and can be searched
with a restriction, which makes the stamp usable for linking and for crash recovery (a create
that timed out is looked up before it is repeated). They live in a property set of roomsync's
own, so no other application's names can collide with them.

Registered on exchangelib's ``CalendarItem`` once, at import; the attribute names below are then
item attributes like ``subject``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from exchangelib import CalendarItem, ExtendedProperty
from exchangelib.fields import ExtendedPropertyField, InvalidField
from exchangelib.properties import ExtendedFieldURI

from roomsync import addin_mark

PROPERTY_SET = "8c4f6f0e-5b3a-4f4e-9d55-6f6f6d73796e"
"""roomsync's property set GUID: fixed, since stamps written once must be found forever."""

STAMP = "roomsync_stamp"
TIMEZONE = "roomsync_timezone"
SETUP = "roomsync_setup_minutes"
FOLLOWUP = "roomsync_followup_minutes"
ADDIN = "roomsync_addin_mark"

LOOKUP_CHUNK = 50
"""Stamps per FindItem restriction; an OR of a few dozen values stays well inside request limits."""

MATCHES_KEPT = 64
"""Distinct ``ExtendedFieldURI`` kept per property class (an item is asked for five)."""


class OwnProperty(ExtendedProperty):
    """An extended property whose class attributes exchangelib checks once, not for every value.

    exchangelib validates the class (property set, name, type) each time a value is cleaned, four
    times per item written; the attributes are constants of the class.
    """

    _validated: ClassVar[type | None] = None
    _matches: ClassVar[dict[tuple[Any, ...], bool]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._matches = {}

    @classmethod
    def validate_cls(cls) -> None:
        if cls._validated is not cls:
            super().validate_cls()
            cls._validated = cls

    @classmethod
    def is_property_instance(cls, elem: Any) -> bool:
        """exchangelib's answer, kept per ``ExtendedFieldURI``: reading an item, it builds and
        normalizes a URI object for each extended property of the item and each registered
        property (two thirds of a GetItem's parsing); the answer depends on the URI's attributes
        alone, and an item carries the same few."""
        uri = elem.find(ExtendedFieldURI.response_tag())
        if uri is None:
            return bool(super().is_property_instance(elem))
        key = tuple(uri.attrib.items())
        found = cls._matches.get(key)
        if found is None:
            found = bool(super().is_property_instance(elem))
            if len(cls._matches) < MATCHES_KEPT:
                cls._matches[key] = found
        return found


class PropertyField(ExtendedPropertyField):
    """exchangelib's field of an extended property, its ``ExtendedFieldURI`` built once.

    exchangelib builds the element anew from the property's class attributes for every value it
    writes (and every restriction naming it); a copy of the first one is the same XML.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._uri: Any = None

    def field_uri_xml(self) -> Any:
        if self._uri is None:
            self._uri = super().field_uri_xml()
        return copy.deepcopy(self._uri)


class StampProperty(OwnProperty):
    """The ROOMS reservation id of the entry (the stamp)."""

    property_set_id = PROPERTY_SET
    property_name = "RoomsyncReservationId"
    property_type = "String"


class TimeZoneProperty(OwnProperty):
    """The IANA zone the entry was written in: Windows zones map back to IANA ambiguously."""

    property_set_id = PROPERTY_SET
    property_name = "RoomsyncTimeZone"
    property_type = "String"


class SetupProperty(OwnProperty):
    """Setup buffer minutes of the reservation, kept so they read back as written."""

    property_set_id = PROPERTY_SET
    property_name = "RoomsyncSetupMinutes"
    property_type = "Integer"


class FollowupProperty(OwnProperty):
    """Follow-up buffer minutes of the reservation, kept so they read back as written."""

    property_set_id = PROPERTY_SET
    property_name = "RoomsyncFollowupMinutes"
    property_type = "Integer"


class AddinMarkProperty(OwnProperty):
    """The Outlook add-in's custom properties (:mod:`roomsync.addin_mark`): read only, never
    written, since the add-in owns them."""

    distinguished_property_set_id = "PublicStrings"
    property_name = addin_mark.property_name()
    property_type = "String"


_PROPERTIES: dict[str, type[ExtendedProperty]] = {
    STAMP: StampProperty,
    TIMEZONE: TimeZoneProperty,
    SETUP: SetupProperty,
    FOLLOWUP: FollowupProperty,
    ADDIN: AddinMarkProperty,
}


def register() -> None:
    """Register the properties on ``CalendarItem``; calling it again does nothing.

    What ``CalendarItem.register`` does, with :class:`PropertyField` as the field (the properties
    are single values, not arrays); ``deregister`` takes them as any other."""
    for name, cls in _PROPERTIES.items():
        try:
            CalendarItem.get_field_by_fieldname(name)
        except InvalidField:
            assert not cls.is_array_type()
            cls.validate_cls()
            CalendarItem.add_field(
                PropertyField(name, value_cls=cls), insert_after=CalendarItem.INSERT_AFTER_FIELD
            )


register()


def find_stamped(calendar: Any, stamps: Sequence[str]) -> Iterator[Any]:
    """Id, change key, stamp and organizer of the items (masters and single entries) carrying
    ``stamps``.

    A FindItem restriction (an OR over the values) per chunk; the items are not read in full.
    """
    unique = list(dict.fromkeys(stamps))
    for offset in range(0, len(unique), LOOKUP_CHUNK):
        chunk = unique[offset : offset + LOOKUP_CHUNK]
        for item in calendar.filter(**{f"{STAMP}__in": chunk}).only("id", "changekey", "organizer", STAMP):
            if isinstance(item, Exception):
                raise item
            yield item

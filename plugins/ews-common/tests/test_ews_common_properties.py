"""roomsync's extended properties are written as exchangelib writes them, with less work per item."""

from __future__ import annotations

import pytest
from exchangelib import ExtendedProperty
from exchangelib.fields import ExtendedPropertyField
from lxml import etree

from roomsync_ews_common import stamp
from roomsync_ews_common.account import pinned_version


def test_a_property_field_writes_exchangelibs_xml() -> None:
    version = pinned_version("Exchange2013")
    for name, value in ((stamp.STAMP, "rs-1"), (stamp.TIMEZONE, "Europe/Berlin"), (stamp.SETUP, 15)):
        ours = stamp.CalendarItem.get_field_by_fieldname(name)
        assert isinstance(ours, stamp.PropertyField)
        theirs = ExtendedPropertyField(name, value_cls=ours.value_cls)
        for _ in range(2):
            written = ours.to_xml(value, version=version)
            assert etree.tostring(written) == etree.tostring(theirs.to_xml(value, version=version))
            written[0].set("PropertyName", "changed")  # the next value gets a copy of its own


def test_a_wrong_property_class_is_refused_every_time() -> None:
    class Wrong(stamp.OwnProperty):
        property_set_id = stamp.PROPERTY_SET
        property_name = "Wrong"
        property_type = "NoSuchType"

    for _ in range(2):
        with pytest.raises(ValueError, match="NoSuchType"):
            Wrong.validate_cls()


def uri(**attributes: str) -> etree._Element:
    t = "http://schemas.microsoft.com/exchange/services/2006/types"
    prop = etree.Element(f"{{{t}}}ExtendedProperty")
    etree.SubElement(prop, f"{{{t}}}ExtendedFieldURI", attrib=attributes)
    etree.SubElement(prop, f"{{{t}}}Value").text = "x"
    return prop


def test_a_property_is_recognised_as_exchangelib_recognises_it() -> None:
    ours = {
        "PropertySetId": stamp.PROPERTY_SET,
        "PropertyName": "RoomsyncReservationId",
        "PropertyType": "String",
    }
    candidates = [
        uri(**ours),
        uri(**{**ours, "PropertySetId": stamp.PROPERTY_SET.upper()}),
        uri(**{**ours, "PropertyName": "RoomsyncTimeZone"}),
        uri(**{**ours, "PropertyType": "Integer"}),
        uri(**{**ours, "PropertySetId": "00020329-0000-0000-c000-000000000046"}),  # PublicStrings' id
        uri(
            DistinguishedPropertySetId="PublicStrings",
            PropertyName="RoomsyncReservationId",
            PropertyType="String",
        ),
        uri(
            DistinguishedPropertySetId="PublicStrings",
            PropertyName=stamp.addin_mark.property_name(),
            PropertyType="String",
        ),
        uri(PropertyTag="0x1000", PropertyType="String"),
    ]
    classes = [stamp.StampProperty, stamp.TimeZoneProperty, stamp.SetupProperty, stamp.AddinMarkProperty]
    for _ in range(2):  # the second time from what the first kept
        answers = {
            (cls.__name__, n): cls.is_property_instance(elem)
            for cls in classes
            for n, elem in enumerate(candidates)
        }
        assert answers == {
            (cls.__name__, n): ExtendedProperty.is_property_instance.__func__(cls, elem)  # type: ignore[attr-defined]
            for cls in classes
            for n, elem in enumerate(candidates)
        }
    assert answers[("StampProperty", 0)] and answers[("AddinMarkProperty", 6)]
    assert not answers[("StampProperty", 2)]

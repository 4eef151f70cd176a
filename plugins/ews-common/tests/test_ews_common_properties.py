"""roomsync's extended properties are written as exchangelib writes them, with less work per item."""

from __future__ import annotations

import pytest
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

"""The Outlook add-in's mark: the property's name and the stamp in the JSON a client wrote."""

from __future__ import annotations

import json

import pytest

from roomsync import addin_mark

NAME = "cecp-cca4901b-2fce-40e8-9cae-729eae41cfcb"


@pytest.mark.parametrize(
    "addin_id",
    [
        "{CCA4901B-2FCE-40E8-9CAE-729EAE41CFCB}",
        "urn:uuid:CCA4901B-2FCE-40E8-9CAE-729EAE41CFCB",
        "URN:UUID:cca4901b-2fce-40e8-9cae-729eae41cfcb",
        " cca4901b-2fce-40e8-9cae-729eae41cfcb ",
    ],
)
def test_property_name_is_the_manifest_id_bare_and_lower_case(addin_id: str) -> None:
    assert addin_mark.property_name(addin_id) == NAME


def test_property_name_defaults_to_roomsyncs_addin() -> None:
    assert addin_mark.property_name() == NAME


def test_the_stamp_written_is_the_stamp_read() -> None:
    stamp = "8d0a4a52-6f0c-4d43-9a83-2c1f1f2d6c3e:42"
    assert addin_mark.stamp_in(addin_mark.custom_properties(stamp)) == stamp


def test_other_custom_properties_beside_the_stamp_are_ignored() -> None:
    written = json.dumps({"colour": "blue", addin_mark.STAMP_KEY: " a:1 "})
    assert addin_mark.stamp_in(written) == "a:1"


@pytest.mark.parametrize(
    "written",
    [
        None,
        "",
        "{not json",
        '"a:1"',
        '["a:1"]',
        "null",
        "{}",
        '{"other": "a:1"}',
        json.dumps({addin_mark.STAMP_KEY: 1}),
        json.dumps({addin_mark.STAMP_KEY: None}),
        json.dumps({addin_mark.STAMP_KEY: "   "}),
        json.dumps({addin_mark.STAMP_KEY: "a:1", "padding": "x" * addin_mark.MAX_CHARS}),
    ],
    ids=[
        "none",
        "empty",
        "bad-json",
        "string",
        "array",
        "null",
        "no-key",
        "other-key",
        "number",
        "json-null",
        "blank",
        "too-long",
    ],
)
def test_anything_but_an_object_with_a_stamp_is_no_mark(written: str | None) -> None:
    assert addin_mark.stamp_in(written) is None

"""``roomsync addin manifest``: the manifest is valid against Microsoft's schema and names our URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from roomsync import addin_mark
from roomsync.cli.main import cli

SCHEMAS = Path(__file__).parent / "manifest_schemas"
CLIENT_ID = "6b1d2a4e-1f7c-4a55-9a53-2f0b3f0a9d11"
A = "{http://schemas.microsoft.com/office/appforoffice/1.1}"


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "OfficeAppManifestV1_1.xsd")))


def _manifest(*args: str) -> etree._Element:
    result = CliRunner().invoke(cli, ["addin", "manifest", *args])
    assert result.exit_code == 0, result.output
    return etree.fromstring(result.stdout.encode("utf-8"))


def _valid(schema: etree.XMLSchema, doc: etree._Element) -> None:
    assert schema.validate(doc), "\n".join(f"{e.line}: {e.message}" for e in schema.error_log)


@pytest.mark.parametrize("extra", [(), ("--client-id", CLIENT_ID)], ids=["dialog", "single-sign-on"])
def test_the_manifest_is_valid_and_points_at_the_service(
    schema: etree.XMLSchema, extra: tuple[str, ...]
) -> None:
    doc = _manifest("--base-url", "https://rooms.example.ch/", *extra)
    _valid(schema, doc)
    assert doc.findtext(f"{A}Id") == addin_mark.ADDIN_ID  # the mark's property name follows from it
    pane = doc.find(f"{A}FormSettings/{A}Form/{A}DesktopSettings/{A}SourceLocation")
    assert pane is not None and pane.get("DefaultValue") == "https://rooms.example.ch/addin/taskpane.html"
    rule = doc.find(f"{A}Rule/{A}Rule")
    assert rule is not None and (rule.get("ItemType"), rule.get("FormType")) == ("Appointment", "Edit")
    names = {o.get("Locale"): o.get("Value") for o in doc.iterfind(f"{A}DisplayName/{A}Override")}
    assert doc.find(f"{A}DisplayName").get("DefaultValue") == "Raum buchen"  # type: ignore[union-attr]
    assert set(names) == {"fr-CH", "it-CH", "en-US"}
    text = etree.tostring(doc).decode()
    assert (f"api://rooms.example.ch/{CLIENT_ID}" in text) == bool(extra)


def test_the_manifest_is_written_to_a_file(tmp_path: Path, schema: etree.XMLSchema) -> None:
    target = tmp_path / "roomsync-addin.xml"
    result = CliRunner().invoke(
        cli, ["addin", "manifest", "--base-url", "https://r.example.ch", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    _valid(schema, etree.parse(str(target)).getroot())


@pytest.mark.parametrize(
    "url", ["http://rooms.example.ch", "rooms.example.ch", "https://rooms.example.ch/?x=1", "https://"]
)
def test_a_base_url_office_cannot_load_is_refused_naming_the_option(url: str) -> None:
    result = CliRunner().invoke(cli, ["addin", "manifest", "--base-url", url])
    assert result.exit_code == 2
    assert "--base-url" in result.output


def test_the_schema_refuses_elements_out_of_order(schema: etree.XMLSchema) -> None:
    doc = _manifest("--base-url", "https://rooms.example.ch")
    version = doc.find(f"{A}Version")
    assert version is not None
    doc.remove(version)
    doc.append(version)  # after VersionOverrides: Outlook would refuse it, so must the schema
    assert not schema.validate(doc)

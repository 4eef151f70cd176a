"""``roomsync addin manifest``: the manifest is valid against Microsoft's schema and names our URLs."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree

from roomsync import addin_mark
from roomsync.cli.main import cli
from roomsync_web.addin import routes

SCHEMAS = Path(__file__).parent / "manifest_schemas"
CLIENT_ID = "6b1d2a4e-1f7c-4a55-9a53-2f0b3f0a9d11"
A = "{http://schemas.microsoft.com/office/appforoffice/1.1}"
BT = "{http://schemas.microsoft.com/office/officeappbasictypes/1.0}"
O11 = "{http://schemas.microsoft.com/office/mailappversionoverrides/1.1}"


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
    sso = doc.find(f".//{O11}WebApplicationInfo")
    if extra:
        assert sso is not None
        assert sso.findtext(f"{O11}Id") == CLIENT_ID
        assert sso.findtext(f"{O11}Resource") == f"api://rooms.example.ch/{CLIENT_ID}"
        assert [s.text for s in sso.iterfind(f"{O11}Scopes/{O11}Scope")] == ["openid", "profile"]
    else:
        assert sso is None


def _urls(doc: etree._Element) -> dict[str, str]:
    """Every URL of the manifest, by the element naming it (resources by their id)."""
    urls = {
        tag: doc.find(f"{A}{tag}").get("DefaultValue")
        for tag in ("IconUrl", "HighResolutionIconUrl", "SupportUrl")
    }  # type: ignore[union-attr]
    urls["AppDomain"] = doc.findtext(f"{A}AppDomains/{A}AppDomain") or ""
    for resource in doc.iterfind(f".//{O11}Resources/{BT}Images/{BT}Image"):
        urls[resource.get("id") or ""] = resource.get("DefaultValue") or ""
    for resource in doc.iterfind(f".//{O11}Resources/{BT}Urls/{BT}Url"):
        urls[resource.get("id") or ""] = resource.get("DefaultValue") or ""
    return urls


def test_every_url_is_under_the_base_url_and_the_button_opens_the_pane(schema: etree.XMLSchema) -> None:
    doc = _manifest("--base-url", "https://www.example.ch/rooms/")
    _valid(schema, doc)
    base = "https://www.example.ch/rooms/addin"
    assert _urls(doc) == {
        "IconUrl": f"{base}/icon-64.png",
        "HighResolutionIconUrl": f"{base}/icon-128.png",
        "SupportUrl": f"{base}/taskpane.html",
        "AppDomain": "https://www.example.ch",  # the origin, not the path
        "icon16": f"{base}/icon-16.png",
        "icon32": f"{base}/icon-32.png",
        "icon80": f"{base}/icon-80.png",
        "paneUrl": f"{base}/taskpane.html",
    }
    X = "{http://www.w3.org/2001/XMLSchema-instance}type"
    point = doc.find(f".//{O11}DesktopFormFactor/{O11}ExtensionPoint")
    assert point is not None and point.get(X) == "mailappor11:AppointmentOrganizerCommandSurface"
    action = point.find(f".//{O11}Control/{O11}Action")
    assert action is not None and action.get(X) == "mailappor11:ShowTaskpane"
    assert action.find(f"{O11}SourceLocation").get("resid") == "paneUrl"  # type: ignore[union-attr]
    labels = {
        o.get("Locale"): o.get("Value")
        for o in doc.iterfind(f".//{BT}ShortStrings/{BT}String[@id='buttonLabel']/{BT}Override")
    }
    assert labels == {"fr-CH": "Réserver une salle", "it-CH": "Prenota una sala", "en-US": "Book a room"}


def test_name_and_provider_are_the_administrators_choice(schema: etree.XMLSchema) -> None:
    doc = _manifest(
        "--base-url", "https://rooms.example.ch", "--name", "Salle & Raum <ZH>", "--provider", "Stadt Zürich"
    )
    _valid(schema, doc)
    assert doc.findtext(f"{A}ProviderName") == "Stadt Zürich"
    name = doc.find(f"{A}DisplayName")
    assert name is not None and name.get("DefaultValue") == "Salle & Raum <ZH>" and len(name) == 0
    label = doc.find(f".//{BT}ShortStrings/{BT}String[@id='buttonLabel']")
    assert label is not None and label.get("DefaultValue") == "Salle & Raum <ZH>" and len(label) == 0
    assert doc.findtext(f"{A}Id") == addin_mark.ADDIN_ID


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


@pytest.mark.parametrize(
    ("option", "value"), [("--client-id", "my-app"), ("--name", " "), ("--provider", "x" * 126)]
)
def test_a_value_the_schema_would_refuse_is_refused_naming_the_option(option: str, value: str) -> None:
    result = CliRunner().invoke(
        cli, ["addin", "manifest", "--base-url", "https://r.example.ch", option, value]
    )
    assert result.exit_code == 2
    assert option in result.output


def test_the_icons_the_manifest_names_are_served_as_png() -> None:
    app = FastAPI()
    routes.mount(app)
    with TestClient(app) as client:
        for size in (16, 32, 64, 80, 128):
            response = client.get(f"/addin/icon-{size}.png")
            assert response.status_code == 200
            assert response.headers["content-type"] == "image/png"
            body = response.content
            assert body.startswith(b"\x89PNG\r\n\x1a\n") and body[12:16] == b"IHDR"
            assert struct.unpack(">II", body[16:24]) == (size, size)
        assert client.get("/addin/icon-15.png").status_code == 404
        assert client.get("/addin/icons.py").status_code == 404
        assert client.get("/addin/taskpane.html").status_code == 200


def test_the_schema_refuses_elements_out_of_order(schema: etree.XMLSchema) -> None:
    doc = _manifest("--base-url", "https://rooms.example.ch")
    version = doc.find(f"{A}Version")
    assert version is not None
    doc.remove(version)
    doc.append(version)  # after VersionOverrides: Outlook would refuse it, so must the schema
    assert not schema.validate(doc)

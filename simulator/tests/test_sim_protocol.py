"""The simulator as an EWS endpoint: versions, GetFolder, authentication, hostile requests."""

from __future__ import annotations

import base64
import time

import pytest
import requests
from exchangelib.errors import UnauthorizedError
from lxml import etree

from roomsync_sim.soap import SOAP, T
from sim_support import Org

AUTH = {"Authorization": "Basic " + base64.b64encode(b"alice@example.org:alice-pw").decode()}
EXPECTED_VERSION = {
    "exchange2007": "Exchange2007_SP1",
    "exchange2010": "Exchange2010_SP2",
    "exchange2013": "Exchange2016",
}


def envelope(operation_xml: str, version: str = "Exchange2007_SP1", header_extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        f'<s:Header><t:RequestServerVersion Version="{version}"/>{header_extra}</s:Header>'
        f"<s:Body>{operation_xml}</s:Body></s:Envelope>"
    ).encode()


GET_CALENDAR = (
    "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>'
)


def post(org: Org, data: bytes, **headers: str) -> requests.Response:
    return requests.post(
        org.running.ews_url, data=data, headers={**AUTH, "Content-Type": "text/xml", **headers}, timeout=10
    )


def fault_code(resp: requests.Response) -> str:
    root = etree.fromstring(resp.content)
    detail = root.find(f".//{{{SOAP}}}Fault/detail")
    code = (
        detail.findtext("{http://schemas.microsoft.com/exchange/services/2006/errors}ResponseCode")
        if (detail is not None)
        else None
    )
    return code or root.findtext(f".//{{{SOAP}}}Fault/faultcode") or ""


def test_pinned_version_reads_the_calendar(org: Org) -> None:
    account = org.account()
    calendar = account.calendar
    assert calendar.name == "Calendar"
    assert calendar.total_count == 0
    assert org.sim.counts["GetFolder"] >= 1


def test_version_guessing_arrives_at_the_dialect(org: Org) -> None:
    account = org.account(pinned=False)
    assert account.version.api_version == EXPECTED_VERSION[org.dialect]
    sv = org.sim.dialect.server_version
    assert (account.version.build.major_version, account.version.build.minor_version) == (sv.major, sv.minor)
    assert account.calendar.total_count == 0


def test_unknown_version_is_refused(org: Org) -> None:
    resp = post(org, envelope(GET_CALENDAR, version="Exchange2099"))
    assert resp.status_code == 500
    assert fault_code(resp) == "ErrorInvalidServerVersion"
    newer = {"exchange2007": "Exchange2010", "exchange2010": "Exchange2013", "exchange2013": None}[
        org.dialect
    ]
    if newer:
        assert fault_code(post(org, envelope(GET_CALENDAR, version=newer))) == "ErrorInvalidServerVersion"


def test_responses_carry_server_version_info(org: Org) -> None:
    resp = post(org, envelope(GET_CALENDAR))
    assert resp.status_code == 200
    info = etree.fromstring(resp.content).find(f".//{{{T}}}ServerVersionInfo")
    assert info is not None
    assert info.get("MajorVersion") == str(org.sim.dialect.server_version.major)
    assert info.get("Version") == org.sim.dialect.server_version.version


def test_wrong_password_is_unauthorized(org: Org) -> None:
    account = org.account(password="wrong")
    with pytest.raises(UnauthorizedError):
        account.calendar.refresh()
    resp = requests.post(org.running.ews_url, data=envelope(GET_CALENDAR), timeout=5)
    assert resp.status_code == 401
    assert "basic" in resp.headers["WWW-Authenticate"].lower()


def test_malformed_xml_is_a_schema_validation_fault(org: Org) -> None:
    resp = post(org, b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body><oops")
    assert resp.status_code == 500
    assert fault_code(resp) == "ErrorSchemaValidation"


def test_entity_bomb_is_refused_quickly(org: Org) -> None:
    lol = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE s:Envelope [{lol}]>'.encode()
        + envelope("<m:GetFolder>&a9;</m:GetFolder>").split(b"?>", 1)[1]
    )
    started = time.monotonic()
    resp = post(org, bomb)
    assert time.monotonic() - started < 2
    assert resp.status_code == 500
    assert fault_code(resp) == "ErrorSchemaValidation"
    assert "DTD is prohibited" in resp.text


def test_oversized_body_is_refused_without_reading_it(org: Org) -> None:
    org.sim.max_body = 64 * 1024
    resp = post(org, envelope(GET_CALENDAR.replace("Default", "Default" + " " * 100_000)))
    assert resp.status_code == 413


def test_unknown_operation_and_wrong_soap_action(org: Org) -> None:
    resp = post(org, envelope("<m:BookTheMoon/>"))
    assert resp.status_code == 500
    expected = "a:ActionNotSupported" if org.dialect != "exchange2007" else "s:Client"
    assert fault_code(resp) == expected
    resp = post(
        org,
        envelope(GET_CALENDAR),
        SOAPAction='"http://schemas.microsoft.com/exchange/services/2006/messages/DeleteItem"',
    )
    assert fault_code(resp) == expected
    resp = post(
        org,
        envelope(GET_CALENDAR),
        SOAPAction='"http://schemas.microsoft.com/exchange/services/2006/messages/GetFolder"',
    )
    assert resp.status_code == 200


def test_operations_the_dialect_lacks_are_refused(org: Org) -> None:
    resp = post(org, envelope('<m:GetServerTimeZones ReturnFullTimeZoneData="false"/>'))
    if org.dialect == "exchange2007":
        assert fault_code(resp) == "s:Client"
    else:
        assert fault_code(resp) != "s:Client"


def test_schema_documents_are_served(org: Org) -> None:
    for name in ("Services.wsdl", "messages.xsd", "types.xsd"):
        resp = requests.get(f"{org.running.base_url}/EWS/{name}", headers=AUTH, timeout=5)
        assert resp.status_code == 200
        assert resp.content == org.sim.dialect.schema_file(name).read_bytes()


def test_schema_invalid_request_gets_exchanges_fault(org: Org) -> None:
    org.expect_refusal()
    resp = post(org, envelope(GET_CALENDAR.replace('Id="calendar"', 'Id="calendar" Bogus="1"')))
    assert resp.status_code == 500
    assert fault_code(resp) == "ErrorSchemaValidation"
    assert "'Bogus' attribute is not declared" in resp.text

"""The shared EWS options model on its own, and that ews-common is no connector."""

from __future__ import annotations

from importlib.metadata import distribution
from typing import Any

import pytest
from pydantic import ValidationError

from roomsync.plugins import connector_names
from roomsync_ews_common import EwsConnector, EwsOptions


def options(**changes: Any) -> EwsOptions:
    values: dict[str, Any] = {
        "url": "https://mail.example.org/EWS/Exchange.asmx",
        "username": "svc-roomsync@example.org",
        "password": {"env": "ROOMSYNC_TEST_EWS_PASSWORD"},
    }
    values.update(changes)
    return EwsOptions.model_validate(values)


def test_registers_no_connector() -> None:
    assert list(distribution("roomsync-ews-common").entry_points) == []
    assert "ews-common" not in connector_names()
    assert {"exchange2007", "exchange2010", "exchange2013"} <= set(connector_names())


def test_allow_http_counts_wherever_it_is_written() -> None:
    # A TOML table has no order that matters: allow_http after url must work as well.
    values = {
        "url": "http://127.0.0.1:8080/EWS/Exchange.asmx",
        "username": "svc",
        "password": {"env": "X"},
        "allow_http": True,
    }
    assert EwsOptions.model_validate(values).url == "http://127.0.0.1:8080/EWS/Exchange.asmx"


def test_url_and_username_are_trimmed() -> None:
    parsed = options(url="  https://mail.example.org/EWS/Exchange.asmx ", username=" svc-roomsync ")

    assert parsed.url == "https://mail.example.org/EWS/Exchange.asmx"
    assert parsed.username == "svc-roomsync"


@pytest.mark.parametrize("zone", ["", "../../etc/passwd", "/etc/localtime", "Mars/Olympus"])
def test_time_zone_must_be_an_iana_name(zone: str) -> None:
    with pytest.raises(ValidationError) as caught:
        options(timezone=zone)

    assert caught.value.errors()[0]["loc"] == ("timezone",)


def test_requests_wait_10_s_to_connect_and_60_s_for_an_answer_unless_configured() -> None:
    assert options().timeouts == (10, 60)
    assert options(connect_timeout_seconds=2.5, read_timeout_seconds=30).timeouts == (2.5, 30)


@pytest.mark.parametrize("key", ["connect_timeout_seconds", "read_timeout_seconds"])
@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), "soon", 10_000])
def test_time_outs_are_positive_finite_seconds(key: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        options(**{key: value})

    assert caught.value.errors()[0]["loc"] == (key,)


def test_options_are_frozen() -> None:
    parsed = options()

    with pytest.raises(ValidationError):
        parsed.max_concurrency = 8  # type: ignore[misc]


def test_the_base_builds_its_notes_from_the_class_attributes() -> None:
    class Trial(EwsConnector):
        name = "trial"
        request_server_version = "Exchange2016"
        serves = "a test"

    capabilities = Trial("env", options()).roomsync_capabilities()

    assert capabilities.notes[:2] == (
        "this release of roomsync-trial speaks EWS; changes arrive by streaming notifications "
        "(impersonation only: delegate access is polled), and SyncFolderItems every cycle catches "
        "whatever they miss",
        "for a test; EWS dialect Exchange2016",
    )


def test_options_describe_themselves_for_documentation() -> None:
    schema = EwsOptions.model_json_schema()

    # username and password are required with basic and NTLM only (validators say so), not with Kerberos.
    assert schema["required"] == ["url"]
    assert "Kerberos" in schema["properties"]["password"]["description"]
    assert "simulator" in schema["properties"]["allow_http"]["description"]
    assert schema["additionalProperties"] is False

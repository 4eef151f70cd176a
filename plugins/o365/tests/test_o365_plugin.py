"""roomsync-o365 as installed: found by name, strict about its options, clear without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from roomsync.connector.host import ConnectorHost
from roomsync.errors import ConfigError, ConnectorError
from roomsync.plugins import connector_class, installed_plugins
from roomsync.testkit.hook_calls import server_hook_calls
from roomsync_o365 import O365Connector, O365Options

ENVIRONMENT = "online"
SECRET_ENV = "ROOMSYNC_TEST_O365_SECRET"
SECRET = "o365~Secret.4711"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
OTHER_TENANT = "0b8c3f2a-95c3-4a4e-9f3e-3c0f1a2b4c5d"
OTHER_CLIENT = "9d1c6e1e-4b0a-4f5e-8a57-1e2d3c4b5a69"
UNREACHABLE = "https://127.0.0.1:9"  # the discard port: refused at once

HOST_CALLS = server_hook_calls()


def good_options(**changes: Any) -> dict[str, Any]:
    """Options as they come from a configuration file; a ``None`` value removes the key."""
    options: dict[str, Any] = {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": {"env": SECRET_ENV},
    }
    options.update(changes)
    return {key: value for key, value in options.items() if value is not None}


def override(**changes: Any) -> dict[str, Any]:
    return {"tenant_id": OTHER_TENANT, "client_id": OTHER_CLIENT, "client_secret": {"env": "OTHER"}} | changes


def connector(**changes: Any) -> O365Connector:
    found = connector_class("o365", ENVIRONMENT).from_config(
        ENVIRONMENT, good_options(**changes), "roomsync.toml"
    )
    assert isinstance(found, O365Connector)
    return found


def test_entry_point_resolves_to_the_connector() -> None:
    assert connector_class("o365", ENVIRONMENT) is O365Connector


def test_listed_with_its_distribution() -> None:
    [entry] = [p for p in installed_plugins() if p.kind == "connector" and p.name == "o365"]
    assert (entry.distribution, entry.version) == ("roomsync-o365", "0.1.0")


def test_good_options_with_defaults() -> None:
    options = connector().options

    assert options == O365Options.model_validate(good_options())
    assert (options.tenant_id, options.client_id) == (TENANT, CLIENT)
    assert options.graph_url == "https://graph.microsoft.com/v1.0"
    assert options.login_url == "https://login.microsoftonline.com"
    assert (options.verify_tls, options.ca_file, options.tenant_overrides) == (True, None, {})
    assert (options.timezone, options.send_invitations, options.notification_url) == (
        "UTC",
        "all-and-save-copy",
        None,
    )
    assert (options.delta_past_days, options.delta_future_days, options.webhook_bind) == (
        30,
        365,
        "127.0.0.1:8765",
    )
    assert options.timeouts == (10, 60)


def test_request_timeout_seconds_is_still_read_as_the_read_timeout() -> None:
    assert connector(request_timeout_seconds=15).options.timeouts == (10, 15)


def test_every_option_set(tmp_path: Path) -> None:
    ca_file = tmp_path / "proxy-ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    options = connector(
        tenant_id="Example.onmicrosoft.com",
        client_id=CLIENT.upper(),
        graph_url="https://graph.microsoft.us/v1.0/",
        login_url="https://login.microsoftonline.us",
        ca_file=str(ca_file),
        timezone="Europe/Berlin",
        notification_url="https://hooks.example.org/roomsync/",
        webhook_bind="0.0.0.0:9443",
        delta_past_days=10,
        delta_future_days=400,
        tenant_overrides={"@Subsidiary.Example": override()},
    ).options

    assert options.tenant_id == "example.onmicrosoft.com"
    assert options.client_id == CLIENT
    assert options.graph_url == "https://graph.microsoft.us/v1.0"
    assert options.ca_file == ca_file
    assert list(options.tenant_overrides) == ["subsidiary.example"]
    assert options.notification_url == "https://hooks.example.org/roomsync"
    assert options.bind_address == ("0.0.0.0", 9443)
    assert options.timezone == "Europe/Berlin"


def test_certificate_instead_of_secret(tmp_path: Path) -> None:
    options = connector(
        client_secret=None,
        client_certificate={"file": str(tmp_path / "app.pem")},
        certificate_passphrase={"env": "PASS"},
        tenant_overrides={"subsidiary.example": override()},
    ).options

    assert options.client_secret is None
    assert options.client_certificate is not None and options.client_certificate.file == tmp_path / "app.pem"


def test_mailboxes_use_their_domains_tenant() -> None:
    options = connector(tenant_overrides={"subsidiary.example": override()}).options

    assert options.credentials_for("bo@Subsidiary.Example").tenant_id == OTHER_TENANT
    assert options.credentials_for("bo@subsidiary.example").client_id == OTHER_CLIENT
    assert options.credentials_for("ada@example.org").tenant_id == TENANT
    assert options.credentials_for("eve@sub.subsidiary.example").tenant_id == TENANT


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        ({"graph_url": "http://graph.microsoft.com/v1.0"}, "graph_url", "https"),
        ({"login_url": "https://user:pw@login.microsoftonline.com"}, "login_url", "credentials"),
        ({"tenant": TENANT}, "tenant", "Extra inputs"),
        ({"tenant_id": "common"}, "tenant_id", "names no tenant"),
        ({"tenant_id": "not a tenant"}, "tenant_id", "GUID"),
        ({"client_id": "roomsync"}, "client_id", "GUID"),
        ({"client_secret": None}, "", "exactly one of client_secret or client_certificate"),
        ({"client_certificate": {"env": "PEM"}}, "", "exactly one of client_secret or client_certificate"),
        ({"certificate_passphrase": {"env": "X"}}, "", "belongs to client_certificate"),
        ({"client_secret": "hunter2"}, "client_secret", "never the secret itself"),
        ({"client_certificate": "hunter2", "client_secret": None}, "client_certificate", "never the secret"),
        ({"timezone": "W. Europe Standard Time"}, "timezone", "IANA"),
        ({"send_invitations": "none"}, "send_invitations", "not possible over Microsoft Graph"),
        ({"notification_url": "http://hooks.example.org/x"}, "notification_url", "https"),
        ({"webhook_bind": "8765"}, "webhook_bind", "host:port"),
        ({"delta_past_days": 0}, "delta_past_days", "greater than or equal to 1"),
        ({"connect_timeout_seconds": 0}, "connect_timeout_seconds", "greater than 0"),
        ({"connect_timeout_seconds": float("inf")}, "connect_timeout_seconds", "finite number"),
        ({"read_timeout_seconds": float("nan")}, "read_timeout_seconds", "finite number"),
        ({"read_timeout_seconds": -1}, "read_timeout_seconds", "greater than 0"),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file", "not found"),
        ({"ca_file": "ca.pem", "verify_tls": False}, "ca_file", "verify_tls"),
        (
            {"tenant_overrides": {"subsidiary.example": override(secret={"env": "X"})}},
            "tenant_overrides.subsidiary.example.secret",
            "Extra inputs",
        ),
        (
            {"tenant_overrides": {"subsidiary.example": override(client_secret="hunter2")}},
            "tenant_overrides.subsidiary.example.client_secret",
            "never the secret itself",
        ),
        (
            {"tenant_overrides": {"not a domain": override()}},
            "tenant_overrides.not a domain.[key]",
            "mail domain",
        ),
        (
            {"tenant_overrides": {"a.example": override(), "A.example": override()}},
            "tenant_overrides",
            "given twice",
        ),
    ],
)
def test_bad_option_names_its_key(change: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        connector(**change)

    assert caught.value.key == f"environments.{ENVIRONMENT}.options" + (f".{key}" if key else "")
    assert caught.value.file == "roomsync.toml"
    assert fragment in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_secret_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv("OTHER", SECRET)
    found = connector(tenant_overrides={"subsidiary.example": override()})
    secret = found.options.client_secret
    other = found.options.credentials_for("bo@subsidiary.example").client_secret
    assert secret is not None and other is not None

    assert secret.reveal().get_secret_value() == SECRET
    assert other.reveal().get_secret_value() == SECRET
    for text in (repr(found.options), str(found.options), repr(found), str(found.options.model_dump())):
        assert SECRET not in text


@pytest.mark.parametrize("hook", sorted(HOST_CALLS))
def test_server_hooks_name_an_unreachable_endpoint(hook: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    host = ConnectorHost(ENVIRONMENT, connector(graph_url=f"{UNREACHABLE}/v1.0", login_url=UNREACHABLE))

    if hook == "roomsync_check":
        steps = host.check("ada@example.org")  # the check reports, it never raises
        assert steps and all(not s.ok for s in steps)
        assert "roomsync-o365" in steps[0].detail and UNREACHABLE in steps[0].detail
        assert SECRET not in " ".join(s.detail for s in steps)
        host.close()
        return
    with pytest.raises(ConnectorError) as caught:
        HOST_CALLS[hook](host)

    message = str(caught.value)
    assert message.startswith("roomsync-o365, environment 'online': cannot ")
    assert UNREACHABLE in message
    assert SECRET not in message
    assert caught.value.transient
    host.close()


def test_a_missing_secret_is_named_not_shown() -> None:
    host = ConnectorHost(ENVIRONMENT, connector(client_secret={"env": "ROOMSYNC_TEST_O365_UNSET"}))

    with pytest.raises(ConnectorError) as caught:
        host.list_entries(
            "ada@example.org", datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 1, 2, tzinfo=UTC)
        )
    assert "ROOMSYNC_TEST_O365_UNSET is not set" in str(caught.value)
    host.close()


def test_capabilities_carry_graph_limits_and_close_is_quiet() -> None:
    host = ConnectorHost(ENVIRONMENT, connector(tenant_overrides={"subsidiary.example": override()}))

    capabilities = host.capabilities()
    assert (capabilities.max_batch, capabilities.max_freebusy_mailboxes, capabilities.max_freebusy_days) == (
        20,
        20,
        61,
    )
    assert not capabilities.push
    assert "speaks Microsoft Graph v1.0" in capabilities.notes[0]
    assert "2 tenant(s)" in capabilities.notes
    host.close()


def test_push_with_a_notification_url_and_polling_without() -> None:
    with_hooks = connector(notification_url="https://hooks.example.org/roomsync")
    assert with_hooks.roomsync_capabilities().push
    assert connector().roomsync_watch(["ada@example.org"], lambda woken: None) is False

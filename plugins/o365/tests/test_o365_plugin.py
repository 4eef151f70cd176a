"""roomsync-o365 as installed: found by name, strict about its options, honest about its status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from roomsync.connector import ConnectorHost
from roomsync.errors import ConfigError, ConnectorError
from roomsync.plugins import connector_class, installed_plugins
from roomsync.testkit.hook_calls import server_hook_calls
from roomsync_o365 import O365Connector, O365Options
from roomsync_o365.connector import PROTOCOL_PENDING

ENVIRONMENT = "online"
SECRET_ENV = "ROOMSYNC_TEST_O365_SECRET"
SECRET = "o365~Secret.4711"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
OTHER_TENANT = "0b8c3f2a-95c3-4a4e-9f3e-3c0f1a2b4c5d"
OTHER_CLIENT = "9d1c6e1e-4b0a-4f5e-8a57-1e2d3c4b5a69"

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


def test_every_option_set(tmp_path: Path) -> None:
    ca_file = tmp_path / "proxy-ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    options = connector(
        tenant_id="Example.onmicrosoft.com",
        client_id=CLIENT.upper(),
        graph_url="https://graph.microsoft.us/v1.0/",
        login_url="https://login.microsoftonline.us",
        ca_file=str(ca_file),
        tenant_overrides={"@Subsidiary.Example": override()},
    ).options

    assert options.tenant_id == "example.onmicrosoft.com"
    assert options.client_id == CLIENT
    assert options.graph_url == "https://graph.microsoft.us/v1.0"
    assert options.ca_file == ca_file
    assert list(options.tenant_overrides) == ["subsidiary.example"]


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
        ({"client_secret": None}, "client_secret", "required"),
        ({"client_secret": "hunter2"}, "client_secret", "never the secret itself"),
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

    assert caught.value.key == f"environments.{ENVIRONMENT}.options.{key}"
    assert caught.value.file == "roomsync.toml"
    assert fragment in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_secret_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv("OTHER", SECRET)
    found = connector(tenant_overrides={"subsidiary.example": override()})

    assert found.options.client_secret.reveal().get_secret_value() == SECRET
    assert (
        found.options.credentials_for("bo@subsidiary.example").client_secret.reveal().get_secret_value()
        == SECRET
    )
    for text in (repr(found.options), str(found.options), repr(found), str(found.options.model_dump())):
        assert SECRET not in text


@pytest.mark.parametrize("hook", sorted(HOST_CALLS))
def test_server_hooks_say_protocol_support_is_pending(hook: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    host = ConnectorHost(ENVIRONMENT, connector())

    with pytest.raises(ConnectorError) as caught:
        HOST_CALLS[hook](host)

    message = str(caught.value)
    assert message.startswith(f"this release of roomsync-o365 {PROTOCOL_PENDING}")
    assert "does not yet speak Microsoft Graph" in message
    assert hook in message
    assert repr(ENVIRONMENT) in message
    assert SECRET not in message
    assert not caught.value.transient


def test_capabilities_carry_graph_limits_and_close_is_quiet() -> None:
    host = ConnectorHost(ENVIRONMENT, connector(tenant_overrides={"subsidiary.example": override()}))

    capabilities = host.capabilities()
    assert (capabilities.max_batch, capabilities.max_freebusy_mailboxes, capabilities.max_freebusy_days) == (
        20,
        20,
        61,
    )
    assert not capabilities.push
    assert capabilities.notes[0] == f"this release of roomsync-o365 {PROTOCOL_PENDING}"
    assert "2 tenant(s)" in capabilities.notes
    host.close()

"""The checks every EWS plugin's own tests run, written once.

A plugin's test module subclasses :class:`EwsPluginContract` under a ``Test...`` name and sets
``plugin`` and ``connector_class``; the tests then run against the plugin as installed, through
its entry point. Needs pytest (``pip install roomsync-ews-common[test]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from roomsync.config import SecretRef
from roomsync.connector import ConnectorHost
from roomsync.errors import ConfigError, ConnectorError
from roomsync.plugins import connector_class, installed_plugins
from roomsync.testkit.hook_calls import server_hook_calls
from roomsync_ews_common.connector import PROTOCOL_PENDING, EwsConnector
from roomsync_ews_common.options import EwsOptions

ENVIRONMENT = "onprem"
PASSWORD_ENV = "ROOMSYNC_TEST_EWS_PASSWORD"
PASSWORD = "Ews-Secret#4711"

HOST_CALLS = server_hook_calls()

# (a change to good options, the key the error must name, a word the message must contain)
BAD_OPTIONS: list[tuple[dict[str, Any], str, str]] = [
    ({"url": "http://mail.example.org/EWS/Exchange.asmx"}, "url", "https"),
    ({"url": "mail.example.org/EWS/Exchange.asmx"}, "url", "absolute URL"),
    ({"url": "https://svc:pw@mail.example.org/EWS/Exchange.asmx"}, "url", "credentials"),
    ({"passwrd": {"env": PASSWORD_ENV}}, "passwrd", "Extra inputs"),
    ({"timezone": "Europe/Berln"}, "timezone", "IANA"),
    ({"timezone": "W. Europe Standard Time"}, "timezone", "IANA"),
    ({"password": None}, "password", "required"),
    ({"password": "hunter2"}, "password", "never the secret itself"),
    ({"password": {"env": PASSWORD_ENV, "file": "/run/secrets/x"}}, "password", "exactly one"),
    ({"username": "  "}, "username", "empty"),
    ({"auth": "kerberos"}, "auth", "'basic' or 'ntlm'"),
    ({"access": "full"}, "access", "'impersonation' or 'delegate'"),
    ({"max_concurrency": 0}, "max_concurrency", "greater than or equal to 1"),
    ({"send_invitations": "all"}, "send_invitations", "all-and-save-copy"),
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file", "not found"),
    ({"ca_file": "CA", "verify_tls": False}, "ca_file", "verify_tls"),
]


def good_options(**changes: Any) -> dict[str, Any]:
    """Options as they come from a configuration file; a ``None`` value removes the key."""
    options: dict[str, Any] = {
        "url": "https://mail.example.org/EWS/Exchange.asmx",
        "username": "svc-roomsync@example.org",
        "password": {"env": PASSWORD_ENV},
    }
    options.update(changes)
    return {key: value for key, value in options.items() if value is not None}


class EwsPluginContract:
    """What every EWS plugin of this release does; subclass it in the plugin's tests."""

    plugin: ClassVar[str]
    connector_class: ClassVar[type[EwsConnector]]

    def connector(self, **changes: Any) -> EwsConnector:
        found = connector_class(self.plugin, ENVIRONMENT)
        connector = found.from_config(ENVIRONMENT, good_options(**changes), "roomsync.toml")
        assert isinstance(connector, EwsConnector)
        return connector

    def test_entry_point_resolves_to_the_connector(self) -> None:
        assert connector_class(self.plugin, ENVIRONMENT) is self.connector_class
        assert self.connector_class.name == self.plugin

    def test_listed_with_its_distribution(self) -> None:
        [entry] = [p for p in installed_plugins() if p.kind == "connector" and p.name == self.plugin]
        assert entry.distribution == f"roomsync-{self.plugin}"
        assert entry.version == "0.1.0"

    def test_good_options_with_defaults(self) -> None:
        connector = self.connector()

        assert connector.environment == ENVIRONMENT
        assert connector.options == EwsOptions(
            url="https://mail.example.org/EWS/Exchange.asmx",
            username="svc-roomsync@example.org",
            password=SecretRef(env=PASSWORD_ENV),
        )
        options = connector.options
        assert (options.auth, options.access, options.verify_tls, options.ca_file) == (
            "ntlm",
            "impersonation",
            True,
            None,
        )
        assert (options.timezone, options.max_concurrency, options.send_invitations) == (
            "UTC",
            4,
            "all-and-save-copy",
        )

    def test_every_option_set(self, tmp_path: Path) -> None:
        ca_file = tmp_path / "ca.pem"
        ca_file.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
        options = self.connector(
            url="http://127.0.0.1:8080/EWS/Exchange.asmx",
            allow_http=True,
            username="EXAMPLE\\svc-roomsync",
            password={"file": str(tmp_path / "password")},
            auth="basic",
            access="delegate",
            ca_file=str(ca_file),
            timezone="Europe/Berlin",
            max_concurrency=10,
            send_invitations="none",
        ).options

        assert options.url == "http://127.0.0.1:8080/EWS/Exchange.asmx"
        assert options.username == "EXAMPLE\\svc-roomsync"
        assert options.ca_file == ca_file
        assert (options.auth, options.access, options.timezone) == ("basic", "delegate", "Europe/Berlin")
        assert (options.max_concurrency, options.send_invitations) == (10, "none")

    @pytest.mark.parametrize(("change", "key", "fragment"), BAD_OPTIONS)
    def test_bad_option_names_its_key(self, change: dict[str, Any], key: str, fragment: str) -> None:
        with pytest.raises(ConfigError) as caught:
            self.connector(**change)

        assert caught.value.key == f"environments.{ENVIRONMENT}.options.{key}"
        assert caught.value.file == "roomsync.toml"
        message = str(caught.value)
        assert f"environments.{ENVIRONMENT}.options.{key}" in message
        assert fragment in message
        assert "hunter2" not in message

    def test_secret_never_shown(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        connector = self.connector()

        assert connector.options.password.reveal().get_secret_value() == PASSWORD
        for text in (repr(connector.options), str(connector.options), repr(connector), str(connector)):
            assert PASSWORD not in text
        assert PASSWORD not in str(connector.options.model_dump())

    @pytest.mark.parametrize("hook", sorted(HOST_CALLS))
    def test_server_hooks_say_protocol_support_is_pending(
        self, hook: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        host = ConnectorHost(ENVIRONMENT, self.connector())

        with pytest.raises(ConnectorError) as caught:
            HOST_CALLS[hook](host)

        message = str(caught.value)
        assert f"roomsync-{self.plugin}" in message
        assert PROTOCOL_PENDING in message
        assert hook in message
        assert repr(ENVIRONMENT) in message
        assert PASSWORD not in message
        assert not caught.value.transient

    def test_capabilities_and_close_answer_without_a_server(self) -> None:
        host = ConnectorHost(ENVIRONMENT, self.connector())

        capabilities = host.capabilities()
        assert capabilities.max_batch == 100
        assert capabilities.max_freebusy_mailboxes == 100
        assert not capabilities.push
        assert capabilities.notes[0] == f"this release of roomsync-{self.plugin} {PROTOCOL_PENDING}"
        assert self.connector_class.request_server_version in capabilities.notes[1]
        host.close()

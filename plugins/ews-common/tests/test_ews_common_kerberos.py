"""``auth = "kerberos"``: what reaches exchangelib, the refusal without requests-gssapi, and the
explanation of a refused logon (here no KDC issues a ticket: the simulator answers 401)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from exchangelib import transport
from exchangelib.transport import GSSAPI

from roomsync.connector.host import ConnectorHost
from roomsync.errors import ConfigError, ConnectorError, Fault
from roomsync.plugins import connector_class
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.options import EwsOptions
from roomsync_ews_common.testing import kerberos_available

URL = "https://mail.example.org/EWS/Exchange.asmx"


@pytest.fixture
def kerberos(monkeypatch: pytest.MonkeyPatch) -> None:
    kerberos_available(monkeypatch)


@pytest.fixture
def pool(kerberos: None) -> Iterator[AccountPool]:
    pool = AccountPool(EwsOptions(url=URL, auth="kerberos"), "Exchange2013")
    yield pool
    pool.close()


def test_the_options_name_no_secret(kerberos: None) -> None:
    options = EwsOptions.model_validate(
        {"url": URL, "auth": "kerberos", "username": "svc-roomsync@EXAMPLE.ORG"}
    )

    assert (options.auth, options.username, options.password) == (
        "kerberos",
        "svc-roomsync@EXAMPLE.ORG",
        None,
    )
    assert "Kerberos principal" in EwsOptions(url=URL, auth="kerberos").account


def test_exchangelib_gets_gssapi_and_no_password(pool: AccountPool) -> None:
    config = pool._configuration()
    account = pool.account("ada@example.org")

    assert config.auth_type == GSSAPI
    assert account.protocol.auth_type == GSSAPI
    assert config.credentials is not None and config.credentials.password == ""
    session = account.protocol.create_session()  # what every request is sent with; no network yet
    try:
        assert isinstance(session.auth, transport.AUTH_TYPE_MAP[GSSAPI])
    finally:
        session.close()


def test_without_requests_gssapi_connecting_names_the_extra(
    pool: AccountPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "requests_gssapi", None)  # as if it were not installed

    with pytest.raises(ConfigError, match=r"pip install 'roomsync-ews-common\[kerberos\]'"):
        pool.account("ada@example.org")


def test_without_requests_gssapi_the_options_are_refused_at_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "requests_gssapi", None)
    found = connector_class("exchange2013", "onprem")

    with pytest.raises(ConfigError) as caught:
        found.from_config("onprem", {"url": URL, "auth": "kerberos"}, "roomsync.toml")

    [problem] = caught.value.problems
    assert (problem.file, problem.key) == ("roomsync.toml", "environments.onprem.options.auth")
    assert "requests-gssapi" in problem.message


@pytest.fixture
def simulator() -> Iterator[Any]:
    from roomsync_sim.testing import running_simulator

    # An Exchange server with Windows authentication: Negotiate (Kerberos or NTLM) and NTLM.
    with running_simulator("exchange2013", auth="negotiate,ntlm") as sim:
        yield sim


def test_a_refused_ticket_is_explained_in_kerberos_terms(kerberos: None, simulator: Any) -> None:
    options = {
        "url": simulator.ews_url,
        "allow_http": True,
        "auth": "kerberos",
        "username": "svc@example.org",
    }
    connector = connector_class("exchange2013", "onprem").from_config("onprem", options, "roomsync.toml")
    host = ConnectorHost("onprem", connector)
    try:
        steps = host.check("alice@example.org")  # what 'roomsync test' shows
        with pytest.raises(ConnectorError) as caught:
            host.list_entries("alice@example.org", *_window())
    finally:
        host.close()

    assert not steps[0].ok
    for text in (steps[0].detail, str(caught.value)):
        assert "Kerberos logon (HTTP 401, Negotiate" in text
        assert "KRB5CCNAME" in text and "HTTP/127.0.0.1" in text
        assert "password" not in text
    assert caught.value.fault is Fault.CREDENTIALS


def _window() -> tuple[Any, Any]:
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC).replace(microsecond=0)
    return start, start + timedelta(days=1)

"""Accounts of one environment never share exchangelib's protocol with another environment's."""

from __future__ import annotations

import pytest
from exchangelib.protocol import Protocol

from roomsync.config import SecretRef
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.options import EwsOptions

PASSWORD_ENV = "ROOMSYNC_TEST_ACCOUNT_PASSWORD"


def options() -> EwsOptions:
    return EwsOptions(
        url="https://mail.example.org/EWS/Exchange.asmx",
        username="svc@example.org",
        password=SecretRef(env=PASSWORD_ENV),
        auth="basic",
    )


def test_two_environments_on_one_server_keep_their_own_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    old, new = AccountPool(options(), "Exchange2007_SP1"), AccountPool(options(), "Exchange2010_SP1")
    try:
        old_protocol = old.account("ada@example.org").protocol
        new_protocol = new.account("ada@example.org").protocol

        assert old_protocol is not new_protocol
        assert old_protocol.version.api_version == "Exchange2007_SP1"
        assert new_protocol.version.api_version == "Exchange2010_SP1"
        config = old._configuration()
    finally:
        old.close()
        new.close()
    with pytest.raises(KeyError):
        Protocol[config]  # a closed pool leaves nothing in exchangelib's cache

"""Sessions of an environment's exchangelib protocol read the proxy and CA-bundle variables once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roomsync.config import SecretRef
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.options import EwsOptions

PASSWORD_ENV = "ROOMSYNC_TEST_ENVIRONMENT_PASSWORD"
URL = "https://mail.example.org/EWS/Exchange.asmx"


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[AccountPool]:
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    made = AccountPool(
        EwsOptions(url=URL, username="svc@example.org", password=SecretRef(env=PASSWORD_ENV)), "Exchange2013"
    )
    yield made
    made.close()


def test_a_session_takes_the_proxy_and_ca_bundle_of_the_environment_when_created(
    pool: AccountPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.org:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/example-bundle.pem")
    session = pool.account("ada@example.org").protocol.create_session()
    assert session.proxies["https"] == "http://proxy.example.org:3128"
    assert session.verify == "/etc/ssl/certs/example-bundle.pem"
    assert not session.trust_env  # requests no longer reads os.environ per request
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example.org:3128")
    assert session.proxies["https"] == "http://proxy.example.org:3128"


def test_no_proxy_naming_the_server_leaves_the_session_without_a_proxy(
    pool: AccountPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.org:3128")
    monkeypatch.setenv("NO_PROXY", "mail.example.org")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = pool.protocol().create_session()
    assert "https" not in session.proxies
    assert session.verify is True and not session.trust_env

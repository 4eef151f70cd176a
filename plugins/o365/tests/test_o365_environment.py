"""The connector's session reads the proxy and CA-bundle variables once per server."""

from __future__ import annotations

import pytest

from roomsync_o365.transport import new_session

GRAPH = "https://graph.example.org/v1.0/users/ada@example.org/calendarView/delta"
LOGIN = "https://login.example.org/tenant/oauth2/v2.0/token"


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def test_the_environment_is_read_once_per_server_and_no_proxy_still_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.org:3128")
    monkeypatch.setenv("NO_PROXY", "login.example.org")
    session = new_session(True, None)
    graph = session.merge_environment_settings(GRAPH, {}, None, True, None)
    login = session.merge_environment_settings(LOGIN, {}, None, True, None)
    assert graph["proxies"]["https"] == "http://proxy.example.org:3128"
    assert "https" not in login["proxies"]
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example.org:3128")  # read once: not seen
    assert session.merge_environment_settings(GRAPH, {}, None, True, None) == graph
    assert new_session(True, None).merge_environment_settings(GRAPH, {}, None, True, None)["proxies"][
        "https"
    ] == ("http://other.example.org:3128")


def test_a_request_of_its_own_settings_and_the_sessions_are_not_mixed_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/example.pem")
    session = new_session(True, None)
    assert session.merge_environment_settings(GRAPH, {}, None, True, None)["verify"] == "/etc/ssl/example.pem"
    assert session.merge_environment_settings(GRAPH, {}, None, False, None)["verify"] is False
    own = {"https": "http://explicit.example.org:8080"}
    assert session.merge_environment_settings(GRAPH, own, None, True, None)["proxies"] == own
    session.trust_env = False  # the session's own settings are part of what is kept
    assert session.merge_environment_settings(GRAPH, {}, None, True, None)["verify"] is True

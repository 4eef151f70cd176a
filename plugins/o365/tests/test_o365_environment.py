"""The connector's session: the proxy and CA-bundle variables read once per server, and requests
prepared as requests prepares them."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

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


def _as_requests_prepares(session: requests.Session, request: requests.Request) -> requests.PreparedRequest:
    return requests.Session.prepare_request(session, request)


def _same(a: requests.PreparedRequest, b: requests.PreparedRequest) -> None:
    assert (a.method, a.url, a.body) == (b.method, b.url, b.body)
    assert list(a.headers.items()) == list(b.headers.items())
    assert a.hooks == b.hooks
    assert dict(a._cookies or {}) == dict(b._cookies or {})  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "request_",
    [
        requests.Request("get", f"{GRAPH}?$deltatoken=a%2Fb=&x=ü", headers={"Prefer": "odata.maxpagesize=1"}),
        requests.Request("POST", f"{GRAPH[:-20]}/$batch", json={"requests": [{"id": "1"}]}),
        requests.Request("POST", LOGIN, data={"grant_type": "client_credentials", "scope": "x y"}),
        requests.Request("GET", GRAPH, headers={"User-Agent": None, "Accept": "application/json"}),
        requests.Request("GET", "https://user:pass@graph.example.org/v1.0/me"),
        requests.Request("GET", GRAPH, params={"$top": "5"}),
        requests.Request("GET", GRAPH, cookies={"own": "1"}),
    ],
)
def test_requests_are_prepared_as_requests_prepares_them(
    request_: requests.Request, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    session = new_session(True, None)
    session.hooks["response"].append(lambda r, *args, **kwargs: r)
    _same(session.prepare_request(request_), _as_requests_prepares(session, request_))


def test_netrc_credentials_and_cookies_a_server_set_still_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine login.example.org login app password secret\n", encoding="ascii")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    session = new_session(True, None)
    login = session.prepare_request(requests.Request("POST", LOGIN, data={"a": "b"}))
    assert login.headers["Authorization"].startswith("Basic ")
    assert "Authorization" not in session.prepare_request(requests.Request("GET", GRAPH)).headers
    session.cookies.set("affinity", "server-1", domain="graph.example.org")
    graph = session.prepare_request(requests.Request("GET", GRAPH))
    assert graph.headers["Cookie"] == "affinity=server-1"
    _same(graph, _as_requests_prepares(session, requests.Request("GET", GRAPH)))

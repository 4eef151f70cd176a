"""``roomsync test EMAIL`` against a simulated Exchange over real HTTP: each way a setup goes wrong.

The explanation must name what an Exchange administrator changes: the url option and EWS's usual
path, the host name, the port, the ca_file option, the credentials, or the exact right of the
generation. Every case goes through the real ``roomsync`` command and a configuration file.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from roomsync.cli.main import cli
from roomsync.plugins import connector_class
from roomsync_ews_common.connector import EwsConnector
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE = "alice@example.org"
PASSWORD_ENV = "ROOMSYNC_TEST_EXPLAIN_PASSWORD"


def _speaks(plugin: str) -> bool:
    found = connector_class(plugin, "onprem")
    return issubclass(found, EwsConnector)


SPEAKING = [p for p in ("exchange2007", "exchange2010", "exchange2013") if _speaks(p)]


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with running_simulator("exchange2013", validate=False) as running:
        yield running


def sync_test(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    *,
    plugin: str = "exchange2013",
    username: str = "svc@example.org",
    password: str = "svc-password",
    auth: str = "basic",
    **options: Any,
) -> tuple[Result, list[dict[str, Any]]]:
    """``roomsync test alice@example.org`` with an environment of these options; the human and JSON forms."""
    monkeypatch.setenv(PASSWORD_ENV, password)
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items())
    (home / "roomsync.toml").write_text(
        f"""
data_dir = "data"
[environments.onprem]
plugin = "{plugin}"
[environments.onprem.options]
url = "{url}"
allow_http = {"true" if url.startswith("http:") else "false"}
username = "{username}"
password = {{ env = "{PASSWORD_ENV}" }}
auth = "{auth}"
{extra}""",
        encoding="utf-8",
    )
    runner = CliRunner(env={"COLUMNS": "200"})
    config = ["--config", str(home / "roomsync.toml")]
    if not (home / "data").exists():
        for args in (["init"], ["persons", "add", ALICE, "--environment", "onprem"]):
            assert runner.invoke(cli, [*config, *args], catch_exceptions=False).exit_code == 0
    human = runner.invoke(cli, [*config, "test", ALICE], catch_exceptions=False)
    data = runner.invoke(cli, [*config, "--json", "test", ALICE], catch_exceptions=False)
    assert human.exit_code == data.exit_code
    return human, json.loads(data.stdout)


def failed_at_connect(steps: list[dict[str, Any]]) -> str:
    """The connect step's explanation; every later step was not tried."""
    by_name = {s["name"]: s for s in steps}
    assert by_name["assigned"]["ok"] and by_name["plugin"]["ok"]
    assert not by_name["connect"]["ok"]
    later = steps[[s["name"] for s in steps].index("connect") + 1 :]
    assert later and all(not s["ok"] and s["detail"].startswith("not tried") for s in later)
    detail: str = by_name["connect"]["detail"]
    assert detail.startswith("roomsync-") and "environment 'onprem': cannot open the calendar of" in detail
    return detail


def test_a_good_setup_passes_every_step(
    sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    human, steps = sync_test(tmp_path, monkeypatch, sim.ews_url)
    assert human.exit_code == 0, human.output
    assert [s["name"] for s in steps] == [
        "assigned",
        "plugin",
        "connect",
        "read",
        "write",
        "free/busy",
        "change detection",
    ]
    assert steps[1]["detail"] == "exchange2013 (roomsync-exchange2013 0.1.0)"


@pytest.mark.parametrize("path", ["/EWS/Exchange.asmx/wrong", "/owa/"])
def test_a_url_that_answers_404_is_not_ews_and_the_usual_path_is_named(
    sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    url = f"{sim.base_url}{path}"
    human, steps = sync_test(tmp_path, monkeypatch, url)

    assert human.exit_code == 1
    detail = failed_at_connect(steps)
    assert f"{url} is not an EWS endpoint: the server answered HTTP 404 (not found)" in detail
    assert f"Check the url option; {sim.ews_url} is the usual path" in detail
    assert "Get-WebServicesVirtualDirectory" in detail
    assert "not tried" in human.output and "failed" in human.output


@pytest.fixture
def sign_in_page() -> Iterator[str]:
    """A web server answering every request with an HTML page, as a portal or OWA's sign-in does."""

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<html><head><title>Sign in</title></head><body><form></form></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/owa/auth/logon.aspx"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_an_html_page_is_not_ews(sign_in_page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, steps = sync_test(tmp_path, monkeypatch, sign_in_page)

    detail = failed_at_connect(steps)
    assert f"{sign_in_page} answered, but not with EWS (an HTML page" in detail
    assert "Outlook on the web, a sign-in portal or a proxy" in detail
    assert "/EWS/Exchange.asmx is the usual path" in detail


def test_a_port_nobody_listens_on_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: connecting is refused
    url = f"http://127.0.0.1:{port}/EWS/Exchange.asmx"
    _, steps = sync_test(tmp_path, monkeypatch, url)

    detail = failed_at_connect(steps)
    assert f"nothing accepts connections at 127.0.0.1:{port} (connection refused)" in detail
    assert f"check the host and port of the url option ({url})" in detail


def test_a_host_that_does_not_resolve_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = "mail.roomsync-test.invalid"
    real = socket.getaddrinfo

    def resolve(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:  # answered here, so the test asks no DNS server
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    _, steps = sync_test(tmp_path, monkeypatch, f"https://{host}/EWS/Exchange.asmx")

    detail = failed_at_connect(steps)
    assert f"the host name {host} does not resolve (Name or service not known)" in detail
    assert "check the host in the url option" in detail


def test_an_untrusted_certificate_names_the_ca_file_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_simulator("exchange2013", validate=False, tls_dir=tmp_path / "tls") as tls:
        assert tls.ca_file is not None
        _, steps = sync_test(tmp_path, monkeypatch, tls.ews_url)
        detail = failed_at_connect(steps)
        assert (
            "the TLS certificate of localhost is not trusted (unable to get local issuer certificate)"
            in detail
        )
        assert "set the ca_file option to the PEM file of the certificate authority" in detail

        human, _ = sync_test(tmp_path, monkeypatch, tls.ews_url, ca_file=str(tls.ca_file))
        assert human.exit_code == 0, human.output  # the named option is the remedy


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_wrong_credentials_are_a_refused_logon_at_once(
    sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    human, steps = sync_test(tmp_path, monkeypatch, sim.ews_url, password="not-the-password", auth=auth)

    detail = failed_at_connect(steps)
    method = "Basic" if auth == "basic" else "Windows (NTLM)"
    assert f"refused the logon of svc@example.org (HTTP 401, {method} authentication)" in detail
    assert f"the password (read from env:{PASSWORD_ENV})" in detail
    assert "Get-WebServicesVirtualDirectory | Format-List BasicAuthentication,WindowsAuthentication" in detail
    assert "not-the-password" not in human.output + json.dumps(steps)


@pytest.mark.parametrize("plugin", SPEAKING)
def test_a_service_account_without_impersonation_is_told_the_right_of_its_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin: str
) -> None:
    found = connector_class(plugin, "onprem")
    assert issubclass(found, EwsConnector)
    with running_simulator(plugin, validate=False) as own:  # the dialect is named as the plugin
        # bob@example.org is an ordinary user of the built-in organisation: no right to impersonate.
        human, steps = sync_test(
            tmp_path,
            monkeypatch,
            own.ews_url,
            plugin=plugin,
            username="bob@example.org",
            password="bob-password",
        )

    assert human.exit_code == 1
    detail = failed_at_connect(steps)
    assert f"the service account bob@example.org may not impersonate {ALICE}" in detail
    assert found.impersonation_right.replace("SERVICE-ACCOUNT", "bob@example.org") in detail

"""No credential in any output of the ``roomsync`` command line, at any verbosity.

The real command line (``sync --once`` and ``test EMAIL`` at every verbosity) against simulated
servers over real HTTP: EWS with Basic and with NTLM authentication, and Exchange Online (the
simulator's o365 dialect, sign-in with a client secret). Everything it wrote, standard output
and standard error, and the database are searched for the password, its Basic form
``base64(user:password)``, NTLM messages, the client secret and every access token the simulator
issued. At the highest verbosity http.client's wire trace is switched on as well, since libraries
or an administrator debugging may turn it on.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from roomsync.cli.main import cli
from roomsync_o365.testing import SECRET_ENV, simulator_options
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE = "alice@example.org"
SERVICE_ACCOUNT, PASSWORD = "svc@example.org", "svc-password"  # the simulator's built-in account
PASSWORD_ENV = "ROOMSYNC_TEST_REDACTION_PASSWORD"
VERBOSITIES = ((), ("-v",), ("-vv",), ("-vvv",))
NTLM_MESSAGE = "TlRMTVNTUA"  # base64 of the NTLMSSP signature every NTLM message starts with


@pytest.fixture
def ews() -> Iterator[RunningSimulator]:
    """A server of its own per test: two databases' reservation 1 would share one stamp."""
    with running_simulator("exchange2013", validate=False, auth="basic,ntlm") as sim:
        yield sim


@pytest.fixture
def o365(tmp_path: Path) -> Iterator[tuple[RunningSimulator, list[str]]]:
    """The Graph simulator and every access token it issued."""
    with running_simulator("o365", validate=False, tls_dir=tmp_path / "tls") as sim:
        issued: list[str] = []
        issuer = sim.simulator.graph.issuer
        issue = issuer.issue

        def recording(*args: Any, **kwargs: Any) -> str:
            token: str = issue(*args, **kwargs)
            issued.append(token)
            return token

        issuer.issue = recording
        yield sim, issued


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def configure(home: Path, plugin: str, options: dict[str, Any]) -> list[str]:
    lines = "\n".join(f"{key} = {toml_value(value)}" for key, value in options.items())
    (home / "roomsync.toml").write_text(
        f'data_dir = "data"\n[environments.exchange]\nplugin = "{plugin}"\n'
        f"[environments.exchange.options]\n{lines}\n",
        encoding="utf-8",
    )
    return ["--config", str(home / "roomsync.toml")]


def everything_written(config: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Standard output and error of the commands at every verbosity, one reservation synced."""
    runner = CliRunner(env={"COLUMNS": "200"})

    def invoke(*args: str) -> str:
        result = runner.invoke(cli, [*config, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout + result.stderr

    written = [invoke("init"), invoke("persons", "add", ALICE, "--environment", "exchange")]
    for verbosity in VERBOSITIES:
        if verbosity == VERBOSITIES[-1]:
            monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
        title = f"Review {len(verbosity)}"
        written.append(
            invoke(
                *verbosity,
                "reservations",
                "create",
                "--title",
                title,
                "--organizer",
                ALICE,
                "--start",
                f"2031-03-0{len(verbosity) + 1}T10:00",
                "--end",
                f"2031-03-0{len(verbosity) + 1}T11:00",
            )
        )
        synced = invoke(*verbosity, "sync", "--once")
        assert "1 created" in synced, synced
        written += [synced, invoke(*verbosity, "test", ALICE)]
    return "\n".join(written)


def assert_redacted_debug_output(text: str) -> None:
    """The debug output was there (it logged requests) and was blanked, so the search meant something."""
    assert '"level": "debug"' in text
    assert "[redacted]" in text


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_ews_credentials_never_reach_the_output(
    ews: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    config = configure(
        tmp_path,
        "exchange2013",
        {
            "url": ews.ews_url,
            "allow_http": True,
            "username": SERVICE_ACCOUNT,
            "password": {"env": PASSWORD_ENV},
            "auth": auth,
        },
    )
    text = everything_written(config, monkeypatch)

    basic = base64.b64encode(f"{SERVICE_ACCOUNT}:{PASSWORD}".encode()).decode()
    database = (tmp_path / "data" / "roomsync.db").read_bytes()
    for secret in (PASSWORD, basic, NTLM_MESSAGE):
        assert secret not in text
        assert secret.encode() not in database
    assert_redacted_debug_output(text)
    assert "send: b'POST /EWS/Exchange.asmx" in text  # http.client's trace went through the log


def test_o365_client_secret_and_tokens_never_reach_the_output(
    o365: tuple[RunningSimulator, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, issued = o365
    monkeypatch.setenv(SECRET_ENV, sim.client_secret)
    config = configure(tmp_path, "o365", simulator_options(sim))
    text = everything_written(config, monkeypatch)

    tokens = list(issued)
    assert tokens, "the simulator issued no token: the commands never signed in"
    database = (tmp_path / "data" / "roomsync.db").read_bytes()
    for secret in (sim.client_secret, *tokens, *(t.split(".")[2] for t in tokens)):
        assert secret not in text
        assert secret.encode() not in database
    assert_redacted_debug_output(text)

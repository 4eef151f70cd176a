"""Who hears of a failing sync, over real SMTP (aiosmtpd) with real failures from the simulator.

A wrong service-account password, a missing impersonation right, a port nobody listens on and
an untrusted certificate make the runner's cycles fail through the real plugins. The
administrators (``[smtp] admin``) receive the connector's detail; the organizer receives a mail
that names no URL, host, port, account, secret reference, variable or cmdlet.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pluggy
import pytest
from aiosmtpd.controller import Controller

from roomsync import hookspecs
from roomsync.config import Settings, settings_from_mapping
from roomsync.domain import Person
from roomsync.engine.runner import NOTIFY_AFTER_FAILURES, SyncRunner
from roomsync.notify import log as log_notifier
from roomsync.notify import smtp as smtp_notifier
from roomsync.storage import Database
from roomsync_ews_common.testing import SIM_PASSWORD_ENV, SIM_USERS, simulator_options
from roomsync_o365 import testing as o365_testing
from roomsync_sim.seed import DEFAULT_SEED
from roomsync_sim.testing import running_simulator

ALICE, BOB = "alice@example.org", "bob@example.org"
ADMINS = ["ops@example.org", "exchange-team@example.org"]
SENDER = "roomsync@example.org"
SERVICE = "svc@example.org"
WRONG_PASSWORD = "Wr0ng-pässword-4711"
ENVIRONMENT = "onprem"

LEAKS = {
    "a URL": re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE),
    "an IP address": re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"),
    "a host name": re.compile(r"(?<![\w@.-])(?:[a-z0-9-]+\.)+[a-z]{2,}\b", re.IGNORECASE),
    "localhost": re.compile(r"\blocalhost\b", re.IGNORECASE),
    "an address or account": re.compile(r"@"),
    "a port": re.compile(r":\d{2,5}\b"),
    "a cmdlet": re.compile(r"\b(?:Get|Set|New|Add)-[A-Z]\w+"),
    "a variable name": re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"),
    "a secret reference": re.compile(r"\b(?:env|file):", re.IGNORECASE),
    "an error class": re.compile(r"\b\w*(?:Error|Exception)\b"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def plain(message: EmailMessage) -> str:
    """The plain-text part of a mail (every mail has one beside its HTML part)."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, "a mail without a plain-text part"
    return str(body.get_content())


@dataclass
class Mail:
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        return f"{self.message['Subject']}\n{plain(self.message)}"


@dataclass
class Mailroom:
    """aiosmtpd handler that keeps every message."""

    mails: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(Mail(list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, *recipients: str) -> list[Mail]:
        return [m for m in self.mails if m.rcpt_tos == list(recipients)]

    def kind(self, kind: str) -> list[Mail]:
        return [m for m in self.mails if m.message["X-Roomsync-Kind"] == kind]


@pytest.fixture
def mailroom() -> Iterator[tuple[Mailroom, int]]:
    room = Mailroom()
    controller = Controller(room, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield room, controller.port
    finally:
        controller.stop()


def assert_plain(mail: Mail, internal: list[str]) -> None:
    """Nothing an organizer should not read: the concrete values of the test, and any of LEAKS."""
    text = mail.text
    for value in internal:
        assert value.lower() not in text.lower(), f"{value!r} in the organizer's mail:\n{text}"
    for what, pattern in LEAKS.items():
        found = pattern.search(text)
        assert found is None, f"{what} ({found.group(0) if found else ''!r}) in the organizer's mail:\n{text}"


@dataclass
class Installation:
    runner: SyncRunner
    settings: Settings

    def cycles(self, count: int = NOTIFY_AFTER_FAILURES) -> dict[str, list[bool]]:
        outcome: dict[str, list[bool]] = {}
        for _ in range(count):
            for report in self.runner.sync_once():
                outcome.setdefault(report.mailbox, []).append(report.ok)
        return outcome


@contextmanager
def installation(
    tmp_path: Path, environment: dict[str, Any], smtp: dict[str, Any] | None
) -> Iterator[Installation]:
    """ROOMS in SQLite, the runner, and the shipped SMTP and log notifiers on a plugin manager."""
    with ExitStack() as stack:
        # English, the language these tests read; the mails in every language are core's tests.
        raw: dict[str, Any] = {"environments": {ENVIRONMENT: environment}, "notify": {"language": "en"}}
        if smtp is not None:
            raw["smtp"] = smtp
        settings = settings_from_mapping(raw)
        database = Database(f"sqlite:///{tmp_path / 'rooms.db'}")
        database.upgrade()
        stack.callback(database.dispose)
        with database.unit_of_work() as uow:
            for email in (ALICE, BOB):
                uow.rooms.upsert_person(Person(email=email, environment=ENVIRONMENT))
            uow.commit()
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        pm.register(smtp_notifier)
        pm.register(log_notifier)
        pm.hook.roomsync_configure(settings=settings)
        stack.callback(pm.hook.roomsync_configure, settings=Settings())  # no notifier state leaks
        runner = SyncRunner(settings, database, pm)
        stack.callback(runner.close)
        yield Installation(runner, settings)


def smtp_table(port: int, admin: Any = ADMINS) -> dict[str, Any]:
    table: dict[str, Any] = {"host": "127.0.0.1", "port": port, "sender": SENDER, "timeout_seconds": 5}
    if admin is not None:
        table["admin"] = admin
    return table


def assert_told(
    mailroom: Mailroom,
    failing: list[str],
    fault: str,
    detail: list[str],
    internal: list[str],
    admin_mails: int = 1,
) -> EmailMessage:
    """Each failing organizer got one plain mail; the administrators got the detail, to them alone."""
    for person in failing:
        [mail] = mailroom.to(person)
        assert mail.message["X-Roomsync-Kind"] == "failure"
        assert "not being synchronised" in mail.message["Subject"]
        assert "administrators have been told" in plain(mail.message)
        assert_plain(mail, [*internal, *detail])
    faults = mailroom.kind("fault")
    assert len(faults) == admin_mails, [m.text for m in faults]
    for mail in faults:
        assert mail.rcpt_tos == ADMINS
        assert mail.message["To"] == ", ".join(ADMINS)
    message = faults[0].message
    body = plain(message)
    # Cycles of several persons run at once, so any failing person may be the one named.
    [named] = [p for p in failing if f"in environment {ENVIRONMENT} ({p})" in message["Subject"]]
    assert f"({fault})" in body and named in body
    for value in detail:
        value = value.replace(failing[0], named)
        assert value in body, f"{value!r} not in the administrators' mail:\n{body}"
    assert {a for m in mailroom.mails for a in m.rcpt_tos} == set(ADMINS) | set(failing)
    return message


def ews_internal(url: str, plugin: str) -> list[str]:
    host, _, port = url.split("://")[1].split("/")[0].partition(":")
    return [url, host, port, SERVICE, SIM_PASSWORD_ENV, ENVIRONMENT, plugin, "EWS", "Exchange.asmx"]


# --- EWS ----------------------------------------------------------------------------------


def test_wrong_password_reaches_the_administrators_once_and_the_organizers_plainly(
    tmp_path: Path, mailroom: tuple[Mailroom, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    room, port = mailroom
    monkeypatch.setenv(SIM_PASSWORD_ENV, WRONG_PASSWORD)
    with (
        running_simulator("exchange2013") as sim,
        installation(
            tmp_path, {"plugin": "exchange2013", "options": simulator_options(sim.ews_url)}, smtp_table(port)
        ) as setup,
    ):
        assert setup.cycles(NOTIFY_AFTER_FAILURES - 1) == {ALICE: [False, False], BOB: [False, False]}
        assert room.mails == []  # told only once it has failed 3 cycles in a row
        setup.cycles(1)
        setup.cycles(2)  # and only then: later failures tell no one again

    message = assert_told(
        room,
        [ALICE, BOB],
        "credentials",
        detail=[
            "credentials refused",
            f"refused the logon of {SERVICE}",
            sim.ews_url,
            f"env:{SIM_PASSWORD_ENV}",
            "Get-WebServicesVirtualDirectory",
            "roomsync test alice@example.org",
        ],
        internal=ews_internal(sim.ews_url, "exchange2013"),
    )
    # One wrong password stops everyone alike: the administrators hear of it once, not per person.
    assert sum(person in message["Subject"] for person in (ALICE, BOB)) == 1
    assert f"stops every person of environment {ENVIRONMENT} alike" in plain(message)
    assert all(WRONG_PASSWORD not in m.text for m in room.mails)


def test_a_missing_impersonation_right_names_the_right_to_the_administrators(
    tmp_path: Path, mailroom: tuple[Mailroom, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    room, port = mailroom
    monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS[SERVICE])
    # The service account may impersonate Bob only.
    seed = {**DEFAULT_SEED, "grants": [{"kind": "impersonation", "grantee": SERVICE, "scope": [BOB]}]}
    with (
        running_simulator("exchange2010", seed) as sim,
        installation(
            tmp_path, {"plugin": "exchange2010", "options": simulator_options(sim.ews_url)}, smtp_table(port)
        ) as setup,
    ):
        outcome = setup.cycles()

    assert outcome == {ALICE: [False] * 3, BOB: [True] * 3}  # Bob keeps syncing
    assert_told(
        room,
        [ALICE],
        "permission",
        detail=[
            "a missing right",
            f"the service account {SERVICE} may not impersonate {ALICE}",
            "ApplicationImpersonation",
        ],
        internal=[*ews_internal(sim.ews_url, "exchange2010"), "ApplicationImpersonation", "RBAC"],
    )
    assert room.to(BOB) == []


def test_an_unreachable_server_is_the_administrators_fault_to_fix(
    tmp_path: Path, mailroom: tuple[Mailroom, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    room, port = mailroom
    monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS[SERVICE])
    url = f"http://127.0.0.1:{free_port()}/EWS/Exchange.asmx"  # nothing listens there
    with installation(
        tmp_path, {"plugin": "exchange2007", "options": simulator_options(url)}, smtp_table(port)
    ) as setup:
        setup.cycles()

    assert_told(
        room,
        [ALICE, BOB],
        "server",
        detail=["the server is unreachable", "nothing accepts connections", url],
        internal=ews_internal(url, "exchange2007"),
    )


def test_an_untrusted_certificate_is_a_tls_fault_for_the_administrators(
    tmp_path: Path, mailroom: tuple[Mailroom, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    room, port = mailroom
    monkeypatch.setenv(SIM_PASSWORD_ENV, SIM_USERS[SERVICE])
    with (
        running_simulator("exchange2013", tls_dir=tmp_path / "tls") as sim,  # a CA of its own
        installation(
            tmp_path, {"plugin": "exchange2013", "options": simulator_options(sim.ews_url)}, smtp_table(port)
        ) as setup,
    ):
        assert sim.ews_url.startswith("https://localhost:")
        setup.cycles()

    assert_told(
        room,
        [ALICE, BOB],
        "tls",
        detail=["a TLS failure", "is not trusted", "ca_file"],
        internal=[*ews_internal(sim.ews_url, "exchange2013"), "TLS", "certificate", "ca_file"],
    )


def test_without_an_administrator_address_the_detail_is_logged_as_an_error_not_mailed(
    tmp_path: Path,
    mailroom: tuple[Mailroom, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    room, port = mailroom
    monkeypatch.setenv(SIM_PASSWORD_ENV, WRONG_PASSWORD)
    caplog.set_level(logging.INFO, logger="roomsync")
    with (
        running_simulator("exchange2013") as sim,
        installation(
            tmp_path,
            {"plugin": "exchange2013", "options": simulator_options(sim.ews_url)},
            smtp_table(port, admin=None),
        ) as setup,
    ):
        setup.cycles()

    assert sorted(a for m in room.mails for a in m.rcpt_tos) == [ALICE, BOB]  # the organizers only
    for mail in room.mails:
        assert_plain(mail, ews_internal(sim.ews_url, "exchange2013"))
    [error] = [r for r in caplog.records if r.name == "roomsync.notify" and r.levelno == logging.ERROR]
    logged = error.getMessage()
    assert "no [smtp] admin address" in logged
    assert f"refused the logon of {SERVICE}" in logged and sim.ews_url in logged
    assert WRONG_PASSWORD not in caplog.text


# --- Exchange Online ----------------------------------------------------------------------


def test_a_refused_app_secret_on_exchange_online_reaches_the_administrators(
    tmp_path: Path, mailroom: tuple[Mailroom, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    room, port = mailroom
    monkeypatch.setenv(o365_testing.SECRET_ENV, WRONG_PASSWORD)
    with running_simulator("o365", tls_dir=tmp_path / "tls") as sim:
        options = o365_testing.simulator_options(sim)
        with installation(tmp_path, {"plugin": "o365", "options": options}, smtp_table(port)) as setup:
            setup.cycles()

    assert_told(
        room,
        [ALICE, BOB],
        "credentials",
        detail=["credentials refused", "refused to sign in", f"env:{o365_testing.SECRET_ENV}", sim.tenant_id],
        internal=[
            sim.graph_url,
            sim.login_url,
            sim.tenant_id,
            sim.client_id,
            o365_testing.SECRET_ENV,
            ENVIRONMENT,
            "o365",
            "Entra",
            "Graph",
        ],
    )
    assert all(WRONG_PASSWORD not in m.text for m in room.mails)


def test_an_untrusted_certificate_on_exchange_online_is_a_tls_fault(
    tmp_path: Path, mailroom: tuple[Mailroom, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    room, port = mailroom
    with running_simulator("o365", tls_dir=tmp_path / "tls") as sim:
        monkeypatch.setenv(o365_testing.SECRET_ENV, sim.client_secret)
        options = {k: v for k, v in o365_testing.simulator_options(sim).items() if k != "ca_file"}
        with installation(tmp_path, {"plugin": "o365", "options": options}, smtp_table(port)) as setup:
            setup.cycles()

    assert_told(
        room,
        [ALICE, BOB],
        "tls",
        detail=["a TLS failure", "SSLError", "check login_url"],
        internal=[sim.graph_url, sim.login_url, sim.tenant_id, o365_testing.SECRET_ENV, "TLS", "ca_file"],
    )

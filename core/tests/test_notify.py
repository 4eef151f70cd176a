"""The notifiers against a real SMTP server (aiosmtpd on 127.0.0.1) and the log."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from roomsync.config import (
    SAMPLE_CONFIG,
    SecretRef,
    Settings,
    SmtpConfig,
    load_settings,
    settings_from_mapping,
)
from roomsync.domain import Language
from roomsync.errors import ConfigError
from roomsync.notify import log as log_notifier
from roomsync.notify import smtp as smtp_notifier
from roomsync.notify.message import Audience, Notification, NotificationKind
from roomsync.notify.render import Renderer
from roomsync.notify.smtp import SmtpNotifier

# The AUTH test servers accept logins without TLS, which aiosmtpd rightly warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

PASSWORD = "pw-Zq7#never-logged"
PASSWORD_ENV = "ROOMSYNC_TEST_SMTP_PASSWORD"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Collector:
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


class Authenticator:
    """Accepts exactly one login and records every attempt."""

    def __init__(self, login: str, password: str) -> None:
        self.login = login
        self.password = password
        self.attempts: list[str] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login = auth_data.login.decode()
        self.attempts.append(login)
        ok = login == self.login and auth_data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself


@pytest.fixture
def collector() -> Collector:
    return Collector()


@contextmanager
def running(controller: Controller) -> Iterator[Controller]:
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def server(collector: Collector) -> Iterator[Controller]:
    with running(Controller(collector, hostname="127.0.0.1", port=free_port())) as controller:
        yield controller


@pytest.fixture
def authenticator() -> Authenticator:
    return Authenticator("roomsync", PASSWORD)


@pytest.fixture
def auth_server(collector: Collector, authenticator: Authenticator) -> Iterator[Controller]:
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    with running(controller):
        yield controller


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def notification(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "kind": NotificationKind.CONFLICT,
        "recipient": "ada@example.org",
        "facts": {"title": "Board meeting", "fields": "start, title"},
        "reservation_id": "R-4711",
        "language": Language.EN,
    }
    values.update(changes)
    return Notification(**values)


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a mail (the HTML part is tested in test_mail_templates)."""
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def config_for(controller: Controller, **changes: Any) -> SmtpConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": controller.port,
        "sender": "roomsync@example.org",
        "timeout_seconds": 5,
    }
    values.update(changes)
    return SmtpConfig(**values)


@pytest.fixture
def module_notifier() -> Iterator[SmtpNotifier]:
    """The instance behind the hooks, reset afterwards so no test leaks configuration."""
    yield smtp_notifier.notifier
    smtp_notifier.notifier.configure(None)


# --- delivery -----------------------------------------------------------------------------


def test_hooks_deliver_a_text_and_html_mail(
    server: Controller, collector: Collector, module_notifier: SmtpNotifier
) -> None:
    smtp_notifier.roomsync_configure(Settings(smtp=config_for(server)))
    smtp_notifier.roomsync_notify(notification())

    assert len(collector.messages) == 1
    mail_from, rcpt_tos, message = collector.messages[0]
    assert mail_from == "roomsync@example.org"
    assert rcpt_tos == ["ada@example.org"]
    assert message["From"] == "roomsync@example.org"
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Change not applied: Board meeting"
    assert message["X-Roomsync-Kind"] == "conflict"
    assert message["X-Roomsync-Reservation"] == "R-4711"
    assert message["Message-ID"].endswith("@example.org>")
    assert message.get_content_type() == "multipart/alternative"
    assert message["Content-Language"] == "en"
    body = text_of(message)
    assert "Your change to 'Board meeting' in Outlook (start, title) conflicts" in body
    assert "Reservation R-4711." in body


def test_body_without_reservation_has_no_reservation_header(server: Controller, collector: Collector) -> None:
    notifier = SmtpNotifier(config_for(server))
    assert notifier.send(
        notification(kind=NotificationKind.FAILURE, facts={"failures": 3}, reservation_id=None)
    )

    message = collector.messages[0][2]
    assert message["X-Roomsync-Reservation"] is None
    assert message["X-Roomsync-Kind"] == "failure"
    assert "Reservation " not in text_of(message)


def test_reservation_id_is_named_once(server: Controller, collector: Collector) -> None:
    SmtpNotifier(config_for(server)).send(
        notification(
            kind=NotificationKind.CANCELLED,
            facts={"title": "Board meeting", "fields": "start", "attempts": 2},
        )
    )

    assert text_of(collector.messages[0][2]).count("R-4711") == 1


def test_line_breaks_in_subject_cannot_inject_headers(server: Controller, collector: Collector) -> None:
    injected = notification(facts={"title": "Conflict\r\nBcc: eve@example.org", "fields": "title"})
    SmtpNotifier(config_for(server)).send(injected)

    message = collector.messages[0][2]
    assert message["Bcc"] is None
    assert message["Subject"] == "Change not applied: Conflict Bcc: eve@example.org"
    assert collector.messages[0][1] == ["ada@example.org"]


def test_without_smtp_settings_nothing_is_sent(
    server: Controller, collector: Collector, module_notifier: SmtpNotifier, caplog: pytest.LogCaptureFixture
) -> None:
    module_notifier.configure(config_for(server))
    smtp_notifier.roomsync_configure(Settings(smtp=None))
    caplog.set_level(logging.DEBUG, logger="roomsync")

    smtp_notifier.roomsync_notify(notification())

    assert collector.messages == []
    assert not module_notifier.send(notification())
    assert [r for r in caplog.records if r.name.startswith("roomsync")] == []


# --- login ------------------------------------------------------------------------------


@pytest.fixture
def login_as(
    auth_server: Controller, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Callable[[str], SmtpConfig]:
    """The configuration logging in to ``auth_server`` as a user with the password referenced in
    the environment; all that roomsync logs is captured, to show the password is not in it."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    caplog.set_level(logging.DEBUG, logger="roomsync")

    def config(username: str) -> SmtpConfig:
        return config_for(auth_server, username=username, password=SecretRef(env=PASSWORD_ENV))

    return config


def test_login_with_the_password_from_its_reference(
    login_as: Callable[[str], SmtpConfig],
    collector: Collector,
    authenticator: Authenticator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert SmtpNotifier(login_as("roomsync")).send(notification())

    assert authenticator.attempts == ["roomsync"]
    assert len(collector.messages) == 1
    assert PASSWORD not in caplog.text


def test_password_read_from_a_file(
    auth_server: Controller, collector: Collector, authenticator: Authenticator, tmp_path: Path
) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    config = config_for(auth_server, username="roomsync", password=SecretRef(file=secret))

    assert SmtpNotifier(config).send(notification())
    assert authenticator.attempts == ["roomsync"]


def test_failed_login_is_a_warning_without_the_password(
    auth_server: Controller,
    login_as: Callable[[str], SmtpConfig],
    collector: Collector,
    authenticator: Authenticator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert not SmtpNotifier(login_as("intruder")).send(notification())

    assert set(authenticator.attempts) == {"intruder"}  # smtplib tries each mechanism it shares
    assert collector.messages == []
    [record] = [r for r in caplog.records if r.name.startswith("roomsync")]
    assert record.levelno == logging.WARNING
    assert f"127.0.0.1:{auth_server.port}" in record.getMessage()
    assert "SMTPAuthenticationError" in record.getMessage()
    assert PASSWORD not in caplog.text


def test_missing_password_secret_is_a_warning(
    auth_server: Controller,
    collector: Collector,
    authenticator: Authenticator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    config = config_for(auth_server, username="roomsync", password=SecretRef(env=PASSWORD_ENV))

    assert not SmtpNotifier(config).send(notification())

    assert authenticator.attempts == []
    [record] = [r for r in caplog.records if r.name.startswith("roomsync")]
    assert record.levelno == logging.WARNING
    assert PASSWORD_ENV in record.getMessage()


def test_server_requiring_login_refuses_anonymous_mail(
    auth_server: Controller, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    assert not SmtpNotifier(config_for(auth_server)).send(notification())

    assert collector.messages == []
    [record] = [r for r in caplog.records if r.name.startswith("roomsync")]
    assert f"127.0.0.1:{auth_server.port}" in record.getMessage()
    assert "Authentication required" in record.getMessage()


# --- failures ---------------------------------------------------------------------------


def test_refused_connection_is_logged_not_raised(
    module_notifier: SmtpNotifier, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there
    module_notifier.configure(SmtpConfig(host="127.0.0.1", port=port, timeout_seconds=5))

    smtp_notifier.roomsync_notify(notification())

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.name == "roomsync.notify.smtp"
    message = record.getMessage()
    assert f"127.0.0.1:{port}" in message
    assert "ConnectionRefusedError" in message
    assert "ada@example.org" in message


def test_silent_server_times_out_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection but never greets
        port = silent.getsockname()[1]
        notifier = SmtpNotifier(SmtpConfig(host="127.0.0.1", port=port, timeout_seconds=0.3))

        assert not notifier.send(notification())

    [record] = caplog.records
    assert f"127.0.0.1:{port}" in record.getMessage()
    assert "TimeoutError" in record.getMessage()


# --- TLS ---------------------------------------------------------------------------------


def test_starttls_verifies_the_certificate(
    collector: Collector,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context(certificate),
        require_starttls=True,
    )
    with running(controller):
        config = config_for(controller, starttls=True)

        # An unknown issuer is refused: the message is not sent over an unverified channel.
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[1].parent / "nothing.pem"))
        assert not SmtpNotifier(config).send(notification())
        assert "SSLCertVerificationError" in caplog.text
        assert collector.messages == []

        # Trusting the certificate (as a system CA store would) lets the same message through.
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        assert SmtpNotifier(config).send(notification())
        assert len(collector.messages) == 1


def test_implicit_tls(
    collector: Collector, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    controller = Controller(
        collector, hostname="127.0.0.1", port=free_port(), ssl_context=server_context(certificate)
    )
    with running(controller):
        assert SmtpNotifier(config_for(controller, ssl=True)).send(notification())

    assert collector.messages[0][1] == ["ada@example.org"]


# --- the log notifier ---------------------------------------------------------------------


def test_log_notifier_logs_recipient_kind_and_subject(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="roomsync.notify")

    facts = {"title": "Board meeting", "fields": "start", "attempts": 5}
    log_notifier.roomsync_notify(notification(kind=NotificationKind.SYNC_DISABLED, facts=facts))

    [record] = caplog.records
    assert record.name == "roomsync.notify"
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert "ada@example.org" in message
    assert "sync-disabled" in message
    assert "Sync stopped: Board meeting" in message
    assert record.reservation_id == "R-4711"  # type: ignore[attr-defined]


def test_notifiers_are_registered_as_extension_plugins() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="roomsync.plugins")}
    assert names["smtp-notifier"] == "roomsync.notify.smtp"
    assert names["log-notifier"] == "roomsync.notify.log"


# --- the administrators ----------------------------------------------------------------

ADMINS = ["ops@example.org", "exchange-team@example.org"]
DETAIL = (
    "roomsync-exchange2013, environment 'onprem': the server at https://mail.example.org/EWS/Exchange.asmx "
    "refused the logon of svc@example.org (HTTP 401)"
)


def fault(**facts: Any) -> Notification:
    values: dict[str, Any] = {
        "fault": "credentials",
        "person": "ada@example.org",
        "environment": "onprem",
        "failures": 3,
        "detail": DETAIL,
    }
    values.update(facts)
    return Notification(kind=NotificationKind.FAULT, facts=values)


@pytest.fixture
def module_log_notifier() -> Iterator[log_notifier.LogNotifier]:
    yield log_notifier.notifier
    log_notifier.notifier.configure(Settings())


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ops@example.org", ["ops@example.org"]),
        (ADMINS, ADMINS),
        ([], []),
        (" ops@example.org ", ["ops@example.org"]),
    ],
)
def test_admin_is_one_address_or_a_list(given: Any, stored: list[str]) -> None:
    settings = settings_from_mapping({"smtp": {"admin": given}})
    assert settings.smtp is not None and settings.smtp.admin == stored


@pytest.mark.parametrize(
    "given",
    ["ops", ["ops@example.org", "not an address"], "Ops <ops@example.org>", "ops@example.org\nBcc: e@x.org"],
)
def test_admin_that_is_no_address_names_the_key_and_the_value(given: Any, tmp_path: Path) -> None:
    config = tmp_path / "roomsync.toml"
    value = given if isinstance(given, str) else given[-1]
    config.write_text(f"[smtp]\nadmin = {json.dumps(given)}\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_settings(config)

    message = str(caught.value)
    assert str(config) in message and "smtp.admin" in message
    assert repr(value) in message and "is not an e-mail address" in message


def test_admin_that_is_no_string_is_reported_not_dropped() -> None:
    with pytest.raises(ConfigError, match=r"smtp\.admin\.1"):
        settings_from_mapping({"smtp": {"admin": ["ops@example.org", 5]}})


def _sample_table(start: str, end: str | None = None) -> dict[str, object]:
    block = SAMPLE_CONFIG[SAMPLE_CONFIG.index(start) : SAMPLE_CONFIG.index(end) if end else None]
    return tomllib.loads(
        "\n".join(line.removeprefix("# ") for line in block.splitlines() if line.startswith("# "))
    )


def test_the_sample_configuration_documents_admin() -> None:
    settings = settings_from_mapping(_sample_table("# [smtp]", "# The words of the mails"))
    assert settings.smtp is not None and settings.smtp.admin == ["ops@example.org"]


def test_the_sample_configuration_documents_the_mails_language() -> None:
    assert _sample_table("# [notify]") == {"notify": {"language": "de", "templates": "mail-templates"}}


def test_a_fault_goes_to_every_administrator_and_to_no_one_else(
    server: Controller, collector: Collector
) -> None:
    assert SmtpNotifier(config_for(server, admin=ADMINS), Renderer(Language.EN)).send(fault())

    [(_, rcpt_tos, message)] = collector.messages
    assert rcpt_tos == ADMINS
    assert message["To"] == "ops@example.org, exchange-team@example.org"
    assert message["X-Roomsync-Kind"] == "fault"
    assert message["Subject"] == "roomsync: credentials refused in environment onprem (ada@example.org)"
    body = text_of(message)
    assert DETAIL in body
    assert "failed 3 times in a row: credentials refused (credentials)" in body
    assert "roomsync test ada@example.org" in body


def test_without_admin_a_fault_is_not_mailed_but_logged_as_an_error(
    server: Controller,
    collector: Collector,
    module_notifier: SmtpNotifier,
    module_log_notifier: log_notifier.LogNotifier,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(smtp=config_for(server))
    for plugin in (smtp_notifier, log_notifier):
        plugin.roomsync_configure(settings)
        plugin.roomsync_notify(fault())

    assert collector.messages == []
    [record] = [r for r in caplog.records if r.name == "roomsync.notify"]
    assert record.levelno == logging.ERROR
    assert "no [smtp] admin address is configured" in record.getMessage()
    assert DETAIL in record.getMessage()


def test_with_admin_the_log_notifier_logs_a_fault_as_any_notification(
    module_log_notifier: log_notifier.LogNotifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roomsync.notify")
    log_notifier.roomsync_configure(Settings(smtp=SmtpConfig(admin=ADMINS)))
    log_notifier.roomsync_notify(fault())

    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert "notification to administrators (fault)" in record.getMessage()


def test_recipients_follow_the_audience() -> None:
    with pytest.raises(ValueError, match="no recipient of its own"):
        Notification(kind=NotificationKind.FAULT, recipient="ada@example.org", facts={})
    with pytest.raises(ValueError, match="needs the organizer"):
        Notification(kind=NotificationKind.FAILURE, facts={"failures": 3})
    assert fault().audience is Audience.ADMINISTRATORS and fault().recipient is None
    assert notification().audience is Audience.ORGANIZER


def test_the_organizers_failure_names_nothing_internal() -> None:
    told = Notification(kind=NotificationKind.FAILURE, recipient="ada@example.org", facts={"failures": 3})
    text = f"{told.subject}\n{told.body}"
    assert "not being synchronised" in told.subject
    assert "The administrators have been told" in text
    assert "@" not in text and "://" not in text and "onprem" not in text

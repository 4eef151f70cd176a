"""The log filter blanks credentials in every shape libraries log them, and nothing else."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from roomsync import logs
from roomsync.config import SecretRef
from roomsync.redaction import redact

BASIC = "c3ZjQGV4YW1wbGUub3JnOnN2Yy1wYXNzd29yZA=="
JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXBhcnQ"


@pytest.mark.parametrize(
    ("text", "left"),
    [
        (f"Request headers: {{'Authorization': 'Basic {BASIC}', 'Host': 'x'}}", "'Host': 'x'"),
        ("Authorization: NTLM TlRMTVNTUAADAAAAGAAYAFgAAADu\r\nHost: mail", "Host: mail"),
        ("NTLM step output: TlRMTVNTUAABAAAAN4II4gAAAAAoAAAAAAAAACgAAAAADAQAAAAADw==", "step output"),
        ("grant_type=client_credentials&client_secret=abc~d.1&scope=x", "&scope=x"),
        (f'{{"access_token": "{JWT}", "refresh_token": "r-1", "expires_in": 3599}}', '"expires_in": 3599'),
        ("Set-Cookie: session=abc; Path=/; HttpOnly", "Set-Cookie"),
        ("cookie: a=1; b=2", "cookie"),
        (f"send: b'GET /v1.0/users HTTP/1.1\\r\\nAuthorization: Bearer {JWT}\\r\\n'", "GET /v1.0/users"),
        (f"token {JWT} expired", "expired"),
        ("Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAu", "Negotiate"),
        ("password=hunter22&user=x", "&user=x"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "PRIVATE KEY"),
    ],
)
def test_credentials_are_blanked(text: str, left: str) -> None:
    redacted = redact(text)
    assert "[redacted]" in redacted
    assert left in redacted
    for secret in (BASIC, JWT, "TlRMTVNTUA", "abc~d.1", "r-1", "session=abc", "a=1", "hunter22", "MIIEow"):
        assert secret not in redacted
    assert "YIIGhgYGKwYBBQUCoIIGejCCBnagMDAu" not in redacted


@pytest.mark.parametrize(
    "text",
    [
        "Basic authentication failed for svc@example.org",
        "the NTLM or Basic scheme; Bearer tokens are for Graph",
        "file roomsync.toml, key environments.onprem.options.password: environment variable PW is not set",
        "sync of alice@example.org failed: the client_secret of tenant contoso expired",
        "POST https://mail.example.org/EWS/Exchange.asmx 200",
    ],
)
def test_ordinary_messages_stay_as_they_are(text: str) -> None:
    assert redact(text) == text


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the JSON handler ``configure`` installs writes, at debug level."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure(2)
    ours = root.handlers[-1]
    assert isinstance(ours, logging.StreamHandler)
    ours.setStream(stream)
    try:
        yield stream
    finally:
        root.handlers[:] = before
        root.setLevel(level)


def test_secrets_read_from_the_configuration_are_blanked_wherever_they_appear(
    logged: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOMSYNC_TEST_LOGS_SECRET", "Zx9-literal-secret")
    assert SecretRef(env="ROOMSYNC_TEST_LOGS_SECRET").reveal().get_secret_value() == "Zx9-literal-secret"
    logging.getLogger("somelib").debug("connecting with %s", "user/Zx9-literal-secret")
    [line] = logged.getvalue().splitlines()
    assert json.loads(line)["message"] == "connecting with user/[redacted]"


def test_arguments_extras_and_tracebacks_are_blanked(logged: io.StringIO) -> None:
    log = logging.getLogger("roomsync.test")
    try:
        raise RuntimeError(f"refused: Authorization: Bearer {JWT}")
    except RuntimeError:
        log.exception(
            "request %s failed",
            {"headers": {"Authorization": f"Basic {BASIC}"}},
            extra={"password": "hunter22", "detail": {"client_secret": "s3cr3t"}, "mailbox": "a@b.org"},
        )
    [line] = logged.getvalue().splitlines()
    for secret in (JWT, BASIC, "hunter22", "s3cr3t"):
        assert secret not in line
    record = json.loads(line)
    assert record["mailbox"] == "a@b.org"
    assert record["password"] == "[redacted]"
    assert "RuntimeError: refused: Authorization: [redacted]" in record["exception"]


def test_http_client_wire_traces_go_through_the_filter(logged: io.StringIO) -> None:
    import http.client

    http.client.print(f"send: b'Authorization: Basic {BASIC}\\r\\n'")  # type: ignore[attr-defined]
    [line] = logged.getvalue().splitlines()
    record = json.loads(line)
    assert record["logger"] == "http.client"
    assert BASIC not in line and "[redacted]" in record["message"]

"""Blanking credentials, tokens and cookies out of text meant for logs.

Libraries log what they send: exchangelib the request headers (``Authorization: Basic
base64(user:password)``, NTLM messages), spnego its NTLM messages, msal and urllib3 whatever they
do at debug level. :mod:`roomsync.logs` passes every record through :func:`redact`, which blanks
what looks like a credential in any of the shapes those libraries use (a header, a form or query
parameter, JSON, a Python dict's repr, a bearer token, a PEM private key) and, whatever the
shape, the literal value of every secret roomsync has read (:func:`remember`).
"""

from __future__ import annotations

import re
import threading

REDACTED = "[redacted]"

MIN_REMEMBERED = 4
"""Shorter secrets are not blanked literally: a three-letter secret would blank ordinary words."""

_HEADERS = r"(?:proxy-)?authorization|(?:set-)?cookie|x-api-key"
_KEYS = (
    r"client[_-]?secret|client[_-]?assertion|access[_-]?token|refresh[_-]?token|id[_-]?token"
    r"|password|passwd|api[_-]?key|secret"
)
_VALUE = r"""("[^"]*"|'[^']*'|[^\s&,;"'<>)}\]]+)"""

_RULES: list[tuple[re.Pattern[str], str]] = [
    # A header with its whole value: up to the quote that opened it, else to the end of the line.
    (
        re.compile(rf"""(?i)(?<![\w.-])({_HEADERS})(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\r\n]*)"""),
        rf"\1\2{REDACTED}",
    ),
    # key=value, key: value, "key": "value", 'key': 'value' for secret-looking keys.
    (re.compile(rf"""(?i)(?<![\w.-])(["']?(?:{_KEYS})["']?\s*[:=]\s*){_VALUE}"""), rf"\1{REDACTED}"),
    # A credential after its HTTP scheme: token68 that is not an ordinary word.
    (
        re.compile(
            r"\b(Basic|Bearer|NTLM|Negotiate|Digest)\s+"
            r"((?=[A-Za-z0-9._~+/-]*[0-9._~+/=-])[A-Za-z0-9._~+/-]{4,}=*|[A-Za-z]{20,}=*)"
        ),
        rf"\1 {REDACTED}",
    ),
    # NTLM messages wherever they stand (base64 of "NTLMSSP\0...").
    (re.compile(r"TlRMTVNTUA[A-Za-z0-9+/]*=*"), REDACTED),
    # JSON Web Tokens (OAuth access and id tokens, client assertions).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    (
        re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)", re.DOTALL),
        f"-----BEGIN PRIVATE KEY----- {REDACTED} -----END PRIVATE KEY-----",
    ),
]

_lock = threading.Lock()
_remembered: set[str] = set()
_literal: re.Pattern[str] | None = None


def remember(secret: str) -> None:
    """Blank ``secret`` from every log line from now on (roomsync calls it for every secret it reads)."""
    global _literal
    secret = secret.strip()
    if len(secret) < MIN_REMEMBERED:
        return
    with _lock:
        if secret in _remembered:
            return
        _remembered.add(secret)
        # Longest first, so a secret containing another is blanked whole.
        ordered = sorted(_remembered, key=len, reverse=True)
        _literal = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str) -> str:
    """``text`` with every credential it seems to hold replaced by ``[redacted]``."""
    literal = _literal
    if literal is not None:
        text = literal.sub(REDACTED, text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text

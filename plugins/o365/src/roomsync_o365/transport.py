"""The HTTP session of the o365 connector: one connection pool, TLS as configured, time-outs told apart."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import certifi
import requests
import requests.adapters
import urllib3.exceptions

POOL_SIZE = 8


def trust_bundle(ca_file: Path) -> str:
    """A PEM with the usual authorities and the configured CA: that CA besides the usual ones.

    The usual ones are those requests would use: ``REQUESTS_CA_BUNDLE`` when set, else certifi's.
    """
    usual = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    handle, name = tempfile.mkstemp(prefix="roomsync-o365-ca-", suffix=".pem")
    with os.fdopen(handle, "wb") as out:
        out.write(Path(usual).read_bytes())
        out.write(b"\n")
        out.write(ca_file.read_bytes())
    return name


def new_session(verify_tls: bool, ca_file: Path | None) -> tuple[requests.Session, str | None]:
    """The connector's session (connection pool) and the temporary CA bundle it uses, if any."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    bundle = None
    if not verify_tls:
        session.verify = False
    elif ca_file is not None:
        bundle = trust_bundle(ca_file)
        session.verify = bundle
    session.headers["User-Agent"] = "roomsync-o365"
    return session, bundle


def timed_out(exc: requests.RequestException) -> bool:
    """Whether a request failed for want of an answer in time, not for a broken connection.

    requests reports silence while the body is read as a ``ConnectionError`` around urllib3's
    ``ReadTimeoutError``, not as a ``Timeout``.
    """
    if isinstance(exc, requests.Timeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, (urllib3.exceptions.TimeoutError, TimeoutError))

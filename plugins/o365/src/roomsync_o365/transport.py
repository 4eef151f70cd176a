"""The HTTP session of the o365 connector: one connection pool, TLS as configured, time-outs told apart.

A configured CA is read into an in-memory SSL context besides the usual authorities, so no file
is written that a killed process could leave behind.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import requests
import requests.adapters
import urllib3.exceptions

from roomsync.tls import trust_context

POOL_SIZE = 8


class TrustingAdapter(requests.adapters.HTTPAdapter):
    """An adapter verifying certificates with its own SSL context (when verification is on)."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self.context = context
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        if verify is not False:
            pool["ssl_context"] = self.context
            pool.pop("ca_certs", None)
            pool.pop("ca_cert_dir", None)
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        if verify is not False:
            conn.ca_certs = conn.ca_cert_dir = None  # the context holds them already


def new_session(verify_tls: bool, ca_file: Path | None) -> requests.Session:
    """The connector's session (connection pool), verifying as configured."""
    session = requests.Session()
    pool: dict[str, Any] = {"pool_connections": 4, "pool_maxsize": POOL_SIZE, "max_retries": 0}
    adapter = (
        TrustingAdapter(trust_context(ca_file), **pool)
        if verify_tls and ca_file is not None
        else requests.adapters.HTTPAdapter(**pool)
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = verify_tls
    session.headers["User-Agent"] = "roomsync-o365"
    return session


def timed_out(exc: requests.RequestException) -> bool:
    """Whether a request failed for want of an answer in time, not for a broken connection.

    requests reports silence while the body is read as a ``ConnectionError`` around urllib3's
    ``ReadTimeoutError``, not as a ``Timeout``.
    """
    if isinstance(exc, requests.Timeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, (urllib3.exceptions.TimeoutError, TimeoutError))

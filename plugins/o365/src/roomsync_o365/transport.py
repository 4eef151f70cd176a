"""The HTTP session of the o365 connector: one connection pool, TLS as configured, time-outs told apart.

A configured CA is read into an in-memory SSL context besides the usual authorities, so no file
is written that a killed process could leave behind.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.cookies
import urllib3.exceptions
from requests.structures import CaseInsensitiveDict
from requests.utils import get_netrc_auth

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


class EnvironmentOnceSession(requests.Session):
    """A session that asks the environment for proxies and CA bundle once per server.

    ``requests`` reads the proxy and CA-bundle variables (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``, ...) from ``os.environ`` for every request: for an empty
    ``calendarView/delta`` page that was about a third of the client's CPU. Here the answer for
    a scheme, host and port (what ``NO_PROXY`` matches) and the request's own settings is kept;
    variables changed later reach sessions made later.
    """

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._netrc: dict[tuple[str, str], Any] = {}

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """What requests prepares, with the session's part of the work done once where it can be.

        For every request requests merges the session's cookies, headers, parameters and hooks
        (copying each through runtime protocol checks), looks for ``~/.netrc`` and builds a
        ``Cookie`` header even from an empty jar: about a fifth of an idle poll's CPU. A request
        with no cookies, auth, parameters, files or hooks of its own, from a session holding no
        cookies, auth or parameters (the connector's every request, unless a server sets cookies)
        is prepared here in requests' own steps, with the netrc answer kept per server like the
        environment; any other, or one netrc has credentials for, goes through requests.
        """
        url = request.url
        if (
            not isinstance(url, str)
            or not isinstance(request.method, str)
            or request.cookies
            or request.auth
            or request.params
            or request.files
            or any(request.hooks.values())
            or self.cookies
            or self.auth
            or self.params
        ):
            return super().prepare_request(request)
        if self.trust_env:
            parts = urlsplit(url)
            key = (parts.scheme, parts.netloc)
            if key not in self._netrc:
                self._netrc[key] = get_netrc_auth(url)
            if self._netrc[key]:
                return super().prepare_request(request)
        headers: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(self.headers)
        headers.update(request.headers)
        for name in [name for name, value in headers.items() if value is None]:
            del headers[name]
        prepared = requests.PreparedRequest()
        prepared.prepare_method(request.method.upper())
        prepared.prepare_url(url, None)
        prepared.prepare_headers(headers)
        prepared._cookies = requests.cookies.RequestsCookieJar()  # empty: no Cookie header
        prepared.prepare_body(request.data, request.files, request.json)
        prepared.prepare_auth(None, url)  # credentials in the URL, as requests takes them
        prepared.prepare_hooks(self.hooks)
        return prepared

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        parts = urlsplit(str(url))
        try:
            key = (
                parts.scheme,
                parts.netloc,
                tuple(sorted((proxies or {}).items())),
                stream,
                verify,
                cert,
                # what the session itself holds is merged in too
                self.trust_env,
                tuple(sorted(self.proxies.items())),
                self.stream,
                self.verify,
                self.cert,
            )
            hash(key)
        except TypeError:  # settings that cannot be a key are merged as requests does
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        found = self._settings.get(key)
        if found is None:
            found = self._settings[key] = super().merge_environment_settings(
                url, proxies, stream, verify, cert
            )
        return {**found, "proxies": dict(found["proxies"])}


def new_session(verify_tls: bool, ca_file: Path | None) -> requests.Session:
    """The connector's session (connection pool), verifying as configured."""
    session = EnvironmentOnceSession()
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

"""HTTP to Microsoft Graph: one pooled session, tokens per tenant, bounded waits when throttled.

Graph answers throttling with 429 (and overload with 503/504) and a ``Retry-After`` header; the
client waits that long and tries again, up to ``max_retry_wait_seconds`` in total, and then gives
up with a :class:`GraphError` the connector turns into a transient error. Reads are repeated after
a broken connection; writes are not, since their effect is unknown: the connector decides (a
create is looked up by its stamp first). A request that timed out (no connection within the
connect time-out, or silence longer than the read time-out) is not repeated at all: a server that
does not answer would only cost the same wait again.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from roomsync_o365.tokens import TenantTokens
from roomsync_o365.transport import timed_out

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503, 504})
MAX_ATTEMPTS = 8
TRANSPORT_RETRIES = 2
READ_PREFER = 'outlook.timezone="UTC", outlook.body-content-type="text"'
"""Times in UTC (the model compares instants) and bodies as the plain text roomsync writes."""


@dataclass
class GraphResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get("code", "")) if isinstance(error, dict) else ""

    @property
    def error_message(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        message = error.get("message", "") if isinstance(error, dict) else ""
        return str(message).strip().splitlines()[0][:300] if message else ""

    def describe(self) -> str:
        parts = [str(self.status), self.error_code, self.error_message]
        return " ".join(p for p in parts if p)

    def retry_after(self) -> float | None:
        return parse_retry_after(_header(self.headers, "Retry-After"))


class GraphError(Exception):
    """A Graph answer that is an error, or no answer at all (``status`` 0)."""

    def __init__(
        self,
        message: str,
        response: GraphResponse | None = None,
        *,
        timed_out: bool = False,
        tls: bool = False,
    ):
        super().__init__(message)
        self.response = response or GraphResponse(0)
        self.timed_out = timed_out
        self.tls = tls  # no answer because the TLS handshake or the certificate failed

    @property
    def status(self) -> int:
        return self.response.status


class Unreachable(GraphError):
    """No answer: refused, reset, timed out or a TLS failure."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def path(*segments: str, params: Mapping[str, Any] | None = None) -> str:
    """A Graph path relative to the version root, each segment quoted (ids carry ``/`` and ``=``)."""
    url = "/" + "/".join(quote(s, safe="$") for s in segments)
    if params:
        url += "?" + urlencode(params, quote_via=quote, safe="$,")
    return url


def user(mailbox: str, *rest: str, params: Mapping[str, Any] | None = None) -> str:
    return path("users", mailbox, *rest, params=params)


class GraphClient:
    """Sends requests to one Graph endpoint with the token of the tenant each request is for."""

    def __init__(
        self,
        graph_url: str,
        session: requests.Session,
        timeout: float | tuple[float, float],
        max_wait: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        ours = urlsplit(self.graph_url)
        self._origin = (ours.scheme, ours.netloc.lower())
        self._root = ours.path + "/"
        self._prefix = self.graph_url + "/"
        self.session = session
        self.timeout = timeout
        self.max_wait = max_wait
        self.sleep = sleep

    def url(self, relative: str) -> str:
        return relative if relative.startswith(("https://", "http://")) else f"{self.graph_url}{relative}"

    def owns(self, url: str) -> bool:
        """Whether an absolute URL (a next or delta link) points at our Graph endpoint."""
        if url.startswith(self._prefix):  # our scheme, host and root exactly: no need to split
            return True
        theirs = urlsplit(url)
        return self._origin == (theirs.scheme, theirs.netloc.lower()) and theirs.path.startswith(self._root)

    def send(
        self,
        tokens: TenantTokens,
        method: str,
        relative: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> GraphResponse:
        """One request, waiting out throttling; the answer whatever its status, or :class:`Unreachable`."""
        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        url = self.url(relative)
        waited = 0.0
        transport_failures = 0
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            request_headers = {"Authorization": f"Bearer {tokens.token()}", **(headers or {})}
            if body is not None:
                request_headers["Content-Type"] = "application/json"
            try:
                raw = self.session.request(
                    method,
                    url,
                    json=body,
                    headers=request_headers,
                    timeout=self.timeout,
                    # Explicitly: requests would let REQUESTS_CA_BUNDLE override verify_tls = false.
                    verify=self.session.verify,
                )
            except requests.RequestException as exc:
                silent = timed_out(exc)
                if idempotent and not silent and transport_failures < TRANSPORT_RETRIES:
                    transport_failures += 1
                    log.info("Graph request %s %s failed (%s); trying again", method, _path_of(url), exc)
                    continue
                raise Unreachable(
                    f"Microsoft Graph at {self.graph_url} did not answer in time "
                    f"(connect_timeout_seconds, read_timeout_seconds: {_seconds(self.timeout)})"
                    if silent
                    else f"cannot reach Microsoft Graph at {self.graph_url} ({type(exc).__name__})",
                    timed_out=silent,
                    tls=isinstance(exc, requests.exceptions.SSLError),
                ) from None
            response = _response(raw)
            if response.status == 401 and not refreshed:
                refreshed = True  # a token revoked or rotated meanwhile: one fresh try
                tokens.forget()
                continue
            if response.status in RETRY_STATUSES and attempt < MAX_ATTEMPTS:
                wait = self.next_wait(response.retry_after(), attempt, waited)
                if wait is not None:
                    log.info(
                        "Graph answered %s for %s %s; waiting %.1f s",
                        response.status,
                        method,
                        _path_of(url),
                        wait,
                    )
                    self.sleep(wait)
                    waited += wait
                    continue
            return response

    def next_wait(self, retry_after: float | None, attempt: int, waited: float) -> float | None:
        """How long to wait before the next attempt; ``None`` when the budget is spent."""
        wait = retry_after if retry_after is not None else min(2.0 ** (attempt - 1), 30.0)
        if waited + wait > self.max_wait:
            return None
        return wait

    def get(self, tokens: TenantTokens, relative: str, headers: Mapping[str, str] | None = None) -> Any:
        """A GET whose answer must be a success; the JSON body."""
        response = self.send(tokens, "GET", relative, headers=headers)
        if not response.ok:
            raise GraphError(f"GET {_path_of(self.url(relative))}: {response.describe()}", response)
        return response.body

    def pages(
        self, tokens: TenantTokens, relative: str, headers: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following ``@odata.nextLink``."""
        link: str | None = relative
        while link:
            body = self.get(tokens, link, headers)
            yield from body.get("value", ())
            link = body.get("@odata.nextLink")
            if link and not self.owns(link):
                raise GraphError(f"Graph answered a next link outside {self.graph_url}")


def _response(raw: requests.Response) -> GraphResponse:
    body: Any = None
    if raw.content:
        with contextlib.suppress(ValueError):
            body = raw.json()
        if body is None:
            body = raw.text
    return GraphResponse(raw.status_code, dict(raw.headers), body)


def _seconds(timeout: float | tuple[float, float]) -> str:
    return ", ".join(f"{t:g} s" for t in (timeout if isinstance(timeout, tuple) else (timeout,)))


def _path_of(url: str) -> str:
    """A URL for logs: its path only (queries may carry stamps, never secrets, but keep it short)."""
    return urlsplit(url).path

"""Access tokens for Microsoft Graph: the client-credentials flow through msal, one cache per tenant.

msal keeps each tenant's token in that tenant's cache and asks Entra ID for a new one only
shortly before it expires (or when Entra ID asked to refresh early), so callers simply ask for a
token before every request. The token msal handed out is kept here too, until msal would stop
handing it out, since msal's own look-up (a cache search and telemetry per call) is a noticeable
part of an idle poll. Failures name the tenant, the client id and where the credential was read
from, never the credential.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from cryptography import x509

from roomsync.config import SecretRef
from roomsync.errors import ConfigError, ConnectorError, Fault, TransientConnectorError
from roomsync_o365.options import TenantCredentials
from roomsync_o365.transport import timed_out

MSAL_EXPIRY_MARGIN = 5 * 60
"""Seconds before its expiry at which msal stops handing out a cached token and asks for a new one."""


class SignInError(ConnectorError):
    """Entra ID refused the app's credentials (wrong tenant, client id, expired secret)."""

    fault = Fault.CREDENTIALS


def graph_scope(graph_url: str, resource: str | None = None) -> str:
    """The ``.default`` scope of the Graph endpoint (``https://graph.microsoft.com/.default``)."""
    if resource:
        return f"{resource.rstrip('/')}/.default"
    parts = urlsplit(graph_url)
    return f"{parts.scheme}://{parts.netloc}/.default"


def read_pem(ref: SecretRef) -> str:
    """A whole PEM file or variable: :meth:`SecretRef.reveal` reads only a file's first line."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise ConfigError(f"environment variable {ref.env} is not set")
        return value
    assert ref.file is not None
    try:
        return ref.file.read_text(encoding="ascii")
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot read certificate file {ref.file}: {type(exc).__name__}") from None


def certificate_credential(pem: str, passphrase: str | None, source: SecretRef) -> dict[str, Any]:
    """msal's credential for a PEM holding a private key and its certificate."""
    if "PRIVATE KEY-----" not in pem:
        raise ConfigError(f"{source} holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
    start = pem.find("-----BEGIN CERTIFICATE-----")
    end = pem.find("-----END CERTIFICATE-----", start)
    if start < 0 or end < 0:
        raise ConfigError(f"{source} holds no PEM certificate (-----BEGIN CERTIFICATE-----) beside its key")
    certificate = pem[start : end + len("-----END CERTIFICATE-----")]
    try:
        x509.load_pem_x509_certificate(certificate.encode("ascii"))
    except ValueError:
        raise ConfigError(f"{source} holds a certificate that cannot be read") from None
    credential: dict[str, Any] = {"private_key": pem, "public_certificate": certificate}
    if passphrase:
        credential["passphrase"] = passphrase
    return credential


class _TimedHttpClient:
    """The connector's session as msal's HTTP client, with the connector's time-out."""

    def __init__(self, session: requests.Session, timeout: float | tuple[float, float]) -> None:
        self.session = session
        self.timeout = timeout

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("verify", self.session.verify)
        return self.session.post(url, params=params, data=data, headers=headers, **kwargs)

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("verify", self.session.verify)
        return self.session.get(url, params=params, headers=headers, **kwargs)

    def close(self) -> None:
        """The session belongs to the connector, which closes it."""


class TenantTokens:
    """Tokens of one app registration in one tenant; thread-safe."""

    def __init__(
        self,
        credentials: TenantCredentials,
        login_url: str,
        scope: str,
        session: requests.Session,
        timeout: float | tuple[float, float],
    ) -> None:
        self.credentials = credentials
        self.login_url = login_url
        self.authority = f"{login_url}/{credentials.tenant_id}"
        self.scope = scope
        self._http = _TimedHttpClient(session, timeout)
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()
        self._current: tuple[str, float] | None = None
        """The last token msal handed out and the time (``time.time()``) until which msal would
        hand it out again."""
        self.requests = 0
        """Token requests sent to Entra ID (the rest came from msal's cache)."""

    @property
    def who(self) -> str:
        return f"app {self.credentials.client_id} in tenant {self.credentials.tenant_id}"

    def _credential(self) -> Any:
        creds = self.credentials
        if creds.client_secret is not None:
            return creds.client_secret.reveal().get_secret_value()
        assert creds.client_certificate is not None
        passphrase = (
            creds.certificate_passphrase.reveal().get_secret_value() if creds.certificate_passphrase else None
        )
        return certificate_credential(
            read_pem(creds.client_certificate), passphrase, creds.client_certificate
        )

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.credentials.client_id,
                    client_credential=self._credential(),
                    authority=self.authority,
                    http_client=self._http,
                    # An authority the administrator configured is trusted as given; asking
                    # login.microsoftonline.com about it would fail for national clouds.
                    instance_discovery=False,
                    token_cache=msal.TokenCache(),
                )
            except requests.RequestException as exc:
                raise self.unreachable(exc) from None
            except ValueError as exc:
                raise SignInError(
                    f"the sign-in endpoint {self.authority} does not know tenant "
                    f"{self.credentials.tenant_id} ({_first_line(str(exc))}); check tenant_id and login_url"
                ) from None
        return self._app

    def token(self) -> str:
        """A current access token (the one msal handed out last while msal would still hand it out)."""
        current = self._current
        if current is not None and time.time() < current[1]:
            return current[0]
        with self._lock:
            app = self._application()
            asked = time.time()
            try:
                cached = app.acquire_token_for_client([self.scope])
            except requests.RequestException as exc:
                raise self.unreachable(exc) from None
            if cached and cached.get("token_source") == "identity_provider":
                self.requests += 1
            if not cached or "access_token" not in cached:
                self._current = None
                raise self.refused(cached or {})
            token = str(cached["access_token"])
            self._current = (token, _good_until(cached, asked))
        return token

    def unreachable(self, exc: requests.RequestException) -> TransientConnectorError:
        why = "it did not answer in time" if timed_out(exc) else type(exc).__name__
        return TransientConnectorError(
            f"cannot reach the sign-in endpoint {self.authority} for {self.who} "
            f"({why}); check login_url, the network path and the TLS settings",
            fault=Fault.TLS if isinstance(exc, requests.exceptions.SSLError) else Fault.SERVER,
        )

    def refused(self, answer: dict[str, Any]) -> SignInError:
        creds = self.credentials
        where = creds.client_secret if creds.client_secret is not None else creds.client_certificate
        kind = "client secret" if creds.client_secret is not None else "certificate"
        error = answer.get("error", "no token")
        description = _first_line(str(answer.get("error_description", "")))
        return SignInError(
            f"Microsoft Entra ID ({self.authority}) refused to sign in {self.who}: {error}"
            f"{': ' + description if description else ''}. Check tenant_id and client_id, and that the "
            f"{kind} read from {where} is current and belongs to that app registration"
        )

    def forget(self) -> None:
        """Drop cached tokens, e.g. after Graph rejected one."""
        with self._lock:
            self._app = None
            self._current = None


def _good_until(answer: dict[str, Any], asked: float) -> float:
    """Until when msal hands out the token of an answer again rather than asking anew.

    msal drops a token 5 minutes before it expires and refreshes one whose ``refresh_on`` passed.
    msal counts both from a moment no earlier than ``asked`` and rounds them to whole seconds, so
    they are rounded down here (``refresh_on`` by a second more): never later than msal's.
    """
    try:
        until = math.floor(asked + float(answer.get("expires_in", 0))) - MSAL_EXPIRY_MARGIN
        refresh_on = answer.get("refresh_on")
        if refresh_on is not None:
            until = min(until, math.floor(float(refresh_on)) - 1)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return float(until)


def _first_line(text: str) -> str:
    """Entra ID's description without its trace and correlation ids."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first.split(" Trace ID:")[0][:300]


class TokenRegistry:
    """One :class:`TenantTokens` per app registration of the environment, chosen by mailbox."""

    def __init__(self, options: Any, session: requests.Session, timeout: float | tuple[float, float]) -> None:
        self.options = options
        self._session = session
        self._timeout = timeout
        self._tenants: dict[tuple[str, str], TenantTokens] = {}
        self._lock = threading.Lock()

    def for_credentials(self, credentials: TenantCredentials) -> TenantTokens:
        key = (credentials.tenant_id, credentials.client_id)
        with self._lock:
            found = self._tenants.get(key)
            if found is None:
                found = TenantTokens(
                    credentials,
                    self.options.login_url,
                    graph_scope(self.options.graph_url, self.options.token_scope),
                    self._session,
                    self._timeout,
                )
                self._tenants[key] = found
            return found

    def for_mailbox(self, mailbox: str) -> TenantTokens:
        return self.for_credentials(self.options.credentials_for(mailbox))

    def all(self) -> list[TenantTokens]:
        with self._lock:
            return list(self._tenants.values())

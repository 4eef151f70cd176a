"""The options of an Exchange Online environment (``[environments.NAME.options]``).

roomsync signs in as an application (OAuth client credentials, with a client secret or a
certificate) and reaches mailboxes through Microsoft Graph. One environment may span several
Microsoft 365 tenants: ``tenant_overrides`` names, per mail domain, the tenant and app registration
that holds those mailboxes. Secrets are references (``{ env = ... }`` or ``{ file = ... }``), never
values, so the file can be backed up and versioned.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from roomsync.config import SecretRef
from roomsync.connector.options import TimeoutOptions, TlsOptions
from roomsync.zones import iana_zone

_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}")
_MULTI_TENANT = {"common", "organizations", "consumers"}
_LOOPBACK_NAMES = {"localhost"}


def _guid(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ValueError(
            "must be a GUID such as 00000000-0000-0000-0000-000000000000 (from the app registration)"
        ) from None


def _tenant(value: str) -> str:
    """The directory (tenant) id, or a domain of the tenant such as contoso.onmicrosoft.com."""
    value = value.strip().lower()
    if value in _MULTI_TENANT:
        raise ValueError(
            f"{value!r} names no tenant; an application signs in to one tenant: "
            "give its directory (tenant) id or a domain such as contoso.onmicrosoft.com"
        )
    if _DOMAIN.fullmatch(value):
        return value
    return _guid(value)


def _reference_only(value: Any) -> Any:
    """A secret written into the file would end up in backups and version control."""
    if isinstance(value, str):
        raise ValueError(
            'write a reference, { env = "VARIABLE" } or { file = "/path/to/secret" }, never the secret itself'
        )
    return value


def _mail_domain(value: str) -> str:
    value = value.strip().lower().removeprefix("@")
    if not _DOMAIN.fullmatch(value):
        raise ValueError(f"{value!r} is not a mail domain such as example.org")
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _plain_url(value: str, *, loopback_http: bool) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ValueError("must be an https:// URL")
    if parts.scheme == "http" and not (loopback_http and _is_loopback(parts.hostname)):
        raise ValueError(
            "must be an https:// URL"
            + (" (http:// is accepted only for a loopback address, for tests)" if loopback_http else "")
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return value


def _https_base(value: str) -> str:
    return _plain_url(value, loopback_http=False)


def _notification_url(value: str) -> str:
    """Graph posts notifications over https only; a loopback http URL serves a local simulator."""
    return _plain_url(value, loopback_http=True)


TenantId = Annotated[str, AfterValidator(_tenant)]
ClientId = Annotated[str, AfterValidator(_guid)]
Secret = Annotated[SecretRef, BeforeValidator(_reference_only)]
MailDomain = Annotated[str, AfterValidator(_mail_domain)]
HttpsBase = Annotated[str, AfterValidator(_https_base)]
NotificationUrl = Annotated[str, AfterValidator(_notification_url)]
IanaZone = Annotated[str, AfterValidator(iana_zone)]  # a Windows name gets its IANA name suggested


class TenantCredentials(BaseModel):
    """An app registration in one tenant: who roomsync signs in as there.

    Exactly one of ``client_secret`` and ``client_certificate``; Microsoft recommends the
    certificate, since a secret is a password that travels with every token request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    tenant_id: TenantId
    """Directory (tenant) id, or a domain of the tenant."""

    client_id: ClientId
    """Application (client) id of the app registration."""

    client_secret: Secret | None = None
    """Reference to a client secret of the app registration."""

    client_certificate: Secret | None = None
    """Reference to a PEM holding the private key and the certificate uploaded to the app
    registration (the whole file or variable is read, not only its first line)."""

    certificate_passphrase: Secret | None = None
    """Reference to the passphrase of an encrypted private key in ``client_certificate``."""

    @model_validator(mode="after")
    def _one_credential(self) -> TenantCredentials:
        if (self.client_secret is None) == (self.client_certificate is None):
            raise ValueError(
                "give exactly one of client_secret or client_certificate "
                "(a reference to the app registration's secret or to a PEM with key and certificate)"
            )
        if self.certificate_passphrase is not None and self.client_certificate is None:
            raise ValueError("certificate_passphrase belongs to client_certificate, which is not given")
        return self


class O365Options(TenantCredentials, TlsOptions, TimeoutOptions):
    """The default tenant's credentials, the service endpoints and the per-domain overrides."""

    graph_url: HttpsBase = "https://graph.microsoft.com/v1.0"
    """Microsoft Graph; national clouds have their own (e.g. https://graph.microsoft.us/v1.0)."""

    login_url: HttpsBase = "https://login.microsoftonline.com"
    """The sign-in authority (e.g. https://login.microsoftonline.us for US Government)."""

    token_scope: HttpsBase | None = None
    """The resource tokens are asked for, when it is not ``graph_url``'s origin (a proxy or a
    simulator in front of Graph): e.g. ``https://graph.microsoft.com``; ``/.default`` is added."""

    timezone: IanaZone = "UTC"
    """IANA name of the organisation's zone: entries read without a zone of their own use it."""

    send_invitations: Literal["all-and-save-copy", "none"] = "all-and-save-copy"
    """Whether attendees get meeting requests. Microsoft Graph always sends them when it writes a
    meeting, so only ``all-and-save-copy`` is possible; the key exists so that an EWS
    environment's setting moved here is refused clearly instead of ignored."""

    tenant_overrides: dict[MailDomain, TenantCredentials] = Field(default_factory=dict)
    """Mail domain (``example.org``) to the credentials of the tenant that holds its mailboxes."""

    delta_past_days: int = Field(default=30, ge=1, le=365)
    """How far back the change detection window (``calendarView/delta``) reaches."""

    delta_future_days: int = Field(default=365, ge=30, le=1825)
    """How far ahead the change detection window reaches."""

    notification_url: NotificationUrl | None = None
    """Public https URL at which Microsoft Graph reaches the webhook receiver (usually a reverse
    proxy in front of ``webhook_bind``); without it changes are only polled."""

    webhook_bind: str = "127.0.0.1:8765"
    """``host:port`` the webhook receiver listens on (behind the reverse proxy)."""

    read_timeout_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        validation_alias=AliasChoices("read_timeout_seconds", "request_timeout_seconds"),
    )
    """How long the server may stay silent while roomsync waits for (the rest of) an answer
    (``request_timeout_seconds``, its earlier name, is still read)."""

    max_retry_wait_seconds: float = Field(default=120, ge=0, le=3600)
    """Longest total wait for throttled (429) or busy (503) answers before giving up."""

    max_concurrency: int = Field(default=8, ge=1, le=64)
    """Mailboxes synchronised at once by this app, each with one request in flight (Graph allows
    an app 4 at once per mailbox, so one mailbox's cycle stays well inside it); shared by every
    roomsync process using the app registration."""

    @field_validator("tenant_overrides", mode="before")
    @classmethod
    def _domains_once(cls, value: Any) -> Any:
        if isinstance(value, dict):
            seen: set[str] = set()
            for key in value:
                domain = str(key).strip().lower().removeprefix("@")
                if domain in seen:
                    raise ValueError(f"mail domain {domain} is given twice")
                seen.add(domain)
        return value

    @field_validator("send_invitations")
    @classmethod
    def _graph_always_sends(cls, value: str) -> str:
        if value == "none":
            raise ValueError(
                "'none' is not possible over Microsoft Graph: Exchange Online sends meeting requests and "
                "cancellations whenever a meeting with attendees is written; remove the key"
            )
        return value

    @field_validator("webhook_bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be host:port, such as 127.0.0.1:8765 (port 0 picks a free one)")
        return f"{host.strip('[]')}:{int(port)}"

    def credentials_for(self, mailbox: str) -> TenantCredentials:
        """The tenant that holds ``mailbox``: its domain's override, else the default tenant."""
        domain = mailbox.rpartition("@")[2].lower()
        return self.tenant_overrides.get(domain, self)

    def tenants(self) -> list[TenantCredentials]:
        """Every tenant of the environment, the default one first."""
        return [self, *self.tenant_overrides.values()]

    @property
    def bind_address(self) -> tuple[str, int]:
        host, _, port = self.webhook_bind.rpartition(":")
        return host, int(port)

"""The options of an Exchange Online environment (``[environments.NAME.options]``).

roomsync signs in as an application (OAuth client credentials) and reaches mailboxes through
Microsoft Graph. One environment may span several Microsoft 365 tenants: ``tenant_overrides``
names, per mail domain, the tenant and app registration that holds those mailboxes.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from roomsync.config import SecretRef
from roomsync.connector import TlsOptions

_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}")
_MULTI_TENANT = {"common", "organizations", "consumers"}


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


def _https_base(value: str) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return value


TenantId = Annotated[str, AfterValidator(_tenant)]
ClientId = Annotated[str, AfterValidator(_guid)]
Secret = Annotated[SecretRef, BeforeValidator(_reference_only)]
MailDomain = Annotated[str, AfterValidator(_mail_domain)]
HttpsBase = Annotated[str, AfterValidator(_https_base)]


class TenantCredentials(BaseModel):
    """An app registration in one tenant: who roomsync signs in as there."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    tenant_id: TenantId
    """Directory (tenant) id, or a domain of the tenant."""

    client_id: ClientId
    """Application (client) id of the app registration."""

    client_secret: Secret
    """Reference to a client secret of the app registration."""


class O365Options(TenantCredentials, TlsOptions):
    """The default tenant's credentials, the service endpoints and the per-domain overrides."""

    graph_url: HttpsBase = "https://graph.microsoft.com/v1.0"
    """Microsoft Graph; national clouds have their own (e.g. https://graph.microsoft.us/v1.0)."""

    login_url: HttpsBase = "https://login.microsoftonline.com"
    """The sign-in authority (e.g. https://login.microsoftonline.us for US Government)."""

    tenant_overrides: dict[MailDomain, TenantCredentials] = Field(default_factory=dict)
    """Mail domain (``example.org``) to the credentials of the tenant that holds its mailboxes."""

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

    def credentials_for(self, mailbox: str) -> TenantCredentials:
        """The tenant that holds ``mailbox``: its domain's override, else the default tenant."""
        domain = mailbox.rpartition("@")[2].lower()
        return self.tenant_overrides.get(domain, self)

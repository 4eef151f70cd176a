"""The options of an EWS environment (``[environments.NAME.options]``), checked before connecting.

One model for all three EWS plugins, so a key means the same in each and a typo is reported with
its key path (``environments.NAME.options.KEY``) by :meth:`roomsync.connector.Connector.from_config`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from roomsync.config import SecretRef
from roomsync.connector.options import TimeoutOptions, TlsOptions
from roomsync.zones import iana_zone


def _reference_only(value: Any) -> Any:
    """A password written into the file would end up in backups and version control."""
    if isinstance(value, str):
        raise ValueError(
            'write a reference, { env = "VARIABLE" } or { file = "/path/to/secret" }, never the secret itself'
        )
    return value


Secret = Annotated[SecretRef, BeforeValidator(_reference_only)]

KERBEROS_EXTRA = "pip install 'roomsync-ews-common[kerberos]'"


def kerberos_missing() -> str | None:
    """Why this process cannot log on with Kerberos, or None: exchangelib's GSSAPI needs
    requests-gssapi, an optional extra (it builds on the C library of MIT Kerberos or Heimdal)."""
    try:
        import requests_gssapi  # noqa: F401
    except ImportError as exc:
        return (
            f"auth = 'kerberos' needs the requests-gssapi package, which cannot be imported ({exc}); "
            f"install it with {KERBEROS_EXTRA}"
        )
    return None


def _with_password(info: ValidationInfo) -> bool:
    """Whether the logon method needs a username and password (an invalid method: no more errors)."""
    return info.data.get("auth") in ("basic", "ntlm")


class EwsOptions(TlsOptions, TimeoutOptions):
    """How to reach one Exchange organisation over EWS and how to act in its mailboxes."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    # Declared before url because the url check reads it.
    allow_http: bool = False
    """Accept an ``http://`` url; exists only for a local EWS simulator."""

    url: str
    """The EWS endpoint, e.g. ``https://mail.example.org/EWS/Exchange.asmx``."""

    # Declared before username and password because their checks read it.
    auth: Literal["basic", "ntlm", "kerberos"] = "ntlm"
    """How the service account logs on. ``kerberos`` (SPNEGO, HTTP Negotiate) takes the ticket of
    the process's credential cache (``KRB5CCNAME``, or a client keytab in ``KRB5_CLIENT_KTNAME``)
    and needs ``pip install 'roomsync-ews-common[kerberos]'``."""

    username: str | None = Field(default=None, validate_default=True)
    """The service account: ``svc-roomsync@example.org`` or ``EXAMPLE\\svc-roomsync``. With
    Kerberos optional, and only named in messages: the ticket decides who logs on."""

    password: Secret | None = Field(default=None, validate_default=True)
    """Required with basic and NTLM; refused with Kerberos, which would ignore it."""

    access: Literal["impersonation", "delegate"] = "impersonation"
    """Impersonation (the account acts as each mailbox) or delegate access (it was granted rights
    on each mailbox's calendar)."""

    timezone: str = "UTC"
    """IANA name of the zone in which entries without a zone of their own are read and written."""

    max_concurrency: int = Field(default=10, ge=1)
    """Requests in flight at once, one per cycle: that many mailboxes are synchronised at once.
    The throttling policy's EWSMaxConcurrency (10 per account by default) caps it, and it is
    shared by every roomsync process using the account: give each a share of it."""

    send_invitations: Literal["all-and-save-copy", "none"] = "all-and-save-copy"
    """Whether attendees get meeting requests when roomsync writes an entry."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an absolute URL such as https://mail.example.org/EWS/Exchange.asmx")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain credentials; use the username and password options")
        if parts.scheme == "http" and not info.data.get("allow_http", False):
            raise ValueError(
                "must be an https:// URL: over http the password crosses the network readable "
                "(allow_http = true exists only for a local simulator)"
            )
        return value

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        if value == "kerberos":
            missing = kerberos_missing()
            if missing:
                raise ValueError(missing)
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if _with_password(info):
                raise ValueError(f"is required with auth = {info.data['auth']!r}")
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretRef | None, info: ValidationInfo) -> SecretRef | None:
        if value is None and _with_password(info):
            raise ValueError(f"is required with auth = {info.data['auth']!r}")
        if value is not None and info.data.get("auth") == "kerberos":
            raise ValueError(
                "is not used with auth = 'kerberos', which logs on with the ticket of the credential "
                "cache (KRB5CCNAME) or keytab (KRB5_CLIENT_KTNAME); remove it, it would be ignored"
            )
        return value

    @property
    def account(self) -> str:
        """The service account as messages name it."""
        if self.username:
            return self.username
        return "the Kerberos principal of roomsync's ticket (klist)"

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return iana_zone(value)  # a Windows name gets its IANA name suggested

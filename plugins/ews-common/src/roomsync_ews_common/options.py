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


class EwsOptions(TlsOptions, TimeoutOptions):
    """How to reach one Exchange organisation over EWS and how to act in its mailboxes."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    # Declared before url because the url check reads it.
    allow_http: bool = False
    """Accept an ``http://`` url; exists only for a local EWS simulator."""

    url: str
    """The EWS endpoint, e.g. ``https://mail.example.org/EWS/Exchange.asmx``."""

    username: str = Field(min_length=1)
    """The service account: ``svc-roomsync@example.org`` or ``EXAMPLE\\svc-roomsync``."""

    password: Secret

    auth: Literal["basic", "ntlm"] = "ntlm"

    access: Literal["impersonation", "delegate"] = "impersonation"
    """Impersonation (the account acts as each mailbox) or delegate access (it was granted rights
    on each mailbox's calendar)."""

    timezone: str = "UTC"
    """IANA name of the zone in which entries without a zone of their own are read and written."""

    max_concurrency: int = Field(default=4, ge=1)
    """Requests in flight at once; the server's throttling policy (EWSMaxConcurrency) caps it."""

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

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return iana_zone(value)  # a Windows name gets its IANA name suggested

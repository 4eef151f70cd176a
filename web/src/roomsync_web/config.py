"""The ``[web]`` table of ``roomsync.toml``: where the service listens and whom it lets in.

::

    [web]
    host = "127.0.0.1"
    port = 8080
    cors_origins = ["https://rooms.example.org"]   # browsers of these origins may call the API
    rate_limit = "600/minute"                      # per API key or signed-in person
    session_secret = { env = "ROOMSYNC_WEB_SESSION_SECRET" }  # signs the admin pages' cookies
    certfile = "/etc/roomsync/tls.crt"             # serve https (else behind a TLS proxy)
    keyfile = "/etc/roomsync/tls.key"

    [web.oidc]                                     # people sign in with their organisation's tokens
    issuer = "https://login.microsoftonline.com/<tenant id>/v2.0"
    audience = "api://roomsync"
    admins = ["ops@example.org"]                   # persons with the admin role
    admin_role = "RoomSync.Admin"                  # or an app role in the token's "roles"
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from limits import parse as parse_limit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from roomsync.config import SecretRef, Settings, problems_from
from roomsync.errors import ConfigError, ConfigProblem

MAX_BODY_BYTES = 1_000_000


class OidcConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuer: str
    """The issuer URL exactly as in the tokens' ``iss``; its OpenID metadata names the keys."""
    audience: str
    """The ``aud`` tokens for this API carry (the API's application ID URI or client id)."""
    admins: list[str] = Field(default_factory=list)
    admin_role: str = "RoomSync.Admin"
    ca_file: Path | None = None
    """An extra certificate authority for the issuer's https (a private issuer)."""
    verify_tls: bool = True
    leeway_seconds: int = Field(default=60, ge=0, le=600)
    client_id: str | None = Field(default=None, max_length=200)
    """The Outlook add-in's app registration at the issuer, for the add-in's sign-in dialog
    (authorization code with PKCE) where Outlook offers no single sign-on; unset, no dialog."""
    scope: str | None = Field(default=None, max_length=500)
    """What the dialog asks the issuer for; ``<audience>/access_as_user`` when unset."""

    @field_validator("issuer")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https URL (the issuer of the tokens, as in their 'iss')")
        return value.rstrip("/")

    @field_validator("admins")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value]


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    rate_limit: str = "600/minute"
    session_secret: SecretRef | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1024, le=100_000_000)
    oidc: OidcConfig | None = None
    outlook_wait_minutes: int = Field(default=30, ge=1, le=1440)
    """How long a room booked in the Outlook add-in waits for its meeting to be sent."""

    @field_validator("rate_limit")
    @classmethod
    def _limit(cls, value: str) -> str:
        try:
            parse_limit(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as '600/minute' or '10/second'") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*":
                raise ValueError("'*' would let every web site call the API; name the origins")
            if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin such as 'https://rooms.example.org'")
        return value

    def secret_for_sessions(self) -> str:
        """The configured secret, or one made for this process (sessions end at a restart)."""
        if self.session_secret is not None:
            return self.session_secret.reveal().get_secret_value()
        return secrets.token_urlsafe(32)


def _resolved(config: WebConfig, base: Path | None) -> WebConfig:
    if base is None:
        return config
    update: dict[str, Any] = {}
    for name in ("certfile", "keyfile"):
        value = getattr(config, name)
        if value is not None and not value.is_absolute():
            update[name] = base / value
    if config.oidc and config.oidc.ca_file and not config.oidc.ca_file.is_absolute():
        update["oidc"] = config.oidc.model_copy(update={"ca_file": base / config.oidc.ca_file})
    return config.model_copy(update=update)


def web_config(settings: Settings) -> WebConfig:
    """The checked ``[web]`` table; a :class:`ConfigError` names each wrong key."""
    file = str(settings.source) if settings.source else None
    try:
        config = WebConfig.model_validate(settings.web)
    except ValidationError as exc:
        raise ConfigError(problems=problems_from(exc, file, ("web",))) from None
    config = _resolved(config, settings.source.parent if settings.source else None)
    problems = [
        ConfigProblem(f"{path} cannot be read", key=f"web.{name}", file=file)
        for name in ("certfile", "keyfile")
        if (path := getattr(config, name)) is not None and not path.is_file()
    ]
    if (config.certfile is None) != (config.keyfile is None):
        problems.append(ConfigProblem("certfile and keyfile go together", key="web.certfile", file=file))
    if problems:
        raise ConfigError(problems=problems)
    return config

"""Options every connector that speaks HTTP(S) shares: TLS verification and time-outs."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsOptions(BaseModel):
    """TLS options every connector that talks HTTPS shares: verification is on by default."""

    verify_tls: bool = True

    ca_file: Path | None = None
    """PEM file of a certificate authority to trust besides the system's (a private CA, a
    TLS-inspecting proxy, the Exchange simulator's ``--tls``)."""

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        if info.data.get("verify_tls") is False:
            raise ValueError("is not used when verify_tls = false; remove one of the two")
        if not value.is_file():
            raise ValueError(f"file not found: {value}")
        return value


class TimeoutOptions(BaseModel):
    """How long every HTTP request of a connector may wait, shared by the connectors that talk HTTP.

    A server that accepts connections and never answers costs each request at most
    ``connect_timeout_seconds`` to connect plus ``read_timeout_seconds`` of silence while waiting for
    an answer; a request that timed out is not repeated within the cycle.
    """

    connect_timeout_seconds: float = Field(default=10, gt=0, le=300, allow_inf_nan=False)
    """How long to wait for a connection (TCP and TLS) to the server."""

    read_timeout_seconds: float = Field(default=60, gt=0, le=3600, allow_inf_nan=False)
    """How long the server may stay silent while roomsync waits for (the rest of) an answer."""

    @property
    def timeouts(self) -> tuple[float, float]:
        """``(connect, read)``, as ``requests`` takes them."""
        return (self.connect_timeout_seconds, self.read_timeout_seconds)

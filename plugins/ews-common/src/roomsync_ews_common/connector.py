"""The connector base of the EWS plugins.

This release validates an environment's options and answers what a plugin is (its name, the EWS
dialect it pins, its capabilities); every hook that would talk to a server raises a
:class:`~roomsync.errors.ConnectorError` that says so, instead of failing in some less clear way
further down. The EWS protocol code replaces those methods here, once, for all three plugins.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from roomsync.connectors.pending import PendingProtocolConnector, pending_phrase
from roomsync.hookspecs import hookimpl
from roomsync.model import (
    Capabilities,
)
from roomsync_ews_common.options import EwsOptions

PROTOCOL_PENDING = pending_phrase("EWS")


class EwsConnector(PendingProtocolConnector):
    """Base of the EWS connectors; a subclass sets the class attributes below and nothing else."""

    Options: ClassVar[type[BaseModel]] = EwsOptions

    protocol: ClassVar[str] = "EWS"

    request_server_version: ClassVar[str] = ""
    """The EWS dialect sent as ``RequestServerVersion``; pinned, so no version guessing happens."""

    serves: ClassVar[str] = ""
    """The Exchange releases this plugin is for, as a person would say them."""

    capability_notes: ClassVar[tuple[str, ...]] = ()
    """What an administrator should know about this generation (shown with the capabilities)."""

    options: EwsOptions

    @hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        # Known without a server, and what the host reads before any batched call, so it answers.
        return Capabilities(
            push=False,
            max_batch=100,
            max_freebusy_mailboxes=100,
            max_freebusy_days=42,
            notes=(
                self.pending_note(),
                f"for {self.serves}; EWS dialect {self.request_server_version}",
                *self.capability_notes,
            ),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(environment={self.environment!r}, url={self.options.url!r})"

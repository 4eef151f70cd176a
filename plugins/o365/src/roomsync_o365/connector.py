"""The Exchange Online connector, over Microsoft Graph.

EWS in Exchange Online is blocked since 2026-10-01 and switched off on 2027-04-01, so this plugin
speaks Graph. This release validates an environment's options and answers what the plugin is;
every hook that would talk to Graph raises a :class:`~roomsync.errors.ConnectorError` saying so.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from roomsync.connectors.pending import PendingProtocolConnector, pending_phrase
from roomsync.hookspecs import hookimpl
from roomsync.model import (
    Capabilities,
)
from roomsync_o365.options import O365Options

PROTOCOL_PENDING = pending_phrase("Microsoft Graph")


class O365Connector(PendingProtocolConnector):
    Options: ClassVar[type[BaseModel]] = O365Options
    name: ClassVar[str] = "o365"
    protocol: ClassVar[str] = "Microsoft Graph"
    serves: ClassVar[str] = "Exchange Online (Microsoft 365)"

    options: O365Options

    @hookimpl
    def roomsync_capabilities(self) -> Capabilities:
        # Graph's limits: $batch takes 20 requests, getSchedule 20 mailboxes over less than 62 days.
        return Capabilities(
            push=False,
            max_batch=20,
            max_freebusy_mailboxes=20,
            max_freebusy_days=61,
            notes=(
                self.pending_note(),
                f"for {self.serves}; Microsoft Graph at {self.options.graph_url}",
                "application permission Calendars.ReadWrite, scoped with RBAC for Applications "
                "or an Application Access Policy",
                f"{1 + len(self.options.tenant_overrides)} tenant(s)",
            ),
        )

    def __repr__(self) -> str:
        return f"O365Connector(environment={self.environment!r}, tenant_id={self.options.tenant_id!r})"

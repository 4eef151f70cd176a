"""The Exchange 2007 connector: the EWS dialect where version differences are real.

Exchange 2007 SP1 to SP3 speak only the ``Exchange2007_SP1`` schema, and exchangelib 5.6.0 does
not keep to it everywhere; the base connector's extension points are overridden with the 2007 way
of writing items (:mod:`~roomsync_exchange2007.items`) and reading them
(:mod:`~roomsync_exchange2007.reading`). Everything else is the shared EWS connector, free/busy
included: it states its time zone itself, so 2007's missing GetServerTimeZones is never asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from roomsync.connector.directory import RoomList
from roomsync.errors import ConnectorError, Fault
from roomsync.hookspecs import hookimpl
from roomsync_ews_common import EwsConnector
from roomsync_ews_common.connector import BATCH
from roomsync_ews_common.notifications import PULL_SECONDS
from roomsync_ews_common.options import EwsOptions
from roomsync_exchange2007 import items, reading


class Exchange2007Options(EwsOptions):
    """The EWS options, and how often 2007's pull subscriptions are asked for events."""

    pull_seconds: float | None = Field(default=None, ge=1, le=300)
    """Seconds from one round of GetEvents over every watched mailbox to the next (default
    15): one request per mailbox per round, so 60 / pull_seconds requests per mailbox a minute,
    and a change in Outlook reaches ROOMS at most this long (plus one cycle) after it is made.
    At most 300: a pull subscription nobody asks for 10 minutes ends on the server."""


class Exchange2007Connector(EwsConnector):
    name = "exchange2007"
    Options: ClassVar[type[BaseModel]] = Exchange2007Options
    options: Exchange2007Options
    # The only dialect 2007 SP1 to SP3 speak; 2007 without a service pack is not supported.
    request_server_version = "Exchange2007_SP1"
    # The 2007 schema has no streaming subscriptions.
    notifications = "pull"
    serves = "Exchange 2007 SP1, SP2 and SP3"
    capability_notes = (
        "item times are written in UTC with the entry's zone as MeetingTimeZone (TimeZoneName), "
        "so series keep their wall-clock time; 2007 has no StartTimeZone/EndTimeZone",
        "weekly series carry no first day of the week (FirstDayOfWeek came with 2010 SP1): "
        "a series every 2 or more weeks on Sunday and other days is refused",
        "no GetServerTimeZones: free/busy is read with GetUserAvailability and an explicit UTC time zone",
        "no streaming notifications: pull subscriptions are asked for events, every mailbox once "
        f"a round, a round every {PULL_SECONDS:.0f} s (option pull_seconds)",
        "no GetRooms/GetRoomLists: room lists cannot be read from the server",
        "impersonation through the Active Directory rights ms-Exch-EPI-Impersonation "
        "and ms-Exch-EPI-May-Impersonate",
    )
    impersonation_right_name = "ms-Exch-EPI-Impersonation"
    impersonation_right = (
        "the Active Directory extended rights ms-Exch-EPI-Impersonation on the Client Access servers "
        "and ms-Exch-EPI-May-Impersonate on the mailbox database (or on each mailbox); in the Exchange "
        "Management Shell: Add-ADPermission -Identity (Get-ExchangeServer CAS01).DistinguishedName "
        "-User SERVICE-ACCOUNT -ExtendedRights ms-Exch-EPI-Impersonation, and Add-ADPermission "
        "-Identity (Get-MailboxDatabase DB01).DistinguishedName -User SERVICE-ACCOUNT "
        "-ExtendedRights ms-Exch-EPI-May-Impersonate (CAS01 and DB01 being your Client Access "
        "server and mailbox database)"
    )
    update_fields = items.UPDATE_FIELDS

    @classmethod
    def status_note(cls) -> str:
        return (
            f"this release of {cls.distribution()} speaks EWS in the Exchange 2007 SP1 schema; "
            "free/busy through GetUserAvailability in UTC; changes arrive by pull notifications "
            "(impersonation only: delegate access is polled), and SyncFolderItems every cycle "
            "catches whatever they miss"
        )

    def delegate_right(self, mailbox: str) -> str:
        # Add-MailboxFolderPermission came with Exchange 2010: on 2007 the shell grants access to
        # the whole mailbox, or the person shares the calendar folder in Outlook.
        return (
            f"delegate access to the calendar of {mailbox}: Editor permission on its Calendar folder, "
            f"given by its owner in Outlook (Calendar properties, Permissions), or full access to the "
            f"mailbox (Add-MailboxPermission -Identity {mailbox} -User {self.options.account} "
            "-AccessRights FullAccess)"
        )

    def pull_seconds(self) -> float | None:
        return self.options.pull_seconds

    @hookimpl
    def roomsync_room_directory(self, room_list: str | None) -> list[RoomList]:
        raise ConnectorError(
            f"{self.distribution()}, environment {self.environment!r}: Exchange 2007 has no room lists "
            "(GetRoomLists came with Exchange 2010); add rooms with roomsync rooms add",
            fault=Fault.CONFIGURATION,
        )

    build_item = staticmethod(items.to_item)
    build_occurrence = staticmethod(items.occurrence_item)

    def _fetch(self, account: Any, ids: list[Any]) -> Iterable[Any]:
        return reading.fetch(account, ids, BATCH)

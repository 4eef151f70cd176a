"""roomsync-exchange2007 against the Exchange simulator in the 2007 dialect: the connector suite,
and what only 2007 asks of a client."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import WriteErrorKind
from roomsync.domain import EventFields, Frequency, Recurrence, Weekday
from roomsync.errors import AccessDenied
from roomsync.testkit import ConnectorKit
from roomsync.testkit.suite import (
    Changes,
    created_ids,
    occurrence_spans,
    series,
    span,
    spans,
    weekly_across_dst,
)
from roomsync_ews_common.account import pinned_version
from roomsync_ews_common.testing import (
    ENVIRONMENT,
    SIM_PASSWORD_ENV,
    SIM_USERS,
    EwsSimulatorSuite,
    SimulatorUser,
)
from roomsync_exchange2007 import Exchange2007Connector

T = "{http://schemas.microsoft.com/exchange/services/2006/types}"
NEW_YORK = "America/New_York"


def written(user: SimulatorUser, mailbox: str, fields: EventFields) -> etree._Element:
    """The CalendarItem element the connector would send for ``fields``."""
    item = Exchange2007Connector.build_item(user.account(mailbox), fields, "stamp")
    return item.to_xml(version=pinned_version("Exchange2007_SP1"))


class TestExchange2007Ews(EwsSimulatorSuite):
    plugin = "exchange2007"
    dialect = "exchange2007"

    # --- how items are written ----------------------------------------------------------------

    def test_items_are_written_the_2007_way(self, kit: ConnectorKit, user: SimulatorUser) -> None:
        recurrence = Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO, Weekday.TH), count=4)
        fields = series(kit, "Early", recurrence, 7, 0, 30)
        start = fields.start  # the day before, in UTC

        elem = written(user, kit.mailbox, fields)

        zone = elem.find(f"{T}MeetingTimeZone")
        assert zone is not None and dict(zone.attrib) == {"TimeZoneName": "W. Europe Standard Time"}
        assert elem.findtext(f"{T}Start") == start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        weekly = elem.find(f"{T}Recurrence/{T}WeeklyRecurrence")
        assert weekly is not None and [etree.QName(c).localname for c in weekly] == ["Interval", "DaysOfWeek"]
        # The series' first day is a day on its own wall clock, not the UTC date of its start.
        assert elem.findtext(f"{T}Recurrence/{T}NumberedRecurrence/{T}StartDate") == start.date().isoformat()
        assert elem.find(f"{T}StartTimeZone") is None

    def test_utc_entries_state_their_offset(self, kit: ConnectorKit, user: SimulatorUser) -> None:
        fields = kit.fields("In UTC", 5, 9, timezone="UTC")
        zone = written(user, kit.mailbox, fields).find(f"{T}MeetingTimeZone")
        assert zone is not None and zone.get("TimeZoneName") == "UTC"
        assert zone.findtext(f"{T}BaseOffset") == "PT0M"

    @pytest.mark.parametrize(
        "recurrence",
        [
            Recurrence(frequency=Frequency.DAILY, interval=2, count=5),
            Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO, Weekday.TH), count=6),
        ],
        ids=["every-2-days", "weekly"],
    )
    def test_a_series_starting_just_after_midnight_keeps_its_days(
        self, kit: ConnectorKit, recurrence: Recurrence
    ) -> None:
        """00:30 in Berlin is the day before in UTC: the series' first day is the local one."""
        fields = series(kit, "Night shift", recurrence, 7, 0, 30, minutes=45)
        self._series_round_trip(kit, fields)
        window = (fields.start - timedelta(days=1), fields.start + timedelta(days=30))
        expected = occurrence_spans(fields, *window)
        [answer] = kit.host.free_busy([kit.mailbox], *window)
        assert len(expected) == recurrence.count and expected <= spans(answer)

    def test_a_series_every_two_weeks_on_two_days_round_trips(self, kit: ConnectorKit) -> None:
        recurrence = Recurrence(
            frequency=Frequency.WEEKLY, interval=2, weekdays=(Weekday.TU, Weekday.FR), count=6
        )
        fields = series(kit, "Fortnightly", recurrence, 7, 15)
        self._series_round_trip(kit, fields)
        window = (fields.start - timedelta(days=1), fields.start + timedelta(days=45))
        [answer] = kit.host.free_busy([kit.mailbox], *window)
        assert occurrence_spans(fields, *window) <= spans(answer)

    def test_a_series_every_two_weeks_on_sunday_and_other_days_is_refused_alone(
        self, kit: ConnectorKit
    ) -> None:
        """Such a series needs a first day of the week, which 2007 cannot store: never a wrong one."""
        recurrence = Recurrence(
            frequency=Frequency.WEEKLY, interval=2, weekdays=(Weekday.MO, Weekday.SU), count=4
        )
        fields = series(kit, "Ambiguous", recurrence, 7, 10)
        good = EventFields(title="Plain", start=fields.start, end=fields.end, timezone=kit.timezone)
        refused, written = kit.create([kit.draft(fields), kit.draft(good)])
        assert refused.error_kind is WriteErrorKind.INVALID and "Sunday" in (refused.error or "")
        assert written.ok  # the other item of the batch is not held back

    # --- how items are read -------------------------------------------------------------------

    def test_an_outlook_entry_in_another_zone_reads_back_in_that_zone(self, kit: ConnectorKit) -> None:
        """Its zone is only in MeetingTimeZone (TimeZoneName), which exchangelib cannot read."""
        zone = ZoneInfo(NEW_YORK)
        day = kit.today + timedelta(days=17)
        start = datetime.combine(day, time(8), zone)
        own = EventFields(
            title="From New York", start=start, end=start + timedelta(hours=1), timezone=NEW_YORK
        )
        state = Changes(kit, None).state
        item_id = kit.user_create(own)

        entry = Changes(kit, state).entries[item_id]

        assert entry.stamp is None and entry.fields.timezone == NEW_YORK
        assert (entry.fields.start, entry.fields.end) == (own.start, own.end)
        [listed] = [e for e in kit.host.list_entries(kit.mailbox, own.start, own.end) if e.item_id == item_id]
        assert listed.fields.timezone == NEW_YORK

    def test_an_outlook_series_across_a_dst_change_keeps_its_zone_and_times(self, kit: ConnectorKit) -> None:
        across = weekly_across_dst(ZoneInfo(NEW_YORK), kit.today + timedelta(days=21), 4, "New York weekly")
        assert across is not None, f"{NEW_YORK} has no DST change"
        weekly, starts = across
        item_id = kit.user_create(weekly)

        [entry] = [
            e for e in kit.host.list_entries(kit.mailbox, starts[0], starts[-1]) if e.item_id == item_id
        ]

        assert entry.fields.timezone == NEW_YORK and entry.fields.recurrence == weekly.recurrence
        [answer] = kit.host.free_busy(
            [kit.mailbox], starts[0] - timedelta(days=1), starts[-1] + timedelta(days=1)
        )
        assert {span(s, s + timedelta(hours=1)) for s in starts} <= spans(answer)

    # --- free/busy and access -----------------------------------------------------------------

    def test_free_busy_states_its_zone_instead_of_asking_the_server(
        self, kit: ConnectorKit, sim: Any
    ) -> None:
        created_ids(kit.create([kit.draft(kit.fields("Asked in UTC", 24, 9))]))
        before = dict(sim.simulator.counts)
        [answer] = kit.host.free_busy([kit.mailbox], kit.at(24, 0), kit.at(25, 0))
        assert span(kit.at(24, 9), kit.at(24, 10)) in spans(answer)
        assert sim.simulator.counts["GetUserAvailability"] - before.get("GetUserAvailability", 0) == 1
        assert sim.simulator.counts.get("GetServerTimeZones", 0) == before.get("GetServerTimeZones", 0)

    def _denied_to_bob(self, kit: ConnectorKit, sim: Any, **options: Any) -> str:
        """The message of the AccessDenied a connector signed in as bob, who has no rights, meets."""
        bob = "bob@example.org"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(SIM_PASSWORD_ENV, SIM_USERS[bob])  # read when the connector signs in
            connector = self.build(sim.ews_url, username=bob, **options)
            with (
                closing(ConnectorHost(ENVIRONMENT, connector)) as host,
                pytest.raises(AccessDenied) as caught,
            ):
                host.list_entries(kit.mailbox, kit.at(1, 0), kit.at(2, 0))
        return str(caught.value)

    def test_denied_impersonation_names_both_rights_and_the_commands(
        self, kit: ConnectorKit, sim: Any
    ) -> None:
        message = self._denied_to_bob(kit, sim)
        assert "ms-Exch-EPI-Impersonation" in message and "ms-Exch-EPI-May-Impersonate" in message
        assert "Add-ADPermission -Identity (Get-ExchangeServer CAS01).DistinguishedName" in message
        assert "-User bob@example.org -ExtendedRights ms-Exch-EPI-May-Impersonate" in message
        assert "ApplicationImpersonation" not in message and "SERVICE-ACCOUNT" not in message

    def test_denied_delegate_access_names_a_command_2007_has(self, kit: ConnectorKit, sim: Any) -> None:
        """Add-MailboxFolderPermission came with Exchange 2010; 2007's shell grants mailbox access."""
        message = self._denied_to_bob(kit, sim, access="delegate")
        assert (
            "Add-MailboxPermission -Identity alice@example.org -User bob@example.org -AccessRights FullAccess"
            in message
        )
        assert "Add-MailboxFolderPermission" not in message

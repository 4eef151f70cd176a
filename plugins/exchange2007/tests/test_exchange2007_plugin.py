"""roomsync-exchange2007 as installed: found by name, strict about its options, honest about its status."""

from __future__ import annotations

from roomsync_ews_common.testing import EwsPluginContract
from roomsync_exchange2007 import Exchange2007Connector


class TestExchange2007Plugin(EwsPluginContract):
    plugin = "exchange2007"
    connector_class = Exchange2007Connector

    def test_pins_its_ews_dialect(self) -> None:
        assert Exchange2007Connector.request_server_version == "Exchange2007_SP1"
        assert "Exchange2007_SP1" in self.connector().roomsync_capabilities().notes[1]

    def test_status_says_how_it_speaks_ews(self) -> None:
        status = Exchange2007Connector.status_note()
        assert "speaks EWS" in status and "does not yet speak" not in status
        assert "GetUserAvailability" in status and "SyncFolderItems" in status

    def test_notes_name_what_2007_lacks_and_how_it_impersonates(self) -> None:
        notes = " ".join(self.connector().roomsync_capabilities().notes)

        assert "Exchange 2007 SP1, SP2 and SP3" in notes
        assert "MeetingTimeZone" in notes
        assert "FirstDayOfWeek" in notes
        assert "no GetServerTimeZones" in notes
        assert "no streaming notifications" in notes
        assert "ms-Exch-EPI-Impersonation" in notes
        assert "ms-Exch-EPI-May-Impersonate" in notes

    def test_the_impersonation_grant_is_the_two_ad_rights_with_their_commands(self) -> None:
        grant = Exchange2007Connector.impersonation_right

        assert Exchange2007Connector.impersonation_right_name in grant
        assert "ApplicationImpersonation" not in grant
        assert (
            "Add-ADPermission -Identity (Get-ExchangeServer CAS01).DistinguishedName -User SERVICE-ACCOUNT "
            "-ExtendedRights ms-Exch-EPI-Impersonation"
        ) in grant
        assert (
            "Add-ADPermission -Identity (Get-MailboxDatabase DB01).DistinguishedName -User SERVICE-ACCOUNT "
            "-ExtendedRights ms-Exch-EPI-May-Impersonate"
        ) in grant

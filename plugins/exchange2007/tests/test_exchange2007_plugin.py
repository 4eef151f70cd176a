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

    def test_notes_name_what_2007_lacks_and_how_it_impersonates(self) -> None:
        notes = " ".join(self.connector().roomsync_capabilities().notes)

        assert "Exchange 2007 SP1, SP2 and SP3" in notes
        assert "MeetingTimeZone" in notes
        assert "no GetServerTimeZones" in notes
        assert "no streaming notifications" in notes
        assert "ms-Exch-EPI-Impersonation" in notes
        assert "ms-Exch-EPI-May-Impersonate" in notes

"""roomsync-exchange2010 as installed: found by name, strict about its options, honest about its status."""

from __future__ import annotations

from roomsync_ews_common.testing import EwsPluginContract
from roomsync_exchange2010 import Exchange2010Connector


class TestExchange2010Plugin(EwsPluginContract):
    plugin = "exchange2010"
    connector_class = Exchange2010Connector

    def test_pins_its_ews_dialect(self) -> None:
        assert Exchange2010Connector.request_server_version == "Exchange2010_SP1"
        assert "Exchange2010_SP1" in self.connector().roomsync_capabilities().notes[1]

    def test_notes_name_streaming_throttling_and_impersonation(self) -> None:
        notes = " ".join(self.connector().roomsync_capabilities().notes)

        assert "Exchange 2010 SP1, SP2 and SP3" in notes
        assert "streaming notifications" in notes
        assert "10 concurrent" in notes
        assert "ApplicationImpersonation" in notes

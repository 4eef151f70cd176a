"""roomsync-exchange2013 as installed: found by name, strict about its options, honest about its status."""

from __future__ import annotations

from roomsync_ews_common.testing import EwsPluginContract
from roomsync_exchange2013 import Exchange2013Connector


class TestExchange2013Plugin(EwsPluginContract):
    plugin = "exchange2013"
    connector_class = Exchange2013Connector

    def test_pins_its_ews_dialect(self) -> None:
        assert Exchange2013Connector.request_server_version == "Exchange2013"
        assert "Exchange2013" in self.connector().roomsync_capabilities().notes[1]

    def test_serves_2013_to_subscription_edition_but_not_exchange_online(self) -> None:
        notes = " ".join(self.connector().roomsync_capabilities().notes)

        assert "Exchange 2013, 2016, 2019 and Subscription Edition" in notes
        assert "27 concurrent" in notes
        assert "Exchange Online" in notes
        assert "o365" in notes

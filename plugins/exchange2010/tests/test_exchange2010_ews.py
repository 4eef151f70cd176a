"""roomsync-exchange2010 against the Exchange simulator in the 2010 dialect: the connector suite."""

from __future__ import annotations

from roomsync_ews_common.testing import EwsSimulatorSuite


class TestExchange2010Ews(EwsSimulatorSuite):
    plugin = "exchange2010"
    dialect = "exchange2010"

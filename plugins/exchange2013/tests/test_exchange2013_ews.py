"""roomsync-exchange2013 against the Exchange simulator in the 2013+ dialect: the connector suite."""

from __future__ import annotations

from roomsync_ews_common.testing import EwsSimulatorSuite


class TestExchange2013Ews(EwsSimulatorSuite):
    plugin = "exchange2013"
    dialect = "exchange2013"

"""roomsync's connector plugin for Exchange 2007 SP1 to SP3, over Exchange Web Services."""

from roomsync_exchange2007.connector import Exchange2007Connector

__all__ = ["Exchange2007Connector"]

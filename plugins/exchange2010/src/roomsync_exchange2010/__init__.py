"""roomsync's connector plugin for Exchange 2010 SP1 to SP3, over Exchange Web Services."""

from roomsync_exchange2010.connector import Exchange2010Connector

__all__ = ["Exchange2010Connector"]

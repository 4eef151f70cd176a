"""roomsync's connector plugin for Exchange 2013, 2016, 2019 and Subscription Edition, over EWS."""

from roomsync_exchange2013.connector import Exchange2013Connector

__all__ = ["Exchange2013Connector"]

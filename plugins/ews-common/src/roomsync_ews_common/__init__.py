"""Shared by roomsync's Exchange Web Services plugins (exchange2007, exchange2010, exchange2013).

Not a connector itself: it registers no entry point. The three EWS plugins subclass
:class:`EwsConnector` and differ only in the EWS dialect they pin and what they say about it.
"""

from roomsync_ews_common.connector import EwsConnector
from roomsync_ews_common.options import EwsOptions

__all__ = ["EwsConnector", "EwsOptions"]

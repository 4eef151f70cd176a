"""roomsync's connector plugin for Exchange Online (Microsoft 365), over Microsoft Graph."""

from roomsync_o365.connector import O365Connector
from roomsync_o365.options import O365Options, TenantCredentials

__all__ = ["O365Connector", "O365Options", "TenantCredentials"]

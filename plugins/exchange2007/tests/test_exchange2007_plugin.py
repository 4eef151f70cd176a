"""roomsync-exchange2007 as installed: found by name, strict about its options, honest about its status."""

from __future__ import annotations

import pytest

from roomsync.config import SecretRef
from roomsync.errors import ConfigError
from roomsync_ews_common.account import AccountPool
from roomsync_ews_common.notifications import PULL_SECONDS, PullWatcher
from roomsync_ews_common.testing import PASSWORD_ENV, EwsPluginContract
from roomsync_exchange2007 import Exchange2007Connector
from roomsync_exchange2007.connector import Exchange2007Options


class TestExchange2007Plugin(EwsPluginContract):
    plugin = "exchange2007"
    connector_class = Exchange2007Connector

    def test_good_options_with_defaults(self) -> None:
        # The contract's options, and pull_seconds unset: the watcher's own interval.
        connector = self.connector()
        assert connector.options == Exchange2007Options(
            url="https://mail.example.org/EWS/Exchange.asmx",
            username="svc-roomsync@example.org",
            password=SecretRef(env=PASSWORD_ENV),
        )
        assert (connector.options.auth, connector.options.access, connector.options.max_concurrency) == (
            "ntlm",
            "impersonation",
            10,
        )
        assert isinstance(connector, Exchange2007Connector)
        assert connector.pull_seconds() is None
        assert PullWatcher(connector_accounts(connector), "x").seconds == PULL_SECONDS == 15

    def test_pull_seconds_sets_the_interval_of_pull_rounds(self) -> None:
        connector = self.connector(pull_seconds=30)
        assert isinstance(connector, Exchange2007Connector)
        assert connector.pull_seconds() == 30
        assert PullWatcher(connector_accounts(connector), "x", connector.pull_seconds()).seconds == 30

    @pytest.mark.parametrize(("value", "fragment"), [(0.5, "greater than or equal to 1"), (301, "less than")])
    def test_a_pull_interval_out_of_range_names_its_key(self, value: float, fragment: str) -> None:
        with pytest.raises(ConfigError) as caught:
            self.connector(pull_seconds=value)
        assert caught.value.key == "environments.onprem.options.pull_seconds"
        assert fragment in str(caught.value)

    def test_pins_its_ews_dialect(self) -> None:
        assert Exchange2007Connector.request_server_version == "Exchange2007_SP1"
        assert "Exchange2007_SP1" in self.connector().roomsync_capabilities().notes[1]

    def test_status_says_how_it_speaks_ews(self) -> None:
        status = Exchange2007Connector.status_note()
        assert "speaks EWS" in status and "does not yet speak" not in status
        assert "GetUserAvailability" in status and "SyncFolderItems" in status

    def test_notes_name_what_2007_lacks_and_how_it_impersonates(self) -> None:
        notes = " ".join(self.connector().roomsync_capabilities().notes)

        assert "Exchange 2007 SP1, SP2 and SP3" in notes
        assert "MeetingTimeZone" in notes
        assert "FirstDayOfWeek" in notes
        assert "no GetServerTimeZones" in notes
        assert "no streaming notifications" in notes
        assert "ms-Exch-EPI-Impersonation" in notes
        assert "ms-Exch-EPI-May-Impersonate" in notes

    def test_the_impersonation_grant_is_the_two_ad_rights_with_their_commands(self) -> None:
        grant = Exchange2007Connector.impersonation_right

        assert Exchange2007Connector.impersonation_right_name in grant
        assert "ApplicationImpersonation" not in grant
        assert (
            "Add-ADPermission -Identity (Get-ExchangeServer CAS01).DistinguishedName -User SERVICE-ACCOUNT "
            "-ExtendedRights ms-Exch-EPI-Impersonation"
        ) in grant
        assert (
            "Add-ADPermission -Identity (Get-MailboxDatabase DB01).DistinguishedName -User SERVICE-ACCOUNT "
            "-ExtendedRights ms-Exch-EPI-May-Impersonate"
        ) in grant


def connector_accounts(connector: Exchange2007Connector) -> AccountPool:
    return AccountPool(connector.options, connector.request_server_version, own_connections="watch:test")

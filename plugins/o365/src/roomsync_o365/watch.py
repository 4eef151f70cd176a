"""The webhook receiver and the subscription manager of one connector, started and stopped together."""

from __future__ import annotations

from collections.abc import Callable

from roomsync_o365.graph_client import GraphClient
from roomsync_o365.options import O365Options
from roomsync_o365.subscriptions import SubscriptionManager, Wake
from roomsync_o365.tokens import TenantTokens
from roomsync_o365.webhooks import NotificationReceiver


class Watcher:
    def __init__(
        self,
        options: O365Options,
        client: GraphClient,
        tokens_for: Callable[[str], TenantTokens],
        wake: Wake,
        own_server: bool = True,
    ) -> None:
        """Without ``own_server`` the posts arrive through the host process (the web service)."""
        assert options.notification_url is not None
        self.manager = SubscriptionManager(client, tokens_for, options.notification_url, wake)
        self.receiver = NotificationReceiver(options.bind_address if own_server else None, self.manager)

    def start(self) -> None:
        # The receiver first: Graph validates the notification URL while a subscription is made.
        self.receiver.start()
        self.manager.start()

    def stop(self) -> None:
        self.manager.stop()
        self.receiver.stop()

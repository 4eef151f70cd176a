"""An extension plugin for tests that keeps every notification instead of sending it."""

from __future__ import annotations

from roomsync.hookspecs import hookimpl
from roomsync.notify.message import Notification


class NotificationRecorder:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    @hookimpl
    def roomsync_notify(self, notification: Notification) -> None:
        self.sent.append(notification)

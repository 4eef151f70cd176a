"""The log notifier: every notification also lands in the log.

Administrators see what organizers were told even where no mail server is configured, and a
lost e-mail can be traced. A notification for the administrators that no ``[smtp] admin``
address will receive is logged whole at ERROR, so a fault is never only in the database.
Registered under the ``roomsync.plugins`` entry-point group.
"""

from __future__ import annotations

import logging

from roomsync.config import Settings
from roomsync.hookspecs import hookimpl
from roomsync.notify.message import Audience, Notification

logger = logging.getLogger("roomsync.notify")


class LogNotifier:
    def __init__(self) -> None:
        self.admins_configured = False

    def configure(self, settings: Settings) -> None:
        self.admins_configured = bool(settings.smtp and settings.smtp.admin)

    def log(self, notification: Notification) -> None:
        """At INFO: recipient, kind and subject (the body may be long); see above for ERROR."""
        to_admins = notification.audience is Audience.ADMINISTRATORS
        extra = {
            "recipient": notification.recipient or notification.audience.value,
            "kind": notification.kind.value,
            "reservation_id": notification.reservation_id,
        }
        if to_admins and not self.admins_configured:
            logger.error(
                "for the administrators (no [smtp] admin address is configured): %s\n%s",
                notification.subject,
                notification.body,
                extra=extra,
            )
            return
        logger.info(
            "notification to %s (%s): %s",
            extra["recipient"],
            notification.kind.value,
            notification.subject,
            extra=extra,
        )


notifier = LogNotifier()


@hookimpl
def roomsync_configure(settings: Settings) -> None:
    notifier.configure(settings)


@hookimpl
def roomsync_notify(notification: Notification) -> None:
    notifier.log(notification)

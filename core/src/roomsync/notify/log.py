"""The log notifier: every notification also lands in the log.

Administrators see what organizers were told even where no mail server is configured, and a
lost e-mail can be traced. Registered under the ``roomsync.plugins`` entry-point group.
"""

from __future__ import annotations

import logging

from roomsync.hookspecs import hookimpl
from roomsync.notify.message import Notification

logger = logging.getLogger("roomsync.notify")


@hookimpl
def roomsync_notify(notification: Notification) -> None:
    """Log the notification at INFO: recipient, kind and subject (the body may be long)."""
    logger.info(
        "notification to %s (%s): %s",
        notification.recipient,
        notification.kind.value,
        notification.subject,
        extra={
            "recipient": notification.recipient,
            "kind": notification.kind.value,
            "reservation_id": notification.reservation_id,
        },
    )

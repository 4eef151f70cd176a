"""The connector test kit: the behaviour every connector proves, specified once.

A connector plugin's tests subclass :class:`ConnectorSuite` and provide a ``kit`` fixture that
returns a :class:`ConnectorKit`; the suite's tests then run against that connector::

    class TestMyConnector(ConnectorSuite):
        @pytest.fixture
        def kit(self) -> ConnectorKit:
            return ConnectorKit(host=..., mailbox=..., other_mailbox=..., room=..., user=...)
"""

import pytest

# Before the suite is imported, so its plain asserts explain themselves when they fail.
pytest.register_assert_rewrite(
    "roomsync.testkit.kit", "roomsync.testkit.suite", "roomsync.testkit.wakes", "roomsync.testkit.end_to_end"
)

from roomsync.testkit.kit import ConnectorKit, MailboxUser  # noqa: E402
from roomsync.testkit.suite import ConnectorSuite  # noqa: E402
from roomsync.testkit.wakes import WakeRecorder  # noqa: E402

__all__ = ["ConnectorKit", "ConnectorSuite", "MailboxUser", "WakeRecorder"]

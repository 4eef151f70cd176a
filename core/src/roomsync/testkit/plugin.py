"""The pytest plugin of the connector test kit, loaded through the ``pytest11`` entry point.

It only registers the marker that :class:`~roomsync.testkit.ConnectorSuite` puts on its tests, so
a plugin's test run can select or skip the shared behaviour (``-m connector_suite``) under
``--strict-markers``. Everything else lives in the suite class a connector's tests subclass.
"""

from __future__ import annotations

import pytest

MARKER = "connector_suite"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: the shared behaviour every roomsync connector proves (roomsync.testkit)"
    )

"""The connector suite against the simulator's Graph dialect, for this plugin's own tests.

:class:`O365SimulatorSuite` is the core's :class:`~roomsync.testkit.ConnectorSuite` with a kit
whose connector talks to ``roomsync_sim``'s ``o365`` dialect over real HTTPS, and whose "user" is
a Graph client acting in the person's mailbox the way Outlook does (no roomsync properties).
Needs pytest and the simulator (``pip install roomsync-o365[test]``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from roomsync.connector.host import ConnectorHost
from roomsync.domain import EventFields
from roomsync.plugins import connector_class
from roomsync.testkit import ConnectorKit, ConnectorSuite
from roomsync_o365 import mapping
from roomsync_o365.connector import O365Connector
from roomsync_o365.graph_client import user

ENVIRONMENT = "online"
SECRET_ENV = "ROOMSYNC_TEST_O365_SIM_SECRET"
GRAPH_SCOPE = "https://graph.microsoft.com"
"""The resource the simulator's token endpoint knows, as Entra ID knows Graph."""


class GraphUser:
    """The person in Outlook: Graph requests in the person's mailbox, outside the connector."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.verify = str(sim.ca_file)

    def send(self, method: str, relative: str, body: Any = None) -> Any:
        """One Graph request as the person, ``relative`` to the Graph root; the answer's JSON."""
        response = self.session.request(
            method,
            f"{self.sim.graph_url}{relative}",
            json=body,
            headers={"Authorization": f"Bearer {self.sim.access_token()}"},
            verify=str(self.sim.ca_file),
            timeout=30,
        )
        assert response.ok, f"{method} {relative}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def create(self, mailbox: str, fields: EventFields) -> str:
        created = self.send("POST", user(mailbox, "calendar", "events"), mapping.to_event(fields, None))
        return str(created["id"])

    def update(self, mailbox: str, item_id: str, fields: EventFields) -> None:
        self.send("PATCH", user(mailbox, "events", item_id), mapping.to_event(fields, None))

    def delete(self, mailbox: str, item_id: str, to_deleted_items: bool = False) -> None:
        # Graph's DELETE moves the event to Deleted Items; the simulator has no permanentDelete.
        self.send("DELETE", user(mailbox, "events", item_id))

    def close(self) -> None:
        self.session.close()


def simulator_options(sim: Any, **changes: Any) -> dict[str, Any]:
    """Options of an environment on the simulator, as a configuration file would hold them."""
    return {
        "tenant_id": sim.tenant_id,
        "client_id": sim.client_id,
        "client_secret": {"env": SECRET_ENV},
        "graph_url": sim.graph_url,
        "login_url": sim.login_url,
        "token_scope": GRAPH_SCOPE,
        "ca_file": str(sim.ca_file),
        "timezone": "Europe/Berlin",
        "max_retry_wait_seconds": 30,
        **changes,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def watching_options() -> dict[str, Any]:
    """A webhook receiver on a free loopback port, reached by the simulator over plain http."""
    port = free_port()
    return {"notification_url": f"http://127.0.0.1:{port}/roomsync", "webhook_bind": f"127.0.0.1:{port}"}


def remove_subscriptions(sim: Any) -> None:
    """What a lost watch looks like from Graph's side: every subscription removed."""
    subscriptions = sim.simulator.graph.subscriptions
    with subscriptions.cond:
        ids = list(subscriptions.items)
    for subscription_id in ids:
        subscriptions.lifecycle(subscription_id, "subscriptionRemoved")


def build(sim: Any, **changes: Any) -> O365Connector:
    found = connector_class("o365", ENVIRONMENT).from_config(
        ENVIRONMENT, simulator_options(sim, **changes), "roomsync.toml"
    )
    assert isinstance(found, O365Connector)
    return found


class O365SimulatorSuite(ConnectorSuite):
    """The core's connector suite against the simulator's ``o365`` dialect."""

    seed: ClassVar[dict[str, Any] | None] = None

    @pytest.fixture(scope="class")
    @classmethod
    def sim(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
        from roomsync_sim.testing import running_simulator

        tls: Path = tmp_path_factory.mktemp("o365-tls")
        with pytest.MonkeyPatch.context() as patch, running_simulator("o365", cls.seed, tls_dir=tls) as sim:
            # watching_options() receives on plain-http loopback; Graph itself takes https only
            sim.simulator.graph.subscriptions.allow_http_notification_url = True
            patch.setenv(SECRET_ENV, sim.client_secret)
            yield sim

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, sim: Any) -> Iterator[ConnectorHost]:
        host = ConnectorHost(ENVIRONMENT, build(sim, **watching_options()))
        yield host
        host.close()

    @pytest.fixture(scope="class")
    @classmethod
    def user(cls, sim: Any) -> Iterator[GraphUser]:
        found = GraphUser(sim)
        yield found
        found.close()

    @pytest.fixture
    def kit(self, sim: Any, host: ConnectorHost, user: GraphUser) -> Iterator[ConnectorKit]:
        sim.simulator.faults.clear()
        yield ConnectorKit(
            host=host,
            mailbox="alice@example.org",
            other_mailbox="bob@example.org",
            room="room.1@example.org",
            user=user,
            break_connection=lambda: remove_subscriptions(sim),
        )
        sim.simulator.faults.clear()

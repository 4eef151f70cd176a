"""The demo's Exchange Online generation: a simulated Microsoft 365 tenant and Outlook over Graph.

The simulator's ``o365`` dialect serves Microsoft Graph and the sign-in endpoints over HTTPS
(Microsoft's sign-in library accepts nothing else) with a certificate authority of its own, which
the environment trusts through ``ca_file``. roomsync signs in as an app registration with a client
secret read from a file, as it would in a real tenant.

The plugin and requests are imported inside the functions that use them: the demo runs (and
skips this generation) where they are not installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from roomsync.domain import EventFields
from roomsync_sim.demo.organisation import Distribution, Mailbox, Organisation, Running
from roomsync_sim.embedded import serve

if TYPE_CHECKING:
    import requests

# The demo tenant lives for one run, on loopback; this secret protects nothing.
TENANT_ID = "00000000-0000-0000-0000-00000000aaaa"
CLIENT_ID = "00000000-0000-0000-0000-00000000bbbb"
CLIENT_SECRET = "roomsync-demo-secret"
OUTLOOK_CLIENT_ID = "00000000-0000-0000-0000-00000000cccc"
"""The mail client the tenant's users act through (the tenant has no user passwords): an app of
its own, apart from roomsync's, which may not touch the outsider's mailbox."""
GRAPH_SCOPE = "https://graph.microsoft.com"
"""The resource tokens are asked for: the simulated tenant knows Graph by its public name."""


class GraphSimulatorBackend:
    """Exchange Online: a tenant of the simulator's ``o365`` dialect, over HTTPS."""

    def __init__(self) -> None:
        self.requires: tuple[Distribution, ...] = ()

    @contextmanager
    def run(self, plugin: str, organisation: Organisation) -> Iterator[Running]:
        organisation.write_secret(CLIENT_SECRET)
        with serve("o365", _seed(organisation), tls_dir=organisation.tls_dir) as server:
            assert server.ca_file is not None
            ca_file = str(server.ca_file)
            options = {
                "tenant_id": server.tenant_id,
                "client_id": server.client_id,
                "client_secret": {"file": str(organisation.password_file)},
                "graph_url": server.graph_url,
                "login_url": server.login_url,
                "token_scope": GRAPH_SCOPE,
                "ca_file": ca_file,  # the simulator's own certificate authority
                "timezone": "Europe/Berlin",
            }
            yield Running(
                endpoint=server.graph_url,
                options=options,
                outlook=lambda user: GraphOutlookUser(
                    server.graph_url, ca_file, lambda: server.access_token(client_id=OUTLOOK_CLIENT_ID), user
                ),
            )


def _seed(organisation: Organisation) -> dict[str, Any]:
    """The tenant: the person, the room, the outsider, roomsync's app registration scoped to the
    person and the room (roomsync reads the outsider's bookings from the room's calendar), and the
    users' mail client."""
    person, room, outsider = organisation.person, organisation.room, organisation.outsider
    return {
        "tenant_id": TENANT_ID,
        "users": [
            {"smtp": user.email, "name": user.name, "time_zone": "Europe/Berlin"}
            for user in (person, outsider)
        ],
        "rooms": [{"smtp": room.email, "name": room.name, "time_zone": "Europe/Berlin"}],
        # Calendars.ReadWrite, limited to the synchronised mailboxes and the room whose free/busy
        # ROOMS shows (what RBAC for Applications does in a real tenant).
        "apps": [
            {
                "client_id": CLIENT_ID,
                "name": "roomsync",
                "secrets": [CLIENT_SECRET],
                "roles": ["Calendars.ReadWrite"],
                "mailboxes": [person.email, room.email],
            },
            # Outlook, for every user of the tenant; roomsync's app comes first (the environment's).
            {
                "client_id": OUTLOOK_CLIENT_ID,
                "name": "Outlook",
                "secrets": [],
                "roles": ["Calendars.ReadWrite"],
            },
        ],
    }


class GraphOutlookUser:
    """A user in Outlook: Graph requests in the user's mailbox, outside roomsync's connector.

    The simulated tenant has no user passwords, so the client acts with the mail client's app
    token in the user's mailbox; it writes no roomsync properties, as Outlook would not.
    """

    def __init__(self, graph_url: str, ca_file: str, token: Callable[[], str], user: Mailbox) -> None:
        import requests

        self.graph_url = graph_url
        self.ca_file = ca_file
        self.token = token
        self.user = user
        self.session: requests.Session = requests.Session()
        # REQUESTS_CA_BUNDLE would override the session's trust: the simulator's CA is passed per
        # request, and the environment's proxies and bundles are not consulted.
        self.session.trust_env = False

    def _send(self, method: str, relative: str, body: dict[str, Any]) -> dict[str, Any]:
        response: requests.Response = self.session.request(
            method,
            f"{self.graph_url}/users/{quote(self.user.email)}/{relative}",
            json=body,
            headers={"Authorization": f"Bearer {self.token()}"},
            verify=self.ca_file,
            timeout=30,
        )
        if not response.ok:
            raise RuntimeError(
                f"Outlook over Graph: {method} {relative}: {response.status_code} {response.text}"
            )
        answer: dict[str, Any] = response.json() if response.content else {}
        return answer

    def rename(self, item_id: str, fields: EventFields, title: str) -> None:
        """Outlook's edit: only the subject changes; Graph sends the update to the attendees."""
        self._send("PATCH", f"events/{quote(item_id, safe='')}", {"subject": title})

    def book(self, fields: EventFields) -> str:
        """A meeting inviting the rooms as resources; Graph sends it, and the rooms answer."""
        from roomsync_o365 import mapping

        created = self._send("POST", "calendar/events", mapping.to_event(fields, None))
        return str(created["id"])

    def close(self) -> None:
        self.session.close()

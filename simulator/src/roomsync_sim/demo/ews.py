"""The demo's EWS generations: a simulated Exchange server in this process, and Outlook over EWS.

The EWS plugins and exchangelib are imported inside the functions that use them: the demo runs
(and skips these generations) where they are not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from roomsync.domain import EventFields
from roomsync.plugins import connector_class
from roomsync_sim.demo.organisation import EWS_COMMON, Distribution, Mailbox, Organisation, Running
from roomsync_sim.embedded import serve

# The demo organisation lives for one run, on loopback; these passwords protect nothing.
PERSON_PASSWORD = "outlook-password"
OUTSIDER_PASSWORD = "outsider-password"
SERVICE_PASSWORD = "svc-password"


class EwsSimulatorBackend:
    """A generation served by the Exchange simulator in one EWS dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.requires: tuple[Distribution, ...] = (EWS_COMMON,)

    @contextmanager
    def run(self, plugin: str, organisation: Organisation) -> Iterator[Running]:
        organisation.write_secret(SERVICE_PASSWORD)
        passwords = {
            organisation.person.email: PERSON_PASSWORD,
            organisation.outsider.email: OUTSIDER_PASSWORD,
        }
        with serve(self.dialect, _seed(organisation)) as server:
            options = {
                "url": server.ews_url,
                "allow_http": True,  # the simulator listens on loopback only
                "username": organisation.service.email,
                "password": {"file": str(organisation.password_file)},
                "auth": "ntlm",
                "access": "impersonation",
                "timezone": "Europe/Berlin",
            }
            yield Running(
                endpoint=server.ews_url,
                options=options,
                outlook=lambda user: EwsOutlookUser(server.ews_url, plugin, user, passwords[user.email]),
            )


def _seed(organisation: Organisation) -> dict[str, Any]:
    """The organisation on the simulated server: the service account may impersonate everyone
    (roomsync reads the outsider's bookings from the room's calendar, never her mailbox)."""
    return {
        "users": [
            {"smtp": organisation.service.email, "name": "roomsync service", "password": SERVICE_PASSWORD},
            {
                "smtp": organisation.person.email,
                "name": organisation.person.name,
                "password": PERSON_PASSWORD,
                "time_zone": "Europe/Berlin",
            },
            {
                "smtp": organisation.outsider.email,
                "name": organisation.outsider.name,
                "password": OUTSIDER_PASSWORD,
                "time_zone": "Europe/Berlin",
            },
        ],
        "rooms": [
            {"smtp": organisation.room.email, "name": organisation.room.name, "time_zone": "Europe/Berlin"}
        ],
        # ApplicationImpersonation on 2010 and later; both Active Directory rights on 2007.
        "grants": [{"kind": "impersonation", "grantee": organisation.service.email}],
    }


class EwsOutlookUser:
    """A user in Outlook: exchangelib with the user's own credentials, not roomsync's.

    Items are written the way the generation's connector writes them (Exchange 2007 takes them
    in a form of its own), without roomsync's stamp and properties, as Outlook would.
    """

    def __init__(self, url: str, plugin: str, user: Mailbox, password: str) -> None:
        from exchangelib import DELEGATE, Account, Configuration, Credentials
        from exchangelib.transport import NTLM

        from roomsync_ews_common.account import pinned_version

        self.connector = connector_class(plugin, "demo")
        config = Configuration(
            credentials=Credentials(user.email, password),
            service_endpoint=url,
            auth_type=NTLM,
            version=pinned_version(self.connector.request_server_version),  # type: ignore[attr-defined]
        )
        self.account = Account(
            primary_smtp_address=user.email,
            config=config,
            autodiscover=False,
            access_type=DELEGATE,
            locale="en_US",
        )

    def _item(self, fields: EventFields, **identity: Any) -> Any:
        item = self.connector.build_item(self.account, fields, "", **identity)  # type: ignore[attr-defined]
        for name in _roomsync_properties():
            setattr(item, name, None)
        return item

    def rename(self, item_id: str, fields: EventFields, title: str) -> None:
        """Outlook's edit: the new subject, an update sent to the attendees."""
        from exchangelib.items import ALWAYS_OVERWRITE, SEND_TO_ALL_AND_SAVE_COPY

        untouched = _roomsync_properties()
        names = [n for n in self.connector.update_fields if n not in untouched]  # type: ignore[attr-defined]
        item = self._item(fields.model_copy(update={"title": title}), id=item_id)
        [answer] = self.account.bulk_update(
            [(item, names)],
            conflict_resolution=ALWAYS_OVERWRITE,
            send_meeting_invitations_or_cancellations=SEND_TO_ALL_AND_SAVE_COPY,
        )
        if isinstance(answer, Exception):
            raise answer

    def book(self, fields: EventFields) -> str:
        from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

        [answer] = self.account.bulk_create(
            folder=self.account.calendar,
            items=[self._item(fields)],
            send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY,
        )
        if isinstance(answer, Exception):
            raise answer
        return str(answer.id)

    def close(self) -> None:
        self.account.protocol.close()


def _roomsync_properties() -> tuple[str, ...]:
    """roomsync's own properties on an item: Outlook neither writes nor removes them."""
    from roomsync_ews_common import stamp

    return (stamp.STAMP, stamp.TIMEZONE, stamp.SETUP, stamp.FOLLOWUP)

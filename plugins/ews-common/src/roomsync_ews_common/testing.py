"""The checks every EWS plugin's own tests run, written once.

A plugin's test module subclasses :class:`EwsPluginContract` under a ``Test...`` name and sets
``plugin`` and ``connector_class``; the tests then run against the plugin as installed, through
its entry point. A plugin that speaks EWS also subclasses :class:`EwsSimulatorSuite` (the core's
connector suite plus EWS faults, against the Exchange simulator in its dialect). Needs pytest and
the simulator (``pip install roomsync-ews-common[test]``).
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests.auth

from roomsync.config import SecretRef
from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import EntryUpdate, ItemRef
from roomsync.domain import EventFields, Frequency, Recurrence, Weekday
from roomsync.errors import AccessDenied, ConfigError, ConnectorError
from roomsync.plugins import connector_class, installed_plugins
from roomsync.testkit import ConnectorKit, ConnectorSuite
from roomsync.testkit.hook_calls import server_hook_calls
from roomsync.testkit.suite import Changes, created_ids, first_local, only_entry
from roomsync_ews_common import stamp as props
from roomsync_ews_common.connector import EwsConnector
from roomsync_ews_common.notifications import PullWatcher
from roomsync_ews_common.options import EwsOptions

ENVIRONMENT = "onprem"
PASSWORD_ENV = "ROOMSYNC_TEST_EWS_PASSWORD"
PASSWORD = "Ews-Secret#4711"
UNREACHABLE_URL = "http://127.0.0.1:9/EWS/Exchange.asmx"  # the discard port: refused at once

HOST_CALLS = server_hook_calls()

# (a change to good options, the key the error must name, a word the message must contain)
BAD_OPTIONS: list[tuple[dict[str, Any], str, str]] = [
    ({"url": "http://mail.example.org/EWS/Exchange.asmx"}, "url", "https"),
    ({"url": "mail.example.org/EWS/Exchange.asmx"}, "url", "absolute URL"),
    ({"url": "https://svc:pw@mail.example.org/EWS/Exchange.asmx"}, "url", "credentials"),
    ({"passwrd": {"env": PASSWORD_ENV}}, "passwrd", "Extra inputs"),
    ({"timezone": "Europe/Berln"}, "timezone", "IANA"),
    ({"timezone": "W. Europe Standard Time"}, "timezone", "IANA"),
    ({"password": None}, "password", "required"),
    ({"password": "hunter2"}, "password", "never the secret itself"),
    ({"password": {"env": PASSWORD_ENV, "file": "/run/secrets/x"}}, "password", "exactly one"),
    ({"username": "  "}, "username", "empty"),
    ({"auth": "sspi"}, "auth", "'basic', 'ntlm' or 'kerberos'"),
    ({"username": None}, "username", "required with auth = 'ntlm'"),
    ({"access": "full"}, "access", "'impersonation' or 'delegate'"),
    ({"max_concurrency": 0}, "max_concurrency", "greater than or equal to 1"),
    ({"send_invitations": "all"}, "send_invitations", "all-and-save-copy"),
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file", "not found"),
    ({"ca_file": "CA", "verify_tls": False}, "ca_file", "verify_tls"),
]


def kerberos_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``auth = "kerberos"`` usable for one test: requests-gssapi as installed, else a stand-in
    whose ``HTTPSPNEGOAuth`` sends ``Authorization: Negotiate`` with a token no KDC issued."""
    from exchangelib import transport

    try:
        import requests_gssapi

        spnego: Any = requests_gssapi.HTTPSPNEGOAuth
    except ImportError:
        spnego = type("HTTPSPNEGOAuth", (_FakeSpnego,), {})
        module = types.ModuleType("requests_gssapi")
        module.HTTPSPNEGOAuth = spnego  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "requests_gssapi", module)
    # exchangelib registers GSSAPI when it is first imported, if requests-gssapi imports then.
    monkeypatch.setitem(transport.AUTH_TYPE_MAP, transport.GSSAPI, spnego)


class _FakeSpnego(requests.auth.AuthBase):
    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = "Negotiate YIIBnwYGKwYBBQUCoIIBkzCCAY8"  # a SPNEGO start
        return request


def good_options(**changes: Any) -> dict[str, Any]:
    """Options as they come from a configuration file; a ``None`` value removes the key."""
    options: dict[str, Any] = {
        "url": "https://mail.example.org/EWS/Exchange.asmx",
        "username": "svc-roomsync@example.org",
        "password": {"env": PASSWORD_ENV},
    }
    options.update(changes)
    return {key: value for key, value in options.items() if value is not None}


class EwsPluginContract:
    """What every EWS plugin of this release does; subclass it in the plugin's tests."""

    plugin: ClassVar[str]
    connector_class: ClassVar[type[EwsConnector]]

    def connector(self, **changes: Any) -> EwsConnector:
        found = connector_class(self.plugin, ENVIRONMENT)
        connector = found.from_config(ENVIRONMENT, good_options(**changes), "roomsync.toml")
        assert isinstance(connector, EwsConnector)
        return connector

    def test_entry_point_resolves_to_the_connector(self) -> None:
        assert connector_class(self.plugin, ENVIRONMENT) is self.connector_class
        assert self.connector_class.name == self.plugin

    def test_listed_with_its_distribution(self) -> None:
        [entry] = [p for p in installed_plugins() if p.kind == "connector" and p.name == self.plugin]
        assert entry.distribution == f"roomsync-{self.plugin}"
        assert entry.version == "0.1.0"

    def test_good_options_with_defaults(self) -> None:
        connector = self.connector()

        assert connector.environment == ENVIRONMENT
        assert connector.options == EwsOptions(
            url="https://mail.example.org/EWS/Exchange.asmx",
            username="svc-roomsync@example.org",
            password=SecretRef(env=PASSWORD_ENV),
        )
        options = connector.options
        assert (options.auth, options.access, options.verify_tls, options.ca_file) == (
            "ntlm",
            "impersonation",
            True,
            None,
        )
        assert (options.timezone, options.max_concurrency, options.send_invitations) == (
            "UTC",
            10,
            "all-and-save-copy",
        )

    def test_every_option_set(self, tmp_path: Path) -> None:
        ca_file = tmp_path / "ca.pem"
        ca_file.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
        options = self.connector(
            url="http://127.0.0.1:8080/EWS/Exchange.asmx",
            allow_http=True,
            username="EXAMPLE\\svc-roomsync",
            password={"file": str(tmp_path / "password")},
            auth="basic",
            access="delegate",
            ca_file=str(ca_file),
            timezone="Europe/Berlin",
            max_concurrency=10,
            send_invitations="none",
        ).options

        assert options.url == "http://127.0.0.1:8080/EWS/Exchange.asmx"
        assert options.username == "EXAMPLE\\svc-roomsync"
        assert options.ca_file == ca_file
        assert (options.auth, options.access, options.timezone) == ("basic", "delegate", "Europe/Berlin")
        assert (options.max_concurrency, options.send_invitations) == (10, "none")

    @pytest.mark.parametrize(("change", "key", "fragment"), BAD_OPTIONS)
    def test_bad_option_names_its_key(self, change: dict[str, Any], key: str, fragment: str) -> None:
        with pytest.raises(ConfigError) as caught:
            self.connector(**change)

        assert caught.value.key == f"environments.{ENVIRONMENT}.options.{key}"
        assert caught.value.file == "roomsync.toml"
        message = str(caught.value)
        assert f"environments.{ENVIRONMENT}.options.{key}" in message
        assert fragment in message
        assert "hunter2" not in message

    def test_secret_never_shown(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        connector = self.connector()

        assert connector.options.password is not None
        assert connector.options.password.reveal().get_secret_value() == PASSWORD
        for text in (repr(connector.options), str(connector.options), repr(connector), str(connector)):
            assert PASSWORD not in text
        assert PASSWORD not in str(connector.options.model_dump())

    def test_kerberos_needs_neither_username_nor_password(self, monkeypatch: pytest.MonkeyPatch) -> None:
        kerberos_available(monkeypatch)
        options = self.connector(auth="kerberos", username=None, password=None).options

        assert (options.auth, options.username, options.password) == ("kerberos", None, None)
        assert self.connector(auth="kerberos", password=None).options.account == "svc-roomsync@example.org"

    def test_kerberos_refuses_a_password_it_would_ignore(self, monkeypatch: pytest.MonkeyPatch) -> None:
        kerberos_available(monkeypatch)
        with pytest.raises(ConfigError) as caught:
            self.connector(auth="kerberos")

        assert caught.value.key == f"environments.{ENVIRONMENT}.options.password"
        assert "KRB5CCNAME" in str(caught.value) and "ignored" in str(caught.value)

    def test_kerberos_without_requests_gssapi_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "requests_gssapi", None)  # what an absent package does
        with pytest.raises(ConfigError) as caught:
            self.connector(auth="kerberos", password=None)

        assert caught.value.key == f"environments.{ENVIRONMENT}.options.auth"
        assert "pip install 'roomsync-ews-common[kerberos]'" in str(caught.value)

    @pytest.mark.parametrize("hook", sorted(HOST_CALLS))
    def test_server_hooks_fail_clearly_without_a_server(
        self, hook: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An endpoint nobody listens on is named; the sync test reports it, never raises."""
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        host = ConnectorHost(ENVIRONMENT, self.connector(url=UNREACHABLE_URL, allow_http=True, auth="basic"))

        if hook == "roomsync_check":
            steps = host.check("ada@example.org")
            assert not steps[0].ok and all(not s.ok for s in steps)
            assert f"roomsync-{self.plugin}" in steps[0].detail
            assert UNREACHABLE_URL in steps[0].detail
            assert PASSWORD not in " ".join(s.detail for s in steps)
            return
        with pytest.raises(ConnectorError) as caught:
            HOST_CALLS[hook](host)

        message = str(caught.value)
        assert f"roomsync-{self.plugin}" in message
        assert repr(ENVIRONMENT) in message
        assert PASSWORD not in message
        if hook != "roomsync_free_busy":
            assert UNREACHABLE_URL in message
            assert caught.value.transient
        host.close()

    def test_capabilities_and_close_answer_without_a_server(self) -> None:
        host = ConnectorHost(ENVIRONMENT, self.connector())

        capabilities = host.capabilities()
        assert capabilities.max_batch == 100
        assert capabilities.max_freebusy_mailboxes == 100
        # Watching needs impersonation: Exchange refuses subscriptions through delegate access.
        assert capabilities.push
        delegate = ConnectorHost(ENVIRONMENT, self.connector(access="delegate"))
        assert not delegate.capabilities().push
        assert delegate.watch(["ada@example.org"], lambda mailboxes: None) is False
        assert self.connector_class.notifications in ("streaming", "pull")
        assert capabilities.notes[0] == self.connector_class.status_note()
        assert f"this release of roomsync-{self.plugin}" in capabilities.notes[0]
        assert self.connector_class.request_server_version in capabilities.notes[1]
        host.close()


# --- the connector suite against the Exchange simulator --------------------------------------

SIM_USERS = {
    "svc@example.org": "svc-password",
    "alice@example.org": "alice-password",
    "bob@example.org": "bob-password",
    "carol@example.org": "carol-password",  # not in the default seed; for seeds of a test's own
}
SIM_PASSWORD_ENV = "ROOMSYNC_TEST_SIM_PASSWORD"


def _user_account(url: str, version: Any, mailbox: str) -> Any:
    from exchangelib import DELEGATE, Account, Configuration, Credentials, FaultTolerance
    from exchangelib.transport import BASIC

    config = Configuration(
        credentials=Credentials(mailbox, SIM_USERS[mailbox]),
        service_endpoint=url,
        auth_type=BASIC,
        version=version,
        retry_policy=FaultTolerance(max_wait=10),
    )
    return Account(
        primary_smtp_address=mailbox, config=config, autodiscover=False, access_type=DELEGATE, locale="en_US"
    )


class SimulatorUser:
    """The person in Outlook: exchangelib with the person's own credentials, outside the connector.

    Items are written the way ``connector_class`` writes them, so a generation whose EWS differs
    (Exchange 2007) is spoken to in its own way by the person too.
    """

    def __init__(
        self, url: str, request_server_version: str, connector_class: type[EwsConnector] = EwsConnector
    ) -> None:
        from roomsync_ews_common.account import pinned_version

        self.url = url
        self.version = pinned_version(request_server_version)
        self.connector_class = connector_class
        self._accounts: dict[str, Any] = {}

    def account(self, mailbox: str) -> Any:
        if mailbox not in self._accounts:
            self._accounts[mailbox] = _user_account(self.url, self.version, mailbox)
        return self._accounts[mailbox]

    def _item(self, mailbox: str, fields: EventFields, **identity: Any) -> Any:
        item = self.connector_class.build_item(self.account(mailbox), fields, "", **identity)
        for name in USER_UNTOUCHED:
            setattr(item, name, None)
        return item

    def create(self, mailbox: str, fields: EventFields) -> str:
        from exchangelib.items import SEND_TO_NONE

        account = self.account(mailbox)
        [answer] = account.bulk_create(
            folder=account.calendar,
            items=[self._item(mailbox, fields)],
            send_meeting_invitations=SEND_TO_NONE,
        )
        assert not isinstance(answer, Exception), answer
        return str(answer.id)

    def update(self, mailbox: str, item_id: str, fields: EventFields) -> None:
        from exchangelib.items import ALWAYS_OVERWRITE, SEND_TO_NONE

        names = [n for n in self.connector_class.update_fields if n not in USER_UNTOUCHED]
        [answer] = self.account(mailbox).bulk_update(
            [(self._item(mailbox, fields, id=item_id), names)],
            conflict_resolution=ALWAYS_OVERWRITE,
            send_meeting_invitations_or_cancellations=SEND_TO_NONE,
        )
        assert not isinstance(answer, Exception), answer

    def delete(self, mailbox: str, item_id: str, to_deleted_items: bool = False) -> None:
        from exchangelib.items import HARD_DELETE, MOVE_TO_DELETED_ITEMS
        from exchangelib.properties import ItemId

        [answer] = self.account(mailbox).bulk_delete(
            [ItemId(id=item_id)], delete_type=MOVE_TO_DELETED_ITEMS if to_deleted_items else HARD_DELETE
        )
        assert answer is True, answer

    def close(self) -> None:
        for account in self._accounts.values():
            account.protocol.close()


USER_UNTOUCHED = (props.STAMP, props.TIMEZONE, props.SETUP, props.FOLLOWUP)
"""roomsync's own properties: Outlook neither writes nor removes them."""


def simulator_options(url: str, **changes: Any) -> dict[str, Any]:
    """Options of an environment on the simulator, as a configuration file would hold them."""
    return {
        "url": url,
        "allow_http": url.startswith("http://"),
        "username": "svc@example.org",
        "password": {"env": SIM_PASSWORD_ENV},
        "auth": "basic",
        "access": "impersonation",
        "timezone": "Europe/Berlin",
        **changes,
    }


class EwsSimulatorSuite(ConnectorSuite):
    """The core's connector suite and the EWS-specific faults, against the simulator in a dialect.

    A plugin's test module subclasses it and sets ``plugin`` and ``dialect``.
    """

    plugin: ClassVar[str]
    dialect: ClassVar[str]

    @pytest.fixture(scope="class")
    @classmethod
    def sim(cls) -> Iterator[Any]:
        from roomsync_sim.testing import running_simulator

        with pytest.MonkeyPatch.context() as patch, running_simulator(cls.dialect, validate=True) as sim:
            patch.setenv(SIM_PASSWORD_ENV, SIM_USERS["svc@example.org"])
            # Quick enough for tests: Exchange 2007 is asked for events five times a second.
            patch.setattr(PullWatcher, "interval", 0.2)
            yield sim

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, sim: Any) -> Iterator[ConnectorHost]:
        connector = cls.build(sim.ews_url)
        host = ConnectorHost(ENVIRONMENT, connector)
        yield host
        host.close()

    @pytest.fixture(scope="class")
    @classmethod
    def user(cls, sim: Any) -> Iterator[SimulatorUser]:
        found = connector_class(cls.plugin, ENVIRONMENT)
        assert issubclass(found, EwsConnector)
        user = SimulatorUser(sim.ews_url, found.request_server_version, found)
        yield user
        user.close()

    @pytest.fixture
    def kit(self, sim: Any, host: ConnectorHost, user: SimulatorUser) -> Iterator[ConnectorKit]:
        sim.simulator.faults.clear()
        kit = ConnectorKit(
            host=host,
            mailbox="alice@example.org",
            other_mailbox="bob@example.org",
            room="room.1@example.org",
            user=user,
        )

        def break_connection() -> None:
            """A stream breaks at the server's next write, which a change of the other mailbox
            brings at once (its notification is lost with the connection); a pull watcher's
            next request is reset."""
            sim.simulator.faults.add("cut_stream", count=1)
            sim.simulator.faults.add("reset", count=1, operations=["GetEvents"])
            kit.user_create(kit.fields("Breaks the connection", 25, 9), mailbox=kit.other_mailbox)

        kit.break_connection = break_connection
        yield kit
        sim.simulator.faults.clear()
        assert [v for v in sim.simulator.violations if v.direction == "request"] == []

    @classmethod
    def build(cls, url: str, **changes: Any) -> EwsConnector:
        connector = connector_class(cls.plugin, ENVIRONMENT).from_config(
            ENVIRONMENT, simulator_options(url, **changes), "roomsync.toml"
        )
        assert isinstance(connector, EwsConnector)
        return connector

    # --- EWS specifics ----------------------------------------------------------------------------

    def test_every_monthly_and_yearly_pattern_round_trips(self, kit: ConnectorKit) -> None:
        patterns = [
            Recurrence(frequency=Frequency.DAILY, interval=2, count=5),
            Recurrence(frequency=Frequency.MONTHLY, weekdays=(Weekday.TU,), week_of_month=2, count=4),
            Recurrence(
                frequency=Frequency.MONTHLY,
                weekdays=(Weekday.FR,),
                week_of_month=-1,
                until=kit.today + timedelta(days=200),
            ),
            Recurrence(frequency=Frequency.MONTHLY, month_day=15, interval=2),
            Recurrence(frequency=Frequency.YEARLY, month=3, month_day=1, count=3),
            Recurrence(frequency=Frequency.YEARLY, month=11, weekdays=(Weekday.TH,), week_of_month=4),
        ]
        for n, recurrence in enumerate(patterns):
            start = first_local(kit, recurrence, 7, 8 + n)
            fields = EventFields(
                title=f"Pattern {n}",
                start=start,
                end=start + timedelta(minutes=30),
                timezone=kit.timezone,
                recurrence=recurrence,
            )
            self._series_round_trip(kit, fields)

    def test_one_create_request_per_hundred_entries(self, kit: ConnectorKit, sim: Any) -> None:
        drafts = [kit.draft(kit.fields(f"Bulk {n}", 30, 8, minutes=15)) for n in range(150)]
        before = sim.simulator.counts["CreateItem"]
        created_ids(kit.create(drafts))
        assert sim.simulator.counts["CreateItem"] - before == 2

    def test_a_create_whose_answer_was_lost_is_not_repeated(self, kit: ConnectorKit, sim: Any) -> None:
        drafts = [kit.draft(kit.fields(f"Lost answer {n}", 31, 9 + n)) for n in range(3)]
        sim.simulator.faults.add("drop_after_apply", count=1, operations=["CreateItem"])
        results = kit.create(drafts)
        ids = created_ids(results)
        for draft, item_id in zip(drafts, ids, strict=True):
            assert only_entry(kit, draft.stamp).item_id == item_id
        [again] = kit.create(drafts[:1])
        assert again.item_id == ids[0]

    def test_free_busy_over_a_long_window_is_asked_in_pieces(self, kit: ConnectorKit, sim: Any) -> None:
        early = kit.fields("Early", 3, 9)
        late = kit.fields("Late", 70, 9)
        created_ids(kit.create([kit.draft(early), kit.draft(late)]))
        before = sim.simulator.counts["GetUserAvailability"]
        [answer] = kit.host.free_busy([kit.mailbox], kit.at(1, 0), kit.at(80, 0))  # 79 days: 2 pieces
        assert sim.simulator.counts["GetUserAvailability"] - before == 2
        found = {(i.start, i.end) for i in answer.intervals}
        assert {(early.start, early.end), (late.start, late.end)} <= found

    def test_free_busy_of_an_unknown_mailbox_fails_alone(self, kit: ConnectorKit) -> None:
        created_ids(kit.create([kit.draft(kit.fields("Known", 34, 9))]))
        known, unknown = kit.host.free_busy([kit.mailbox, "nobody@example.org"], kit.at(34, 0), kit.at(35, 0))
        assert known.error is None and known.intervals
        assert unknown.mailbox == "nobody@example.org" and unknown.error and not unknown.intervals

    def test_busy_server_is_waited_for(self, kit: ConnectorKit, sim: Any) -> None:
        sim.simulator.faults.add("server_busy", count=1, operations=["CreateItem"], back_off_ms=200)
        [item_id] = created_ids(kit.create([kit.draft(kit.fields("After back-off", 32, 9))]))
        assert item_id

    def test_denied_impersonation_names_the_missing_right(self, kit: ConnectorKit, sim: Any) -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(SIM_PASSWORD_ENV, SIM_USERS["bob@example.org"])
            host = ConnectorHost(ENVIRONMENT, self.build(sim.ews_url, username="bob@example.org"))
            try:
                with pytest.raises(AccessDenied) as caught:
                    host.list_entries(kit.mailbox, kit.at(1, 0), kit.at(2, 0))
                steps = host.check(kit.mailbox)
            finally:
                host.close()
        found = connector_class(self.plugin, ENVIRONMENT)
        assert issubclass(found, EwsConnector)
        right = found.impersonation_right_name
        message = str(caught.value)
        assert right in message and "bob@example.org" in message
        assert f"roomsync-{self.plugin}" in message and "bob-password" not in message
        assert not steps[0].ok and right in steps[0].detail

    def test_a_sync_state_the_server_refuses_starts_over(self, kit: ConnectorKit) -> None:
        [item_id] = created_ids(kit.create([kit.draft(kit.fields("Resynced", 33, 9))]))
        page = kit.host.changes(kit.mailbox, "ews1:H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVK1+B0ZHRm")
        assert page.reset
        seen = Changes(kit, page.sync_state) if page.more else None
        assert item_id in {e.item_id for e in page.entries} | set(seen.entries if seen else {})
        assert Changes(kit, Changes(kit, None).state).entries == {}

    # --- request economy --------------------------------------------------------------------------

    def test_known_new_creates_skip_the_stamp_lookup(self, kit: ConnectorKit, sim: Any) -> None:
        drafts = [kit.draft(kit.fields(f"New {n}", 35, 8 + n), known_new=True) for n in range(3)]
        before = dict(sim.simulator.counts)
        ids = created_ids(kit.create(drafts))
        assert sim.simulator.counts["FindItem"] == before.get("FindItem", 0)
        assert sim.simulator.counts["CreateItem"] - before.get("CreateItem", 0) == 1
        assert [only_entry(kit, d.stamp).item_id for d in drafts] == ids

    def test_own_writes_come_back_from_the_feed_without_being_read(self, kit: ConnectorKit, sim: Any) -> None:
        state = Changes(kit, None).state
        mine = kit.draft(kit.fields("Written here", 36, 9, reminder_minutes=10))
        touched = kit.draft(kit.fields("Changed in Outlook", 36, 11))
        written = kit.create([mine, touched])
        mine_id, touched_id = created_ids(written)
        kit.user.update(kit.mailbox, touched_id, touched.fields.model_copy(update={"title": "Renamed"}))
        before = sim.simulator.counts["GetItem"]

        changes = Changes(kit, state)

        # Only the entry changed since our write is read; ours is reported unchanged, by the
        # change key its create got.
        assert sim.simulator.counts["GetItem"] - before == 1
        assert mine_id not in changes.entries and changes.unchanged[mine_id] == written[0].change_key
        assert changes.entries[touched_id].fields.title == "Renamed"
        assert touched_id not in changes.unchanged

    # --- buffers ----------------------------------------------------------------------------------

    def test_buffers_are_busy_beside_the_entry_and_follow_it(self, kit: ConnectorKit) -> None:
        fields = kit.fields("Buffered", 40, 10, rooms=(kit.room,))
        draft = kit.draft(fields, setup_minutes=30, followup_minutes=15)
        [item_id] = created_ids(kit.create([draft]))
        day = (kit.at(40, 0), kit.at(41, 0))

        def busy(mailbox: str) -> set[tuple[Any, Any]]:
            [answer] = kit.host.free_busy([mailbox], *day)
            assert answer.error is None
            return {(i.start, i.end) for i in answer.intervals}

        around = {
            (fields.start - timedelta(minutes=30), fields.start),
            (fields.start, fields.end),
            (fields.end, fields.end + timedelta(minutes=15)),
        }
        assert around <= busy(kit.mailbox)
        assert around <= busy(kit.room)
        # The entry keeps its own times, and the buffers never reach the engine as entries.
        entry = only_entry(kit, draft.stamp)
        assert (entry.fields.start, entry.fields.end) == (fields.start, fields.end)
        assert (entry.setup_minutes, entry.followup_minutes) == (30, 15)
        listed = kit.host.list_entries(kit.mailbox, *day)
        assert [e.item_id for e in listed if e.fields.title.endswith("Buffered")] == [item_id]
        assert all("#" not in (e.stamp or "") for e in Changes(kit, None).entries.values())

        update = EntryUpdate(
            item_id=item_id, stamp=draft.stamp, fields=fields, setup_minutes=0, followup_minutes=45
        )
        [updated] = kit.host.update_entries(kit.mailbox, [update])
        assert updated.ok
        after = busy(kit.mailbox)
        assert (fields.start - timedelta(minutes=30), fields.start) not in after
        assert (fields.end, fields.end + timedelta(minutes=45)) in after

        [deleted] = kit.host.delete_entries(kit.mailbox, [ItemRef(item_id=item_id, stamp=draft.stamp)])
        assert deleted.ok
        assert busy(kit.mailbox) == set() and busy(kit.room) == set()

    def test_updates_look_buffers_up_only_where_the_engine_says_there_may_be_some(
        self, kit: ConnectorKit, sim: Any
    ) -> None:
        """Every update batch searched for buffer entries, even when no entry had any."""
        plain = kit.draft(kit.fields("No buffers", 41, 9))
        buffered = kit.draft(kit.fields("Buffers", 41, 11), setup_minutes=15)
        plain_result, buffered_result = kit.create([plain, buffered])
        assert plain_result.item_id and buffered_result.item_id
        retitled = EntryUpdate(
            item_id=plain_result.item_id,
            stamp=plain.stamp,
            fields=plain.fields.model_copy(update={"title": "Still no buffers"}),
            companions=False,
        )
        before = sim.simulator.counts["FindItem"]
        [updated] = kit.host.update_entries(kit.mailbox, [retitled])
        assert updated.ok and sim.simulator.counts["FindItem"] == before

        # An entry that had some: looked up, and the buffer removed with the update.
        unbuffered = EntryUpdate(
            item_id=buffered_result.item_id, stamp=buffered.stamp, fields=buffered.fields, companions=True
        )
        [updated] = kit.host.update_entries(kit.mailbox, [unbuffered])
        assert updated.ok and sim.simulator.counts["FindItem"] == before + 1
        day = kit.host.list_entries(kit.mailbox, kit.at(41, 0), kit.at(42, 0))
        assert sorted(e.fields.title for e in day) == ["Buffers", "Still no buffers"]
        [answer] = kit.host.free_busy([kit.mailbox], kit.at(41, 0), kit.at(42, 0))
        start = buffered.fields.start
        assert (start - timedelta(minutes=15), start) not in {(i.start, i.end) for i in answer.intervals}

    # --- notifications ---------------------------------------------------------------------------

    def test_a_dropped_stream_is_reopened_and_everyone_woken(self, kit: ConnectorKit, sim: Any) -> None:
        """The notification carried when the connection broke is lost: only the wake of everyone
        after the reconnect leads the engine to that change."""
        found = connector_class(self.plugin, ENVIRONMENT)
        if not issubclass(found, EwsConnector) or found.notifications != "streaming":
            pytest.skip("not watched by streaming notifications")
        watched = [kit.mailbox, kit.other_mailbox]
        with self._watching(kit, watched) as woken:
            counts = sim.simulator.counts
            subscribed, opened = counts["Subscribe"], counts["GetStreamingEvents"]
            since = time.monotonic()
            sim.simulator.faults.add("cut_stream", count=1)
            kit.user_create(kit.fields("Lost notification", 25, 11), mailbox=kit.other_mailbox)
            assert woken.wait_for(watched, kit.wake_seconds, since)
            assert sim.simulator.faults.to_list()[0]["fired"] == 1
            assert counts["GetStreamingEvents"] > opened, "the connection must be opened again"
            assert counts["Subscribe"] == subscribed, "the subscriptions survived the connection"

    def test_lost_subscriptions_are_made_anew_and_everyone_woken(self, kit: ConnectorKit, sim: Any) -> None:
        """As after a restart of EWS, which keeps subscriptions in memory only."""
        watched = [kit.mailbox, kit.other_mailbox]
        with self._watching(kit, watched) as woken:
            subscribed = sim.simulator.counts["Subscribe"]
            since = time.monotonic()
            notifier = sim.simulator.notifier
            with notifier.cond:
                notifier.subscriptions.clear()
                notifier.cond.notify_all()
            assert woken.wait_for(watched, kit.wake_seconds, since)
            assert sim.simulator.counts["Subscribe"] >= subscribed + len(watched)
            since = time.monotonic()
            kit.user_create(kit.fields("Seen by the new subscription", 25, 13))
            assert woken.wait_for([kit.mailbox], kit.wake_seconds, since)

    def test_free_busy_of_a_hundred_mailboxes_is_one_request(self, kit: ConnectorKit, sim: Any) -> None:
        mailboxes = [kit.mailbox, kit.room] + [f"nobody.{n}@example.org" for n in range(98)]
        before = dict(sim.simulator.counts)
        answers = kit.host.free_busy(mailboxes, kit.at(2, 0), kit.at(3, 0))
        spent = {k: v - before.get(k, 0) for k, v in sim.simulator.counts.items() if v != before.get(k, 0)}
        # (a watch of earlier tests may still stream meanwhile; it asks nothing of these)
        assert spent.get("GetUserAvailability") == 1 and "GetServerTimeZones" not in spent, spent
        assert [a.mailbox for a in answers] == mailboxes
        assert answers[0].error is None and all(a.error for a in answers[2:])

"""roomsync-o365 against the simulator's Microsoft Graph: the connector suite and Graph's specifics.

Everything runs over real HTTPS against ``roomsync_sim``'s ``o365`` dialect: sign-in through msal,
``$batch``, delta, ``getSchedule`` and webhooks (the simulator posts to the connector's receiver).
The seed holds two tenants (the second one reached through ``tenant_overrides``), an app limited
to one mailbox, and an app signing in with a certificate.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import EntryDraft, EntryUpdate, ItemRef, WriteErrorKind
from roomsync.domain import EventFields, Frequency, OccurrenceChange, Participant, Recurrence, Weekday
from roomsync.engine.merge import snapshot
from roomsync.errors import AccessDenied, ConnectorError
from roomsync.plugins import connector_class
from roomsync.recurrence import occurrences
from roomsync.testkit import ConnectorKit, WakeRecorder
from roomsync.testkit.kit import eventually_true
from roomsync.testkit.suite import Changes, created_ids, only_entry, same_fields, weekly
from roomsync_o365 import O365Connector
from roomsync_o365 import properties as props
from roomsync_o365.delta import DeltaReader, SyncState
from roomsync_o365.testing import ENVIRONMENT, SECRET_ENV, O365SimulatorSuite, build, watching_options
from roomsync_sim.graph.migrate import export_calendar, import_calendar
from roomsync_sim.seed import DEFAULT_SEED
from roomsync_sim.testing import running_simulator

OTHER_TENANT = "00000000-0000-0000-0000-00000000cccc"
OTHER_CLIENT = "00000000-0000-0000-0000-00000000dddd"
OTHER_SECRET = "subsidiary-sim-secret"
LIMITED_CLIENT = "00000000-0000-0000-0000-00000000eeee"
LIMITED_SECRET = "limited-sim-secret"
CERT_CLIENT = "00000000-0000-0000-0000-00000000ffff"


def _certificate() -> tuple[str, str]:
    """A self-signed certificate for the app that signs in with one: (certificate, key and certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "roomsync test app")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return cert_pem, key_pem + cert_pem


CERT_PEM, KEY_AND_CERT_PEM = _certificate()

SEED: dict[str, Any] = {
    **DEFAULT_SEED,
    "apps": [
        {"client_id": "00000000-0000-0000-0000-00000000bbbb", "secrets": ["roomsync-sim-secret"]},
        {"client_id": LIMITED_CLIENT, "secrets": [LIMITED_SECRET], "mailboxes": ["bob@example.org"]},
        {"client_id": CERT_CLIENT, "certificates": [CERT_PEM]},
    ],
    "tenants": [
        {
            "id": OTHER_TENANT,
            "domains": ["subsidiary.example"],
            "users": [
                {"smtp": "erin@subsidiary.example", "name": "Erin Evans"},
                {"smtp": "finn@subsidiary.example", "name": "Finn Fox"},
            ],
            "apps": [{"client_id": OTHER_CLIENT, "secrets": [OTHER_SECRET]}],
        }
    ],
}


def subscriptions_of(sim: Any, mailbox: str) -> list[Any]:
    """The simulator's Graph subscriptions for ``mailbox``, read under its lock."""
    subscriptions = sim.simulator.graph.subscriptions
    with subscriptions.cond:
        return [s for s in subscriptions.items.values() if s.smtp == mailbox]


class TestO365Graph(O365SimulatorSuite):
    seed = SEED

    # --- export through $batch -------------------------------------------------------------------

    def test_45_creates_travel_in_3_batches(self, kit: ConnectorKit, sim: Any) -> None:
        counts = sim.simulator.counts
        drafts = [kit.draft(kit.fields(f"Bulk {n}", 30, 8, minutes=15), known_new=True) for n in range(45)]
        before = {name: counts[name] for name in ("$batch", "events.create", "events.list")}
        ids = created_ids(kit.create(drafts))

        assert len(set(ids)) == 45
        assert counts["events.create"] - before["events.create"] == 45
        assert counts["$batch"] - before["$batch"] == 3, "20 + 20 + 5 creates, one $batch each"
        assert counts["events.list"] - before["events.list"] == 0, "known-new drafts need no stamp lookup"

    def test_creates_that_may_exist_are_looked_up_in_batches_too(self, kit: ConnectorKit, sim: Any) -> None:
        counts = sim.simulator.counts
        drafts = [kit.draft(kit.fields(f"Maybe written {n}", 30, 12, minutes=15)) for n in range(25)]
        before = {name: counts[name] for name in ("$batch", "events.create", "events.list")}
        created_ids(kit.create(drafts))

        assert counts["events.create"] - before["events.create"] == 25
        assert counts["events.list"] - before["events.list"] == 25  # one $filter per stamp...
        assert counts["$batch"] - before["$batch"] == 4  # ...batched: lookup and create per 20

    def test_created_entries_carry_stamp_and_buffers_as_extended_properties(
        self, kit: ConnectorKit, sim: Any
    ) -> None:
        draft = kit.draft(kit.fields("Buffered", 31, 9), setup_minutes=15, followup_minutes=10)
        [item_id] = created_ids(kit.create([draft]))
        entry = only_entry(kit, draft.stamp)
        assert (entry.setup_minutes, entry.followup_minutes) == (15, 10)

        raw = requests.get(
            f"{sim.graph_url}/users/{kit.mailbox}/events/{item_id}",
            params={"$expand": props.expand()},
            headers={"Authorization": f"Bearer {sim.access_token()}"},
            verify=str(sim.ca_file),
            timeout=30,
        ).json()
        found = {p["id"].lower(): p["value"] for p in raw["singleValueExtendedProperties"]}
        assert found[props.STAMP.lower()] == draft.stamp
        assert found[props.TIMEZONE.lower()] == kit.timezone
        assert raw["originalStartTimeZone"] == "W. Europe Standard Time"  # written with Windows names

    def test_buffers_are_busy_beside_the_entry_and_leave_with_it(self, kit: ConnectorKit) -> None:
        fields = kit.fields("Workshop with buffers", 41, 14, rooms=(kit.room,))
        draft = kit.draft(fields, setup_minutes=30, followup_minutes=15)
        [created] = kit.create([draft])
        assert created.ok and created.item_id
        state = Changes(kit, None)
        assert [e.stamp for e in state.entries.values() if e.stamp and e.stamp.startswith(draft.stamp)] == [
            draft.stamp
        ], "buffer companions are never reported"
        listed = kit.host.list_entries(kit.mailbox, kit.at(41, 12), kit.at(41, 17))
        assert [e.item_id for e in listed if (e.stamp or "").startswith(draft.stamp)] == [created.item_id]

        def busy(setup: int, followup: int) -> None:
            [mine, room] = kit.host.free_busy([kit.mailbox, kit.room], kit.at(41, 12), kit.at(41, 17))
            for answer in (mine, room):
                spans = {(i.start, i.end) for i in answer.intervals}
                assert (fields.start - timedelta(minutes=setup), fields.start) in spans
                assert (fields.end, fields.end + timedelta(minutes=followup)) in spans

        busy(30, 15)
        shorter = EntryUpdate(
            item_id=created.item_id,
            change_key=created.change_key,
            stamp=draft.stamp,
            fields=fields,
            setup_minutes=10,
        )
        [updated] = kit.host.update_entries(kit.mailbox, [shorter])
        assert updated.ok, updated.error
        [mine] = kit.host.free_busy([kit.mailbox], kit.at(41, 12), kit.at(41, 17))
        assert {(i.start, i.end) for i in mine.intervals} == {
            (fields.start - timedelta(minutes=10), fields.start),
            (fields.start, fields.end),
        }, "the follow-up buffer is removed, the setup buffer shortened"

        [deleted] = kit.host.delete_entries(
            kit.mailbox, [ItemRef(item_id=created.item_id, stamp=draft.stamp)]
        )
        assert deleted.ok
        [mine] = kit.host.free_busy([kit.mailbox], kit.at(41, 12), kit.at(41, 17))
        assert mine.intervals == ()
        assert Changes(kit, state.state).entries == {}

    def test_a_create_whose_answer_was_lost_is_not_repeated(self, kit: ConnectorKit, sim: Any) -> None:
        drafts = [kit.draft(kit.fields(f"Lost answer {n}", 31, 11 + n)) for n in range(3)]
        before = sim.simulator.counts["events.create"]
        sim.simulator.faults.add("drop_after_apply", count=1, operations=["$batch"])
        ids = created_ids(kit.create(drafts))

        for draft, item_id in zip(drafts, ids, strict=True):
            assert only_entry(kit, draft.stamp).item_id == item_id
        assert sim.simulator.counts["events.create"] - before == 3, "the lost batch is not sent again"
        [again] = kit.create(drafts[:1])
        assert again.item_id == ids[0]

    def test_throttled_requests_in_a_batch_wait_for_retry_after(self, kit: ConnectorKit, sim: Any) -> None:
        sim.simulator.faults.add("server_busy", count=1, operations=["events.create"], back_off_ms=1000)
        drafts = [kit.draft(kit.fields(f"Throttled {n}", 32, 9 + n)) for n in range(3)]
        before = sim.simulator.counts["events.create"]
        started = time.monotonic()
        ids = created_ids(kit.create(drafts))

        assert time.monotonic() - started >= 1.0, "Retry-After: 1 was not waited for"
        assert len(set(ids)) == 3
        assert sim.simulator.counts["events.create"] - before == 4  # one refused with 429, sent again
        for draft in drafts:
            assert only_entry(kit, draft.stamp)

    def test_a_throttled_batch_and_a_busy_service_are_waited_for(self, kit: ConnectorKit, sim: Any) -> None:
        sim.simulator.faults.add("server_busy", count=1, operations=["$batch"], back_off_ms=1000)
        sim.simulator.faults.add("http_503", count=1, operations=["getSchedule"])
        started = time.monotonic()
        [item_id] = created_ids(kit.create([kit.draft(kit.fields("After waiting", 32, 14))]))
        [answer] = kit.host.free_busy([kit.mailbox], kit.at(32, 0), kit.at(33, 0))

        assert item_id and answer.error is None and answer.intervals
        assert time.monotonic() - started >= 2.0

    def test_throttling_beyond_the_waiting_budget_is_transient(self, sim: Any) -> None:
        host = ConnectorHost(ENVIRONMENT, build(sim, max_retry_wait_seconds=1))
        sim.simulator.faults.add("server_busy", count=5, operations=["calendarView"], back_off_ms=1000)
        try:
            with pytest.raises(ConnectorError) as caught:
                host.list_entries(
                    "alice@example.org", datetime.now(UTC), datetime.now(UTC) + timedelta(days=1)
                )
        finally:
            sim.simulator.faults.clear()
            host.close()
        assert caught.value.transient
        assert "429" in str(caught.value)

    def test_a_change_key_made_stale_in_outlook_is_refused_with_412(self, kit: ConnectorKit) -> None:
        draft = kit.draft(
            kit.fields("Stale guarded", 33, 9, participants=(Participant(email=kit.other_mailbox),))
        )
        [created] = kit.create([draft])
        assert created.item_id
        moved = kit.fields("Stale guarded", 33, 11, participants=(Participant(email=kit.other_mailbox),))
        kit.user.update(kit.mailbox, created.item_id, moved)
        [stale] = kit.host.update_entries(
            kit.mailbox,
            [
                EntryUpdate(
                    item_id=created.item_id,
                    change_key=created.change_key,
                    stamp=draft.stamp,
                    fields=draft.fields,
                )
            ],
        )
        assert stale.error_kind is WriteErrorKind.STALE and "412" in (stale.error or "")

    # --- change detection ----------------------------------------------------------------------

    def test_an_expired_delta_token_starts_over_with_reset(self, kit: ConnectorKit, sim: Any) -> None:
        [item_id] = created_ids(kit.create([kit.draft(kit.fields("Before expiry", 34, 9))]))
        state = Changes(kit, None).state
        sim.simulator.graph.delta.expire()

        page = kit.host.changes(kit.mailbox, state)
        assert page.reset, "410 Gone must start a full resync with reset=True"
        rest = Changes(kit, page.sync_state) if page.more else None
        listed = {e.item_id for e in page.entries} | set(rest.entries if rest else {})
        assert item_id in listed
        assert Changes(kit, rest.state if rest else page.sync_state).entries == {}

    def test_own_unchanged_writes_are_not_read_back(self, kit: ConnectorKit, sim: Any) -> None:
        state = Changes(kit, None).state
        drafts = [
            kit.draft(kit.fields(f"Echo {n}", 42, 8 + n % 8, minutes=15), known_new=True) for n in range(25)
        ]
        results = kit.create(drafts)
        ids = created_ids(results)
        edited = kit.fields("Echo 0, edited in Outlook", 42, 17)
        kit.user.update(kit.mailbox, ids[0], edited)
        before = sim.simulator.counts["events.get"]

        echo = Changes(kit, state)
        assert set(ids) <= echo.listed
        assert sim.simulator.counts["events.get"] - before == 1, "only the entry edited in Outlook is read"
        same_fields(echo.entries[ids[0]].fields, edited)
        assert ids[0] not in echo.unchanged
        # The others are reported unchanged, by the change key their create got.
        for result in results[1:]:
            assert result.item_id is not None and result.item_id not in echo.entries
            assert echo.unchanged[result.item_id] == result.change_key

    def test_own_series_without_exceptions_is_not_read_back(self, kit: ConnectorKit, sim: Any) -> None:
        state = Changes(kit, None).state
        weekly = Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO,), count=6)
        series = kit.draft(kit.fields("Weekly echo", 43, 9, recurrence=weekly), known_new=True)
        [created] = kit.create([series])
        [series_id] = created_ids([created])
        before = (sim.simulator.counts["events.get"], sim.simulator.counts["events.instances"])

        echo = Changes(kit, state)

        assert (sim.simulator.counts["events.get"], sim.simulator.counts["events.instances"]) == before
        # Known by its master's change key, which its plain occurrences carry.
        assert series_id not in echo.entries and echo.unchanged[series_id] == created.change_key

    def test_the_window_moves_forward_without_losing_changes(self, kit: ConnectorKit) -> None:
        connector = kit.host.connector
        assert isinstance(connector, O365Connector)
        reader = DeltaReader(connector._calendar(kit.mailbox), 30, 365)

        def drain(state: str | None, now: datetime) -> tuple[str, dict[str, Any], list[str]]:
            entries: dict[str, Any] = {}
            phases = []
            while True:
                page = reader.changes(state, now)
                entries.update({e.item_id: e for e in page.entries})
                state = page.sync_state
                decoded = SyncState.decode(state)
                assert decoded is not None
                phases.append(decoded.phase)
                if not page.more:
                    return state, entries, phases

        now = datetime.now(UTC)
        state, _, _ = drain(None, now)
        [item_id] = created_ids(kit.create([kit.draft(kit.fields("Before the move", 43, 9))]))
        later = now + timedelta(days=8)
        state, entries, phases = drain(state, later)
        assert item_id in entries, "a change made before the window moved is reported"
        assert "renew" in phases and "catchup" in phases and phases[-1] == "delta"
        moved = SyncState.decode(state)
        assert moved is not None and datetime.fromisoformat(moved.window[0]) > now - timedelta(days=30)

        own = kit.user_create(kit.fields("After the move", 43, 11))
        _, entries, phases = drain(state, later)
        assert own in entries and set(phases) == {"delta"}

    def test_a_full_listing_includes_entries_outside_the_delta_window(self, kit: ConnectorKit) -> None:
        far = kit.draft(kit.fields("Far ahead", 500, 9))
        [far_id] = created_ids(kit.create([far]))
        full = Changes(kit, None)
        assert full.entries[far_id].stamp == far.stamp, "a reset must not make far entries look deleted"
        moved = kit.fields("Far ahead, moved", 600, 9)
        kit.user.update(kit.mailbox, far_id, moved)
        later = Changes(kit, full.state)
        assert far_id not in later.deleted
        if far_id in later.entries:
            same_fields(later.entries[far_id].fields, moved)

    def test_a_cancelled_occurrence_comes_back_as_a_changed_master(self, kit: ConnectorKit, sim: Any) -> None:
        start = kit.at(35, 10)
        fields = weekly("Weekly review", start, kit.timezone, 4)
        draft = kit.draft(fields)
        [master_id] = created_ids(kit.create([draft]))
        state = Changes(kit, None).state
        second = list(occurrences(fields, start, start + timedelta(days=30)))[1]
        instances = requests.get(
            f"{sim.graph_url}/users/{kit.mailbox}/events/{master_id}/instances",
            params={
                "startDateTime": second.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endDateTime": second.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            headers={"Authorization": f"Bearer {sim.access_token()}"},
            verify=str(sim.ca_file),
            timeout=30,
        ).json()["value"]
        requests.delete(
            f"{sim.graph_url}/users/{kit.mailbox}/events/{instances[0]['id']}",
            headers={"Authorization": f"Bearer {sim.access_token()}"},
            verify=str(sim.ca_file),
            timeout=30,
        ).raise_for_status()

        later = Changes(kit, state)
        assert master_id not in later.deleted
        entry = later.entries[master_id]
        assert [c.original_start for c in entry.fields.occurrences if c.cancelled] == [second.original_start]

    # --- webhooks ------------------------------------------------------------------------------

    def _receiver(self, kit: ConnectorKit) -> str:
        connector = kit.host.connector
        assert isinstance(connector, O365Connector)
        watcher = connector.watcher
        assert watcher is not None
        host, port = watcher.receiver.address
        return f"http://{host}:{port}/roomsync"

    def test_forged_notifications_are_refused_and_wake_nobody(self, kit: ConnectorKit, sim: Any) -> None:
        woken = WakeRecorder()
        assert kit.host.watch([kit.mailbox], woken)
        try:
            assert woken.wait_for([kit.mailbox], kit.wake_seconds)
            url = self._receiver(kit)
            [subscription] = subscriptions_of(sim, kit.mailbox)
            genuine = {"subscriptionId": subscription.id, "changeType": "updated", "resource": "x"}
            since = time.monotonic()
            forged = requests.post(
                f"{url}/notify", json={"value": [{**genuine, "clientState": "guess"}]}, timeout=5
            )
            missing = requests.post(f"{url}/notify", json={"value": [genuine]}, timeout=5)
            unknown = requests.post(
                f"{url}/notify",
                json={
                    "value": [
                        {**genuine, "subscriptionId": "unknown", "clientState": subscription.client_state}
                    ]
                },
                timeout=5,
            )
            malformed = requests.post(f"{url}/notify", data=b"{not json", timeout=5)
            lifecycle = requests.post(
                f"{url}/lifecycle",
                json={
                    "value": [{**genuine, "clientState": "guess", "lifecycleEvent": "subscriptionRemoved"}]
                },
                timeout=5,
            )
            assert [r.status_code for r in (forged, missing, unknown, malformed, lifecycle)] == [
                403,
                403,
                403,
                400,
                403,
            ]
            time.sleep(0.5)
            assert woken.woken(since) == set(), "a forged notification must not wake anything"

            handshake = requests.post(f"{url}/notify", params={"validationToken": "abc <def>"}, timeout=5)
            assert (handshake.status_code, handshake.text) == (200, "abc <def>")
            assert handshake.headers["Content-Type"].startswith("text/plain")

            kit.user_create(kit.fields("Genuine", 36, 9))
            assert woken.wait_for([kit.mailbox], kit.wake_seconds, since), "a genuine notification wakes"
        finally:
            kit.host.watch([], WakeRecorder())

    def test_lifecycle_notifications_renew_and_resubscribe(self, kit: ConnectorKit, sim: Any) -> None:
        woken = WakeRecorder()
        assert kit.host.watch([kit.mailbox], woken)
        subscriptions = sim.simulator.graph.subscriptions
        try:
            assert woken.wait_for([kit.mailbox], kit.wake_seconds)
            [first] = subscriptions_of(sim, kit.mailbox)
            since = time.monotonic()
            subscriptions.lifecycle(first.id, "missed")
            assert woken.wait_for([kit.mailbox], kit.wake_seconds, since), "missed wakes the mailbox"

            first.reauthorization_sent = True
            subscriptions.lifecycle(first.id, "reauthorizationRequired")
            assert eventually_true(lambda: not first.reauthorization_sent, kit.wake_seconds), (
                "reauthorizationRequired must reauthorize the subscription"
            )

            since = time.monotonic()
            subscriptions.lifecycle(first.id, "subscriptionRemoved")
            assert woken.wait_for([kit.mailbox], kit.wake_seconds, since)
            now = subscriptions_of(sim, kit.mailbox)
            assert len(now) == 1 and now[0].id != first.id, "a removed subscription is made again"
        finally:
            kit.host.watch([], WakeRecorder())
        assert eventually_true(lambda: not subscriptions_of(sim, kit.mailbox), kit.wake_seconds), (
            "a mailbox no longer watched keeps its subscription"
        )

    def test_subscriptions_are_renewed_before_they_expire(self, kit: ConnectorKit, sim: Any) -> None:
        woken = WakeRecorder()
        assert kit.host.watch([kit.mailbox], woken)
        connector = kit.host.connector
        assert isinstance(connector, O365Connector) and connector.watcher is not None
        manager = connector.watcher.manager
        try:
            assert woken.wait_for([kit.mailbox], kit.wake_seconds)
            [theirs] = subscriptions_of(sim, kit.mailbox)
            soon = datetime.now(UTC) + timedelta(hours=1)
            theirs.expires = soon
            with manager._lock:
                manager._by_mailbox[kit.mailbox].expires = soon  # as if 69 hours had passed
            before = sim.simulator.counts["subscriptions.update"]
            manager.step()
            assert sim.simulator.counts["subscriptions.update"] - before >= 1
            assert theirs.expires > datetime.now(UTC) + timedelta(hours=60)
            assert manager.watched()[kit.mailbox] > datetime.now(UTC) + timedelta(hours=60)
            assert [s.id for s in subscriptions_of(sim, kit.mailbox)] == [theirs.id]
        finally:
            kit.host.watch([], WakeRecorder())

    # --- tenants, sign-in and access -----------------------------------------------------------------

    def test_two_tenants_through_overrides(
        self, sim: Any, monkeypatch: pytest.MonkeyPatch, kit: ConnectorKit
    ) -> None:
        monkeypatch.setenv("ROOMSYNC_TEST_O365_OTHER", OTHER_SECRET)
        override = {
            "tenant_id": OTHER_TENANT,
            "client_id": OTHER_CLIENT,
            "client_secret": {"env": "ROOMSYNC_TEST_O365_OTHER"},
        }
        host = ConnectorHost(ENVIRONMENT, build(sim, tenant_overrides={"subsidiary.example": override}))
        try:
            erin = "erin@subsidiary.example"
            ours = kit.draft(kit.fields("In the main tenant", 37, 9))
            theirs = kit.draft(
                kit.fields(
                    "In the subsidiary", 37, 9, participants=(Participant(email="finn@subsidiary.example"),)
                )
            )
            [ours_id] = created_ids(host.create_entries(kit.mailbox, [ours]))
            [theirs_id] = created_ids(host.create_entries(erin, [theirs]))
            kit.created.append((kit.mailbox, ours_id))

            assert [e.item_id for e in host.find_by_stamp(erin, [theirs.stamp])[theirs.stamp]] == [theirs_id]
            assert host.find_by_stamp(kit.mailbox, [theirs.stamp]).get(theirs.stamp, []) == []
            assert sim.tenants[1].store.mailbox(erin) is not None
            mine, erins = host.free_busy([kit.mailbox, erin], kit.at(37, 0), kit.at(38, 0))
            assert mine.error is None and erins.error is None
            assert mine.intervals and erins.intervals
            assert isinstance(host.connector, O365Connector)
            tokens = host.connector._registry()
            assert sorted(t.credentials.tenant_id for t in tokens.all()) == sorted(
                [sim.tenant_id, OTHER_TENANT]
            )
            host.delete_entries(erin, [ItemRef(item_id=theirs_id)])
        finally:
            host.close()

    def test_one_token_serves_every_request_and_msal_is_asked_once_while_it_is_good(
        self, sim: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        asked: list[str] = []
        acquire = msal.ConfidentialClientApplication.acquire_token_for_client

        def counted(app: Any, *args: Any, **kwargs: Any) -> Any:
            answer = acquire(app, *args, **kwargs)
            asked.append(answer.get("token_source", ""))
            return answer

        monkeypatch.setattr(msal.ConfidentialClientApplication, "acquire_token_for_client", counted)
        host = ConnectorHost(ENVIRONMENT, build(sim))
        before = sim.simulator.counts["token"]
        try:
            for _ in range(3):
                host.list_entries(
                    "alice@example.org", datetime.now(UTC), datetime.now(UTC) + timedelta(days=1)
                )
        finally:
            host.close()
        assert sim.simulator.counts["token"] - before == 1
        assert asked == ["identity_provider"]

    def test_a_token_about_to_expire_is_asked_for_anew(self, sim: Any) -> None:
        # msal drops a token 5 minutes before it expires: one living 302 s is good for 2 s.
        tenant = sim.tenants[0]
        lifetime, tenant.token_lifetime = tenant.token_lifetime, 302
        host = ConnectorHost(ENVIRONMENT, build(sim))
        before = sim.simulator.counts["token"]
        try:
            window = (datetime.now(UTC), datetime.now(UTC) + timedelta(days=1))
            host.list_entries("alice@example.org", *window)
            host.list_entries("alice@example.org", *window)
            assert sim.simulator.counts["token"] - before == 1
            time.sleep(3)
            host.list_entries("alice@example.org", *window)
            assert sim.simulator.counts["token"] - before == 2
        finally:
            tenant.token_lifetime = lifetime
            host.close()

    def test_a_certificate_signs_in_too(self, sim: Any, tmp_path: Path) -> None:
        pem = tmp_path / "app.pem"
        pem.write_text(KEY_AND_CERT_PEM, encoding="ascii")
        host = ConnectorHost(
            ENVIRONMENT,
            build(sim, client_id=CERT_CLIENT, client_secret=None, client_certificate={"file": str(pem)}),
        )
        try:
            steps = host.check("alice@example.org")
        finally:
            host.close()
        assert [s for s in steps if not s.ok] == []

    def test_a_wrong_secret_names_tenant_and_client_never_the_secret(
        self, sim: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ROOMSYNC_TEST_O365_WRONG", "not-the-secret")
        host = ConnectorHost(ENVIRONMENT, build(sim, client_secret={"env": "ROOMSYNC_TEST_O365_WRONG"}))
        try:
            with pytest.raises(ConnectorError) as caught:
                host.find_by_stamp("alice@example.org", ["R-1"])
            steps = host.check("alice@example.org")
        finally:
            host.close()
        message = str(caught.value)
        assert sim.tenant_id in message and sim.client_id in message
        assert "env:ROOMSYNC_TEST_O365_WRONG" in message
        assert "not-the-secret" not in message and "not-the-secret" not in steps[0].detail
        assert not caught.value.transient and not steps[0].ok

    def test_a_mailbox_outside_the_apps_scope_is_access_denied(
        self, sim: Any, monkeypatch: pytest.MonkeyPatch, kit: ConnectorKit
    ) -> None:
        monkeypatch.setenv("ROOMSYNC_TEST_O365_LIMITED", LIMITED_SECRET)
        host = ConnectorHost(
            ENVIRONMENT,
            build(sim, client_id=LIMITED_CLIENT, client_secret={"env": "ROOMSYNC_TEST_O365_LIMITED"}),
        )
        try:
            with pytest.raises(AccessDenied) as caught:
                host.create_entries(kit.mailbox, [kit.draft(kit.fields("Not allowed", 38, 9))])
            assert host.list_entries("bob@example.org", kit.at(38, 0), kit.at(39, 0)) == []
        finally:
            host.close()
        message = str(caught.value)
        assert "Calendars.ReadWrite" in message and "New-ManagementRoleAssignment" in message
        assert kit.mailbox in message and LIMITED_CLIENT in message and LIMITED_SECRET not in message

    def test_webhooks_off_means_polling(self, sim: Any) -> None:
        host = ConnectorHost(ENVIRONMENT, build(sim))
        try:
            assert not host.capabilities().push
            assert host.watch(["alice@example.org"], WakeRecorder()) is False
        finally:
            host.close()

    def test_watching_needs_its_receiver_port_free(self, sim: Any) -> None:
        options = watching_options()
        first = ConnectorHost(ENVIRONMENT, build(sim, **options))
        second = ConnectorHost(ENVIRONMENT, build(sim, **options))
        try:
            assert first.watch(["alice@example.org"], WakeRecorder())
            with pytest.raises(ConnectorError) as caught:
                second.watch(["alice@example.org"], WakeRecorder())
            assert options["webhook_bind"] in str(caught.value)
        finally:
            first.close()
            second.close()


# --- a mailbox moved from on-premises Exchange to Exchange Online ----------------------------------


def test_entries_written_over_ews_keep_their_stamps_after_a_move_to_exchange_online(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stamp and buffers are the same MAPI named properties in EWS and in Graph."""
    ews = pytest.importorskip("roomsync_ews_common.testing")
    zone = "Europe/Berlin"
    start = datetime.combine(datetime.now(UTC).date() + timedelta(days=14), dt_time(9), ZoneInfo(zone))
    series = weekly("Moved series", start, zone, 4, rooms=("room.1@example.org",))
    third = list(occurrences(series, start, start + timedelta(days=30)))[2]
    series = EventFields.model_validate(
        {
            **dict(series),
            "occurrences": (OccurrenceChange(original_start=third.original_start, cancelled=True),),
        }
    )
    single = EventFields(
        title="Moved single",
        start=start + timedelta(days=1),
        end=start + timedelta(days=1, hours=2),
        timezone=zone,
    )
    drafts = [
        EntryDraft(stamp="R-moved-1", fields=single, setup_minutes=30, followup_minutes=15),
        EntryDraft(stamp="R-moved-2", fields=series),
    ]
    with running_simulator("exchange2013") as onprem:
        monkeypatch.setenv(ews.SIM_PASSWORD_ENV, ews.SIM_USERS["svc@example.org"])
        ews_connector = connector_class("exchange2013", "onprem").from_config(
            "onprem", ews.simulator_options(onprem.ews_url)
        )
        ews_host = ConnectorHost("onprem", ews_connector)
        try:
            created_ids(ews_host.create_entries("alice@example.org", drafts))
        finally:
            ews_host.close()
        items = export_calendar(onprem.simulator.store, "alice@example.org")

    with running_simulator("o365", tls_dir=tmp_path) as online:
        import_calendar(online.tenants[0].store, "alice@example.org", items)
        monkeypatch.setenv(SECRET_ENV, online.client_secret)
        host = ConnectorHost(ENVIRONMENT, build(online))
        try:
            found = host.find_by_stamp("alice@example.org", [d.stamp for d in drafts])
        finally:
            host.close()
    for draft in drafts:
        [entry] = found[draft.stamp]
        assert snapshot(entry.fields) == snapshot(draft.fields)
        assert (entry.setup_minutes, entry.followup_minutes) == (draft.setup_minutes, draft.followup_minutes)

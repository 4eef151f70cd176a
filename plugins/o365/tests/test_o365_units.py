"""The pure parts of roomsync-o365: mapping, series, zones, state, throttling waits, the receiver."""

from __future__ import annotations

import base64
import dataclasses
import json
import zlib
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from roomsync.config import SecretRef
from roomsync.domain import EventFields, Frequency, OccurrenceChange, Participant, Recurrence, ShowAs, Weekday
from roomsync.engine.merge import snapshot
from roomsync.errors import ConfigError
from roomsync_o365 import mapping, schedule
from roomsync_o365 import properties as props
from roomsync_o365 import recurrence as series
from roomsync_o365.delta import STATE_PREFIX, SyncState
from roomsync_o365.graph_client import GraphClient, parse_retry_after, path, user
from roomsync_o365.timezones import same_zone, to_iana, to_windows
from roomsync_o365.tokens import certificate_credential, graph_scope, read_pem
from roomsync_o365.webhooks import NotificationReceiver

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2030, 3, 25, 9, 0, tzinfo=BERLIN)  # a Monday, the week before DST starts


# --- time zones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iana", "windows"),
    [
        ("Europe/Berlin", "W. Europe Standard Time"),
        ("America/New_York", "Eastern Standard Time"),
        ("Asia/Kolkata", "India Standard Time"),
        ("UTC", "UTC"),
        ("Etc/UTC", "UTC"),
    ],
)
def test_iana_zones_are_written_with_windows_names(iana: str, windows: str) -> None:
    assert to_windows(iana) == windows
    assert same_zone(iana, windows)


def test_zone_names_graph_answers_map_back_to_iana() -> None:
    assert to_iana("W. Europe Standard Time") == "Europe/Berlin"
    assert to_iana("Europe/Vienna") == "Europe/Vienna"
    assert to_iana("UTC") == "UTC"
    assert to_iana("tzone://Microsoft/Custom") is None
    assert to_iana(None) is None
    assert not same_zone("Europe/Berlin", "Romance Standard Time")


# --- series --------------------------------------------------------------------------------------

PATTERNS = [
    Recurrence(frequency=Frequency.DAILY, interval=2, count=5),
    Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO, Weekday.TH), until=date(2030, 6, 30)),
    Recurrence(frequency=Frequency.MONTHLY, month_day=15, interval=2),
    Recurrence(frequency=Frequency.MONTHLY, weekdays=(Weekday.FR,), week_of_month=-1, count=3),
    Recurrence(frequency=Frequency.YEARLY, month=3, month_day=25, interval=2, count=3),
    Recurrence(frequency=Frequency.YEARLY, month=11, weekdays=(Weekday.TH,), week_of_month=4),
]


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: f"{p.frequency}-{p.interval}")
def test_every_pattern_round_trips_through_patterned_recurrence(pattern: Recurrence) -> None:
    graph = series.to_graph(pattern, date(2030, 3, 25), "W. Europe Standard Time")
    assert graph["range"]["startDate"] == "2030-03-25"
    assert graph["range"]["recurrenceTimeZone"] == "W. Europe Standard Time"
    assert series.from_graph(json.loads(json.dumps(graph))) == pattern


def test_patterned_recurrence_fields_follow_graph() -> None:
    weekly = series.to_graph(PATTERNS[1], date(2030, 3, 25), "UTC")
    assert weekly == {
        "pattern": {
            "type": "weekly",
            "interval": 1,
            "daysOfWeek": ["monday", "thursday"],
            "firstDayOfWeek": "monday",
        },
        "range": {
            "startDate": "2030-03-25",
            "recurrenceTimeZone": "UTC",
            "type": "endDate",
            "endDate": "2030-06-30",
        },
    }
    last_friday = series.to_graph(PATTERNS[3], date(2030, 3, 29), "UTC")["pattern"]
    assert (last_friday["type"], last_friday["index"], last_friday["daysOfWeek"]) == (
        "relativeMonthly",
        "last",
        ["friday"],
    )


def test_unknown_patterns_read_as_no_series() -> None:
    assert series.from_graph(None) is None
    assert series.from_graph({"pattern": {"type": "hourly"}, "range": {"type": "noEnd"}}) is None
    assert series.from_graph({"pattern": {"type": "weekly", "daysOfWeek": []}, "range": {}}) is None


def test_instance_window_covers_the_series() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    start, end = series.instance_window(PATTERNS[0], START, "Europe/Berlin", now)
    assert start < START and end > START + timedelta(days=8)
    _, open_end = series.instance_window(PATTERNS[2], START, "Europe/Berlin", now)
    assert open_end >= START + series.OPEN_ENDED_HORIZON


# --- events --------------------------------------------------------------------------------------


def graph_answer(
    event: dict[str, Any], item_id: str = "AAMk1", organizer: str = "ada@example.org"
) -> dict[str, Any]:
    """What Graph answers for a written event read with Prefer: outlook.timezone="UTC"."""
    answer = json.loads(json.dumps(event))
    for key in ("start", "end"):
        zone = to_iana(answer[key]["timeZone"]) or "UTC"
        local = datetime.fromisoformat(answer[key]["dateTime"]).replace(tzinfo=ZoneInfo(zone))
        answer[key] = {
            "dateTime": local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC",
        }
    answer.update(
        id=item_id,
        changeKey="CK1",
        type="seriesMaster" if answer.get("recurrence") else "singleInstance",
        originalStartTimeZone=event["start"]["timeZone"],
        organizer={"emailAddress": {"address": organizer.upper(), "name": "Ada"}},
    )
    for attendee in answer["attendees"]:
        attendee["emailAddress"].setdefault("name", attendee["emailAddress"]["address"])
        attendee["status"] = {"response": "none"}
    answer["body"]["content"] = answer["body"]["content"].replace("\n", "\r\n")
    return answer


def test_every_field_reads_back_as_written() -> None:
    fields = EventFields(
        title="Board meeting",
        start=START,
        end=START + timedelta(minutes=90),
        timezone="Europe/Berlin",
        rooms=("room.1@example.org",),
        participants=(Participant(email="bo@example.org", name="Bo"),),
        reminder_minutes=0,
        private=True,
        show_as=ShowAs.TENTATIVE,
        body="Agenda:\n1. Budget",
    )
    event = mapping.to_event(fields, "R-1", 15, 10)
    assert event["start"] == {"dateTime": "2030-03-25T09:00:00", "timeZone": "W. Europe Standard Time"}
    assert {"emailAddress": {"address": "room.1@example.org"}, "type": "resource"} in event["attendees"]
    assert event["isReminderOn"] is True and event["sensitivity"] == "private"

    entry = mapping.to_entry(graph_answer(event), "ada@example.org", "UTC")
    assert snapshot(entry.fields) == snapshot(fields)
    assert (entry.stamp, entry.setup_minutes, entry.followup_minutes) == ("R-1", 15, 10)
    assert entry.organizer == "ada@example.org" and entry.is_own
    assert entry.fields.timezone == "Europe/Berlin"


def test_an_entry_made_in_outlook_has_no_stamp_and_its_zone_from_graph() -> None:
    fields = EventFields(
        title="Lunch",
        start=START,
        end=START + timedelta(hours=1),
        timezone="Europe/Berlin",
        reminder_minutes=None,
    )
    event = mapping.to_event(fields, None)
    assert "singleValueExtendedProperties" not in event
    entry = mapping.to_entry(graph_answer(event), "ada@example.org", "UTC")
    assert entry.stamp is None and entry.fields.reminder_minutes is None
    assert entry.fields.timezone == "Europe/Berlin"
    assert snapshot(entry.fields) == snapshot(fields)


def test_a_series_reads_its_exceptions_and_cancellations_from_instances() -> None:
    fields = EventFields(
        title="Weekly",
        start=START,
        end=START + timedelta(hours=1),
        timezone="Europe/Berlin",
        recurrence=Recurrence(frequency=Frequency.WEEKLY, weekdays=(Weekday.MO,), count=4),
    )
    originals = [START + timedelta(weeks=n) for n in range(4)]  # 9:00 local, across the DST change
    moved = OccurrenceChange(
        original_start=originals[1],
        start=originals[1] + timedelta(hours=2),
        end=originals[1] + timedelta(hours=3),
        title="Moved",
    )
    same_slot = originals[3]
    assert moved.start is not None and moved.end is not None
    instances: list[dict[str, Any]] = [
        {
            "id": "o0",
            "type": "occurrence",
            "originalStart": originals[0].astimezone(UTC).isoformat(),
            "subject": "Weekly",
        },
        {
            "id": "o1",
            "type": "exception",
            "originalStart": originals[1].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "start": {
                "dateTime": moved.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                "timeZone": "UTC",
            },
            "end": {
                "dateTime": moved.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                "timeZone": "UTC",
            },
            "subject": "Moved",
        },
        {
            "id": "o3",
            "type": "exception",  # put back into its slot: no change
            "originalStart": same_slot.astimezone(UTC).isoformat(),
            "start": {
                "dateTime": same_slot.astimezone(UTC).replace(tzinfo=None).isoformat(),
                "timeZone": "UTC",
            },
            "end": {
                "dateTime": (same_slot + timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None).isoformat(),
                "timeZone": "UTC",
            },
            "subject": "Weekly",
        },
    ]
    master = graph_answer(mapping.to_event(fields, "R-2"))
    entry = mapping.to_entry(master, "ada@example.org", "UTC", instances, START + timedelta(days=40))
    expected = EventFields.model_validate(
        {
            **dict(fields),
            "occurrences": (moved, OccurrenceChange(original_start=originals[2], cancelled=True)),
        }
    )
    assert snapshot(entry.fields) == snapshot(expected)


def test_times_and_bodies_in_the_forms_graph_uses() -> None:
    assert mapping.parse_instant("2030-05-06T07:00:00.1234567Z") == datetime(
        2030, 5, 6, 7, 0, 0, 123456, tzinfo=UTC
    )
    assert mapping.parse_time(
        {"dateTime": "2030-05-06T09:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    ) == (datetime(2030, 5, 6, 7, 0, tzinfo=UTC))
    html = {
        "contentType": "html",
        "content": "<html><head><style>p{}</style></head><body><p>a</p>b<br>c</body></html>",
    }
    assert mapping.body_text(html) == "a\nb\nc"
    assert mapping.body_text({"contentType": "text", "content": "x\r\ny"}) == "x\ny"
    with pytest.raises(ValueError):
        mapping.parse_time(None)


def test_the_zone_written_wins_while_exchange_keeps_it() -> None:
    event = {"originalStartTimeZone": "W. Europe Standard Time"}
    assert mapping.zone_of(event, "Europe/Amsterdam", "UTC") == "Europe/Amsterdam"
    assert mapping.zone_of({"originalStartTimeZone": "Pacific Standard Time"}, "Europe/Amsterdam", "UTC") == (
        "America/Los_Angeles"
    )
    assert (
        mapping.zone_of({"originalStartTimeZone": "tzone://Microsoft/Custom"}, None, "Europe/Berlin")
        == "Europe/Berlin"
    )
    assert mapping.zone_of(event, "Not/AZone", "UTC") == "Europe/Berlin"


# --- extended properties ---------------------------------------------------------------------------


def test_properties_share_the_ews_plugins_property_set() -> None:
    assert props.STAMP == "String {8c4f6f0e-5b3a-4f4e-9d55-6f6f6d73796e} Name RoomsyncReservationId"
    assert props.SETUP.startswith("Integer {8c4f6f0e-5b3a-4f4e-9d55-6f6f6d73796e} Name ")
    ews = pytest.importorskip("roomsync_ews_common.stamp")
    assert ews.PROPERTY_SET == props.PROPERTY_SET
    assert props.STAMP.endswith(f"Name {ews.StampProperty.property_name}")
    assert props.TIMEZONE.endswith(f"Name {ews.TimeZoneProperty.property_name}")
    assert props.SETUP.endswith(f"Name {ews.SetupProperty.property_name}")
    assert props.FOLLOWUP.endswith(f"Name {ews.FollowupProperty.property_name}")


def test_stamp_filter_quotes_its_value() -> None:
    assert props.stamp_filter("it's") == (
        f"singleValueExtendedProperties/Any(ep: ep/id eq '{props.STAMP}' and ep/value eq 'it''s')"
    )
    event = {
        "singleValueExtendedProperties": [
            {"id": props.STAMP.upper(), "value": "R-9"},
            {"id": "other", "value": "x"},
        ]
    }
    assert props.values(event) == {props.STAMP: "R-9"}


# --- HTTP ----------------------------------------------------------------------------------------


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("7") == 7.0
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= (parse_retry_after(format_datetime(soon, usegmt=True)) or 0) <= 30
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_paths_quote_ids_and_query_options() -> None:
    assert user("ada@example.org", "events", "AAMk/a=") == "/users/ada%40example.org/events/AAMk%2Fa%3D"
    assert path("users", "x", params={"$select": "id,subject", "$filter": "a eq 'b'"}) == (
        "/users/x?$select=id,subject&$filter=a%20eq%20%27b%27"
    )


def test_links_are_followed_only_to_our_endpoint() -> None:
    client = GraphClient("https://graph.microsoft.com/v1.0", requests.Session(), 10, 10)
    assert client.owns("https://graph.microsoft.com/v1.0/users/x/calendarView/delta?$deltatoken=1")
    assert not client.owns("https://evil.example/v1.0/users/x")
    assert not client.owns("http://graph.microsoft.com/v1.0/users/x")
    assert client.owns("https://GRAPH.microsoft.com/v1.0/users/x")  # the host in any case
    for other in (
        "https://graph.microsoft.com.evil.example/v1.0/users/x",
        "https://graph.microsoft.com/v1.0evil/users/x",
        "https://graph.microsoft.com/beta/users/x",
        "https://graph.microsoft.com@evil.example/v1.0/users/x",
        "https://graph.microsoft.com:444/v1.0/users/x",
    ):
        assert not client.owns(other), other
    assert graph_scope("https://graph.microsoft.us/v1.0") == "https://graph.microsoft.us/.default"
    assert graph_scope("https://localhost:8443/v1.0", "https://graph.microsoft.com/") == (
        "https://graph.microsoft.com/.default"
    )


def test_free_busy_windows_stay_under_62_days() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    pieces = schedule.windows(start, start + timedelta(days=130))
    assert [b - a for a, b in pieces] == [timedelta(days=61), timedelta(days=61), timedelta(days=8)]


def test_sync_state_is_ours_or_unusable() -> None:
    state = SyncState("delta", "https://graph.microsoft.com/v1.0/x?$deltatoken=1", masters={"m1": "ck"})
    text = state.encode()
    assert text.startswith(STATE_PREFIX)
    assert SyncState.decode(text) == SyncState(
        "delta", "https://graph.microsoft.com/v1.0/x?$deltatoken=1", masters={"m1": "ck"}
    )
    for junk in (None, "", "ews1:abc", f"{STATE_PREFIX}not base64!", f"{STATE_PREFIX}AAAA"):
        assert SyncState.decode(junk) is None


def test_sync_state_text_is_the_json_of_its_fields() -> None:
    # States stored by earlier versions and by this one read alike: the fields as JSON, in order.
    state = SyncState(
        "catchup", "https://g/v1.0/a", "https://g/v1.0/b", ("s1", "e1"), ("s2", "e2"), {"m": "k"}
    )
    raw = zlib.decompress(base64.urlsafe_b64decode(state.encode()[len(STATE_PREFIX) :]))
    assert raw == json.dumps(dataclasses.asdict(state), separators=(",", ":")).encode("utf-8")


# --- credentials ---------------------------------------------------------------------------------


def test_a_certificate_pem_needs_key_and_certificate(tmp_path: Any) -> None:
    source = SecretRef(file=tmp_path / "app.pem")
    with pytest.raises(ConfigError, match="no PEM private key"):
        certificate_credential("-----BEGIN CERTIFICATE-----\n", None, source)
    with pytest.raises(ConfigError, match="no PEM certificate"):
        certificate_credential("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n", None, source)
    with pytest.raises(ConfigError, match="cannot read certificate file"):
        read_pem(source)
    (tmp_path / "app.pem").write_text("line one\nline two\n", encoding="ascii")
    assert read_pem(source) == "line one\nline two\n"


# --- the webhook receiver --------------------------------------------------------------------------


class Recorded:
    """The receiver's view of subscriptions: one known subscription with its secret."""

    def __init__(self) -> None:
        self.changes: list[list[str]] = []
        self.events: list[tuple[str, str]] = []

    def client_state(self, subscription_id: str) -> str | None:
        return "s3cret-state" if subscription_id == "sub-1" else None

    def changed(self, subscription_ids: list[str]) -> None:
        self.changes.append(subscription_ids)

    def lifecycle(self, subscription_id: str, event: str) -> None:
        self.events.append((subscription_id, event))


@pytest.fixture
def receiver() -> Any:
    subscriptions = Recorded()
    found = NotificationReceiver(("127.0.0.1", 0), subscriptions)
    found.start()
    host, port = found.address
    yield f"http://{host}:{port}/hooks", subscriptions, found
    found.stop()


def note(**changes: Any) -> dict[str, Any]:
    return {
        "value": [
            {"subscriptionId": "sub-1", "clientState": "s3cret-state", "changeType": "updated", **changes}
        ]
    }


def test_receiver_answers_the_validation_handshake(receiver: Any) -> None:
    url, _, _ = receiver
    for kind in ("notify", "lifecycle"):
        answer = requests.post(
            f"{url}/{kind}", params={"validationToken": "Validation: <token> & more"}, timeout=5
        )
        assert answer.status_code == 200
        assert answer.text == "Validation: <token> & more"
        assert answer.headers["Content-Type"].startswith("text/plain")


def test_receiver_hands_genuine_notifications_over(receiver: Any) -> None:
    url, subscriptions, _ = receiver
    assert requests.post(f"{url}/notify", json=note(), timeout=5).status_code == 202
    assert requests.post(f"{url}/lifecycle", json=note(lifecycleEvent="missed"), timeout=5).status_code == 202
    assert subscriptions.changes == [["sub-1"]]
    assert subscriptions.events == [("sub-1", "missed")]


@pytest.mark.parametrize(
    "body",
    [
        note(clientState="guessed"),
        note(clientState=None),
        {"value": [{"subscriptionId": "sub-1"}]},
        note(subscriptionId="sub-2"),
        {"value": [note()["value"][0], {"subscriptionId": "sub-1", "clientState": "x"}]},
    ],
    ids=["forged", "null", "missing", "unknown-subscription", "one-forged-among-genuine"],
)
def test_receiver_refuses_forged_notifications(receiver: Any, body: dict[str, Any], caplog: Any) -> None:
    url, subscriptions, found = receiver
    answer = requests.post(f"{url}/notify", json=body, timeout=5)
    assert answer.status_code == 403
    assert found.rejected >= 1
    assert "wrong clientState" in caplog.text and "s3cret-state" not in caplog.text
    genuine = len(body["value"]) > 1
    assert subscriptions.changes == ([["sub-1"]] if genuine else [])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"value": "x"}', 400),
        (b'{"value": []}', 400),
        (b"[1, 2]", 400),
        (b"\xff\xfe", 400),
    ],
)
def test_receiver_refuses_malformed_posts_with_a_clear_log_line(
    receiver: Any, body: bytes, status: int, caplog: Any
) -> None:
    url, subscriptions, _ = receiver
    answer = requests.post(
        f"{url}/notify", data=body, headers={"Content-Type": "application/json"}, timeout=5
    )
    assert answer.status_code == status
    assert "malformed Graph notify post" in caplog.text
    assert subscriptions.changes == []


def test_receiver_refuses_what_is_not_a_notification(receiver: Any) -> None:
    url, _, _ = receiver
    assert requests.post(url.rsplit("/", 1)[0] + "/elsewhere", json=note(), timeout=5).status_code == 404
    assert requests.get(f"{url}/notify", timeout=5).status_code == 405
    big = requests.post(f"{url}/notify", data=b"x" * 1_000_001, timeout=5)
    assert big.status_code == 413

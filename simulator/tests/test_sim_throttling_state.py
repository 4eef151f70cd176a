"""Throttling and connection faults, persistence across restarts, and their CLI options."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from exchangelib import DELEGATE, Account, Build, Configuration, Credentials, FaultTolerance, Version
from exchangelib.errors import ErrorExceededConnectionCount, ErrorTimeoutExpired

from roomsync_sim.cli import parse_fault
from roomsync_sim.testing import running_simulator
from sim_support import DIALECTS, PASSWORDS, SEED, Org, calendar_item_class, serve_command
from test_sim_calendar import at

GET_FOLDER = b"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<s:Header><t:RequestServerVersion Version="Exchange2007_SP1"/></s:Header>
<s:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder></s:Body></s:Envelope>"""


def _raw_get_folder(org: Org, login: str = "alice@example.org") -> requests.Response:
    return requests.post(
        org.running.ews_url,
        data=GET_FOLDER,
        auth=(login, PASSWORDS[login] or ""),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=10,
    )


def test_exceeded_connection_count_beyond_the_concurrency_limit(org: Org) -> None:
    account = org.account(max_connections=1)
    account.calendar.refresh()
    org.sim.faults.add("concurrency", limit=1)
    org.sim.faults.add("latency", ms=600, count=1, operations=["GetFolder"])
    holder = threading.Thread(target=_raw_get_folder, args=(org,))
    holder.start()
    time.sleep(0.2)  # the raw request holds alice's only slot
    with pytest.raises(ErrorExceededConnectionCount):
        account.calendar.refresh()
    other = org.account("bob@example.org")  # the limit is per account
    other.calendar.refresh()
    holder.join(timeout=5)
    account.calendar.refresh()  # the slot is free again
    assert org.sim.counts["_exceeded_connection_count"] == 1


def test_slow_response_past_the_client_timeout(org: Org) -> None:
    account = org.account()
    account.calendar.refresh()
    account.protocol.TIMEOUT = 0.5
    before = threading.active_count()
    org.sim.faults.add("slow", ms=4000, count=1, operations=["GetFolder"])
    started = time.monotonic()
    with pytest.raises(ErrorTimeoutExpired):
        account.calendar.refresh()
    assert time.monotonic() - started < 3
    # the server noticed the client leave: its handler thread ends long before the 4 s delay
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
    account.protocol.TIMEOUT = 10
    account.calendar.refresh()


def test_fault_tolerance_recovers_from_busy_and_503(org: Org) -> None:
    patient = org.account("bob@example.org", retry_policy=FaultTolerance(max_wait=10))
    patient.calendar.refresh()
    patient.protocol.RETRY_WAIT = 0.1  # the client's first wait after a 503 (default 10 s)
    before = org.sim.counts["GetFolder"]
    org.sim.faults.add("server_busy", count=1, back_off_ms=50, operations=["GetFolder"])
    org.sim.faults.add("http_503", count=1, operations=["GetFolder"])
    patient.calendar.refresh()
    assert org.sim.counts["GetFolder"] - before == 3
    fired = {r["kind"]: r["fired"] for r in org.sim.faults.to_list()}
    assert fired == {"server_busy": 1, "http_503": 1}


def test_connection_reset_before_any_response(org: Org) -> None:
    org.sim.faults.add("reset", count=1, operations=["GetFolder"])
    with pytest.raises(requests.exceptions.ConnectionError):
        _raw_get_folder(org)
    assert _raw_get_folder(org).status_code == 200


def test_dropped_write_leaves_exactly_one_item(org: Org) -> None:
    """The write was applied, the answer lost: a client that looks before re-creating keeps one."""
    account = org.account()
    org.sim.faults.add("drop_after_apply", count=1, operations=["CreateItem"])
    key = "reservation R-17"

    def create_once() -> None:
        if account.calendar.filter(subject=key).count():
            return  # the lost create did happen
        item = calendar_item_class(org.dialect)(
            account=account, folder=account.calendar, subject=key, start=at(6, 9), end=at(6, 10)
        )
        item.save(send_meeting_invitations="SendToNone")

    with pytest.raises(ErrorTimeoutExpired):
        create_once()
    create_once()  # the client's retry
    assert account.calendar.filter(subject=key).count() == 1
    assert org.sim.counts["CreateItem"] == 1


@pytest.mark.parametrize("dialect", DIALECTS)
def test_state_file_keeps_items_and_sync_states(dialect: str, tmp_path: Path) -> None:
    state = tmp_path / "org.state"
    with running_simulator(dialect, SEED, validate=True, state_file=state) as first:
        org = Org(first, dialect)
        account = org.account()
        item = calendar_item_class(dialect)(
            account=account, folder=account.calendar, subject="kept", start=at(7, 9), end=at(7, 10)
        )
        item.save(send_meeting_invitations="SendToNone")
        assert [c[0] for c in account.calendar.sync_items(only_fields=["subject"])] == ["create"]
        sync_state = account.calendar.item_sync_state
        org.close()
    assert state.exists() and not list(tmp_path.glob(".org.state.*"))  # written atomically
    with running_simulator(dialect, SEED, validate=True, state_file=state) as second:
        org = Org(second, dialect)
        account = org.account()
        [kept] = account.fetch(ids=[(item.id, item.changekey)], only_fields=["subject"])
        assert kept.subject == "kept"
        account.calendar.item_sync_state = sync_state
        assert list(account.calendar.sync_items(only_fields=["subject"])) == []
        other = calendar_item_class(dialect)(
            account=account, folder=account.calendar, subject="new", start=at(8, 9), end=at(8, 10)
        )
        other.save(send_meeting_invitations="SendToNone")
        account.calendar.item_sync_state = sync_state
        assert [c[0] for c in account.calendar.sync_items(only_fields=["subject"])] == ["create"]
        org.close()
        assert not second.simulator.violations


def test_parse_fault_specs() -> None:
    assert parse_fault("server_busy:count=3,back_off_ms=200") == (
        "server_busy",
        {"count": 3, "back_off_ms": 200},
    )
    assert parse_fault("slow:ms=5000,operations=CreateItem+GetItem") == (
        "slow",
        {"ms": 5000, "operations": ["CreateItem", "GetItem"]},
    )
    with pytest.raises(ValueError):
        parse_fault("meteor")
    with pytest.raises(ValueError):
        parse_fault("reset:often")


def _account(ews_url: str) -> Account:
    config = Configuration(
        service_endpoint=ews_url,
        auth_type="basic",
        credentials=Credentials("alice@example.org", "alice-password"),
        version=Version(build=Build(15, 1, 2507, 6), api_version="Exchange2016"),
    )
    return Account("alice@example.org", config=config, autodiscover=False, access_type=DELEGATE)


def test_standalone_state_and_faults_from_the_command_line(tmp_path: Path) -> None:
    state = tmp_path / "org.state"
    proc, lines = serve_command(
        "exchange2013", "--state", str(state), "--fault", "concurrency:limit=2", "--minute-seconds", "1"
    )
    try:
        stats: dict[str, Any] = requests.get(lines["control_url"] + "stats", timeout=5).json()
        assert [(r["kind"], r["limit"]) for r in stats["faults"]] == [("concurrency", 2)]
        assert stats["notifications"]["minute_seconds"] == 1
        account = _account(lines["ews_url"])
        from exchangelib import CalendarItem

        item = CalendarItem(
            account=account, folder=account.calendar, subject="survives", start=at(9, 9), end=at(9, 10)
        )
        item.save(send_meeting_invitations="SendToNone")
        account.protocol.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    proc, lines = serve_command("exchange2013", "--state", str(state))
    try:
        account = _account(lines["ews_url"])
        assert [i.subject for i in account.calendar.all().only("subject")] == ["survives"]
        account.protocol.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)

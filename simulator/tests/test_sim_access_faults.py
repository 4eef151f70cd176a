"""Impersonation and delegate access, faults and throttling, the control endpoint, the CLI."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests
from exchangelib import IMPERSONATION, FaultTolerance
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorImpersonationDenied,
    ErrorServerBusy,
)

from sim_support import Org, serve_command


def test_impersonation_granted(org: Org) -> None:
    account = org.account("bob@example.org", login="svc@example.org", access_type=IMPERSONATION)
    assert account.calendar.total_count == 0
    scoped = org.account("alice@example.org", login="scoped@example.org", access_type=IMPERSONATION)
    assert scoped.calendar.name == "Calendar"


def test_impersonation_denied(org: Org) -> None:
    outside_scope = org.account("bob@example.org", login="scoped@example.org", access_type=IMPERSONATION)
    with pytest.raises(ErrorImpersonateUserDenied):
        outside_scope.calendar.refresh()
    no_grant = org.account("alice@example.org", login="bob@example.org", access_type=IMPERSONATION)
    # Exchange 2007 first checks the right to impersonate at all (on the Client Access server).
    expected = ErrorImpersonationDenied if org.dialect == "exchange2007" else ErrorImpersonateUserDenied
    with pytest.raises(expected):
        no_grant.calendar.refresh()


def test_other_mailbox_needs_a_delegate_grant(org: Org) -> None:
    delegate = org.account("alice@example.org", login="carol@example.org")
    assert delegate.calendar.name == "Calendar"
    stranger = org.account("alice@example.org", login="bob@example.org")
    with pytest.raises(ErrorAccessDenied):
        stranger.calendar.refresh()


def test_server_busy_is_retried_by_fault_tolerance(org: Org) -> None:
    fast_fail = org.account()
    fast_fail.calendar.refresh()
    org.sim.faults.add("server_busy", count=1, back_off_ms=200, operations=["GetFolder"])
    with pytest.raises(ErrorServerBusy) as info:
        fast_fail.calendar.refresh()
    assert info.value.back_off == pytest.approx(0.2)
    # exchangelib shares one protocol (and retry policy) per endpoint and credentials: another login
    patient = org.account("bob@example.org", retry_policy=FaultTolerance(max_wait=10))
    patient.calendar.refresh()
    before = org.sim.counts["GetFolder"]
    org.sim.faults.add("server_busy", count=2, back_off_ms=100, operations=["GetFolder"])
    started = time.monotonic()
    patient.calendar.refresh()
    assert time.monotonic() - started >= 0.2
    assert org.sim.counts["GetFolder"] - before == 3


def test_http_503_and_drop_after_apply(org: Org) -> None:
    from exchangelib.errors import TransportError

    account = org.account()
    account.calendar.refresh()
    org.sim.faults.add("http_503", count=1)
    with pytest.raises((ErrorServerBusy, TransportError)):
        account.calendar.refresh()
    org.sim.faults.add("drop_after_apply", count=1, operations=["CreateItem"])
    from sim_support import calendar_item_class
    from test_sim_calendar import at

    item = calendar_item_class(org.dialect)(
        account=account, folder=account.calendar, subject="dup?", start=at(4, 10), end=at(4, 11)
    )
    with pytest.raises(Exception):  # noqa: B017 - whatever the client makes of a dropped connection
        item.save(send_meeting_invitations="SendToNone")
    # the write was applied although the client never saw the answer
    assert [i.subject for i in account.calendar.all().only("subject")] == ["dup?"]


def test_control_endpoint(org: Org) -> None:
    account = org.account()
    account.calendar.refresh()
    stats = requests.get(org.running.control_url + "stats", timeout=5).json()
    assert stats["dialect"] == org.dialect
    assert stats["counts"]["GetFolder"] >= 1
    resp = requests.post(
        org.running.control_url + "faults", json={"kind": "latency", "ms": 150, "count": 1}, timeout=5
    )
    assert resp.json()["kind"] == "latency"
    started = time.monotonic()
    account.calendar.refresh()
    assert time.monotonic() - started >= 0.15
    assert requests.post(org.running.control_url + "reset", timeout=5).json() == {"ok": True}
    assert requests.get(org.running.control_url + "stats", timeout=5).json()["counts"] == {}


def test_standalone_server_with_tls(tmp_path: Path) -> None:
    from exchangelib import DELEGATE, Account, Build, Configuration, Credentials, Version
    from exchangelib.protocol import BaseProtocol
    from requests.adapters import HTTPAdapter

    proc, lines = serve_command("exchange2010", "--tls", "--tls-dir", str(tmp_path))
    try:
        ca_file = lines["ca_file"]
        assert Path(ca_file).exists() and re.match(
            r"https://localhost:\d+/EWS/Exchange.asmx", lines["ews_url"]
        )

        class TrustSimulatorCA(HTTPAdapter):
            def cert_verify(self, conn, url, verify, cert):  # type: ignore[no-untyped-def]
                super().cert_verify(conn, url, ca_file, cert)

        BaseProtocol.HTTP_ADAPTER_CLS = TrustSimulatorCA
        config = Configuration(
            service_endpoint=lines["ews_url"],
            auth_type="basic",
            credentials=Credentials("alice@example.org", "alice-password"),
            version=Version(build=Build(14, 3, 123, 4)),
        )
        account = Account("alice@example.org", config=config, autodiscover=False, access_type=DELEGATE)
        assert account.calendar.name == "Calendar"
        account.protocol.close()
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(lines["control_url"] + "stats", timeout=5)
        assert requests.get(lines["control_url"] + "stats", timeout=5, verify=ca_file).json()["counts"][
            "GetFolder"
        ]
    finally:
        proc.terminate()
        proc.wait(timeout=10)

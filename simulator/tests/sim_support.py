"""Helpers of the simulator's tests: the seed, pinned versions and exchangelib accounts.

Every simulator here validates each request and response against its dialect's schema set;
a test fails at teardown if the simulator wrote an invalid response, or if it refused a request
as invalid that the test did not expect to be refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from exchangelib import (
    DELEGATE,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    Version,
)

from roomsync_sim.testing import RunningSimulator

DIALECTS = ("exchange2007", "exchange2010", "exchange2013")
PINNED = {
    "exchange2007": Version(build=Build(8, 3, 83, 6)),
    "exchange2010": Version(build=Build(14, 3, 123, 4)),
    "exchange2013": Version(build=Build(15, 1, 2507, 6), api_version="Exchange2016"),
}
SEED = {
    "users": [
        {"smtp": "svc@example.org", "name": "ROOMS service", "password": "svc-pw", "tokens": ["svc-token"]},
        {"smtp": "scoped@example.org", "name": "Scoped service", "password": "scoped-pw"},
        {"smtp": "alice@example.org", "name": "Alice Adams", "password": "alice-pw"},
        {"smtp": "bob@example.org", "name": "Bob Brown", "password": "bob-pw"},
        {"smtp": "carol@example.org", "name": "Carol Clark", "password": "carol-pw"},
    ],
    "rooms": [{"smtp": "room.1@example.org", "name": "Room 1"}],
    "grants": [
        {"kind": "impersonation", "grantee": "svc@example.org"},
        {"kind": "impersonation", "grantee": "scoped@example.org", "scope": ["alice@example.org"]},
        {"kind": "delegate", "grantee": "carol@example.org", "owner": "alice@example.org"},
    ],
}
PASSWORDS = {u["smtp"]: u.get("password") for u in SEED["users"]}


@dataclass
class Org:
    """A running simulator and the exchangelib accounts opened on it."""

    running: RunningSimulator
    dialect: str
    expected_refusals: int = 0
    _accounts: list[Account] = field(default_factory=list)

    @property
    def sim(self):  # type: ignore[no-untyped-def]
        return self.running.simulator

    def account(
        self,
        mailbox: str = "alice@example.org",
        login: str | None = None,
        password: str | None = None,
        access_type: str = DELEGATE,
        pinned: bool = True,
        auth_type: str = "basic",
        **config: object,
    ) -> Account:
        login = login or mailbox
        cfg = Configuration(
            service_endpoint=self.running.ews_url,
            credentials=Credentials(login, password or PASSWORDS[login] or ""),
            auth_type=auth_type,
            version=PINNED[self.dialect] if pinned else None,
            **config,  # type: ignore[arg-type]
        )
        account = Account(mailbox, config=cfg, autodiscover=False, access_type=access_type)
        self._accounts.append(account)
        return account

    def expect_refusal(self, n: int = 1) -> None:
        """The test expects ``n`` requests to be refused as schema-invalid."""
        self.expected_refusals += n

    def close(self) -> None:
        for account in self._accounts:
            account.protocol.close()


# --- exchangelib on Exchange 2007 --------------------------------------------------------------
# exchangelib 5.6.0 writes MeetingTimeZone with an Id attribute, which the 2007 SP1 schema does
# not declare (Exchange 2007 refuses the item), and cannot read a MeetingTimeZone written the 2007
# way (TimeZoneName). A 2007 client therefore sends times in UTC and no MeetingTimeZone.

from exchangelib import CalendarItem  # noqa: E402


class CalendarItem2007(CalendarItem):  # type: ignore[misc]
    def clean_timezone_fields(self, version):  # type: ignore[no-untyped-def]
        super().clean_timezone_fields(version)
        self._meeting_timezone = None


def calendar_item_class(dialect: str) -> type[CalendarItem]:
    return CalendarItem2007 if dialect == "exchange2007" else CalendarItem


DAY = EWSDateTime(2030, 3, 4, 0, tzinfo=EWSTimeZone("UTC"))
"""The day the conformance tests book on: far enough ahead for every dialect's rules."""


def at_hour(hour: int, minutes: int = 0) -> EWSDateTime:
    return DAY + timedelta(hours=hour, minutes=minutes)


def create_item(org: Org, account: Account, subject: str, hour: int, **fields: Any) -> Any:
    """A calendar item of one hour at ``hour`` on :data:`DAY` (``start``/``end`` override it),
    saved as the dialect's client writes it, without invitations."""
    item = calendar_item_class(org.dialect)(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=fields.pop("start", at_hour(hour)),
        end=fields.pop("end", at_hour(hour + 1)),
        **fields,
    )
    item.save(send_meeting_invitations="SendToNone")
    return item


def serve_command(dialect: str, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``roomsync sim serve`` as a child process, once it announced itself ready: the process and
    the ``key: value`` lines it printed (ews_url, control_url, ...)."""
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "roomsync"), "sim", "serve", "--dialect", dialect, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: dict[str, str] = {}
    while "ready" not in lines:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, proc.stderr.read()  # type: ignore[union-attr]
        key, _, value = line.strip().partition(": ")
        lines[key] = value
    return proc, lines

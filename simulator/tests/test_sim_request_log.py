"""The request log: each EWS request with its operation, the mailbox it acted as, and its times."""

from __future__ import annotations

import time

from exchangelib import IMPERSONATION

from roomsync_sim.testing import running_simulator
from sim_support import Org

SEED = {
    "users": [{"smtp": f"{u}@example.org", "password": f"{u}-pw"} for u in ("svc", "alice", "bob")],
    "grants": [{"kind": "impersonation", "grantee": "svc@example.org"}],
}


def test_requests_are_logged_with_the_impersonated_mailbox_and_their_times() -> None:
    with running_simulator("exchange2013", SEED) as running:
        org = Org(running, "exchange2013")
        try:
            before = time.time()
            for mailbox in ("alice", "bob"):
                account = org.account(
                    f"{mailbox}@example.org",
                    login="svc@example.org",
                    password="svc-pw",
                    access_type=IMPERSONATION,
                )
                list(account.calendar.all()[:1])
            after = time.time()
        finally:
            org.close()
        logged = running.simulator.requests.entries()
        acted_as = {entry.acting_as for entry in logged if entry.operation == "FindItem"}
        assert acted_as == {"alice@example.org", "bob@example.org"}
        assert all(entry.account == "svc@example.org" for entry in logged)
        finished = [entry for entry in logged if entry.finished is not None]
        assert finished == logged
        assert all(before <= e.started <= e.finished <= after for e in finished if e.finished)
        assert all(entry.status == 200 for entry in logged if entry.operation == "FindItem")
        running.simulator.reset()
        assert running.simulator.requests.entries() == []

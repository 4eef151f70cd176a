"""Exchange 2007's impersonation rights (two AD extended rights) against 2010's RBAC role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib import IMPERSONATION
from exchangelib.errors import ErrorImpersonateUserDenied, ErrorImpersonationDenied

from roomsync_sim.seed import parse_seed
from roomsync_sim.testing import running_simulator
from sim_support import Org

USERS = ["svc", "cas-only", "may-only", "both", "alice", "bob"]
SEED = {
    "users": [{"smtp": f"{u}@example.org", "password": f"{u}-pw"} for u in USERS],
    "grants": [
        {"kind": "impersonation", "grantee": "svc@example.org"},
        {"kind": "ad-impersonation", "grantee": "cas-only@example.org"},
        {"kind": "ad-may-impersonate", "grantee": "may-only@example.org"},
        {"kind": "ad-impersonation", "grantee": "both@example.org"},
        {"kind": "ad-may-impersonate", "grantee": "both@example.org", "scope": ["alice@example.org"]},
    ],
}


def _org(dialect: str) -> Iterator[Org]:
    with running_simulator(dialect, SEED, validate=True) as running:
        org = Org(running, dialect)
        try:
            yield org
        finally:
            org.close()
        assert not running.simulator.violations


@pytest.fixture
def org2007() -> Iterator[Org]:
    yield from _org("exchange2007")


@pytest.fixture
def org2010() -> Iterator[Org]:
    yield from _org("exchange2010")


def _as(org: Org, caller: str, mailbox: str) -> object:
    account = org.account(
        f"{mailbox}@example.org",
        login=f"{caller}@example.org",
        password=f"{caller}-pw",
        access_type=IMPERSONATION,
    )
    account.calendar.refresh()
    return account


def test_2007_needs_both_rights(org2007: Org) -> None:
    _as(org2007, "both", "alice")
    _as(org2007, "svc", "bob")  # kind "impersonation" stands for both rights on every mailbox


def test_2007_without_the_client_access_server_right(org2007: Org) -> None:
    """ms-Exch-EPI-May-Impersonate alone: the account may not impersonate at all."""
    with pytest.raises(ErrorImpersonationDenied):
        _as(org2007, "may-only", "alice")


def test_2007_without_the_mailbox_right(org2007: Org) -> None:
    """ms-Exch-EPI-Impersonation alone, or May-Impersonate on other mailboxes only."""
    with pytest.raises(ErrorImpersonateUserDenied):
        _as(org2007, "cas-only", "alice")
    with pytest.raises(ErrorImpersonateUserDenied):
        _as(org2007, "both", "bob")
    with pytest.raises(ErrorImpersonationDenied):
        _as(org2007, "alice", "bob")  # no right at all: the server-level check comes first


def test_2010_uses_the_role_not_the_ad_rights(org2010: Org) -> None:
    _as(org2010, "svc", "bob")
    with pytest.raises(ErrorImpersonateUserDenied):
        _as(org2010, "both", "alice")
    with pytest.raises(ErrorImpersonateUserDenied):
        _as(org2010, "cas-only", "alice")


def test_seed_grants_add_up() -> None:
    seed = parse_seed(
        {
            **SEED,
            "grants": [
                {"kind": "ad-may-impersonate", "grantee": "svc@example.org", "scope": ["alice@example.org"]},
                {"kind": "ad-may-impersonate", "grantee": "svc@example.org", "scope": ["bob@example.org"]},
            ],
        }
    )
    assert seed.ad_may_impersonate == {"svc@example.org": {"alice@example.org", "bob@example.org"}}
    assert seed.ad_impersonation == set() and seed.impersonation == {}

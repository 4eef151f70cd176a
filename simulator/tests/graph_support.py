"""Helpers of the o365 dialect's tests: a seed with two tenants, apps and policies, and a small
Graph client over requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from roomsync_sim.testing import RunningSimulator

TENANT_A = "00000000-0000-0000-0000-00000000aaaa"
TENANT_B = "00000000-0000-0000-0000-00000000cccc"
MAIN = "00000000-0000-0000-0000-00000000bbbb"
SCOPED = "00000000-0000-0000-0000-0000000000b2"
READER = "00000000-0000-0000-0000-0000000000b3"
OTHER = "00000000-0000-0000-0000-00000000dddd"
EXT_ID = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name RoomsReservation"

SEED: dict[str, Any] = {
    "users": [
        {"smtp": "alice@example.org", "name": "Alice Adams", "password": "alice-pw"},
        {"smtp": "bob@example.org", "name": "Bob Brown", "password": "bob-pw"},
        {"smtp": "carol@example.org", "name": "Carol Clark", "time_zone": "W. Europe Standard Time"},
    ],
    "rooms": [{"smtp": "room.1@example.org", "name": "Room 1"}],
    "distribution_lists": [
        {"smtp": "sync-scope@example.org", "name": "Sync scope", "members": ["alice@example.org"]}
    ],
    "apps": [
        {"client_id": MAIN, "name": "ROOMS sync", "secrets": ["main-secret"]},
        {
            "client_id": SCOPED,
            "name": "Scoped",
            "secrets": ["scoped-secret"],
            "access_group": "sync-scope@example.org",
        },
        {"client_id": READER, "name": "Reader", "secrets": ["reader-secret"], "roles": ["Calendars.Read"]},
    ],
    "tenants": [
        {
            "id": TENANT_B,
            "domains": ["subsidiary.example"],
            "users": [{"smtp": "erin@subsidiary.example", "name": "Erin Evans"}],
            "apps": [{"client_id": OTHER, "name": "Subsidiary sync", "secrets": ["other-secret"]}],
        }
    ],
}


def trusting_session(sim: RunningSimulator) -> requests.Session:
    """A session that trusts the simulator's CA (REQUESTS_CA_BUNDLE would override ``verify``)."""
    session = requests.Session()
    session.trust_env = False
    if sim.ca_file:
        session.verify = str(sim.ca_file)
    return session


def soon(days: int = 7, hour: int = 9) -> datetime:
    """A time within the rooms' booking window (a weekday morning, UTC)."""
    day = (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def dtz(dt: datetime, zone: str = "UTC") -> dict[str, str]:
    return {"dateTime": dt.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone}


def event(subject: str, start: datetime, minutes: int = 60, **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "start": dtz(start), "end": dtz(start + timedelta(minutes=minutes)), **extra}


class Graph:
    """requests against the simulator's Graph with a token of one app."""

    def __init__(self, sim: RunningSimulator, tenant: str | None = None, client: str | None = None) -> None:
        self.sim = sim
        self.session = trusting_session(sim)
        self.token = sim.access_token(tenant, client)
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.sim.graph_url}{path}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.url(path), timeout=10, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.session.post(self.url(path), json=body, timeout=15, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.session.patch(self.url(path), json=body, timeout=10, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.session.delete(self.url(path), timeout=10, **kw)

    def create(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.post(f"/users/{user}/events", body)
        assert r.status_code == 201, r.text
        return dict(r.json())

"""The seed: who exists in the simulated organisation and who may do what.

A seed is a TOML or JSON document (or a dict in tests)::

    [[users]]
    smtp = "alice@example.org"
    name = "Alice Adams"
    password = "alice-pw"
    tokens = ["alice-token"]           # OAuth bearer tokens that authenticate as this user
    aliases = ["EXAMPLE\\alice"]        # other logon names (down-level, UPN)

    [[rooms]]
    smtp = "room.1@example.org"
    name = "Room 1"
    time_zone = "W. Europe Standard Time"   # optional (users too): Windows id or IANA name; UTC

    [rooms.booking]                      # optional (Set-CalendarProcessing); Exchange's defaults
    automate_processing = "AutoAccept"   # or AutoUpdate (tentative, no answer), None
    allow_conflicts = false
    booking_window_days = 180
    max_duration_minutes = 1440
    allow_recurring = true

    [[distribution_lists]]               # members may be users, rooms or other lists
    smtp = "team@example.org"
    name = "Team"
    members = ["alice@example.org"]

    [[room_lists]]                       # GetRoomLists / GetRooms (2010 and later)
    smtp = "building.a@example.org"
    name = "Building A"
    rooms = ["room.1@example.org"]

    auth = ["basic", "ntlm"]           # optional: the schemes offered (basic, ntlm, negotiate,
                                       # bearer); default basic, ntlm and bearer

    [[grants]]
    kind = "impersonation"             # ApplicationImpersonation (2010+) / both AD rights (2007)
    grantee = "svc@example.org"
    scope = ["alice@example.org"]      # optional: the mailboxes it covers; absent means all

    [[grants]]                         # Exchange 2007 only: ms-Exch-EPI-Impersonation on the
    kind = "ad-impersonation"          # Client Access server (may impersonate at all)
    grantee = "svc@example.org"

    [[grants]]                         # Exchange 2007 only: ms-Exch-EPI-May-Impersonate on the
    kind = "ad-may-impersonate"        # mailboxes of the scope (absent: on the mailbox database,
    grantee = "svc@example.org"        # so every mailbox)
    scope = ["alice@example.org"]

    [[grants]]
    kind = "delegate"                  # delegate access to one mailbox's calendar
    grantee = "bob@example.org"
    owner = "alice@example.org"
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The HTTP authentication schemes a server may offer, and the default: what an Exchange server
# with Basic and Windows authentication on its EWS directory answers, plus OAuth bearer tokens.
AUTH_SCHEMES = ("basic", "ntlm", "negotiate", "bearer")
DEFAULT_AUTH = ("basic", "ntlm", "bearer")

DEFAULT_SEED: dict[str, Any] = {
    "users": [
        {
            "smtp": "svc@example.org",
            "name": "ROOMS service",
            "password": "svc-password",
            "tokens": ["svc-token"],
        },
        {"smtp": "alice@example.org", "name": "Alice Adams", "password": "alice-password"},
        {"smtp": "bob@example.org", "name": "Bob Brown", "password": "bob-password"},
    ],
    "rooms": [
        {"smtp": "room.1@example.org", "name": "Room 1"},
        {"smtp": "room.2@example.org", "name": "Room 2"},
    ],
    "room_lists": [
        {
            "smtp": "rooms@example.org",
            "name": "All rooms",
            "rooms": ["room.1@example.org", "room.2@example.org"],
        }
    ],
    "grants": [{"kind": "impersonation", "grantee": "svc@example.org"}],
}


class SeedError(ValueError):
    """The seed document is not usable; the message names the entry."""


@dataclass
class User:
    smtp: str
    name: str
    password: str | None = None
    tokens: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    kind: str = "person"
    time_zone: str | None = None  # the mailbox's zone (working hours); None: UTC
    booking: BookingPolicy | None = None  # rooms only


@dataclass(frozen=True)
class BookingPolicy:
    """A room's automatic processing of meeting requests, with Exchange's defaults."""

    automate_processing: str = "AutoAccept"  # AutoAccept, AutoUpdate or None
    allow_conflicts: bool = False
    booking_window_days: int = 180
    max_duration_minutes: int = 1440
    allow_recurring: bool = True


@dataclass
class Group:
    """A distribution list (``dl``) or a room list (``roomlist``): members by SMTP address."""

    smtp: str
    name: str
    kind: str
    members: list[str]


@dataclass
class Seed:
    users: list[User]
    impersonation: dict[str, set[str] | None]  # grantee -> scope (None: every mailbox)
    delegates: set[tuple[str, str]]  # (grantee, owner)
    groups: list[Group] = field(default_factory=list)
    auth: tuple[str, ...] = DEFAULT_AUTH  # the schemes the server offers
    # Exchange 2007's Active Directory rights: ms-Exch-EPI-Impersonation (on the Client Access
    # server) and ms-Exch-EPI-May-Impersonate (grantee -> mailboxes; None: the whole database).
    ad_impersonation: set[str] = field(default_factory=set)
    ad_may_impersonate: dict[str, set[str] | None] = field(default_factory=dict)


def load_seed_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    text = p.read_bytes()
    if p.suffix.lower() == ".json":
        return dict(json.loads(text))
    return tomllib.loads(text.decode())


def _entries(data: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """A seed section: a list of tables, else a SeedError naming it."""
    found = data.get(section, [])
    if not isinstance(found, list) or not all(isinstance(entry, dict) for entry in found):
        raise SeedError(f"{section}: must be a list of tables ([[{section}]] in TOML)")
    return found


def _new_address(section: str, i: int, entry: dict[str, Any], seen: set[str]) -> str:
    """The entry's address, once in the whole seed."""
    smtp = str(entry.get("smtp", "")).strip().lower()
    if "@" not in smtp:
        raise SeedError(f"{section}[{i}]: 'smtp' must be an e-mail address")
    if smtp in seen:
        raise SeedError(f"{section}[{i}]: {smtp} appears twice")
    seen.add(smtp)
    return smtp


def parse_seed(data: dict[str, Any]) -> Seed:
    users: list[User] = []
    seen: set[str] = set()
    for section, kind in (("users", "person"), ("rooms", "room")):
        for i, entry in enumerate(_entries(data, section)):
            smtp = _new_address(section, i, entry, seen)
            users.append(
                User(
                    smtp=smtp,
                    name=str(entry.get("name") or smtp.split("@")[0]),
                    password=entry.get("password"),
                    tokens=[str(x) for x in entry.get("tokens", [])],
                    aliases=[str(a).lower() for a in entry.get("aliases", [])],
                    kind=kind,
                    time_zone=entry.get("time_zone"),
                    booking=_booking(entry.get("booking"), f"{section}[{i}]") if kind == "room" else None,
                )
            )
    groups = _groups(data, set(seen))
    impersonation: dict[str, set[str] | None] = {}
    ad_impersonation: set[str] = set()
    ad_may_impersonate: dict[str, set[str] | None] = {}
    delegates: set[tuple[str, str]] = set()
    for i, grant in enumerate(_entries(data, "grants")):
        grant_kind = grant.get("kind")
        grantee = str(grant.get("grantee", "")).lower()
        if grantee not in seen:
            raise SeedError(f"grants[{i}]: unknown grantee {grantee!r}")
        if grant_kind in ("impersonation", "ad-may-impersonate"):
            scope = grant.get("scope")
            mailboxes = None if scope is None else {str(s).lower() for s in scope}
            target = impersonation if grant_kind == "impersonation" else ad_may_impersonate
            target[grantee] = _widen(target, grantee, mailboxes)
        elif grant_kind == "ad-impersonation":
            ad_impersonation.add(grantee)
        elif grant_kind == "delegate":
            owner = str(grant.get("owner", "")).lower()
            if owner not in seen:
                raise SeedError(f"grants[{i}]: unknown owner {owner!r}")
            delegates.add((grantee, owner))
        else:
            raise SeedError(
                f"grants[{i}]: kind must be 'impersonation', 'ad-impersonation', "
                "'ad-may-impersonate' or 'delegate'"
            )
    return Seed(
        users=users,
        impersonation=impersonation,
        delegates=delegates,
        groups=groups,
        auth=_auth(data.get("auth")),
        ad_impersonation=ad_impersonation,
        ad_may_impersonate=ad_may_impersonate,
    )


def _widen(grants: dict[str, set[str] | None], grantee: str, scope: set[str] | None) -> set[str] | None:
    """Two grants to one grantee add up, as two role assignments or two ACEs do."""
    if grantee not in grants:
        return scope
    before = grants[grantee]
    return None if before is None or scope is None else before | scope


def parse_auth(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"basic,ntlm"`` or a list of scheme names to the schemes a server offers."""
    names = value.split(",") if isinstance(value, str) else list(value)
    schemes = tuple(dict.fromkeys(str(n).strip().lower() for n in names if str(n).strip()))
    unknown = [s for s in schemes if s not in AUTH_SCHEMES]
    if unknown or not schemes:
        given = ", ".join(unknown) or "nothing"
        raise SeedError(f"auth: {given} given; choose from {', '.join(AUTH_SCHEMES)}")
    return schemes


def _auth(value: Any) -> tuple[str, ...]:
    return DEFAULT_AUTH if value is None else parse_auth(value)


_BOOKING_KEYS = {f for f in BookingPolicy.__dataclass_fields__}


def _booking(entry: dict[str, Any] | None, where: str) -> BookingPolicy:
    if entry is None:
        return BookingPolicy()
    unknown = set(entry) - _BOOKING_KEYS
    if unknown:
        raise SeedError(f"{where}.booking: unknown keys {sorted(unknown)}")
    policy = BookingPolicy(**entry)
    if policy.automate_processing not in ("AutoAccept", "AutoUpdate", "None"):
        raise SeedError(f"{where}.booking: automate_processing must be AutoAccept, AutoUpdate or None")
    return policy


def _groups(data: dict[str, Any], seen: set[str]) -> list[Group]:
    """Distribution lists and room lists; members must exist (lists may name later lists)."""
    groups: list[Group] = []
    entries = [("distribution_lists", "dl", "members"), ("room_lists", "roomlist", "rooms")]
    names = {str(e.get("smtp", "")).strip().lower() for s, _, _ in entries for e in _entries(data, s)}
    for section, kind, key in entries:
        for i, entry in enumerate(_entries(data, section)):
            smtp = _new_address(section, i, entry, seen)
            members = [str(x).strip().lower() for x in entry.get(key, [])]
            for member in members:
                if member not in seen and member not in names:
                    raise SeedError(f"{section}[{i}]: unknown member {member!r}")
            groups.append(Group(smtp, str(entry.get("name") or smtp.split("@")[0]), kind, members))
    return groups

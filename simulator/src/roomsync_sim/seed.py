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
    conflict_percentage_allowed = 0      # a series may conflict in up to this share of its
    maximum_conflict_instances = 0       # occurrences and this many: those are declined
    delete_subject = true                # the room's copy loses the subject...
    add_organizer_to_subject = true      # ...and carries the organizer's name instead

    [rooms.place]                        # optional (Set-Place): what Graph's places show
    capacity = 10
    building = "A"
    floor_number = 1
    floor_label = "Ground floor"
    is_wheelchair_accessible = false
    booking_type = "standard"            # or "reserved"

    [[distribution_lists]]               # members may be users, rooms or other lists, in
    smtp = "team@example.org"            # any order, nested and even in a loop (as Exchange
    name = "Team"                        # lets distribution groups be)
    members = ["alice@example.org", "managers@example.org"]

    [[room_lists]]                       # GetRoomLists / GetRooms (2010 and later): a
    smtp = "building.a@example.org"      # distribution group of rooms only
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
    place: PlaceInfo | None = None  # rooms only


@dataclass(frozen=True)
class BookingPolicy:
    """A room's automatic processing of meeting requests, with Exchange's defaults.

    The names follow Set-CalendarProcessing. ``conflict_percentage_allowed`` (0 to 100) and
    ``maximum_conflict_instances`` bound the occurrences of a series that may conflict: within
    both, the room accepts the series and declines those occurrences; beyond either, it declines
    the series. ``delete_subject`` and ``add_organizer_to_subject`` decide the subject of the
    room's booking (an AutoAccept room's only).
    """

    automate_processing: str = "AutoAccept"  # AutoAccept, AutoUpdate or None
    allow_conflicts: bool = False
    booking_window_days: int = 180
    max_duration_minutes: int = 1440
    allow_recurring: bool = True
    conflict_percentage_allowed: int = 0
    maximum_conflict_instances: int = 0
    delete_subject: bool = True
    add_organizer_to_subject: bool = True


BOOKING_TYPES = ("standard", "reserved")


@dataclass(frozen=True)
class PlaceInfo:
    """What Exchange records about a room for the Places API (``Set-Place``; the capacity is the
    mailbox's ``ResourceCapacity``). None: not set. The booking policy is not part of it."""

    capacity: int | None = None
    building: str | None = None
    floor_number: int | None = None
    floor_label: str | None = None
    is_wheelchair_accessible: bool = False
    booking_type: str = "standard"  # Graph's bookingType: standard or reserved


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
                    place=_place(entry.get("place"), f"{section}[{i}]") if kind == "room" else None,
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
    for key, high in (("conflict_percentage_allowed", 100), ("maximum_conflict_instances", 2**31 - 1)):
        value = getattr(policy, key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
            raise SeedError(f"{where}.booking: {key} must be a whole number from 0 to {high}")
    for key in ("delete_subject", "add_organizer_to_subject"):
        if not isinstance(getattr(policy, key), bool):
            raise SeedError(f"{where}.booking: {key} must be true or false")
    return policy


_PLACE_KEYS: dict[str, tuple[type, str]] = {
    "capacity": (int, "a whole number"),
    "building": (str, "a string"),
    "floor_number": (int, "a whole number"),
    "floor_label": (str, "a string"),
    "is_wheelchair_accessible": (bool, "true or false"),
    "booking_type": (str, "a string"),
}


def _place(entry: Any, where: str) -> PlaceInfo:
    if entry is None:
        return PlaceInfo()
    if not isinstance(entry, dict):
        raise SeedError(f"{where}.place: must be a table")
    unknown = set(entry) - set(_PLACE_KEYS)
    if unknown:
        raise SeedError(f"{where}.place: unknown keys {sorted(unknown)}")
    for key, value in entry.items():
        wanted, described = _PLACE_KEYS[key]
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise SeedError(f"{where}.place: {key} must be {described}")
    place = PlaceInfo(**entry)
    if place.capacity is not None and place.capacity < 0:
        raise SeedError(f"{where}.place: capacity must not be negative")
    if place.booking_type not in BOOKING_TYPES:
        raise SeedError(f"{where}.place: booking_type must be standard or reserved")
    return place


def _groups(data: dict[str, Any], seen: set[str]) -> list[Group]:
    """Distribution lists and room lists. Members must exist; a list may name lists given later,
    itself, or lists that name it back (Exchange lets distribution groups nest in a loop, and
    clients must cope). A room list holds rooms only, as Exchange's room lists do."""
    groups: list[Group] = []
    entries = [("distribution_lists", "dl", "members"), ("room_lists", "roomlist", "rooms")]
    names = {str(e.get("smtp", "")).strip().lower() for s, _, _ in entries for e in _entries(data, s)}
    rooms = {str(e.get("smtp", "")).strip().lower() for e in _entries(data, "rooms")}
    for section, kind, key in entries:
        for i, entry in enumerate(_entries(data, section)):
            smtp = _new_address(section, i, entry, seen)
            given = entry.get(key, [])
            if not isinstance(given, list) or not all(isinstance(x, str) for x in given):
                raise SeedError(f"{section}[{i}]: '{key}' must be a list of addresses")
            members = list(dict.fromkeys(x.strip().lower() for x in given))
            for member in members:
                if member not in seen and member not in names:
                    raise SeedError(f"{section}[{i}]: unknown member {member!r}")
                if kind == "roomlist" and member not in rooms:
                    raise SeedError(f"{section}[{i}]: {member} is not a room; a room list holds rooms only")
            name = entry.get("name")
            if name is not None and not isinstance(name, str):
                raise SeedError(f"{section}[{i}]: 'name' must be a string")
            groups.append(Group(smtp, name or smtp.split("@")[0], kind, members))
    return groups

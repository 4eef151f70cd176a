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

    [[grants]]
    kind = "impersonation"             # ApplicationImpersonation (2010+) / the AD rights (2007)
    grantee = "svc@example.org"
    scope = ["alice@example.org"]      # optional: the mailboxes it covers; absent means all

    [[grants]]
    kind = "delegate"                  # delegate access to one mailbox's calendar
    grantee = "bob@example.org"
    owner = "alice@example.org"
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class Seed:
    users: list[User]
    impersonation: dict[str, set[str] | None]  # grantee -> scope (None: every mailbox)
    delegates: set[tuple[str, str]]  # (grantee, owner)


def load_seed_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    text = p.read_bytes()
    if p.suffix.lower() == ".json":
        return dict(json.loads(text))
    return tomllib.loads(text.decode())


def parse_seed(data: dict[str, Any]) -> Seed:
    users: list[User] = []
    seen: set[str] = set()
    for section, kind in (("users", "person"), ("rooms", "room")):
        for i, entry in enumerate(data.get(section, [])):
            smtp = str(entry.get("smtp", "")).strip().lower()
            if "@" not in smtp:
                raise SeedError(f"{section}[{i}]: 'smtp' must be an e-mail address")
            if smtp in seen:
                raise SeedError(f"{section}[{i}]: {smtp} appears twice")
            seen.add(smtp)
            users.append(
                User(
                    smtp=smtp,
                    name=str(entry.get("name") or smtp.split("@")[0]),
                    password=entry.get("password"),
                    tokens=[str(x) for x in entry.get("tokens", [])],
                    aliases=[str(a).lower() for a in entry.get("aliases", [])],
                    kind=kind,
                )
            )
    impersonation: dict[str, set[str] | None] = {}
    delegates: set[tuple[str, str]] = set()
    for i, grant in enumerate(data.get("grants", [])):
        kind = grant.get("kind")
        grantee = str(grant.get("grantee", "")).lower()
        if grantee not in seen:
            raise SeedError(f"grants[{i}]: unknown grantee {grantee!r}")
        if kind == "impersonation":
            scope = grant.get("scope")
            impersonation[grantee] = None if scope is None else {str(s).lower() for s in scope}
        elif kind == "delegate":
            owner = str(grant.get("owner", "")).lower()
            if owner not in seen:
                raise SeedError(f"grants[{i}]: unknown owner {owner!r}")
            delegates.add((grantee, owner))
        else:
            raise SeedError(f"grants[{i}]: kind must be 'impersonation' or 'delegate'")
    return Seed(users=users, impersonation=impersonation, delegates=delegates)

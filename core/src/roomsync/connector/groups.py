"""Distribution groups expanded into their persons, however the connector nests them.

A connector answers one level (:func:`~roomsync.hookspecs.roomsync_expand_group`), as Exchange's
own ExpandDL does; the recursion is done here once for every connector. Groups nest and may loop
(Exchange lets a group contain a group that contains it), so a group met again is expanded only
the first time. A group nested deeper than the depth limit, or with more persons than the size
cap, is not expanded at all: a partial list of people would look complete while it is not.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, field_validator


class GroupMember(BaseModel):
    """One direct member of a group: a person (or resource), or a group nested in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str
    name: str = ""
    is_group: bool = False

    @field_validator("address")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


Lookup = Callable[[str], list[GroupMember] | None]
"""The connector's one-level answer for an address: its direct members, ``None`` for no group."""


@dataclass
class Expansion:
    """What a group stands for: its persons, or why it was left as it is (``problem``)."""

    address: str
    persons: tuple[GroupMember, ...] = ()
    groups: tuple[str, ...] = ()  # the group and every group nested in it
    loops: tuple[str, ...] = ()  # groups that contain themselves through others
    problem: str | None = None

    @property
    def expanded(self) -> bool:
        return self.problem is None


@dataclass
class _Walk:
    lookup: Lookup
    depth: int
    size: int
    cache: MutableMapping[str, list[GroupMember] | None]
    persons: dict[str, GroupMember] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)

    def members(self, address: str) -> list[GroupMember] | None:
        if address not in self.cache:
            self.cache[address] = self.lookup(address)
        return self.cache[address]

    def visit(self, top: str, address: str, members: list[GroupMember], path: tuple[str, ...]) -> str | None:
        """Walk one group; the problem that stops the expansion of ``top``, if any."""
        self.groups.append(address)
        for member in members:
            if not member.is_group:
                self.persons.setdefault(member.address, member)
                if len(self.persons) > self.size:
                    return f"group {top} has more than group_size = {self.size} members"
                continue
            if member.address in path:
                self.loops.append(" > ".join((*path, member.address)))
                continue
            if member.address in self.groups:
                continue  # met before on another branch: expanded once
            nested = self.members(member.address)
            if nested is None:  # said to be a group, but the directory has none by that address
                self.persons.setdefault(member.address, member)
                continue
            if len(path) + 1 > self.depth:
                chain = " > ".join((*path, member.address))
                return f"group {top} nests groups deeper than group_depth = {self.depth} ({chain})"
            problem = self.visit(top, member.address, nested, (*path, member.address))
            if problem is not None:
                return problem
        return None


def expand(
    lookup: Lookup,
    address: str,
    *,
    depth: int,
    size: int,
    cache: MutableMapping[str, list[GroupMember] | None],
) -> Expansion | None:
    """The persons of the group at ``address`` through every nested group; ``None``: no group.

    ``cache`` keeps each address's one-level answer, so a group met in many places (or in a
    loop) is asked once; a caller keeps it for one cycle.
    """
    address = address.strip().lower()
    walk = _Walk(lookup, depth, size, cache)
    members = walk.members(address)
    if members is None:
        return None
    problem = walk.visit(address, address, members, (address,))
    loops = tuple(dict.fromkeys(walk.loops))
    if problem is not None:
        return Expansion(address, groups=(address,), loops=loops, problem=problem)
    persons = tuple(p for p in walk.persons.values() if p.address != address)
    return Expansion(address, persons, tuple(dict.fromkeys(walk.groups)), loops)

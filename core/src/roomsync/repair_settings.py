"""The ``[repair]`` table: what the differences scans may repair on their own, and when they run.

A rule is a policy, optionally with another policy per kind of difference::

    [repair]
    policy = "newer-wins"
    kinds = { "missing-in-exchange" = "report" }
    scan_every_hours = 6          # the daemon scans on its own; 0 (the default): never
    requests_per_hour = 120       # per environment, for the scans only
    days = 90
    persons = { "ceo@example.org" = "report" }

    [environments.onprem]
    repair = "rooms-wins"         # or a table: { policy = "...", kinds = { ... } }

The person's rule wins over the environment's, which wins over the table's own. Whatever the
policy, nothing is deleted automatically (see :mod:`roomsync.engine.repair`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class RepairPolicy(StrEnum):
    REPORT = "report"  # only record and report
    NEWER_WINS = "newer-wins"  # the side that changed last
    ROOMS_WINS = "rooms-wins"
    EXCHANGE_WINS = "exchange-wins"


KINDS = ("missing-in-exchange", "missing-in-rooms", "fields-differ", "another-installation", "room-collision")


def _rule(value: Any) -> Any:
    """A bare policy name is a rule without exceptions."""
    return {"policy": value} if isinstance(value, str) else value


def _kinds(value: Any) -> Any:
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kind {', '.join(unknown)}; the kinds are {', '.join(KINDS)}")
    return value


class RepairRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: RepairPolicy = RepairPolicy.REPORT
    kinds: Annotated[dict[str, RepairPolicy], BeforeValidator(_kinds)] = Field(default_factory=dict)

    def for_kind(self, kind: str) -> RepairPolicy:
        return self.kinds.get(kind, self.policy)


Rule = Annotated[RepairRule, BeforeValidator(_rule)]


class RepairConfig(RepairRule):
    """The installation's rule, per person exceptions and the daemon's scan schedule."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    persons: dict[str, Rule] = Field(default_factory=dict)
    scan_every_hours: float = Field(default=0, ge=0)
    requests_per_hour: int = Field(default=120, ge=1)
    days: int = Field(default=90, ge=1, le=3660)

    def rule(self, email: str, environment: RepairRule | None) -> RepairRule:
        """The rule for one person: theirs, else their environment's, else this table's."""
        personal = {k.lower(): v for k, v in self.persons.items()}.get(email.lower())
        return personal or environment or RepairRule(policy=self.policy, kinds=self.kinds)

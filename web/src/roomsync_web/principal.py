"""Who is calling: a service with an API key, or a person with a bearer token.

Scopes nest (``book`` includes ``read``, ``admin`` everything). A person acts as themselves and
for the persons who named them as booker (an assistant for their manager), an administrator for
anyone; a key bound to a person acts as that person; a key bound to no one is a service (ROOMS
itself) and acts for anyone within its scopes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from roomsync.storage.api_keys import ApiKey, Scope


@dataclass(frozen=True)
class Principal:
    kind: str  # "key" or "person"
    name: str  # the key's name or the person's address, for the log
    scopes: frozenset[Scope]
    person: str | None = None
    key_id: str | None = None

    @classmethod
    def of_key(cls, key: ApiKey) -> Principal:
        return cls("key", key.name, key.scopes, key.person, key.id)

    @property
    def limit_key(self) -> str:
        """What the rate limit counts by."""
        return f"key:{self.key_id}" if self.key_id else f"person:{self.person}"

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def allows(self, wanted: Scope) -> bool:
        return any(scope.grants(wanted) for scope in self.scopes)

    def may_act_for(self, email: str, bookers: Collection[str] = ()) -> bool:
        """Whether this caller may act for ``email``, whose person names ``bookers``."""
        if self.is_admin or self.person is None:
            return True
        return self.person == email.strip().lower() or self.person in bookers

    def describe(self) -> str:
        return f"API key {self.key_id} ({self.name})" if self.key_id else f"{self.person}"

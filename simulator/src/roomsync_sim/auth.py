"""Who is calling and on whose mailbox they may act.

HTTP Basic and OAuth bearer tokens identify the caller (anything else is a 401 with the
challenge Exchange sends). Impersonation needs a grant (``ErrorImpersonateUserDenied``
otherwise); touching another mailbox needs impersonation of it or a delegate grant
(``ErrorAccessDenied`` otherwise).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading

from roomsync_sim.seed import Seed, User

CHALLENGES = ('Basic realm="roomsync-exchange-simulator"', 'Bearer realm="roomsync-exchange-simulator"')


class Directory:
    """Users, their credentials and the grants between them; replaceable at run time."""

    def __init__(self, seed: Seed) -> None:
        self._lock = threading.Lock()
        self.load(seed)

    def load(self, seed: Seed) -> None:
        with self._lock:
            self.seed = seed
            self.users = {u.smtp: u for u in seed.users}
            self._logons: dict[str, User] = {}
            self._tokens: dict[str, User] = {}
            for u in seed.users:
                self._logons[u.smtp] = u
                local, _, domain = u.smtp.partition("@")
                self._logons.setdefault(local, u)
                self._logons.setdefault(f"{domain.split('.')[0]}\\{local}", u)
                for alias in u.aliases:
                    self._logons[alias] = u
                for token in u.tokens:
                    self._tokens[token] = u

    def authenticate(self, header: str | None) -> User | None:
        """The user an Authorization header proves, or None."""
        if not header:
            return None
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            found = self._logons.get(user.lower())
            if found is None or found.password is None:
                return None
            return found if hmac.compare_digest(found.password.encode(), password.encode()) else None
        if scheme == "bearer":
            return self._tokens.get(value.strip())
        return None

    def user(self, smtp: str) -> User | None:
        return self.users.get(smtp.lower())

    def resolve(self, name: str) -> User | None:
        return self._logons.get(name.lower())

    def may_impersonate(self, caller: str, target: str) -> bool:
        if caller == target:
            return True
        scope = self.seed.impersonation.get(caller, False)
        if scope is False:
            return False
        return scope is None or target in scope  # type: ignore[operator]

    def is_delegate(self, caller: str, owner: str) -> bool:
        return (caller, owner) in self.seed.delegates

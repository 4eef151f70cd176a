"""Who is calling and on whose mailbox they may act.

HTTP Basic, NTLM (raw NTLMSSP also under ``Negotiate``; no Kerberos) and OAuth bearer tokens
identify the caller, as the server's configured schemes allow (anything else is a 401 with the
challenges IIS sends). NTLM authenticates the TCP connection, not the request: IIS accepts later
requests on that connection without an Authorization header, and a challenge is only valid on
the connection it was sent on. Impersonation needs the grants of the dialect (2007: the two
Active Directory rights; 2010+: ApplicationImpersonation); touching another mailbox needs
impersonation of it or a delegate grant (``ErrorAccessDenied`` otherwise).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from roomsync_sim.ews import ntlm
from roomsync_sim.seed import Seed, User, parse_auth

REALM = "roomsync-exchange-simulator"
# The order IIS lists them in: integrated Windows authentication first.
_CHALLENGE = {
    "negotiate": "Negotiate",
    "ntlm": "NTLM",
    "basic": f'Basic realm="{REALM}"',
    "bearer": f'Bearer realm="{REALM}"',
}


@dataclass
class ConnectionAuth:
    """What one TCP connection has proven; the HTTP layer keeps one per connection."""

    user: User | None = None  # authenticated by NTLM on this connection
    handshake: ntlm.Handshake | None = None  # the challenge sent here, awaiting its answer
    scheme: str = ""  # the scheme name the handshake uses (NTLM or Negotiate)


@dataclass(frozen=True)
class Continue:
    """Not yet authenticated: answer 401 with this WWW-Authenticate (the NTLM challenge)."""

    header: str


class Directory:
    """Users, their credentials and the grants between them; replaceable at run time."""

    def __init__(self, seed: Seed, schemes: Sequence[str] | None = None) -> None:
        """``schemes`` overrides the seed's (the command line's ``--auth``)."""
        self._lock = threading.Lock()
        self._override = parse_auth(schemes) if schemes is not None else None
        self.load(seed)

    def load(self, seed: Seed) -> None:
        with self._lock:
            self.seed = seed
            self.schemes = self._override or seed.auth
            self.target = _target_names(seed)
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

    def challenges(self) -> list[str]:
        """The WWW-Authenticate values of a 401, one per offered scheme."""
        return [_CHALLENGE[s] for s in _CHALLENGE if s in self.schemes]

    def authenticate(
        self, header: str | None, connection: ConnectionAuth | None = None
    ) -> User | Continue | None:
        """The user a request proves, the next NTLM step, or None (a 401 with every challenge)."""
        if not header:
            return connection.user if connection is not None else None
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in self.schemes:
            return None
        if scheme in ("ntlm", "negotiate"):
            return self._ntlm(header.strip().split(" ", 1)[0], value.strip(), connection)
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

    def _ntlm(self, scheme: str, value: str, connection: ConnectionAuth | None) -> User | Continue | None:
        """One step of the handshake; only the connection that got the challenge may answer it."""
        if connection is None:
            return None
        handshake, expected_scheme = connection.handshake, connection.scheme
        connection.user = connection.handshake = None
        try:
            token = base64.b64decode(value, validate=True)
        except binascii.Error:
            return None
        kind = ntlm.message_type(token)
        try:
            if kind == 1:
                connection.handshake = ntlm.challenge(token, self.target)
                connection.scheme = scheme
                return Continue(f"{scheme} {base64.b64encode(connection.handshake.challenge).decode()}")
            if kind != 3 or handshake is None or scheme.lower() != expected_scheme.lower():
                return None
            answer = ntlm.parse_authenticate(token)
        except (ntlm.NtlmError, struct.error):
            return None
        found = self._ntlm_user(answer.user, answer.domain)
        if found is None or found.password is None or not ntlm.verify(handshake, answer, found.password):
            return None
        connection.user = found
        return found

    def _ntlm_user(self, user: str, domain: str) -> User | None:
        """``DOMAIN\\user`` (NetBIOS or DNS domain) or a UPN ``user@domain`` with no domain."""
        if not domain:
            return self._logons.get(user.lower())
        for name in (f"{domain}\\{user}", f"{domain.split('.')[0]}\\{user}", f"{user}@{domain}"):
            found = self._logons.get(name.lower())
            if found is not None:
                return found
        return None

    def user(self, smtp: str) -> User | None:
        return self.users.get(smtp.lower())

    def resolve(self, name: str) -> User | None:
        return self._logons.get(name.lower())

    def impersonation_denial(self, caller: str, target: str, ad_rights: bool) -> str | None:
        """Why ``caller`` may not impersonate ``target`` (an EWS response code), or None.

        Exchange 2007 (``ad_rights``) checks two Active Directory extended rights: first
        ms-Exch-EPI-Impersonation on the Client Access server (may the account impersonate at
        all: ``ErrorImpersonationDenied``), then ms-Exch-EPI-May-Impersonate on the target's
        mailbox or its database (``ErrorImpersonateUserDenied``). 2010 and later check one RBAC
        role assignment, ApplicationImpersonation, optionally scoped. A grant of kind
        ``impersonation`` counts as both AD rights, so older seeds mean the same on every dialect.
        """
        if caller == target:
            return None
        seed = self.seed
        if ad_rights:
            if caller not in seed.impersonation and caller not in seed.ad_impersonation:
                return "ErrorImpersonationDenied"
            scopes = [seed.impersonation.get(caller, False), seed.ad_may_impersonate.get(caller, False)]
        else:
            scopes = [seed.impersonation.get(caller, False)]
        if any(scope is None or (isinstance(scope, set) and target in scope) for scope in scopes):
            return None
        return "ErrorImpersonateUserDenied"

    def is_delegate(self, caller: str, owner: str) -> bool:
        return (caller, owner) in self.seed.delegates


def _target_names(seed: Seed) -> ntlm.TargetNames:
    """The domain of the seed's first user names the simulated Windows domain (EXAMPLE, example.org)."""
    dns_domain = seed.users[0].smtp.partition("@")[2] if seed.users else "example.org"
    netbios = dns_domain.split(".")[0].upper()[:15] or "EXAMPLE"
    return ntlm.TargetNames(netbios, "EXCH-SIM", dns_domain, f"exch-sim.{dns_domain}")

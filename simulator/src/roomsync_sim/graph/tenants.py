"""Tenants of the simulated Microsoft 365 service, their app registrations and access policies.

The seed's top level (``users``, ``rooms``, lists, ...) is the first tenant, so a seed written for
the EWS dialects works unchanged; ``[[tenants]]`` adds more, each a seed of its own with its own
store of mailboxes::

    tenant_id = "00000000-0000-0000-0000-00000000aaaa"   # optional; the first tenant's id
    domains = ["example.org"]                              # optional; default: the mail domains
    token_lifetime_seconds = 3599                          # optional; access token lifetime
    allow_http_notification_url = false                    # test switch: accept http:// webhook
                                                           # URLs on loopback (Graph: https only)

    [[apps]]                                   # app registrations (default: one, see below)
    client_id = "00000000-0000-0000-0000-00000000bbbb"
    name = "ROOMS sync"
    secrets = ["roomsync-sim-secret"]          # client secrets
    certificates = ["-----BEGIN CERTIFICATE-----..."]   # client assertion certificates (PEM)
    roles = ["Calendars.ReadWrite"]            # application permissions granted (admin consent);
                                               # also Place.Read.All, GroupMember.Read.All,
                                               # User.Read.All, ... (roomsync_sim.graph.directory)
    access_group = "rooms-sync@example.org"    # optional: an application access policy
                                               # (RestrictAccess) to this group's members
    mailboxes = ["alice@example.org"]          # optional: or to these mailboxes
    redirect_uris = ["https://rooms.example.org/addin/signin.html"]   # SPA platform: the
                                               # authorization code flow with PKCE and CORS
    public_client_redirect_uris = ["http://localhost"]   # mobile and desktop platform

    [[tenants]]                                # another tenant, with users, rooms, lists, apps
    id = "00000000-0000-0000-0000-00000000cccc"
    domains = ["subsidiary.example"]
    users = [{ smtp = "erin@subsidiary.example", name = "Erin" }]

A tenant without ``apps`` has one app registration with the default ids and secret and access to
every mailbox (a multi-tenant app consented in each tenant).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from roomsync_sim.auth import Directory
from roomsync_sim.seed import Seed, SeedError, parse_seed
from roomsync_sim.store import Store

DEFAULT_TENANT_ID = "00000000-0000-0000-0000-00000000aaaa"
DEFAULT_CLIENT_ID = "00000000-0000-0000-0000-00000000bbbb"
DEFAULT_SECRET = "roomsync-sim-secret"
DEFAULT_ROLES = ("Calendars.ReadWrite",)
KNOWN_ROLES = frozenset(
    {
        "Calendars.Read",
        "Calendars.ReadWrite",
        "Calendars.ReadBasic.All",
        # the directory reads of roomsync_sim.graph.directory
        "Place.Read.All",
        "Place.ReadWrite.All",
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "User.Read.All",
        "User.ReadBasic.All",
        "User.ReadWrite.All",
    }
)
PLATFORMS = ("spa", "publicClient")  # the app registration's redirect URI types (manifest names)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_NAMESPACE = uuid.UUID("6a1f3f5e-9a51-4e8c-8a1e-7d2b7c0e5a10")


@dataclass
class Certificate:
    """A certificate credential of an app: its key and its SHA-1 and SHA-256 thumbprints."""

    certificate: x509.Certificate
    sha1: bytes
    sha256: bytes


@dataclass
class App:
    client_id: str
    name: str
    secrets: list[str]
    certificates: list[Certificate]
    roles: tuple[str, ...]
    scope: frozenset[str] | None  # the mailboxes an access policy allows; None: all
    redirect_uris: list[str] = field(default_factory=list)  # SPA: PKCE, cross-origin redemption
    public_client_redirect_uris: list[str] = field(default_factory=list)  # mobile and desktop

    def add_redirect_uri(self, uri: str, platform: str = "spa") -> None:
        """Register a redirect URI (also on a running simulator); ``platform`` ``spa`` or
        ``publicClient``."""
        uri = check_redirect_uri(uri)
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {', '.join(PLATFORMS)}, not {platform!r}")
        uris = self.redirect_uris if platform == "spa" else self.public_client_redirect_uris
        if uri not in uris:
            uris.append(uri)

    def redirect_platform(self, uri: str) -> str | None:
        """The platform a redirect URI of a request is registered for (``spa`` first), or None.

        The match is exact, except that a loopback URI of the mobile and desktop platform
        (``http://localhost``, ``http://127.0.0.1``) matches with any port, as Entra lets a native
        client listen on the port it gets."""
        if uri in self.redirect_uris:
            return "spa"
        if uri in self.public_client_redirect_uris:
            return "publicClient"
        wanted = urlsplit(uri)
        for registered in self.public_client_redirect_uris:
            have = urlsplit(registered)
            if (
                have.scheme == wanted.scheme == "http"
                and have.hostname in LOOPBACK_HOSTS
                and have.hostname == wanted.hostname
                and have.path.rstrip("/") == wanted.path.rstrip("/")
                and have.query == wanted.query
            ):
                return "publicClient"
        return None

    def spa_origins(self) -> set[str]:
        """The origins of the SPA redirect URIs: who may call the token endpoint from a browser."""
        return {origin(uri) for uri in self.redirect_uris}

    def may_access(self, smtp: str) -> bool:
        return self.scope is None or smtp.lower() in self.scope

    def can(self, write: bool) -> bool:
        if write:
            return "Calendars.ReadWrite" in self.roles
        return bool({"Calendars.Read", "Calendars.ReadWrite"} & set(self.roles))


@dataclass(eq=False)
class Tenant:
    """One organisation: its directory, its store of mailboxes, its app registrations."""

    id: str
    domains: list[str]
    apps: dict[str, App]
    store: Store
    directory: Directory
    token_lifetime: int
    seed: Seed = field(repr=False, default=None)  # type: ignore[assignment]
    allow_http_notification_url: bool = False

    def user_id(self, smtp: str) -> str:
        """The user's object id (stable: derived from the tenant and the address)."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.id}/{smtp.lower()}"))

    def resolve_user(self, key: str) -> str | None:
        """A user's SMTP address from its object id or user principal name (address)."""
        value = key.strip().strip("'").lower()
        if self.store.mailbox(value) is not None:
            return value
        for smtp in self.store.mailboxes:
            if self.user_id(smtp) == value:
                return smtp
        return None

    def service_principal_id(self, client_id: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.id}/sp/{client_id}"))


def origin(uri: str) -> str:
    """``scheme://host[:port]`` of a URL, as a browser's ``Origin`` header names it."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_redirect_uri(uri: str) -> str:
    """An absolute http(s) URI without a fragment (ValueError otherwise), as Entra requires."""
    parts = urlsplit(str(uri).strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise ValueError(f"a redirect URI must be an absolute http(s) URI without a fragment: {uri!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"a redirect URI must use https unless it is a loopback address: {uri!r}")
    return str(uri).strip()


def _certificate(pem: str, where: str) -> Certificate:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as e:
        raise SeedError(f"{where}: not a PEM certificate ({e})") from None
    der = cert.public_bytes(Encoding.DER)
    return Certificate(cert, hashlib.sha1(der).digest(), hashlib.sha256(der).digest())


def _members(seed: Seed, group: str, seen: set[str] | None = None) -> set[str]:
    """Mailboxes of a group, nested groups expanded."""
    seen = seen if seen is not None else set()
    found: set[str] = set()
    for g in seed.groups:
        if g.smtp != group or g.smtp in seen:
            continue
        seen.add(g.smtp)
        for member in g.members:
            if any(x.smtp == member for x in seed.groups):
                found |= _members(seed, member, seen)
            else:
                found.add(member)
    return found


def _apps(data: dict[str, Any], seed: Seed, where: str) -> dict[str, App]:
    entries = data.get("apps")
    if entries is None:
        entries = [{"client_id": DEFAULT_CLIENT_ID, "name": "roomsync", "secrets": [DEFAULT_SECRET]}]
    apps: dict[str, App] = {}
    for i, entry in enumerate(entries):
        here = f"{where}apps[{i}]"
        client_id = str(entry.get("client_id", "")).strip().lower()
        try:
            uuid.UUID(client_id)
        except ValueError:
            raise SeedError(f"{here}: client_id must be a GUID") from None
        roles = tuple(entry.get("roles", DEFAULT_ROLES))
        unknown = set(roles) - KNOWN_ROLES
        if unknown:
            raise SeedError(f"{here}: unknown roles {sorted(unknown)}")
        scope: set[str] | None = None
        if entry.get("access_group"):
            group = str(entry["access_group"]).lower()
            if not any(g.smtp == group for g in seed.groups):
                raise SeedError(f"{here}: access_group {group!r} is not a list of the tenant")
            scope = _members(seed, group)
        if entry.get("mailboxes") is not None:
            scope = (scope or set()) | {str(m).lower() for m in entry["mailboxes"]}
        apps[client_id] = App(
            client_id=client_id,
            name=str(entry.get("name") or "app"),
            secrets=[str(s) for s in entry.get("secrets", [])],
            certificates=[
                _certificate(str(p), f"{here}.certificates[{j}]")
                for j, p in enumerate(entry.get("certificates", []))
            ],
            roles=roles,
            scope=frozenset(scope) if scope is not None else None,
        )
        for key, platform in (("redirect_uris", "spa"), ("public_client_redirect_uris", "publicClient")):
            for j, uri in enumerate(entry.get(key, [])):
                try:
                    apps[client_id].add_redirect_uri(str(uri), platform)
                except ValueError as e:
                    raise SeedError(f"{here}.{key}[{j}]: {e}") from None
    return apps


def _domains(data: dict[str, Any], seed: Seed) -> list[str]:
    if data.get("domains"):
        return [str(d).lower() for d in data["domains"]]
    found: list[str] = []
    for address in [u.smtp for u in seed.users] + [g.smtp for g in seed.groups]:
        domain = address.partition("@")[2]
        if domain not in found:
            found.append(domain)
    return found


def build_tenant(
    data: dict[str, Any], tenant_id: str, store: Store, directory: Directory, where: str = ""
) -> Tenant:
    """A tenant over an existing store and directory (the first tenant: the simulator's own)."""
    try:
        uuid.UUID(tenant_id)
    except ValueError:
        raise SeedError(f"{where}tenant id {tenant_id!r} must be a GUID") from None
    seed = directory.seed
    domains = _domains(data, seed)
    if domains:
        label = domains[0].split(".")[0]
        initial = f"{label}.onmicrosoft.com"
        if initial not in domains:
            domains.append(initial)
    return Tenant(
        id=tenant_id.lower(),
        domains=domains,
        apps=_apps(data, seed, where),
        store=store,
        directory=directory,
        token_lifetime=int(data.get("token_lifetime_seconds", 3599)),
        seed=seed,
        allow_http_notification_url=_flag(data, "allow_http_notification_url", where),
    )


def _flag(data: dict[str, Any], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise SeedError(f"{where}{key} must be true or false")
    return value


def extra_tenants(data: dict[str, Any]) -> list[Tenant]:
    """The ``[[tenants]]`` of a seed, each with a new store holding its mailboxes."""
    tenants = []
    for i, entry in enumerate(data.get("tenants", [])):
        where = f"tenants[{i}]."
        if "id" not in entry:
            raise SeedError(f"{where}id is required")
        directory = Directory(parse_seed(entry))
        store = Store()
        for user in directory.seed.users:
            store.add_mailbox(user.smtp, user.name, user.kind)
        sub = dict(entry)
        sub.setdefault("token_lifetime_seconds", data.get("token_lifetime_seconds", 3599))
        sub.setdefault("allow_http_notification_url", data.get("allow_http_notification_url", False))
        tenants.append(build_tenant(sub, str(entry["id"]), store, directory, where))
    return tenants

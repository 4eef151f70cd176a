"""Keys of the services that call the web API: made, listed, checked and revoked.

A key is shown once, when it is made: ``rsk_<id>_<secret>``. Only the SHA-256 of the secret is
stored; the secret is 32 random bytes, so a plain hash is as safe as a slow one (a slow hash
guards guessable passwords, and nothing here is guessable) and costs nothing per request.

Scopes nest: ``book`` includes ``read``, and ``admin`` includes both. A key may be bound to a
person: it then acts as that person, as a signed-in user would.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from roomsync.errors import InvalidInput, NotFound
from roomsync.storage.models import ApiKeyRow

PREFIX = "rsk"
_TOKEN = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")
# Recording every use would write on every request; once a minute says enough about a key.
LAST_USED_PRECISION = timedelta(minutes=1)


class Scope(StrEnum):
    READ = "read"
    BOOK = "book"
    ADMIN = "admin"

    def grants(self, wanted: Scope) -> bool:
        order = [Scope.READ, Scope.BOOK, Scope.ADMIN]
        return order.index(self) >= order.index(wanted)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scopes: frozenset[Scope]
    person: str | None
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def allows(self, wanted: Scope) -> bool:
        return self.revoked_at is None and any(s.grants(wanted) for s in self.scopes)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        scopes=frozenset(Scope(s) for s in row.scopes.split(",") if s),
        person=row.person,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    scopes = set()
    for value in values:
        try:
            scopes.add(Scope(value.strip().lower()))
        except ValueError:
            raise InvalidInput(f"scope {value!r} is not one of {', '.join(s.value for s in Scope)}") from None
    if not scopes:
        raise InvalidInput("a key needs at least one scope: read, book or admin")
    return frozenset(scopes)


class ApiKeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, scopes: frozenset[Scope], person: str | None = None) -> tuple[ApiKey, str]:
        """A new key and its token; the token is not kept and cannot be shown again."""
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("a key needs a name of 1 to 200 characters (who uses it)")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        row = ApiKeyRow(
            id=key_id,
            name=name,
            scopes=",".join(sorted(s.value for s in scopes)),
            person=person.strip().lower() if person else None,
            secret_hash=_hash(secret),
            created_at=datetime.now(UTC),
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            key = _key(row)
        return key, f"{PREFIX}_{key_id}_{secret}"

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        with Session(self.engine) as session:
            query = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
            if not include_revoked:
                query = query.where(ApiKeyRow.revoked_at.is_(None))
            return [_key(row) for row in session.scalars(query)]

    def get(self, key_id: str) -> ApiKey | None:
        with Session(self.engine) as session:
            row = session.get(ApiKeyRow, key_id.strip())
            return _key(row) if row is not None else None

    def revoke(self, key_id: str) -> ApiKey:
        with Session(self.engine) as session, session.begin():
            row = session.get(ApiKeyRow, key_id.strip())
            if row is None:
                raise NotFound(f"no API key {key_id}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            return _key(row)

    def verify(self, token: str) -> ApiKey | None:
        """The live key ``token`` proves, or ``None`` (malformed, unknown, wrong or revoked)."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        key_id, secret = match.groups()
        with Session(self.engine) as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.secret_hash, _hash(secret)):
                return None
            key = _key(row)
        now = datetime.now(UTC)
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
            with Session(self.engine) as session, session.begin():
                session.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=now))
        return key

"""The API's gate: who calls (API key or bearer token), with which scope, within its rate.

Every route but health declares the scope it needs with ``Depends(need(Scope.X))``. The caller
sends ``Authorization: Bearer <API key or token>`` (or ``X-API-Key: <key>``). The admin pages'
session cookie is not accepted here: a cookie would let another site's page call the API in an
administrator's name. Answers never repeat a credential.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from roomsync.storage.api_keys import PREFIX, Scope
from roomsync.storage.protocols import RoomsStore
from roomsync_web.principal import Principal
from roomsync_web.tokens import TokenRefused

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="roomsync"'}


class RateLimits:
    def __init__(self, rate: str) -> None:
        self.limit = parse_limit(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, principal: Principal) -> None:
        if not self._limiter.hit(self.limit, principal.limit_key):
            stats = self._limiter.get_window_stats(self.limit, principal.limit_key)
            retry = max(1, int(stats.reset_time - time.time()))
            raise HTTPException(
                429,
                f"rate limit of {self.limit} exceeded for {principal.describe()}; try again in {retry} s",
                headers={"Retry-After": str(retry)},
            )


def _credential(request: Request) -> str | None:
    given = request.headers.get("x-api-key")
    if given:
        return given.strip()
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if header and scheme.lower() != "bearer":
        raise HTTPException(
            401, "only 'Authorization: Bearer <API key or token>' is accepted", headers=CHALLENGE
        )
    return value.strip() or None


def authenticate(request: Request) -> Principal:
    """The caller, or 401 saying what is missing or wrong."""
    service = request.app.state.service
    token = _credential(request)
    if token is None:
        raise HTTPException(
            401, "sign in: send 'Authorization: Bearer <API key or token>'", headers=CHALLENGE
        )
    if token.startswith(PREFIX + "_"):
        found = service.database.api_keys.verify(token)
        if found is None:
            raise HTTPException(401, "the API key is unknown, wrong or revoked", headers=CHALLENGE)
        return Principal.of_key(found)
    if service.verifier is None:
        raise HTTPException(
            401,
            "bearer tokens are not accepted here ([web.oidc] is not configured); use an API key",
            headers=CHALLENGE,
        )
    try:
        return service.verifier.principal(token)
    except TokenRefused as exc:
        raise HTTPException(401, str(exc), headers=CHALLENGE) from None


def need(scope: Scope) -> Callable[..., Principal]:
    """A dependency: the authenticated caller, if allowed ``scope`` and within its rate."""

    def dependency(request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        request.state.principal = principal
        if not principal.allows(scope):
            held = ", ".join(sorted(s.value for s in principal.scopes)) or "none"
            raise HTTPException(403, f"{principal.describe()} has scope {held}; this needs {scope.value}")
        request.app.state.rate_limits.check(principal)
        return principal

    return dependency


def may_act_for(principal: Principal, email: str, what: str, rooms: RoomsStore) -> None:
    """403 unless ``principal`` may act for ``email``: as themselves, or as one of the bookers
    ``email``'s person names (read from ``rooms``). The answer names no one else's bookers."""
    if principal.may_act_for(email):
        return
    person = rooms.get_person(email) if principal.person is not None else None
    if person is not None and principal.may_act_for(email, person.bookers):
        return
    raise HTTPException(
        403,
        f"{principal.describe()} may {what} only as {principal.person} "
        "or for the persons who named them as booker",
    )


Reader = Annotated[Principal, Depends(need(Scope.READ))]
Booker = Annotated[Principal, Depends(need(Scope.BOOK))]
Admin = Annotated[Principal, Depends(need(Scope.ADMIN))]

"""What the Outlook add-in's task pane needs to know about the service it talks to."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from roomsync_web.security import Reader

router = APIRouter(tags=["addin"])


class IdentityOut(BaseModel):
    installation: str
    """This installation's id: the pane stamps a meeting ``<installation>:<reservation id>``."""
    person: str | None
    """The person calling, if a person (or a key bound to one) calls."""


@router.get("/addin/identity", response_model=IdentityOut)
def identity(request: Request, principal: Reader) -> IdentityOut:
    installation = request.app.state.service.database.installation()
    return IdentityOut(installation=installation.id, person=principal.person)

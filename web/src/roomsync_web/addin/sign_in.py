"""What the add-in's sign-in dialog needs to sign a user in where Outlook has no single sign-on.

The dialog (``signin.html``) runs the authorization code flow with PKCE as a public client: no
secret exists to leak, so these settings are public, asked before anyone is signed in. The
endpoints come from the issuer's OpenID metadata, the one the service checks tokens against.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from pydantic import BaseModel

from roomsync_web.tokens import TokenRefused


class SignInSettings(BaseModel):
    authorization_endpoint: str
    token_endpoint: str
    client_id: str
    scope: str


def sign_in_settings(request: Request) -> SignInSettings:
    service = request.app.state.service
    oidc = service.config.oidc
    if service.verifier is None or oidc is None or not oidc.client_id:
        raise HTTPException(404, "the add-in's sign-in dialog is not set up ([web.oidc] client_id)")
    try:
        metadata = service.verifier.metadata()
    except TokenRefused as exc:
        raise HTTPException(503, f"the sign-in service cannot be reached: {exc}") from None
    endpoints = (metadata.get("authorization_endpoint"), metadata.get("token_endpoint"))
    if not all(isinstance(e, str) and e.startswith("https://") for e in endpoints):
        raise HTTPException(503, "the issuer's metadata names no https authorization and token endpoints")
    return SignInSettings(
        authorization_endpoint=str(endpoints[0]),
        token_endpoint=str(endpoints[1]),
        client_id=oidc.client_id,
        scope=oidc.scope or f"{oidc.audience}/access_as_user",
    )

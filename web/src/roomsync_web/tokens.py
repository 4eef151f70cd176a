"""OpenID Connect bearer tokens: checked against the configured issuer's published keys.

The issuer's metadata (``<issuer>/.well-known/openid-configuration``) names its key set; PyJWT's
key client fetches and caches it, fetching again when a token names a key it has not seen (the
issuer rolled its keys). A token must be signed by one of those keys with RS256, name the issuer
and the audience configured, and be within its lifetime; it names its person by
``preferred_username`` (Entra ID), ``upn`` or ``email``.
"""

from __future__ import annotations

import json
import ssl
import threading
import urllib.request
from typing import Any

import jwt

from roomsync.storage.api_keys import Scope
from roomsync.tls import trust_context
from roomsync_web.config import OidcConfig
from roomsync_web.principal import Principal

PERSON_CLAIMS = ("preferred_username", "upn", "email")
FETCH_SECONDS = 10


class TokenRefused(Exception):
    """Why a bearer token is not accepted, in words for the 401 answer (never the token)."""


class TokenVerifier:
    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._context: ssl.SSLContext | None = None
        if config.ca_file is not None:
            self._context = trust_context(config.ca_file)
        elif not config.verify_tls:
            self._context = ssl._create_unverified_context()
        self._keys: jwt.PyJWKClient | None = None
        self._metadata: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def metadata(self) -> dict[str, Any]:
        """The issuer's OpenID metadata (its keys' and endpoints' addresses), read once."""
        with self._lock:
            if self._metadata is None:
                url = f"{self.config.issuer}/.well-known/openid-configuration"
                try:
                    with urllib.request.urlopen(url, timeout=FETCH_SECONDS, context=self._context) as answer:
                        metadata = json.load(answer)
                except (OSError, ValueError) as exc:
                    raise TokenRefused(f"the issuer's metadata could not be read ({exc})") from None
                if not isinstance(metadata, dict) or not isinstance(metadata.get("jwks_uri"), str):
                    raise TokenRefused("the issuer's metadata names no key set (jwks_uri)")
                if str(metadata.get("issuer", "")).rstrip("/") != self.config.issuer:
                    raise TokenRefused("the issuer's metadata names another issuer")
                self._metadata = metadata
            return self._metadata

    def _key_client(self) -> jwt.PyJWKClient:
        metadata = self.metadata()
        with self._lock:
            if self._keys is None:
                self._keys = jwt.PyJWKClient(
                    metadata["jwks_uri"], cache_keys=True, timeout=FETCH_SECONDS, ssl_context=self._context
                )
            return self._keys

    def principal(self, token: str) -> Principal:
        claims = self._claims(token)
        person = next((claims[c] for c in PERSON_CLAIMS if isinstance(claims.get(c), str)), None)
        if not person:
            raise TokenRefused("the token names no person (preferred_username, upn or email)")
        person = person.strip().lower()
        roles = claims.get("roles")
        roles = roles if isinstance(roles, list) else []
        admin = person in self.config.admins or self.config.admin_role in roles
        scopes = frozenset({Scope.BOOK, Scope.ADMIN} if admin else {Scope.BOOK})
        return Principal("person", person, scopes, person=person)

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("the bearer token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise TokenRefused(f"the token is signed with {header.get('alg')!r}; only RS256 is accepted")
        try:
            key = self._key_client().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError:
            raise TokenRefused("the token is not signed by a key of the configured issuer") from None
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(f"the token is not for this API (audience {self.config.audience})") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("the token's signature is not valid") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"the token is not valid: {exc}") from None

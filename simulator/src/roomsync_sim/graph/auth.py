"""The Microsoft identity platform's part: the OAuth 2.0 token endpoint (client-credentials and
resource owner password credentials grants), OpenID metadata, signing keys, user realm discovery,
and the check of Graph's bearer tokens.

Client credentials (``grant_type=client_credentials``): tokens are JWTs (PyJWT) signed RS256 with a
key made at start, carrying the claims of an app-only Graph token (``aud`` Graph, ``tid``,
``appid``, ``roles``, ``idtyp`` app, ``ver`` 1.0). Clients authenticate with a client secret (in
the body or HTTP Basic) or with a client assertion: a JWT signed with the private key of a
certificate registered on the app, named by its SHA-1 (``x5t``) or SHA-256 (``x5t#S256``)
thumbprint, as msal writes it. Errors are the AADSTS ones of Entra ID.

Password (``grant_type=password``, msal's ``acquire_token_by_username_password``): a user of the
tenant (``username`` their address, ``password`` the seed's) gets a v2.0 access token for a web
API other than Graph, named by the scope's resource (``api://roomsync/access_as_user`` or
``api://roomsync/.default``; ``openid``, ``profile``, ``email`` and ``offline_access``, which msal
adds, are accepted and grant nothing more). It is signed by the same key, with the claims ``aud``
(the resource, e.g. ``api://roomsync``), ``iss`` (``{base}/{tid}/v2.0``, the OpenID metadata's
``issuer``), ``iat``, ``nbf``, ``exp``, ``tid``, ``oid`` (the user's object id, as Graph names the
user), ``sub``, ``preferred_username``, ``name``, ``scp`` (the scope names, ``.default`` standing
for ``access_as_user``), ``azp``, ``azpacr`` and ``ver`` 2.0. With ``openid`` the answer has an
``id_token`` (``aud`` the client id), with ``client_info=1`` msal's ``client_info``; there is no
refresh token. The client secret or assertion is optional (a public client); when given it is
checked as for client credentials. Graph does not accept these tokens (no delegated Graph access).

Authorization code (``grant_type=authorization_code``, msal's ``acquire_token_by_auth_code_flow``):
redeems a code of the authorize endpoint (:mod:`roomsync_sim.graph.authorize`, which issues them
into :class:`Codes`) for the password grant's answer. A code is a bearer secret that passes
through a browser, so it is single-use, lives ten minutes, and is bound to the client, redirect URI,
tenant and resource it was issued for and, with PKCE, to the verifier of its challenge: whoever
intercepts it cannot redeem it. A code for an SPA redirect URI is redeemed only with an ``Origin``
header, as Entra insists, so a server cannot redeem what a browser app was given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from roomsync_sim.graph.errors import GraphError
from roomsync_sim.graph.tenants import App, Tenant
from roomsync_sim.seed import User

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
SCOPES = {f"{GRAPH_RESOURCE}/.default", f"{GRAPH_APP_ID}/.default", f"{GRAPH_RESOURCE}//.default"}
GRAPH_AUDIENCES = frozenset({GRAPH_RESOURCE, GRAPH_APP_ID, f"{GRAPH_RESOURCE}/"})
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
DEFAULT_USER_SCOPE = "access_as_user"  # what a web API's ``.default`` grants a user
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CODE_LIFETIME = 600  # seconds an authorization code lives ("about 10 minutes")
WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    f'client_id="{GRAPH_APP_ID}"'
)


@dataclass(frozen=True)
class Principal:
    """The caller of a Graph request: an app in a tenant, and when its token expires."""

    tenant: Tenant
    app: App
    expires: float


@dataclass(frozen=True)
class UserGrant:
    """What a password grant gives: a user's access to a web API (``resource``) through an app."""

    tenant: Tenant
    app: App
    user: User
    resource: str
    names: tuple[str, ...]  # the scopes granted, without the resource (``scp``)
    azpacr: str  # how the client authenticated: 0 public, 1 secret, 2 certificate
    issuer: str

    @property
    def oid(self) -> str:
        return self.tenant.user_id(self.user.smtp)

    @property
    def sub(self) -> str:
        """Pairwise, as Entra's: the same user has another ``sub`` in each app."""
        return _b64(hashlib.sha256(f"{self.tenant.id}/{self.app.client_id}/{self.oid}".encode()).digest())


@dataclass
class AuthCode:
    """What an authorization code stands for: the sign-in it was issued after, and its binding."""

    tenant_id: str
    client_id: str
    redirect_uri: str
    spa: bool  # the redirect URI is of the SPA platform: redeemed cross-origin only
    user: User
    resource: str
    names: tuple[str, ...]
    challenge: str  # PKCE; "" without
    method: str  # "S256" or "plain"
    nonce: str | None
    expires: float
    redeemed: bool = False


class Codes:
    """The authorization codes issued and not yet expired (single-use, ``lifetime`` seconds)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lifetime = CODE_LIFETIME
        self._codes: dict[str, AuthCode] = {}

    def issue(self, **fields: Any) -> str:
        value = secrets.token_urlsafe(48)
        now = time.time()
        with self.lock:
            for key in [k for k, c in self._codes.items() if c.expires < now - CODE_LIFETIME]:
                del self._codes[key]  # long expired: "expired" and "unknown" alike then
            self._codes[value] = AuthCode(**fields, expires=now + self.lifetime)
        return value

    def get(self, value: str) -> AuthCode | None:
        """The code (call with ``lock`` held to redeem it)."""
        return self._codes.get(value)


class TokenError(Exception):
    """An error answer of the token endpoint (OAuth 2.0 error JSON)."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.code = code
        self.description = description

    def body(self) -> dict[str, Any]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.description} Trace ID: {trace} Correlation ID: {correlation} "
                f"Timestamp: {stamp}"
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


class Issuer:
    """Signs and checks access tokens for every tenant of the simulator."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = self._key.public_key()
        self.kid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.codes = Codes()

    # --- issuing -------------------------------------------------------------------------------

    def issue(self, tenant: Tenant, app: App, lifetime: int, by_certificate: bool = False) -> str:
        now = int(time.time())
        issuer = f"https://sts.windows.net/{tenant.id}/"
        sp = tenant.service_principal_id(app.client_id)
        claims = {
            "aud": GRAPH_RESOURCE,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "app_displayname": app.name,
            "appid": app.client_id,
            "appidacr": "2" if by_certificate else "1",
            "idp": issuer,
            "idtyp": "app",
            "oid": sp,
            "roles": list(app.roles),
            "sub": sp,
            "tid": tenant.id,
            "uti": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
            "ver": "1.0",
        }
        headers = {"typ": "JWT", "kid": self.kid, "x5t": self.kid}
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    def jwks(self) -> dict[str, Any]:
        numbers = self.public_key.public_numbers()

        def b64(value: int) -> str:
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        key = {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": b64(numbers.n),
            "e": b64(numbers.e),
        }
        return {"keys": [key]}

    # --- checking ------------------------------------------------------------------------------

    def check(self, authorization: str | None, tenants: dict[str, Tenant]) -> Principal:
        """The app a Graph request's bearer token proves; 401 InvalidAuthenticationToken otherwise."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if not token.strip() or scheme.lower() != "bearer":
            raise _unauthenticated("Access token is empty.")
        token = token.strip()
        if token.count(".") != 2:
            raise _unauthenticated("IDX14100: JWT is not well formed, there are no dots (.).")
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                audience=[GRAPH_RESOURCE, GRAPH_APP_ID, f"{GRAPH_RESOURCE}/"],
                options={"require": ["exp", "nbf", "tid", "appid"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("Lifetime validation failed, the token is expired.") from None
        except jwt.InvalidAudienceError:
            raise _unauthenticated("Access token validation failure. Invalid audience.") from None
        except jwt.InvalidSignatureError:
            raise _unauthenticated("Access token validation failure. Invalid signature.") from None
        except jwt.PyJWTError:
            raise _unauthenticated("Access token validation failure.") from None
        tenant = tenants.get(str(claims["tid"]).lower())
        if tenant is None or claims.get("iss") != f"https://sts.windows.net/{tenant.id}/":
            raise _unauthenticated("Access token validation failure. Invalid issuer.")
        app = tenant.apps.get(str(claims["appid"]).lower())
        if app is None:
            raise _unauthenticated("Access token validation failure. The application is not registered.")
        return Principal(tenant, app, float(claims["exp"]))

    # --- the token endpoint --------------------------------------------------------------------

    def token(
        self,
        tenant: Tenant | None,
        tenant_name: str,
        form: bytes,
        authorization: str | None,
        endpoint: list[str],
        base: str = "",
        origin: str | None = None,
    ) -> dict[str, Any]:
        """Answer a client-credentials, password or authorization code token request
        (``TokenError`` when refused).

        ``base`` is the sign-in instance the request came to (users' tokens' ``iss``), ``origin``
        the browser's ``Origin`` header (SPA redemption must be cross-origin).
        """
        fields = {
            k: v[0] for k, v in parse_qs(form.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        if tenant is None:
            raise TokenError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant_name}' not found. Check to make sure you have the "
                "correct tenant ID and are "
                "signing into the correct cloud.",
            )
        basic_id, basic_secret = _basic(authorization)
        client_id = (fields.get("client_id") or basic_id or "").strip().lower()
        grant = fields.get("grant_type", "")
        if grant not in ("client_credentials", "password", "authorization_code"):
            raise TokenError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        app = _registered_app(tenant, tenant_name, client_id)
        secret = fields.get("client_secret") or basic_secret
        if grant == "authorization_code":
            return self._authorization_code(tenant, app, fields, secret, endpoint, base, origin)
        if not fields.get("scope", ""):
            raise _missing("scope")
        if grant == "password":
            return self._password(tenant, app, fields, secret, endpoint, base)
        return self._client_credentials(tenant, tenant_name, app, fields, secret, endpoint)

    def _client_credentials(
        self,
        tenant: Tenant,
        tenant_name: str,
        app: App,
        fields: dict[str, str],
        secret: str | None,
        endpoint: list[str],
    ) -> dict[str, Any]:
        scope = fields["scope"]
        if not any(s in SCOPES for s in scope.split()):
            if not any(s.endswith("/.default") for s in scope.split()):
                raise TokenError(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                    "scope value with /.default suffixed to the resource identifier (application ID URI).",
                )
            raise TokenError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {scope.split()[0].removesuffix('/.default')} was not found in "
                f"the tenant named {tenant_name}.",
            )
        by_certificate = self._client_authentication(app, fields, secret, endpoint)
        if by_certificate is None:
            raise TokenError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
            )
        lifetime = tenant.token_lifetime
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self.issue(tenant, app, lifetime, by_certificate),
        }

    def _client_authentication(
        self, app: App, fields: dict[str, str], secret: str | None, endpoint: list[str]
    ) -> bool | None:
        """How the client proved itself: True a certificate, False a secret, None not at all."""
        assertion = fields.get("client_assertion")
        if assertion:
            if fields.get("client_assertion_type") != ASSERTION_TYPE:
                raise TokenError(
                    400, "invalid_request", 50027, "The client_assertion_type is missing or invalid."
                )
            self._check_assertion(app, assertion, endpoint)
            return True
        if secret:
            if not any(hmac.compare_digest(secret.encode(), s.encode()) for s in app.secrets):
                raise TokenError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    "request is the client "
                    f"secret value, not the client secret ID, for a secret added to app '{app.client_id}'.",
                )
            return False
        return None

    def _password(
        self,
        tenant: Tenant,
        app: App,
        fields: dict[str, str],
        secret: str | None,
        endpoint: list[str],
        base: str,
    ) -> dict[str, Any]:
        """The resource owner password credentials grant: a user's token for a web API."""
        requested = fields["scope"].split()
        resource, names = _user_scopes(requested)
        username, password = fields.get("username", "").strip(), fields.get("password", "")
        for name, value in (("username", username), ("password", password)):
            if not value:
                raise _missing(name)
        by_certificate = self._client_authentication(app, fields, secret, endpoint)
        user = _signed_in(tenant, username, password)
        azpacr = "0" if by_certificate is None else "2" if by_certificate else "1"
        grant = UserGrant(tenant, app, user, resource, names, azpacr, v2_issuer(base, tenant.id))
        return self._user_answer(grant, requested, fields)

    def _authorization_code(
        self,
        tenant: Tenant,
        app: App,
        fields: dict[str, str],
        secret: str | None,
        endpoint: list[str],
        base: str,
        origin: str | None,
    ) -> dict[str, Any]:
        """Redeem a code of the authorize endpoint: once, in time, by the client, redirect URI
        and PKCE verifier it was issued for; the answer is the password grant's."""
        for name in ("code", "redirect_uri"):
            if not fields.get(name):
                raise _missing(name)
        if not fields.get("scope", "").strip():
            raise TokenError(
                400,
                "invalid_scope",
                28003,
                "Provided value for the input parameter scope cannot be empty when requesting an access "
                "token using the provided authorization code. Please specify a valid scope.",
            )
        requested = fields["scope"].split()
        resource, names = _user_scopes(requested)
        by_certificate = self._client_authentication(app, fields, secret, endpoint)
        with self.codes.lock:
            code = self.codes.get(fields["code"])
            if code is None:
                raise _bad_code("The provided value for the 'code' parameter is not valid.")
            if code.tenant_id != tenant.id:
                raise TokenError(
                    400,
                    "invalid_grant",
                    700005,
                    "Provided Authorization Code is intended to use against other tenant, thus rejected.",
                )
            if code.redeemed:
                raise TokenError(
                    400,
                    "invalid_grant",
                    54005,
                    "OAuth2 Authorization code was already redeemed, please retry with a new valid code or "
                    "use an existing refresh token.",
                )
            if code.expires < time.time():
                raise TokenError(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity. Send "
                    "a new interactive authorization request for this user and resource.",
                )
            if code.client_id != app.client_id:
                raise _bad_code(
                    f"The authorization code was not issued to the application '{app.client_id}'."
                )
            if code.redirect_uri != fields["redirect_uri"]:
                raise _bad_code(
                    f"The redirect URI '{fields['redirect_uri']}' does not match the redirect URI "
                    f"'{code.redirect_uri}' of the authorization request."
                )
            if code.challenge:
                verifier = fields.get("code_verifier", "")
                if not verifier:
                    raise _missing("code_verifier")
                if code.method == "S256":
                    verifier = _b64(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
                if not hmac.compare_digest(verifier.encode(), code.challenge.encode()):
                    raise TokenError(
                        400,
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the authorization "
                        "request.",
                    )
            if code.spa and not origin:
                raise TokenError(
                    400,
                    "invalid_request",
                    9002327,
                    "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via "
                    "cross-origin requests.",
                )
            if resource != code.resource or not set(names) <= set(code.names):
                raise TokenError(
                    400,
                    "invalid_scope",
                    70011,
                    f"The provided value for the input parameter 'scope' is not valid. The scope "
                    f"'{' '.join(requested)}' was not granted by the authorization request.",
                )
            code.redeemed = True
        azpacr = "0" if by_certificate is None else "2" if by_certificate else "1"
        grant = UserGrant(tenant, app, code.user, resource, names, azpacr, v2_issuer(base, tenant.id))
        return self._user_answer(grant, requested, fields, code.nonce)

    def _user_answer(
        self, grant: UserGrant, requested: list[str], fields: dict[str, str], nonce: str | None = None
    ) -> dict[str, Any]:
        """A user's token answer: the access token, with ``openid`` an ID token, msal's client_info."""
        tenant = grant.tenant
        resource, names = grant.resource, grant.names
        lifetime = tenant.token_lifetime
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(f"{resource}/{name}" for name in names),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self.issue_user(grant, lifetime),
        }
        if "openid" in (s.lower() for s in requested):
            answer["id_token"] = self.issue_id_token(grant, lifetime, nonce)
        if fields.get("client_info") == "1":
            info = {"uid": grant.oid, "utid": tenant.id}
            answer["client_info"] = _b64(json.dumps(info, separators=(",", ":")).encode())
        return answer

    def issue_user(self, grant: UserGrant, lifetime: int) -> str:
        """A v2.0 access token of a user for a web API (the password grant's)."""
        claims = {
            **self._user_claims(grant, lifetime),
            "aud": grant.resource,
            "azp": grant.app.client_id,
            "azpacr": grant.azpacr,
            "scp": " ".join(grant.names),
        }
        return self._sign(claims)

    def issue_id_token(self, grant: UserGrant, lifetime: int, nonce: str | None = None) -> str:
        """The OpenID Connect ID token beside a user's access token (``aud`` the client; the
        authorization request's ``nonce``)."""
        claims = {**self._user_claims(grant, lifetime), "aud": grant.app.client_id}
        if nonce:
            claims["nonce"] = nonce
        return self._sign(claims)

    def _user_claims(self, grant: UserGrant, lifetime: int) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": grant.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "name": grant.user.name,
            "oid": grant.oid,
            "preferred_username": grant.user.smtp,
            "sub": grant.sub,
            "tid": grant.tenant.id,
            "uti": _b64(uuid.uuid4().bytes),
            "ver": "2.0",
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"typ": "JWT", "kid": self.kid})

    def _check_assertion(self, app: App, assertion: str, endpoint: list[str]) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise TokenError(401, "invalid_client", 700025, "Client assertion is not a valid JWT.") from None
        wanted = [("x5t#S256", "sha256"), ("x5t", "sha1")]
        cert = None
        for name, kind in wanted:
            value = header.get(name)
            if not value:
                continue
            thumb = _b64url(str(value))
            cert = next((c for c in app.certificates if getattr(c, kind) == thumb), None)
            if cert is not None:
                break
        if cert is None:
            raise TokenError(
                401,
                "invalid_client",
                700027,
                f"The certificate with identifier used to sign the client assertion is not registered on "
                f"application. [Reason - The key was not found., Thumbprint of key used by client: "
                f"'{header.get('x5t') or header.get('x5t#S256')}'].",
            )
        try:
            claims = jwt.decode(
                assertion,
                cert.certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=endpoint,
                options={"require": ["exp", "aud", "iss", "sub"]},
                leeway=300,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError(
                401, "invalid_client", 700024, "Client assertion is not within its valid time range."
            ) from None
        except jwt.InvalidAudienceError:
            raise TokenError(
                401, "invalid_client", 50012, "Client assertion audience claim does not match Realm issuer."
            ) from None
        except jwt.PyJWTError:
            raise TokenError(
                401, "invalid_client", 700027, "Client assertion failed signature validation."
            ) from None
        if str(claims.get("iss")).lower() != app.client_id or str(claims.get("sub")).lower() != app.client_id:
            raise TokenError(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )


def _registered_app(tenant: Tenant, tenant_name: str, client_id: str) -> App:
    if not client_id:
        raise _missing("client_id")
    app = tenant.apps.get(client_id)
    if app is None:
        raise TokenError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. "
            "This can happen if the application has not been installed by the "
            "administrator of the tenant "
            "or consented to by any user in the tenant.",
        )
    return app


def _missing(name: str) -> TokenError:
    return TokenError(
        400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )


def _bad_code(description: str) -> TokenError:
    return TokenError(400, "invalid_grant", 70000, description)


def _user_scopes(requested: list[str]) -> tuple[str, tuple[str, ...]]:
    """The web API and the scope names a password grant asks for (OpenID Connect's left out)."""
    pairs = [s.rpartition("/")[::2] for s in requested if s.lower() not in OIDC_SCOPES]
    resources = {resource for resource, _ in pairs}
    if len(resources) > 1:
        raise TokenError(
            400,
            "invalid_scope",
            28000,
            "Provided value for the input parameter scope is not valid because it contains more than one "
            f"resource. Scope {' '.join(requested)} is not valid.",
        )
    resource = resources.pop() if resources else ""
    if not resource or resource.lower() in GRAPH_AUDIENCES or not all(name for _, name in pairs):
        raise TokenError(
            400,
            "invalid_scope",
            70011,
            f"The provided value for the input parameter 'scope' is not valid. The scope "
            f"'{' '.join(requested)}' does not name a web API: the simulator issues users' tokens for "
            "a resource other than Microsoft Graph, e.g. api://roomsync/access_as_user.",
        )
    names = [DEFAULT_USER_SCOPE if name == ".default" else name for _, name in pairs]
    return resource, tuple(dict.fromkeys(names))


def _signed_in(tenant: Tenant, username: str, password: str) -> User:
    """The tenant's user whose address and password these are (``invalid_grant`` otherwise)."""
    user = tenant.directory.user(username)
    if user is None:
        raise TokenError(
            400,
            "invalid_grant",
            50034,
            f"The user account {username} does not exist in the '{tenant.id}' directory. To sign into "
            "this application, the account must be added to the directory.",
        )
    if user.password is None or not hmac.compare_digest(user.password.encode(), password.encode()):
        raise TokenError(
            400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password."
        )
    return user


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64url(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return b""


def _basic(authorization: str | None) -> tuple[str | None, str | None]:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    from urllib.parse import unquote_plus

    return unquote_plus(user), unquote_plus(password)


def _unauthenticated(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message, [("WWW-Authenticate", WWW_AUTHENTICATE)])


# --- metadata ------------------------------------------------------------------------------------


def v2_issuer(base: str, tenant_id: str) -> str:
    """The v2.0 endpoints' issuer: ``iss`` of users' tokens and the OpenID metadata's ``issuer``."""
    return f"{base}/{tenant_id}/v2.0"


def openid_configuration(base: str, tenant: Tenant) -> dict[str, Any]:
    """What msal reads from ``{authority}/v2.0/.well-known/openid-configuration``."""
    root = f"{base}/{tenant.id}"
    host = urlsplit(base).netloc
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": v2_issuer(base, tenant.id),
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "ver", "oid"],
        "kerberos_endpoint": f"{root}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": base,
    }


def instance_discovery(base: str, query: str) -> dict[str, Any]:
    """``/common/discovery/instance``: msal's authority validation for a custom instance."""
    endpoint = parse_qs(query).get("authorization_endpoint", [""])[0]
    parts = urlsplit(endpoint).path.strip("/").split("/")
    tenant = parts[0] if parts and parts[0] else "common"
    host = urlsplit(base).netloc
    return {
        "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }


def user_realm(base: str, username: str, tenants: Iterable[Tenant]) -> dict[str, Any]:
    """``/common/userrealm/{username}``: msal asks before the password grant; every domain is Managed."""
    domain = username.rpartition("@")[2].lower()
    host = urlsplit(base).netloc
    if not any(domain in tenant.domains for tenant in tenants):
        return {"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": host}
    return {
        "ver": "1.0",
        "account_type": "Managed",
        "domain_name": domain,
        "cloud_instance_name": host,
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }

"""The authorize endpoint of the Microsoft identity platform: the authorization code flow with PKCE
for a user, as a public client (an SPA, an Outlook add-in's sign-in dialog, msal on a desktop)
runs it.

``GET /{tenant}/oauth2/v2.0/authorize?client_id&response_type=code&redirect_uri&scope&state
&code_challenge&code_challenge_method[&response_mode][&login_hint][&nonce]`` answers a sign-in page;
its form posts back to the same path, the request in hidden fields, and a user's seed password
(checked as the password grant checks it) gets a redirect to ``redirect_uri`` with a ``code`` that
the token endpoint redeems (``grant_type=authorization_code``, see :mod:`roomsync_sim.graph.auth`).

Errors follow Entra's split: while the redirect URI is not known to be the app's (unknown tenant,
unknown or missing client, unregistered redirect URI) nothing can be sent to it, so the user sees an
error page (400); after that the app gets ``error``, ``error_description`` and ``state`` at its
redirect URI. A redirect URI of the SPA platform requires PKCE (AADSTS9002325) because Entra lets
only a browser redeem its codes, cross-origin; one of the mobile and desktop platform does not.
The form is checked again on POST: its hidden fields are the client's to change.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from roomsync_sim.graph import auth
from roomsync_sim.graph.tenants import App, Tenant

REQUEST_FIELDS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "nonce",
)
RESPONSE_MODES = ("query", "fragment", "form_post")
WRONG_PASSWORD = "Your account or password is incorrect. If you don't remember your password, reset it now."
UNKNOWN_USER = (
    "This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin."
)
NO_USERNAME = "Enter a valid email address, phone number, or Skype name."
HTML_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store, no-cache"),
    ("Pragma", "no-cache"),
    ("X-Frame-Options", "DENY"),  # Entra's sign-in pages are not framed: a popup or a dialog
]


@dataclass
class Page:
    """The endpoint's answer: an HTML page, or a redirect (``location``)."""

    status: int
    body: bytes = b""
    location: str | None = None
    kind: str = "authorize"

    def headers(self) -> list[tuple[str, str]]:
        if self.location is not None:
            return [("Location", self.location), ("Cache-Control", "no-store, no-cache")]
        return list(HTML_HEADERS)


@dataclass
class _Request:
    """An authorization request that passed the checks."""

    tenant: Tenant
    app: App
    redirect_uri: str
    spa: bool
    response_mode: str
    resource: str
    names: tuple[str, ...]
    challenge: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Refused(Exception):
    """An error the user sees on a page, the redirect URI not being trustworthy."""

    def __init__(self, error: auth.TokenError) -> None:
        super().__init__(error.description)
        self.error = error


class _Redirected(Exception):
    """An error sent to the app's redirect URI."""

    def __init__(self, error: auth.TokenError, redirect_uri: str, mode: str, state: str | None) -> None:
        super().__init__(error.description)
        self.error, self.redirect_uri, self.mode, self.state = error, redirect_uri, mode, state


def authorize(
    issuer: auth.Issuer,
    tenant: Tenant | None,
    tenant_name: str,
    method: str,
    path: str,
    query: str,
    body: bytes,
) -> Page:
    """Answer ``GET`` (the sign-in page) or ``POST`` (its form) of the authorize endpoint."""
    fields = _fields(query if method == "GET" else body.decode("utf-8", "replace"))
    try:
        request = _check(tenant, tenant_name, fields)
    except _Refused as e:
        return _error_page(e.error)
    except _Redirected as e:
        answer = e.error.body()
        params = {"error": e.error.error, "error_description": answer["error_description"]}
        params["error_uri"] = answer["error_uri"]
        if e.state is not None:
            params["state"] = e.state
        return _respond(e.redirect_uri, e.mode, params, "authorize-error")
    if method == "GET":
        return _form(path, request, fields.get("login_hint", ""))
    username, password = fields.get("username", "").strip(), fields.get("password", "")
    if not username:
        return _form(path, request, username, NO_USERNAME)
    try:
        user = auth._signed_in(request.tenant, username, password)
    except auth.TokenError as e:
        return _form(path, request, username, UNKNOWN_USER if e.code == 50034 else WRONG_PASSWORD)
    code = issuer.codes.issue(
        tenant_id=request.tenant.id,
        client_id=request.app.client_id,
        redirect_uri=request.redirect_uri,
        spa=request.spa,
        user=user,
        resource=request.resource,
        names=request.names,
        challenge=request.challenge,
        method=request.method,
        nonce=fields.get("nonce") or None,
    )
    params = {"code": code}
    if "state" in fields:
        params["state"] = fields["state"]
    return _respond(request.redirect_uri, request.response_mode, params, "authorize-signin")


def allowed_origin(
    tenant: Tenant | None, origin_header: str | None, client_id: str | None = None
) -> str | None:
    """The ``Origin`` to allow on a token endpoint answer: one of a registered SPA redirect URI's
    (of the client's app when it is known, else of any app of the tenant)."""
    if tenant is None or not origin_header:
        return None
    apps = [tenant.apps[client_id]] if client_id and client_id in tenant.apps else tenant.apps.values()
    wanted = origin_header.strip().lower()
    return origin_header.strip() if any(wanted in app.spa_origins() for app in apps) else None


# --- checks --------------------------------------------------------------------------------------


def _fields(encoded: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(encoded, keep_blank_values=True).items()}


def _check(tenant: Tenant | None, tenant_name: str, fields: dict[str, str]) -> _Request:
    if tenant is None:
        raise _Refused(
            auth.TokenError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant_name}' not found. Check to make sure you have the correct tenant ID and "
                "are signing into the correct cloud.",
            )
        )
    try:
        app = auth._registered_app(tenant, tenant_name, fields.get("client_id", "").strip().lower())
    except auth.TokenError as e:
        raise _Refused(e) from None
    redirect_uri = fields.get("redirect_uri", "")
    if not redirect_uri:
        raise _Refused(auth.TokenError(400, "invalid_request", 900971, "No reply address provided."))
    platform = app.redirect_platform(redirect_uri)
    if platform is None:
        raise _Refused(
            auth.TokenError(
                400,
                "invalid_request",
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
                f"URIs configured for the application '{app.client_id}'. Make sure the redirect URI sent in "
                "the request matches one added to your application in the Azure portal. Navigate to "
                "https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
            )
        )
    # From here on the app gets the errors, at its redirect URI.
    state = fields.get("state")
    mode = fields.get("response_mode") or "query"
    if mode not in RESPONSE_MODES:
        raise _Redirected(
            auth.TokenError(
                400,
                "invalid_request",
                70007,
                f"The response_mode '{mode}' is not supported for this request.",
            ),
            redirect_uri,
            "query",
            state,
        )

    def refuse(error: str, code: int, description: str) -> _Redirected:
        return _Redirected(auth.TokenError(400, error, code, description), redirect_uri, mode, state)

    response_type = fields.get("response_type", "")
    if not response_type:
        raise refuse(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'response_type'.",
        )
    types = set(response_type.split())
    if types != {"code"}:
        if "id_token" in types:
            raise refuse(
                "unsupported_response_type",
                700054,
                "response_type 'id_token' is not enabled for the application.",
            )
        if "token" in types:
            raise refuse(
                "unsupported_response_type",
                70005,
                "response_type 'token' is not enabled for the application.",
            )
        raise refuse(
            "unsupported_response_type", 70005, f"The response_type '{response_type}' is not supported."
        )
    scope = fields.get("scope", "")
    if not scope.strip():
        raise refuse(
            "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
        )
    try:
        resource, names = auth._user_scopes(scope.split())
    except auth.TokenError as e:
        raise _Redirected(e, redirect_uri, mode, state) from None
    challenge = fields.get("code_challenge", "")
    method = fields.get("code_challenge_method", "")
    if not challenge:
        if platform == "spa":
            raise refuse(
                "invalid_request",
                9002325,
                "Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
            )
        if method:
            raise refuse(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'code_challenge'.",
            )
    else:
        method = method or "plain"  # "If excluded, code_challenge is assumed to be plaintext"
        if method not in ("S256", "plain"):
            raise refuse(
                "invalid_request", 90100, "The code_challenge_method parameter is empty or not valid."
            )
        if not 43 <= len(challenge) <= 128:
            raise refuse("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
    return _Request(
        tenant,
        app,
        redirect_uri,
        platform == "spa",
        mode,
        resource,
        names,
        challenge,
        method if challenge else "",
        {k: fields[k] for k in REQUEST_FIELDS if k in fields},
    )


# --- answers -------------------------------------------------------------------------------------


def _respond(redirect_uri: str, mode: str, params: dict[str, str], kind: str) -> Page:
    """The answer to the app, as ``response_mode`` says: a redirect, or a page that posts."""
    if mode == "form_post":
        inputs = "".join(_hidden(k, v) for k, v in params.items())
        body = (
            f'<form method="post" action="{html.escape(redirect_uri)}">{inputs}'
            '<noscript><button type="submit">Continue</button></noscript></form>'
            "<script>document.forms[0].submit()</script>"
        )
        return Page(200, _document("Working...", body), kind=kind)
    if mode == "fragment":
        return Page(302, location=f"{redirect_uri}#{urlencode(params)}", kind=kind)
    glue = "&" if "?" in redirect_uri else "?"
    return Page(302, location=f"{redirect_uri}{glue}{urlencode(params)}", kind=kind)


def _form(path: str, request: _Request, username: str, error: str = "") -> Page:
    alert = f'<p id="error" role="alert">{html.escape(error)}</p>' if error else ""
    hidden = "".join(_hidden(k, v) for k, v in request.fields.items())
    body = (
        f"<h1>Sign in</h1><p>to {html.escape(request.app.name)}</p>{alert}"
        f'<form method="post" action="{html.escape(path)}">'
        '<p><label for="username">Email</label> '
        f'<input type="email" id="username" name="username" value="{html.escape(username)}" '
        'autocomplete="username" required></p>'
        '<p><label for="password">Password</label> '
        '<input type="password" id="password" name="password" autocomplete="current-password"'
        f"{' autofocus' if username else ''}></p>"
        f'{hidden}<p><button type="submit">Sign in</button></p></form>'
    )
    return Page(200, _document("Sign in to your account", body), kind="authorize")


def _error_page(error: auth.TokenError) -> Page:
    answer = error.body()
    body = (
        "<h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p>"
        f'<p id="error" role="alert">AADSTS{error.code}: {html.escape(error.description)}</p>'
        f"<p>Request Id: {answer['trace_id']}<br>Correlation Id: {answer['correlation_id']}<br>"
        f"Timestamp: {answer['timestamp']}</p>"
    )
    return Page(400, _document("Sign in to your account", body), kind="authorize-error")


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'


def _document(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>"
    ).encode()

"""The o365 dialect's authorization code flow with PKCE: msal's ``initiate_auth_code_flow`` and
``acquire_token_by_auth_code_flow`` against the authorize endpoint's sign-in page and the token
endpoint, as a browser app (SPA redirect URI, cross-origin) and a desktop app (loopback redirect
URI) run it; the refusals of Entra ID and the token endpoint's CORS answers."""

from __future__ import annotations

import base64
import hashlib
import re
import ssl
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import msal
import pytest
import requests

from graph_support import MAIN, OTHER, TENANT_A, TENANT_B, trusting_session
from roomsync_sim.testing import RunningSimulator, running_simulator

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")

API = "api://roomsync"
SCOPE = f"{API}/access_as_user"
SPA = "https://addin.example:8443/addin/signin.html"
SPA_ORIGIN = "https://addin.example:8443"
SEED: dict[str, Any] = {
    "users": [
        {"smtp": "alice@example.org", "name": "Alice Adams", "password": "alice-pw"},
        {"smtp": "bob@example.org", "name": "Bob Brown", "password": "bob-pw"},
    ],
    "apps": [
        {
            "client_id": MAIN,
            "name": "ROOMS sync",
            "secrets": ["main-secret"],
            "public_client_redirect_uris": ["http://localhost"],
        }
    ],
    "tenants": [
        {
            "id": TENANT_B,
            "domains": ["subsidiary.example"],
            "users": [{"smtp": "erin@subsidiary.example", "name": "Erin Evans", "password": "erin-pw"}],
            "apps": [{"client_id": OTHER, "name": "Subsidiary sync", "redirect_uris": [SPA]}],
        }
    ],
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    with running_simulator("o365", SEED, tls_dir=tmp_path_factory.mktemp("tls")) as running:
        running.register_redirect_uri(SPA)  # as a test registers its served web app's page
        yield running


def _browser(sim: RunningSimulator) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    return httpx.Client(verify=context, trust_env=False, follow_redirects=False, timeout=10)


def _msal(
    sim: RunningSimulator, origin: str | None = SPA_ORIGIN, tenant: str = TENANT_A
) -> msal.ClientApplication:
    """msal as the app: its HTTP client sends a browser's ``Origin`` when ``origin`` is given."""
    session = trusting_session(sim)
    if origin:
        session.headers["Origin"] = origin
    return msal.PublicClientApplication(
        MAIN if tenant == TENANT_A else OTHER,
        authority=sim.authority(tenant),
        instance_discovery=False,
        http_client=session,
        token_cache=msal.TokenCache(),
    )


class _Form(HTMLParser):
    """The sign-in page's form: its action, fields, labels, alerts and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.labels: dict[str, str] = {}  # for= -> text
        self.alerts: list[str] = []
        self.buttons: list[str] = []
        self._in: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input":
            self.fields[a["name"]] = a.get("value", "")
            self.types[a["name"]] = a.get("type", "")
        elif tag == "label":
            self._in = ("label", a.get("for", ""))
        elif tag == "button":
            self._in = ("button", "")
        elif a.get("role") == "alert":
            self._in = ("alert", "")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is None:
            return
        kind, target = self._in
        if kind == "label":
            self.labels[target] = data.strip()
        elif kind == "button":
            self.buttons.append(data.strip())
        else:
            self.alerts.append(data.strip())


def _page(answer: httpx.Response) -> _Form:
    form = _Form()
    form.feed(answer.text)
    return form


def _sign_in(
    sim: RunningSimulator, auth_uri: str, username: str, password: str
) -> tuple[httpx.Response, _Form]:
    """Open the sign-in page and post its form as a user would; the answer to the post."""
    with _browser(sim) as browser:
        page = browser.get(auth_uri)
        assert page.status_code == 200, page.text
        form = _page(page)
        fields = {**form.fields, "username": username, "password": password}
        answer = browser.post(str(page.url.join(form.action)), data=fields)
    return answer, form


def _redirected(answer: httpx.Response) -> dict[str, str]:
    """The parameters of the redirect to the app (query or fragment)."""
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    return {k: v[0] for k, v in parse_qs(location.fragment or location.query).items()}


def _flow(app: msal.ClientApplication, redirect_uri: str = SPA, **kw: Any) -> dict[str, Any]:
    return dict(app.initiate_auth_code_flow(scopes=[SCOPE], redirect_uri=redirect_uri, **kw))


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_msal_signs_a_user_in_from_a_spa(sim: RunningSimulator) -> None:
    app = _msal(sim)
    flow = _flow(app, login_hint="alice@example.org")
    assert flow["auth_uri"].startswith(f"{sim.authority()}/oauth2/v2.0/authorize?")
    with _browser(sim) as browser:
        page = browser.get(flow["auth_uri"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    form = _page(page)
    assert form.fields["username"] == "alice@example.org"  # login_hint
    assert form.labels == {"username": "Email", "password": "Password"}
    assert form.types["password"] == "password" and form.buttons == ["Sign in"]
    verifier = hashlib.sha256(flow["code_verifier"].encode()).digest()
    assert form.fields["code_challenge"] == base64.urlsafe_b64encode(verifier).decode().rstrip("=")

    answer, _ = _sign_in(sim, flow["auth_uri"], "alice@example.org", "alice-pw")
    params = _redirected(answer)
    assert answer.headers["location"].startswith(f"{SPA}?code=")
    assert params["state"] == flow["state"]

    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" in result, result
    claims = _claims(result["access_token"])
    assert claims["preferred_username"] == "alice@example.org" and claims["name"] == "Alice Adams"
    assert claims["aud"] == API and claims["scp"] == "access_as_user" and claims["azpacr"] == "0"
    assert claims["iss"] == f"{sim.login_url}/{TENANT_A}/v2.0" and claims["azp"] == MAIN
    assert claims["oid"] == sim.tenants[0].user_id("alice@example.org")
    # msal checked the ID token's nonce against its flow; the account is cached.
    assert result["id_token_claims"]["nonce"]
    [account] = app.get_accounts()
    assert account["username"] == "alice@example.org"
    assert sim.simulator.counts["authorize"] >= 1 and sim.simulator.counts["authorize-signin"] >= 1


def test_a_desktop_client_on_a_loopback_port_and_the_fragment_mode(sim: RunningSimulator) -> None:
    # http://localhost is registered for mobile and desktop: any port, no Origin needed.
    app = _msal(sim, origin=None)
    flow = _flow(app, "http://localhost:53117", response_mode="fragment")
    answer, _ = _sign_in(sim, flow["auth_uri"], "Bob@Example.org", "bob-pw")
    assert answer.headers["location"].startswith("http://localhost:53117#code=")
    result = app.acquire_token_by_auth_code_flow(flow, _redirected(answer))
    assert _claims(result["access_token"])["preferred_username"] == "bob@example.org", result


def test_a_spa_of_another_tenant_registered_in_the_seed(sim: RunningSimulator) -> None:
    app = _msal(sim, tenant="subsidiary.example")
    flow = _flow(app)
    answer, _ = _sign_in(sim, flow["auth_uri"], "erin@subsidiary.example", "erin-pw")
    result = app.acquire_token_by_auth_code_flow(flow, _redirected(answer))
    claims = _claims(result["access_token"])
    assert claims["tid"] == TENANT_B and claims["preferred_username"] == "erin@subsidiary.example"
    # A user of the first tenant is not one of this tenant.
    flow = _flow(app)
    answer, _ = _sign_in(sim, flow["auth_uri"], "alice@example.org", "alice-pw")
    assert answer.status_code == 200 and "may be incorrect" in " ".join(_page(answer).alerts)


def test_a_wrong_password_shows_the_form_again(sim: RunningSimulator) -> None:
    flow = _flow(_msal(sim))
    answer, _ = _sign_in(sim, flow["auth_uri"], "alice@example.org", "not-her-password")
    assert answer.status_code == 200 and "location" not in answer.headers
    again = _page(answer)
    assert again.alerts == [
        "Your account or password is incorrect. If you don't remember your password, reset it now."
    ]
    assert again.fields["username"] == "alice@example.org" and again.fields["password"] == ""
    assert again.fields["state"] == flow["state"]  # the request goes on in the hidden fields
    # The second try succeeds.
    with _browser(sim) as browser:
        url = f"{sim.login_url}{again.action}"
        ok = browser.post(url, data={**again.fields, "password": "alice-pw"})
    assert "code" in _redirected(ok)


def test_a_code_is_redeemed_once(sim: RunningSimulator) -> None:
    app = _msal(sim)
    flow = _flow(app)
    answer, _ = _sign_in(sim, flow["auth_uri"], "alice@example.org", "alice-pw")
    params = _redirected(answer)
    assert "access_token" in app.acquire_token_by_auth_code_flow(dict(flow), params)
    again = app.acquire_token_by_auth_code_flow(dict(flow), params)
    assert again["error"] == "invalid_grant" and again["error_codes"] == [54005], again
    assert "already redeemed" in again["error_description"]


def _token(sim: RunningSimulator, origin: str | None = SPA_ORIGIN, **form: str) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    with _browser(sim) as browser:
        return browser.post(f"{sim.authority()}/oauth2/v2.0/token", data=form, headers=headers)


def _code(sim: RunningSimulator, verifier: str = "v" * 43, **extra: str) -> dict[str, str]:
    """A code of the first app for alice with an S256 challenge of ``verifier``."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = {
        "client_id": MAIN,
        "response_type": "code",
        "redirect_uri": SPA,
        "scope": f"openid {SCOPE}",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    url = httpx.URL(f"{sim.authority()}/oauth2/v2.0/authorize", params=query)
    answer, _ = _sign_in(sim, str(url), "alice@example.org", "alice-pw")
    return {
        "grant_type": "authorization_code",
        "client_id": MAIN,
        "code": _redirected(answer)["code"],
        "redirect_uri": SPA,
        "scope": SCOPE,
        "code_verifier": verifier,
    }


def test_the_verifier_and_the_bindings_of_a_code(sim: RunningSimulator) -> None:
    wrong = _token(sim, **{**_code(sim), "code_verifier": "w" * 43})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert wrong.json()["error_codes"] == [501481]
    assert "The Code_Verifier does not match the code_challenge" in wrong.json()["error_description"]

    with_msal = _msal(sim)
    flow = _flow(with_msal)
    answer, _ = _sign_in(sim, flow["auth_uri"], "alice@example.org", "alice-pw")
    refused = with_msal.acquire_token_by_auth_code_flow(
        {**flow, "code_verifier": "x" * 43}, _redirected(answer)
    )
    assert refused["error"] == "invalid_grant" and refused["error_codes"] == [501481], refused

    form = _code(sim)
    missing = _token(sim, **{k: v for k, v in form.items() if k != "code_verifier"})
    assert (
        missing.json()["error_codes"] == [900144] and "'code_verifier'" in missing.json()["error_description"]
    )
    other_uri = _token(sim, **{**form, "redirect_uri": "http://localhost:1234"})
    assert other_uri.json()["error"] == "invalid_grant" and other_uri.json()["error_codes"] == [70000]
    unknown = _token(sim, **{**form, "code": "not-a-code"})
    assert unknown.json()["error"] == "invalid_grant" and unknown.json()["error_codes"] == [70000]
    no_scope = _token(sim, **{**form, "scope": ""})
    assert no_scope.json()["error_codes"] == [28003]
    # An SPA's code is redeemed cross-origin only.
    same_origin = _token(sim, origin=None, **form)
    assert same_origin.json()["error"] == "invalid_request" and same_origin.json()["error_codes"] == [9002327]
    # All of that left the code unredeemed; the plain verifier of a plain challenge works too.
    assert _token(sim, **form).status_code == 200
    plain = _code(sim, code_challenge="p" * 50, code_challenge_method="plain")
    assert _token(sim, **{**plain, "code_verifier": "p" * 50}).status_code == 200


def test_an_expired_code(sim: RunningSimulator) -> None:
    codes = sim.simulator.graph.issuer.codes
    codes.lifetime = -1
    try:
        form = _code(sim)
    finally:
        codes.lifetime = 600
    expired = _token(sim, **form)
    assert expired.json()["error"] == "invalid_grant" and expired.json()["error_codes"] == [70008]


def test_errors_before_the_redirect_uri_is_trusted_are_pages(sim: RunningSimulator) -> None:
    base = {
        "client_id": MAIN,
        "response_type": "code",
        "redirect_uri": SPA,
        "scope": SCOPE,
        "state": "s",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }
    cases = [
        (TENANT_A, {"redirect_uri": "https://evil.example/signin.html"}, 50011),
        (TENANT_A, {"redirect_uri": "http://localhost:8080/other"}, 50011),  # the path must match
        (TENANT_A, {"redirect_uri": ""}, 900971),
        (TENANT_A, {"client_id": "00000000-0000-0000-0000-000000000999"}, 700016),
        (TENANT_A, {"client_id": OTHER}, 700016),  # the other tenant's app
        ("nowhere.example", {}, 90002),
    ]
    with _browser(sim) as browser:
        for tenant, change, code in cases:
            url = f"{sim.login_url}/{tenant}/oauth2/v2.0/authorize"
            page = browser.get(url, params={**base, **change})
            assert page.status_code == 400 and "location" not in page.headers, (change, page.text)
            assert f"AADSTS{code}" in page.text, (change, page.text)
            assert page.headers["content-type"].startswith("text/html")
            # Posting the form to an unregistered URI is refused alike.
        posted = browser.post(
            f"{sim.authority()}/oauth2/v2.0/authorize",
            data={
                **base,
                "redirect_uri": "https://evil.example/",
                "username": "alice@example.org",
                "password": "alice-pw",
            },
        )
    assert posted.status_code == 400 and "AADSTS50011" in posted.text


def test_errors_after_it_go_to_the_app(sim: RunningSimulator) -> None:
    base = {
        "client_id": MAIN,
        "response_type": "code",
        "redirect_uri": SPA,
        "scope": SCOPE,
        "state": "s-42",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }
    cases = [
        ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request", 9002325),
        ({"response_type": "token"}, "unsupported_response_type", 70005),
        ({"response_type": "code id_token"}, "unsupported_response_type", 700054),
        ({"scope": "User.Read"}, "invalid_scope", 70011),
        ({"code_challenge_method": "S512"}, "invalid_request", 90100),
    ]
    with _browser(sim) as browser:
        for change, error, code in cases:
            answer = browser.get(f"{sim.authority()}/oauth2/v2.0/authorize", params={**base, **change})
            params = _redirected(answer)
            assert answer.headers["location"].startswith(f"{SPA}?"), change
            assert params["error"] == error and params["state"] == "s-42", (change, params)
            assert params["error_description"].startswith(f"AADSTS{code}:"), (change, params)
        assert (
            "Proof Key for Code Exchange is required"
            in _redirected(
                browser.get(f"{sim.authority()}/oauth2/v2.0/authorize", params={**base, "code_challenge": ""})
            )["error_description"]
        )
        # A desktop client need not use PKCE.
        loopback = {
            **base,
            "redirect_uri": "http://127.0.0.1:9999",
            "code_challenge": "",
            "code_challenge_method": "",
        }
        page = browser.get(f"{sim.authority()}/oauth2/v2.0/authorize", params=loopback)
    assert page.status_code == 400  # http://127.0.0.1 is not registered, only http://localhost
    sim.register_redirect_uri("http://127.0.0.1", platform="publicClient")
    with _browser(sim) as browser:
        page = browser.get(f"{sim.authority()}/oauth2/v2.0/authorize", params=loopback)
    assert page.status_code == 200 and _page(page).buttons == ["Sign in"]


def test_cors_on_the_token_endpoint_for_the_spa_origin_only(sim: RunningSimulator) -> None:
    url = f"{sim.authority()}/oauth2/v2.0/token"
    with _browser(sim) as browser:
        preflight = browser.options(
            url,
            headers={
                "Origin": SPA_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        stranger = browser.options(url, headers={"Origin": "https://elsewhere.example"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SPA_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "content-type"
    assert "access-control-allow-origin" not in stranger.headers

    answer = _token(sim, **_code(sim))
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == SPA_ORIGIN
    refused = _token(sim, **{**_code(sim), "code_verifier": "z" * 43})  # errors are readable too
    assert refused.status_code == 400 and refused.headers["access-control-allow-origin"] == SPA_ORIGIN
    other = _token(sim, origin="https://elsewhere.example", **_code(sim))
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in _token(sim, origin=None, grant_type="password").headers


def test_a_redirect_uri_registered_at_run_time_survives_a_reset(sim: RunningSimulator) -> None:
    sim.register_redirect_uri("https://127.0.0.1:9443/addin/signin.html")
    session: requests.Session = trusting_session(sim)
    assert session.post(f"{sim.control_url}reset", timeout=10).status_code == 200
    app = sim.tenants[0].apps[MAIN]
    assert "https://127.0.0.1:9443/addin/signin.html" in app.redirect_uris and SPA in app.redirect_uris
    assert app.public_client_redirect_uris[0] == "http://localhost"  # from the seed
    # Over the control endpoint (a simulator in another process).
    r = session.post(
        f"{sim.control_url}redirect_uris", json={"redirect_uri": "https://rooms.example.org/x"}, timeout=10
    )
    assert r.status_code == 200 and "https://rooms.example.org/x" in r.json()["redirect_uris"]
    r = session.post(
        f"{sim.control_url}redirect_uris", json={"redirect_uri": "http://rooms.example.org/"}, timeout=10
    )
    assert r.status_code == 400 and "https" in r.json()["error"]
    with pytest.raises(ValueError, match="fragment"):
        sim.register_redirect_uri("https://rooms.example.org/#x")
    assert re.fullmatch(r"[0-9a-f-]{36}", sim.client_id)


def test_the_form_post_mode(sim: RunningSimulator) -> None:
    app = _msal(sim)
    flow = _flow(app, response_mode="form_post")
    answer, _ = _sign_in(sim, flow["auth_uri"], "alice@example.org", "alice-pw")
    assert answer.status_code == 200 and "location" not in answer.headers
    posted = _page(answer)
    assert posted.action == SPA and set(posted.fields) == {"code", "state"}
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, posted.fields)

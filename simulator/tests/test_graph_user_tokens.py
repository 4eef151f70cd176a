"""The o365 dialect's password grant: a user's token for a web API, over real HTTP with msal's
``acquire_token_by_username_password`` (public and confidential clients), checked with PyJWT
against the signing keys the OpenID metadata names; the refusals of Entra ID."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import msal
import pytest
import requests
from requests.adapters import HTTPAdapter

from graph_support import MAIN, OTHER, TENANT_A, TENANT_B, trusting_session
from roomsync_sim.testing import RunningSimulator, running_simulator

API = "api://roomsync"
SEED: dict[str, Any] = {
    "users": [
        {"smtp": "alice@example.org", "name": "Alice Adams", "password": "alice-pw"},
        {"smtp": "bob@example.org", "name": "Bob Brown", "password": "bob-pw"},
        {"smtp": "carol@example.org", "name": "Carol Clark"},  # no password: cannot sign in
    ],
    "rooms": [{"smtp": "room.1@example.org", "name": "Room 1"}],
    "apps": [{"client_id": MAIN, "name": "ROOMS sync", "secrets": ["main-secret"]}],
    "tenants": [
        {
            "id": TENANT_B,
            "domains": ["subsidiary.example"],
            "users": [{"smtp": "erin@subsidiary.example", "name": "Erin Evans", "password": "erin-pw"}],
            "apps": [{"client_id": OTHER, "name": "Subsidiary sync", "secrets": ["other-secret"]}],
        }
    ],
}


class _DefaultPort(HTTPAdapter):
    """msal asks ``https://{host}/common/userrealm/...`` without the authority's port (it keeps only
    the host name); this sends such requests to the simulator's port instead of 443."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.url = self.base_url + str(request.url).removeprefix("https://localhost")
        return super().send(request, *args, **kwargs)


def _session(sim: RunningSimulator) -> requests.Session:
    """msal's HTTP client: trusts the simulator's CA, reaches it on port-less localhost URLs too."""
    session = trusting_session(sim)
    session.mount("https://localhost/", _DefaultPort(sim.login_url))
    return session


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    with running_simulator("o365", SEED, tls_dir=tmp_path_factory.mktemp("tls")) as running:
        yield running


def _public(sim: RunningSimulator, tenant: str = TENANT_A) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        MAIN,
        authority=sim.authority(tenant),
        instance_discovery=False,
        http_client=_session(sim),
        token_cache=msal.TokenCache(),
    )


def _confidential(sim: RunningSimulator, secret: str = "main-secret") -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        MAIN,
        client_credential=secret,
        authority=sim.authority(),
        instance_discovery=False,
        http_client=_session(sim),
        token_cache=msal.TokenCache(),
    )


def _user_token(
    app: msal.ClientApplication, username: str, password: str, scopes: list[str] | None = None
) -> dict[str, Any]:
    if isinstance(app, msal.ConfidentialClientApplication):
        return dict(app.acquire_token_by_username_password(username, password, scopes or [f"{API}/.default"]))
    with pytest.warns(DeprecationWarning, match="deprecated for public client flows"):
        return dict(
            app.acquire_token_by_username_password(username, password, scopes or [f"{API}/access_as_user"])
        )


def _verified(sim: RunningSimulator, token: str, audience: str) -> dict[str, Any]:
    """The token's claims, checked as a web API would: keys and issuer from the OpenID metadata."""
    session = trusting_session(sim)
    metadata = session.get(f"{sim.authority()}/v2.0/.well-known/openid-configuration", timeout=10).json()
    keys = jwt.PyJWKSet.from_dict(session.get(metadata["jwks_uri"], timeout=10).json())
    key = keys[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=metadata["issuer"],
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
    )
    return claims


def test_public_client_gets_a_users_token_for_the_web_api(sim: RunningSimulator) -> None:
    app = _public(sim)
    result = _user_token(app, "alice@example.org", "alice-pw")
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3599, result
    assert result["scope"] == f"{API}/access_as_user"

    claims = _verified(sim, result["access_token"], API)
    tenant = sim.tenants[0]
    assert claims["iss"] == f"{sim.login_url}/{TENANT_A}/v2.0"
    assert claims["aud"] == API and claims["ver"] == "2.0"
    assert claims["preferred_username"] == "alice@example.org" and claims["name"] == "Alice Adams"
    assert claims["scp"] == "access_as_user" and claims["azp"] == MAIN and claims["azpacr"] == "0"
    assert claims["tid"] == TENANT_A and claims["oid"] == tenant.user_id("alice@example.org")
    assert claims["exp"] - claims["iat"] == 3599

    id_claims = _verified(sim, result["id_token"], MAIN)
    assert id_claims["preferred_username"] == "alice@example.org"
    assert (id_claims["oid"], id_claims["tid"]) == (claims["oid"], TENANT_A)

    # msal keeps the account (client_info) and answers the next request from its cache.
    [account] = app.get_accounts()
    assert account["username"] == "alice@example.org"
    assert account["home_account_id"] == f"{claims['oid']}.{TENANT_A}"
    cached = app.acquire_token_silent([f"{API}/access_as_user"], account)
    assert cached is not None and cached["access_token"] == result["access_token"]
    assert sim.simulator.counts["user-realm"] >= 1


def test_confidential_client_with_default_scope(sim: RunningSimulator) -> None:
    result = _user_token(_confidential(sim), "Bob@Example.org", "bob-pw")
    claims = _verified(sim, result["access_token"], API)
    assert claims["preferred_username"] == "bob@example.org"
    assert claims["scp"] == "access_as_user" and claims["azpacr"] == "1"
    # The oid is the user's id in Graph; sub is the same for the same user and app.
    assert claims["oid"] == sim.tenants[0].user_id("bob@example.org")
    again = _verified(sim, _user_token(_public(sim), "bob@example.org", "bob-pw")["access_token"], API)
    assert (again["sub"], again["oid"]) == (claims["sub"], claims["oid"])

    wrong = _user_token(_confidential(sim, "nope"), "bob@example.org", "bob-pw")
    assert wrong["error"] == "invalid_client" and wrong["error_codes"] == [7000215]


def test_a_user_of_the_other_tenant_signs_in_there(sim: RunningSimulator) -> None:
    app = msal.PublicClientApplication(
        OTHER,
        authority=sim.authority("subsidiary.example"),
        instance_discovery=False,
        http_client=_session(sim),
    )
    result = _user_token(app, "erin@subsidiary.example", "erin-pw", [f"{API}/Rooms.Book"])
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["tid"] == TENANT_B and claims["iss"] == f"{sim.login_url}/{TENANT_B}/v2.0"
    assert claims["scp"] == "Rooms.Book"
    # Not a user of the first tenant.
    refused = _user_token(_public(sim), "erin@subsidiary.example", "erin-pw")
    assert refused["error"] == "invalid_grant" and refused["error_codes"] == [50034]


def test_wrong_password_and_unknown_user_are_refused(sim: RunningSimulator) -> None:
    app = _public(sim)
    wrong = _user_token(app, "alice@example.org", "not-her-password")
    assert wrong["error"] == "invalid_grant" and wrong["error_codes"] == [50126], wrong
    assert "Error validating credentials due to invalid username or password." in wrong["error_description"]
    no_password = _user_token(app, "carol@example.org", "")
    assert no_password["error"] == "invalid_request" and no_password["error_codes"] == [900144]
    no_password = _user_token(app, "carol@example.org", "anything")
    assert no_password["error"] == "invalid_grant" and no_password["error_codes"] == [50126]
    unknown = _user_token(app, "mallory@example.org", "x")
    assert unknown["error"] == "invalid_grant" and unknown["error_codes"] == [50034], unknown
    assert "does not exist" in unknown["error_description"]
    assert "access_token" not in wrong and "access_token" not in unknown


def test_unknown_app_and_scopes_that_name_no_web_api(sim: RunningSimulator) -> None:
    stranger = msal.PublicClientApplication(
        "00000000-0000-0000-0000-000000000999",
        authority=sim.authority(),
        instance_discovery=False,
        http_client=_session(sim),
    )
    unknown = _user_token(stranger, "alice@example.org", "alice-pw")
    assert unknown["error"] == "unauthorized_client" and unknown["error_codes"] == [700016]
    app = _public(sim)
    for scopes, code in (
        (["User.Read"], 70011),
        (["https://graph.microsoft.com/Calendars.Read"], 70011),
        ([f"{API}/access_as_user", "api://other/access_as_user"], 28000),
    ):
        refused = _user_token(app, "alice@example.org", "alice-pw", scopes)
        assert refused["error"] == "invalid_scope" and refused["error_codes"] == [code], (scopes, refused)


def test_the_token_endpoint_over_plain_requests(sim: RunningSimulator) -> None:
    session = trusting_session(sim)
    url = f"{sim.authority()}/oauth2/v2.0/token"
    form = {"grant_type": "password", "client_id": MAIN, "scope": f"{API}/access_as_user"}
    r = session.post(url, data={**form, "username": "alice@example.org", "password": "alice-pw"}, timeout=10)
    assert r.status_code == 200, r.text
    assert "id_token" not in r.json() and "client_info" not in r.json()  # no openid, no client_info=1
    assert "refresh_token" not in r.json()
    r = session.post(url, data={**form, "password": "alice-pw"}, timeout=10)
    assert r.status_code == 400 and r.json()["error_codes"] == [900144]
    assert "'username'" in r.json()["error_description"]
    realm = f"{sim.login_url}/common/userrealm/{{}}?api-version=1.0"
    managed = session.get(realm.format("alice@example.org"), timeout=10).json()
    assert managed["account_type"] == "Managed" and managed["domain_name"] == "example.org"
    assert session.get(realm.format("x@elsewhere.example"), timeout=10).json()["account_type"] == "Unknown"


def test_graph_refuses_a_users_token_and_client_credentials_still_work(sim: RunningSimulator) -> None:
    user_token = _user_token(_public(sim), "alice@example.org", "alice-pw")["access_token"]
    session = trusting_session(sim)
    url = f"{sim.graph_url}/users/alice@example.org/events"
    r = session.get(url, headers={"Authorization": f"Bearer {user_token}"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"

    app_token = _confidential(sim).acquire_token_for_client(["https://graph.microsoft.com/.default"])
    claims = jwt.decode(app_token["access_token"], options={"verify_signature": False})
    assert claims["iss"] == f"https://sts.windows.net/{TENANT_A}/" and claims["idtyp"] == "app"
    r = session.get(url, headers={"Authorization": f"Bearer {app_token['access_token']}"}, timeout=10)
    assert r.status_code == 200, r.text

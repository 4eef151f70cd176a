"""The o365 dialect's sign-in: msal's client-credentials flow (secret and certificate), token
errors, token checks on Graph calls, tenants, permissions and application access policies."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from graph_support import (
    MAIN,
    OTHER,
    READER,
    SCOPED,
    SEED,
    TENANT_A,
    TENANT_B,
    Graph,
    event,
    soon,
    trusting_session,
)
from roomsync_sim.testing import RunningSimulator, running_simulator

SCOPE = ["https://graph.microsoft.com/.default"]


def _certificate() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "roomsync-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key


CERT_PEM, KEY_PEM = _certificate()
CERT_APP = "00000000-0000-0000-0000-0000000000b4"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    seed = dict(SEED)
    seed["apps"] = [*SEED["apps"], {"client_id": CERT_APP, "name": "Cert app", "certificates": [CERT_PEM]}]
    with running_simulator("o365", seed, tls_dir=tmp_path_factory.mktemp("tls"), token_lifetime=2) as running:
        yield running


def _app(
    sim: RunningSimulator, client_id: str = MAIN, credential: object = "main-secret", tenant: str = TENANT_A
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=sim.authority(tenant),
        instance_discovery=False,
        http_client=trusting_session(sim),
        token_cache=msal.TokenCache(),
    )


def test_msal_client_secret_token_reads_graph(sim: RunningSimulator) -> None:
    result = _app(sim).acquire_token_for_client(SCOPE)
    assert result["token_type"] == "Bearer" and result["expires_in"] == 2, result
    r = trusting_session(sim).get(
        f"{sim.graph_url}/users/alice@example.org/events",
        headers={"Authorization": f"Bearer {result['access_token']}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["value"] == []


def test_msal_certificate_assertion_and_domain_authority(sim: RunningSimulator) -> None:
    app = _app(sim, CERT_APP, {"private_key": KEY_PEM, "public_certificate": CERT_PEM}, tenant="example.org")
    result = app.acquire_token_for_client(SCOPE)
    assert "access_token" in result, result
    # The SHA-1 thumbprint form (msal's older "thumbprint" credential) is accepted too.
    thumb = x509.load_pem_x509_certificate(CERT_PEM.encode()).fingerprint(hashes.SHA1()).hex()
    app = _app(sim, CERT_APP, {"private_key": KEY_PEM, "thumbprint": thumb})
    assert "access_token" in app.acquire_token_for_client(SCOPE)
    # A certificate that is not registered is refused.
    _, other_key = _certificate()
    refused = _app(
        sim, CERT_APP, {"private_key": other_key, "thumbprint": "00" * 20}
    ).acquire_token_for_client(SCOPE)
    assert refused["error"] == "invalid_client" and 700027 in refused["error_codes"]


def test_msal_instance_discovery_endpoint(sim: RunningSimulator) -> None:
    app = msal.ConfidentialClientApplication(
        MAIN,
        client_credential="main-secret",
        authority=sim.authority(),
        instance_discovery=sim.instance_discovery_url,
        http_client=trusting_session(sim),
    )
    assert "access_token" in app.acquire_token_for_client(SCOPE)


def test_token_errors(sim: RunningSimulator) -> None:
    wrong = _app(sim, credential="nope").acquire_token_for_client(SCOPE)
    assert wrong["error"] == "invalid_client" and wrong["error_codes"] == [7000215]
    unknown = _app(sim, client_id="00000000-0000-0000-0000-000000000999").acquire_token_for_client(SCOPE)
    assert unknown["error"] == "unauthorized_client" and unknown["error_codes"] == [700016]
    scope = _app(sim).acquire_token_for_client(["https://graph.microsoft.com/Calendars.Read"])
    assert scope["error"] == "invalid_scope"
    # The other tenant's app is not registered here.
    assert "error" in _app(sim, OTHER, "other-secret").acquire_token_for_client(SCOPE)
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        _app(sim, tenant="11111111-1111-1111-1111-111111111111")
    r = trusting_session(sim).post(
        f"{sim.login_url}/nowhere.example/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": MAIN, "client_secret": "x", "scope": SCOPE[0]},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["error_codes"] == [90002]


def test_graph_rejects_missing_bad_and_expired_tokens(sim: RunningSimulator) -> None:
    url = f"{sim.graph_url}/users/alice@example.org/events"
    for headers, message in (
        ({}, "Access token is empty."),
        ({"Authorization": "Bearer not-a-jwt"}, "not well formed"),
        ({"Authorization": "Bearer a.b.c"}, "validation failure"),
    ):
        r = trusting_session(sim).get(url, headers=headers, timeout=10)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert message in r.json()["error"]["message"]
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    token = _app(sim).acquire_token_for_client(SCOPE)["access_token"]
    time.sleep(2.2)
    r = trusting_session(sim).get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_tenants_are_separate(sim: RunningSimulator) -> None:
    a, b = Graph(sim), Graph(sim, TENANT_B)
    assert a.get("/users/erin@subsidiary.example/events").json()["error"]["code"] == "ErrorInvalidUser"
    assert b.get("/users/alice@example.org/events").status_code == 404
    created = b.create("erin@subsidiary.example", event("Subsidiary", soon()))
    assert b.get(f"/users/erin@subsidiary.example/events/{created['id']}").status_code == 200
    assert [t.id for t in sim.tenants] == [TENANT_A, TENANT_B]
    assert "subsidiary.onmicrosoft.com" in sim.tenants[1].domains
    user = a.get("/users/alice@example.org").json()
    assert user["mail"] == "alice@example.org"
    assert a.get(f"/users/{user['id']}/calendar").json()["owner"]["address"] == "alice@example.org"
    r = a.get("/me/events")
    assert r.status_code == 400 and "delegated" in r.json()["error"]["message"]


def test_access_policy_and_permissions(sim: RunningSimulator) -> None:
    scoped = Graph(sim, client=SCOPED)
    assert (
        scoped.get(
            "/users/alice@example.org/calendarView?startDateTime=2030-01-01&endDateTime=2030-01-02"
        ).status_code
        == 200
    )
    denied = scoped.get("/users/bob@example.org/events")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "ErrorAccessDenied"
    assert "AccessPolicy" in denied.json()["error"]["message"]
    reader = Graph(sim, client=READER)
    assert reader.get("/users/bob@example.org/events").status_code == 200
    refused = reader.post("/users/bob@example.org/events", event("No", soon()))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"


def test_openid_configuration_and_keys(sim: RunningSimulator) -> None:
    session = trusting_session(sim)
    config = session.get(
        f"{sim.login_url}/example.org/v2.0/.well-known/openid-configuration", timeout=10
    ).json()
    assert config["token_endpoint"] == f"{sim.login_url}/{TENANT_A}/oauth2/v2.0/token"
    keys = session.get(config["jwks_uri"], timeout=10).json()["keys"]
    assert keys[0]["kty"] == "RSA"
    counts = sim.simulator.counts
    assert counts["openid-configuration"] >= 1 and counts["keys"] >= 1


def test_cli_parses_o365(tmp_path: Path) -> None:
    from roomsync_sim.dialects import get_dialect

    assert get_dialect("o365").graph

"""Who may call: no one anonymously but health, keys by scope, people as themselves, within a rate."""

from __future__ import annotations

import json
import ssl
import time
from datetime import timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from support import (
    ALICE,
    AUDIENCE,
    BOB,
    ERIN,
    FRANK,
    OTHER_TENANT,
    TOKEN_SECONDS,
    Installation,
    installation,
    next_weekday_at,
)


def booking(organizer: str, hour: int) -> dict[str, object]:
    start = next_weekday_at(hour, days=6)
    return {
        "title": f"Sync of {organizer}",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "organizer": organizer,
    }


def test_nothing_but_operations_answers_anonymously(served: Installation) -> None:
    anonymous = served.client()
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    document = anonymous.get("/api/openapi.json").json()
    routes = [
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith("/api/")
        for method in item
    ]
    assert len(routes) >= 12
    for method, path in routes:
        answer = anonymous.request(method, path.replace("{reservation_id}", "1").replace("{email}", ALICE))
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["www-authenticate"].startswith("Bearer")
    # a body is not looked at before the caller is known
    assert (
        anonymous.post(
            "/api/v1/reservations", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 401
    )


def test_scopes_nest_and_are_enforced(served: Installation) -> None:
    read, book = served.client(served.key("read")), served.client(served.key("book"))
    assert read.get("/api/v1/rooms").status_code == 200
    refused = read.post("/api/v1/reservations", json=booking(ALICE, 7))
    assert refused.status_code == 403
    assert "has scope read; this needs book" in refused.json()["detail"]
    assert book.get("/api/v1/rooms").status_code == 200  # book includes read
    assert book.get("/api/v1/admin/status").status_code == 403
    assert served.client("rsk_000000000000_" + "A" * 43).get("/api/v1/rooms").status_code == 401
    assert served.client("not-a-key").get("/api/v1/rooms").status_code == 401


def test_a_revoked_key_is_refused_at_once(served: Installation) -> None:
    made = json.loads(served.roomsync("--json", "api-key", "add", "short-lived", "--scope", "read").stdout)
    api = served.client(made["key"])
    assert api.get("/api/v1/rooms").status_code == 200
    served.roomsync("api-key", "revoke", made["id"])
    answer = api.get("/api/v1/rooms")
    assert answer.status_code == 401
    assert answer.json() == {"detail": "the API key is unknown, wrong or revoked"}
    listed = json.loads(served.roomsync("--json", "api-key", "list", "--all").stdout)
    assert all("key" not in k and made["key"] not in json.dumps(k) for k in listed)


def test_a_key_bound_to_a_person_acts_as_that_person(served: Installation) -> None:
    alice = served.client(served.key("book", ALICE))
    assert alice.post("/api/v1/reservations", json=booking(ALICE, 8)).status_code == 201
    other = alice.post("/api/v1/reservations", json=booking(BOB, 8))
    assert other.status_code == 403
    assert other.json()["detail"].endswith(
        f"may book only as {ALICE} or for the persons who named them as booker"
    )


def test_people_sign_in_with_their_tokens_and_act_as_themselves(served: Installation) -> None:
    token = served.person_token(ALICE, "alice-password")
    alice = served.client(token)
    mine = alice.post("/api/v1/reservations", json=booking(ALICE, 9))
    assert mine.status_code == 201, mine.text
    assert alice.post("/api/v1/reservations", json=booking(BOB, 9)).status_code == 403
    bobs = served.client(served.key("book")).post("/api/v1/reservations", json=booking(BOB, 10)).json()
    assert alice.get(f"/api/v1/reservations/{bobs['id']}").status_code == 404  # not hers to see
    assert bobs["id"] not in [r["id"] for r in alice.get("/api/v1/reservations").json()]
    assert alice.get("/api/v1/admin/status").status_code == 403
    # erin is an administrator by the configuration
    assert (
        served.client(served.person_token(ERIN, "erin-password")).get("/api/v1/admin/status").status_code
        == 200
    )


def _forged(claims: dict[str, object], kid: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_forged_expired_and_foreign_tokens_are_refused(served: Installation) -> None:
    token = served.person_token(ALICE, "alice-password")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    cases = {
        "forged": (_forged(claims, header["kid"]), "the token's signature is not valid"),
        "another issuer": (
            _forged({**claims, "iss": "https://login.example.com/x/v2.0"}, "other"),
            "not signed by a key of the configured issuer",
        ),
        "not a JWT": ("abc.def", "not a JWT"),
        "wrong algorithm": (
            jwt.encode(claims, "s" * 32, algorithm="HS256"),
            "signed with 'HS256'; only RS256 is accepted",
        ),
    }
    for name, (bad, words) in cases.items():
        answer = served.client(bad).get("/api/v1/rooms")
        assert answer.status_code == 401, name
        assert words in answer.json()["detail"], (name, answer.json())
    time.sleep(TOKEN_SECONDS + 1)
    expired = served.client(token).get("/api/v1/rooms")
    assert expired.status_code == 401
    assert expired.json()["detail"] == "the token has expired"


def test_a_token_of_another_organisation_signed_by_the_same_keys_is_refused(served: Installation) -> None:
    token = served.person_token(FRANK, "frank-password", tenant=OTHER_TENANT)
    assert (
        jwt.get_unverified_header(token)["kid"]
        == jwt.get_unverified_header(served.person_token(ALICE, "alice-password"))["kid"]
    )
    refused = served.client(token).get("/api/v1/rooms")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the token is from another issuer"


def test_a_token_for_another_api_is_refused(served: Installation) -> None:
    answer = httpx.post(
        f"{served.graph.login_url}/{served.graph.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "password",
            "client_id": served.graph.client_id,
            "scope": "api://another-app/access_as_user",
            "username": ALICE,
            "password": "alice-password",
        },
        verify=ssl.create_default_context(cafile=str(served.graph.ca_file)),
        trust_env=False,
    )
    refused = served.client(answer.json()["access_token"]).get("/api/v1/rooms")
    assert refused.status_code == 401
    assert refused.json()["detail"] == f"the token is not for this API (audience {AUDIENCE})"


def test_cors_answers_only_configured_origins(served: Installation) -> None:
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization"}
    allowed = served.client().options(
        "/api/v1/reservations", headers={"origin": "https://rooms.example.org", **preflight}
    )
    assert allowed.headers.get("access-control-allow-origin") == "https://rooms.example.org"
    other = served.client().options(
        "/api/v1/reservations", headers={"origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers


def test_credentials_never_reach_the_log_or_answers(served: Installation) -> None:
    key = served.key("read")
    token = served.person_token(ALICE, "alice-password")
    served.client(key).get("/api/v1/rooms")
    served.client(token).get("/api/v1/rooms")
    served.client(key + "x").get("/api/v1/rooms")
    log = served.log()
    assert "GET /api/v1/rooms 200" in log  # the access log is there
    for secret in (
        key,
        key[len("rsk_") + 13 :],
        token,
        token.split(".")[2],
        "svc-password",
        "not-the-password",
    ):
        assert secret not in log


def test_the_rate_limit_counts_per_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    with installation(tmp_path_factory.mktemp("rate")) as inst:
        text = inst.config.read_text(encoding="utf-8").replace(
            'rate_limit = "100000/minute"', 'rate_limit = "5/minute"'
        )
        inst.config.write_text(text, encoding="utf-8")
        inst.serve()
        first, second = inst.client(inst.key("read")), inst.client(inst.key("book"))
        answers = [first.get("/api/v1/rooms").status_code for _ in range(7)]
        assert answers == [200] * 5 + [429] * 2
        limited = first.get("/api/v1/rooms")
        assert int(limited.headers["retry-after"]) >= 1
        assert "rate limit of 5 per 1 minute exceeded" in limited.json()["detail"]
        assert second.get("/api/v1/rooms").status_code == 200  # another key has its own count
        assert inst.client().get("/healthz").status_code == 200

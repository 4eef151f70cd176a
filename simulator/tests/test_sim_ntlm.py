"""NTLM: MD4, the handshake on one TCP connection, exchangelib with NTLM, the offered schemes."""

from __future__ import annotations

import base64
import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
import spnego
from exchangelib import NTLM
from exchangelib.errors import UnauthorizedError

from roomsync_sim.ews.md4 import md4
from roomsync_sim.seed import SeedError, parse_seed
from roomsync_sim.testing import RunningSimulator, running_simulator
from sim_support import SEED, Org, serve_command

# RFC 1320, appendix A.5.
MD4_VECTORS = [
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
    (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
    (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
    (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "043f8582f241db351ce627e153e7f0e4",
    ),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
]


@pytest.mark.parametrize(("message", "digest"), MD4_VECTORS)
def test_md4_rfc1320_vectors(message: bytes, digest: str) -> None:
    assert md4(message).hex() == digest


def test_md4_across_block_boundaries() -> None:
    """Padding spills into a second block from 56 bytes on; the NT hash of "password" is well known."""
    assert md4(b"a" * 55) != md4(b"a" * 56)
    assert md4("password".encode("utf-16-le")).hex() == "8846f7eaee8fb117ad06bdd830b7586c"


def test_exchangelib_with_ntlm(org: Org) -> None:
    account = org.account("alice@example.org", auth_type=NTLM)
    assert account.calendar.name == "Calendar"
    assert account.protocol.auth_type == NTLM
    down_level = org.account("bob@example.org", login="EXAMPLE\\bob", password="bob-pw", auth_type=NTLM)
    assert down_level.calendar.total_count == 0


def test_exchangelib_with_ntlm_and_a_wrong_password(org: Org) -> None:
    account = org.account("alice@example.org", password="not-alice-pw", auth_type=NTLM)
    with pytest.raises(UnauthorizedError):
        account.calendar.refresh()


# --- the handshake, over raw HTTP connections -----------------------------------------------------

SOAP = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
    b'<s:Header><t:RequestServerVersion Version="Exchange2010_SP2"/></s:Header>'
    b"<s:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    b'<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder></s:Body>'
    b"</s:Envelope>"
)


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator("exchange2010", SEED, validate=True) as running:
        yield running


def _post(conn: http.client.HTTPConnection, authorization: str | None = None) -> http.client.HTTPResponse:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if authorization:
        headers["Authorization"] = authorization
    conn.request("POST", "/EWS/Exchange.asmx", SOAP, headers)
    response = conn.getresponse()
    response.read()
    return response


def _token(response: http.client.HTTPResponse, scheme: str = "NTLM") -> bytes:
    header = response.headers["WWW-Authenticate"]
    assert header.startswith(scheme + " ")
    return base64.b64decode(header.split(" ", 1)[1])


def _client(user: str = "alice@example.org", password: str = "alice-pw") -> spnego.ContextProxy:
    return spnego.client(
        user, password, protocol="ntlm", hostname="localhost", options=spnego.NegotiateOptions.use_ntlm
    )


def _connect(sim: RunningSimulator) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(sim.host, sim.port, timeout=10)


def _b64(token: bytes | None) -> str:
    return base64.b64encode(token or b"").decode()


def test_ntlm_authenticates_the_connection(sim: RunningSimulator) -> None:
    conn = _connect(sim)
    first = _post(conn)
    assert first.status == 401
    offered = first.headers.get_all("WWW-Authenticate")
    assert "NTLM" in offered and any(v.startswith("Basic") for v in offered)
    client = _client()
    challenge = _post(conn, "NTLM " + _b64(client.step()))
    assert challenge.status == 401
    assert _post(conn, "NTLM " + _b64(client.step(_token(challenge)))).status == 200
    # IIS: later requests on the authenticated connection need no Authorization header ...
    assert _post(conn).status == 200
    # ... but another connection does.
    other = _connect(sim)
    assert _post(other).status == 401
    conn.close()
    other.close()


def test_challenge_target_info(sim: RunningSimulator) -> None:
    from roomsync_sim.ews import ntlm

    conn = _connect(sim)
    challenge = _token(_post(conn, "NTLM " + _b64(_client().step())))
    assert ntlm.message_type(challenge) == 2
    info = ntlm._field(challenge, 40)
    pairs: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(info):
        av_id, length = (
            int.from_bytes(info[pos : pos + 2], "little"),
            int.from_bytes(info[pos + 2 : pos + 4], "little"),
        )
        if av_id == 0:
            break
        pairs[av_id] = info[pos + 4 : pos + 4 + length]
        pos += 4 + length
    assert pairs[ntlm.AV_NB_DOMAIN].decode("utf-16-le") == "EXAMPLE"
    assert pairs[ntlm.AV_DNS_DOMAIN].decode("utf-16-le") == "example.org"
    assert ntlm.AV_NB_COMPUTER in pairs and ntlm.AV_DNS_COMPUTER in pairs
    assert len(pairs[ntlm.AV_TIMESTAMP]) == 8
    second = _token(_post(conn, "NTLM " + _b64(_client().step())))
    assert challenge[24:32] != second[24:32]  # a fresh server challenge each time
    conn.close()


def test_answer_on_another_connection_is_refused(sim: RunningSimulator) -> None:
    client = _client()
    first, second = _connect(sim), _connect(sim)
    challenge = _post(first, "NTLM " + _b64(client.step()))
    answer = "NTLM " + _b64(client.step(_token(challenge)))
    refused = _post(second, answer)
    assert refused.status == 401
    assert "NTLM" in refused.headers.get_all("WWW-Authenticate")
    assert _post(second).status == 401
    first.close()
    second.close()


def test_ntlmv1_lm_and_a_tampered_mic_are_refused(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = _connect(sim)
    monkeypatch.setenv("LM_COMPAT_LEVEL", "1")  # the client sends LM and NTLMv1 responses
    v1 = _client()
    challenge = _post(conn, "NTLM " + _b64(v1.step()))
    assert _post(conn, "NTLM " + _b64(v1.step(_token(challenge)))).status == 401
    monkeypatch.delenv("LM_COMPAT_LEVEL")
    v2 = _client()
    challenge = _post(conn, "NTLM " + _b64(v2.step()))
    answer = bytearray(v2.step(_token(challenge)) or b"")
    answer[72] ^= 0xFF  # the MIC
    assert _post(conn, "NTLM " + _b64(bytes(answer))).status == 401
    # a replayed answer finds no challenge waiting for it
    v3 = _client()
    challenge = _post(conn, "NTLM " + _b64(v3.step()))
    good = "NTLM " + _b64(v3.step(_token(challenge)))
    assert _post(conn, good).status == 200
    assert _post(conn, good).status == 401
    conn.close()


def test_offered_schemes_are_configurable() -> None:
    with running_simulator("exchange2013", SEED, validate=True, auth="basic") as running:
        conn = _connect(running)
        refused = _post(conn)
        assert refused.headers.get_all("WWW-Authenticate") == ['Basic realm="roomsync-exchange-simulator"']
        assert _post(conn, "NTLM " + _b64(_client().step())).status == 401
        assert _post(conn, "Bearer svc-token").status == 401
        assert _post(conn, "Basic " + _b64(b"alice@example.org:alice-pw")).status == 200
        conn.close()
    # Negotiate alone: clients send raw NTLM messages under it (no Kerberos here)
    with running_simulator("exchange2013", {**SEED, "auth": ["negotiate"]}, validate=True) as running:
        conn = _connect(running)
        assert _post(conn).headers.get_all("WWW-Authenticate") == ["Negotiate"]
        client = _client()
        challenge = _post(conn, "Negotiate " + _b64(client.step()))
        assert _post(conn, "Negotiate " + _b64(client.step(_token(challenge, "Negotiate")))).status == 200
        conn.close()
    with pytest.raises(SeedError):
        parse_seed({**SEED, "auth": "basic,kerberos"})
    assert parse_seed(SEED).auth == ("basic", "ntlm", "bearer")


def test_exchangelib_with_negotiate_over_tls(tmp_path: Path) -> None:
    """Over TLS the client adds channel bindings to its answer; the server accepts them."""
    from exchangelib import DELEGATE, Account, Configuration, Credentials
    from exchangelib.protocol import BaseProtocol
    from requests.adapters import HTTPAdapter

    from sim_support import PINNED

    seed = {**SEED, "auth": "basic,negotiate"}
    with running_simulator("exchange2013", seed, validate=True, tls_dir=tmp_path) as running:
        ca_file = str(running.ca_file)

        class TrustSimulatorCA(HTTPAdapter):
            def cert_verify(self, conn, url, verify, cert):  # type: ignore[no-untyped-def]
                super().cert_verify(conn, url, ca_file, cert)

        BaseProtocol.HTTP_ADAPTER_CLS = TrustSimulatorCA
        config = Configuration(
            service_endpoint=running.ews_url,
            auth_type=NTLM,
            credentials=Credentials("EXAMPLE\\alice", "alice-pw"),
            version=PINNED["exchange2013"],
        )
        account = Account("alice@example.org", config=config, autodiscover=False, access_type=DELEGATE)
        try:
            assert account.calendar.name == "Calendar"
        finally:
            account.protocol.close()


def test_cli_auth_option() -> None:

    from click.testing import CliRunner

    from roomsync_sim.cli import serve

    refused = CliRunner().invoke(serve, ["--auth", "basic,kerberos"])
    assert refused.exit_code != 0 and "kerberos" in refused.output
    proc, lines = serve_command("exchange2010", "--auth", "basic,ntlm")
    try:
        assert lines["auth"] == "basic,ntlm"
        host, port = lines["ews_url"].split("/")[2].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        assert _post(conn).headers.get_all("WWW-Authenticate") == [
            "NTLM",
            'Basic realm="roomsync-exchange-simulator"',
        ]
        client = _client("EXAMPLE\\alice", "alice-password")  # the built-in seed
        challenge = _post(conn, "NTLM " + _b64(client.step()))
        assert _post(conn, "NTLM " + _b64(client.step(_token(challenge)))).status == 200
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

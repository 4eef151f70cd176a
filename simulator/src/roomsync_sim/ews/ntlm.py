"""The server side of NTLM (MS-NLMP) over HTTP: challenge, then verify an NTLMv2 answer.

Only what an EWS client needs: a Negotiate (Type 1) message is answered with a Challenge
(Type 2) carrying a random server challenge and the target info a domain member sends (NetBIOS
and DNS names, a timestamp); the Authenticate (Type 3) message is accepted only with an NTLMv2
response (NTLMv1 and LM answers are refused, as under "Send NTLMv2 response only. Refuse LM &
NTLM"). A MIC, when the client sends one, is verified too. No session security: HTTP does not
sign or seal, so the challenge offers neither and the session key is the key exchange key.
"""

from __future__ import annotations

import hmac
import os
import struct
import time
from dataclasses import dataclass

from roomsync_sim.ews.md4 import md4

SIGNATURE = b"NTLMSSP\x00"

NEGOTIATE_UNICODE = 0x00000001
NEGOTIATE_OEM = 0x00000002
REQUEST_TARGET = 0x00000004
NEGOTIATE_NTLM = 0x00000200
NEGOTIATE_ALWAYS_SIGN = 0x00008000
TARGET_TYPE_DOMAIN = 0x00010000
NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NEGOTIATE_TARGET_INFO = 0x00800000
NEGOTIATE_VERSION = 0x02000000
NEGOTIATE_128 = 0x20000000
NEGOTIATE_56 = 0x80000000

AV_EOL, AV_NB_COMPUTER, AV_NB_DOMAIN, AV_DNS_COMPUTER, AV_DNS_DOMAIN, AV_DNS_TREE = 0, 1, 2, 3, 4, 5
AV_FLAGS, AV_TIMESTAMP = 6, 7
AV_FLAG_MIC = 0x2

# Windows Server 2016 (10.0 build 14393), NTLM revision 15: what an Exchange 2016 host reports.
_VERSION = struct.pack("<BBH3xB", 10, 0, 14393, 15)
_MIC_OFFSET = 72  # after the 64-byte header and the 8-byte version


class NtlmError(ValueError):
    """A malformed message or one the server refuses (NTLMv1, LM, anonymous, wrong proof)."""


@dataclass(frozen=True)
class TargetNames:
    """How the simulated server names itself and its domain in the challenge."""

    netbios_domain: str
    netbios_computer: str
    dns_domain: str
    dns_computer: str


@dataclass(frozen=True)
class Handshake:
    """A challenge sent on one connection, waiting for the Authenticate message on that connection."""

    negotiate: bytes
    challenge: bytes
    server_challenge: bytes
    flags: int


@dataclass(frozen=True)
class Authenticate:
    """The fields of a Type 3 message the server checks."""

    user: str
    domain: str
    lm_response: bytes
    nt_response: bytes
    flags: int
    raw: bytes


def message_type(token: bytes) -> int:
    """1, 2 or 3 for an NTLMSSP message; 0 for anything else (e.g. a SPNEGO/Kerberos token)."""
    if len(token) < 12 or not token.startswith(SIGNATURE):
        return 0
    return int(struct.unpack_from("<I", token, 8)[0])


def nt_hash(password: str) -> bytes:
    return md4(password.encode("utf-16-le"))


def ntowf_v2(password: str, user: str, domain: str) -> bytes:
    """NTOWFv2: HMAC-MD5 keyed with the NT hash over UPPER(user) + domain, both UTF-16LE."""
    return hmac.digest(nt_hash(password), (user.upper() + domain).encode("utf-16-le"), "md5")


def _av_pairs(pairs: list[tuple[int, bytes]]) -> bytes:
    out = b"".join(struct.pack("<HH", av_id, len(value)) + value for av_id, value in pairs)
    return out + struct.pack("<HH", AV_EOL, 0)


def _filetime_now() -> bytes:
    return struct.pack("<Q", int(time.time() * 10_000_000) + 116444736000000000)


def challenge(negotiate: bytes, names: TargetNames) -> Handshake:
    """Answer a Negotiate message: the Challenge to send and what the Type 3 is checked against."""
    if message_type(negotiate) != 1 or len(negotiate) < 16:
        raise NtlmError("not an NTLM Negotiate message")
    (requested,) = struct.unpack_from("<I", negotiate, 12)
    unicode = bool(requested & NEGOTIATE_UNICODE)
    flags = (
        (NEGOTIATE_UNICODE if unicode else NEGOTIATE_OEM)
        | REQUEST_TARGET
        | NEGOTIATE_NTLM
        | NEGOTIATE_ALWAYS_SIGN
        | TARGET_TYPE_DOMAIN
        | NEGOTIATE_TARGET_INFO
        | NEGOTIATE_VERSION
        | (requested & (NEGOTIATE_EXTENDED_SESSIONSECURITY | NEGOTIATE_128 | NEGOTIATE_56))
    )

    def text(s: str) -> bytes:
        return s.encode("utf-16-le") if unicode else s.encode("ascii", "replace")

    target_name = text(names.netbios_domain)
    target_info = _av_pairs(
        [
            (AV_NB_DOMAIN, names.netbios_domain.encode("utf-16-le")),
            (AV_NB_COMPUTER, names.netbios_computer.encode("utf-16-le")),
            (AV_DNS_DOMAIN, names.dns_domain.encode("utf-16-le")),
            (AV_DNS_COMPUTER, names.dns_computer.encode("utf-16-le")),
            (AV_DNS_TREE, names.dns_domain.encode("utf-16-le")),
            (AV_TIMESTAMP, _filetime_now()),
        ]
    )
    server_challenge = os.urandom(8)
    header_len = 56
    info_offset = header_len + len(target_name)
    message = (
        SIGNATURE
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target_name), len(target_name), header_len)
        + struct.pack("<I", flags)
        + server_challenge
        + b"\x00" * 8
        + struct.pack("<HHI", len(target_info), len(target_info), info_offset)
        + _VERSION
        + target_name
        + target_info
    )
    return Handshake(negotiate, message, server_challenge, flags)


def _field(token: bytes, offset: int) -> bytes:
    length, _, start = struct.unpack_from("<HHI", token, offset)
    if start + length > len(token):
        raise NtlmError("field outside the message")
    return token[start : start + length]


def parse_authenticate(token: bytes) -> Authenticate:
    """The user, domain and responses of a Type 3 message."""
    if message_type(token) != 3 or len(token) < 64:
        raise NtlmError("not an NTLM Authenticate message")
    (flags,) = struct.unpack_from("<I", token, 60)
    encoding = "utf-16-le" if flags & NEGOTIATE_UNICODE else "cp437"
    try:
        domain = _field(token, 28).decode(encoding)
        user = _field(token, 36).decode(encoding)
    except UnicodeDecodeError as e:
        raise NtlmError("undecodable user or domain") from e
    return Authenticate(user, domain, _field(token, 12), _field(token, 20), flags, token)


def _blob_pairs(blob: bytes) -> dict[int, bytes]:
    """The AV pairs of an NTLMv2 client blob (after its 28-byte fixed part)."""
    pairs: dict[int, bytes] = {}
    pos = 28
    while pos + 4 <= len(blob):
        av_id, length = struct.unpack_from("<HH", blob, pos)
        if av_id == AV_EOL:
            break
        pairs[av_id] = blob[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return pairs


def verify(handshake: Handshake, auth: Authenticate, password: str) -> bool:
    """Whether ``auth`` proves ``password`` for the handshake's server challenge (NTLMv2 only).

    NTProofStr = HMAC-MD5(NTOWFv2, server challenge + blob) must equal the first 16 bytes of the
    NT response. An NT response of 24 bytes is NTLMv1 and one missing altogether leaves only the
    LM response: both are refused.
    """
    nt = auth.nt_response
    if len(nt) <= 24 or nt[16:18] != b"\x01\x01":
        return False
    proof, blob = nt[:16], nt[16:]
    key = ntowf_v2(password, auth.user, auth.domain)
    expected = hmac.digest(key, handshake.server_challenge + blob, "md5")
    if not hmac.compare_digest(proof, expected):
        return False
    av_flags = _blob_pairs(blob).get(AV_FLAGS, b"\x00\x00\x00\x00")
    if len(av_flags) == 4 and struct.unpack("<I", av_flags)[0] & AV_FLAG_MIC:
        # No key exchange was offered, so the session key is the key exchange key.
        session_key = hmac.digest(key, proof, "md5")
        raw = auth.raw
        if len(raw) < _MIC_OFFSET + 16:
            return False
        zeroed = raw[:_MIC_OFFSET] + b"\x00" * 16 + raw[_MIC_OFFSET + 16 :]
        mic = hmac.digest(session_key, handshake.negotiate + handshake.challenge + zeroed, "md5")
        if not hmac.compare_digest(mic, raw[_MIC_OFFSET : _MIC_OFFSET + 16]):
            return False
    return True

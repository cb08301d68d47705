"""Real OpenSSH public keys for the tests, made with ``cryptography``, and crafted bad ones."""

from __future__ import annotations

import base64
import struct
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

_OPENSSH = (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def _line(public_key: object, comment: str) -> str:
    text = public_key.public_bytes(*_OPENSSH).decode()  # type: ignore[attr-defined]
    return f"{text} {comment}" if comment else text


def ed25519_key(comment: str = "alice@laptop") -> str:
    """A fresh ed25519 public key line."""
    return _line(ed25519.Ed25519PrivateKey.generate().public_key(), comment)


@cache
def rsa_key(bits: int, comment: str = "alice@laptop") -> str:
    """An RSA public key line of ``bits`` bits (cached: RSA generation is slow)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _line(private.public_key(), comment)


def ecdsa_key(curve: ec.EllipticCurve, comment: str = "alice@laptop") -> str:
    """An ECDSA public key line on ``curve``."""
    return _line(ec.generate_private_key(curve).public_key(), comment)


def ssh_string(data: bytes) -> bytes:
    """An SSH wire-format string: uint32 length, then the bytes."""
    return struct.pack(">I", len(data)) + data


def key_line(key_type: str, blob: bytes, comment: str = "") -> str:
    """A key line with an arbitrary (possibly bad) blob."""
    return " ".join(p for p in (key_type, base64.b64encode(blob).decode(), comment) if p)


def blob_of(line: str) -> bytes:
    """The decoded blob of a key line."""
    return base64.b64decode(line.split()[1])


def sk_ed25519_key() -> str:
    """A FIDO security-key ed25519 public key line (built by hand: no library makes one)."""
    type_name = b"sk-ssh-ed25519@openssh.com"
    point = blob_of(ed25519_key())[-32:]
    return key_line(
        type_name.decode(), ssh_string(type_name) + ssh_string(point) + ssh_string(b"ssh:")
    )


def sk_ecdsa_key() -> str:
    """A FIDO security-key ECDSA P-256 public key line."""
    type_name = b"sk-ecdsa-sha2-nistp256@openssh.com"
    plain = blob_of(ecdsa_key(ec.SECP256R1()))
    # plain blob: string "ecdsa-sha2-nistp256", string "nistp256", string point
    rest = plain[4 + len(b"ecdsa-sha2-nistp256") :]
    return key_line(type_name.decode(), ssh_string(type_name) + rest + ssh_string(b"ssh:"))

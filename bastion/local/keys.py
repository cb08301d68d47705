"""Throwaway SSH public keys for sessions started on the local AWS (tests, bench, soak)."""

from __future__ import annotations


def throwaway_public_key(comment: str) -> str:
    """A new ed25519 public key line, ``ssh-ed25519 <base64> <comment>``; the private half
    is discarded."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    line = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    return f"{line.decode()} {comment}"

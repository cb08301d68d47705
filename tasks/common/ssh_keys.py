"""OpenSSH public keys: the one line a session's bastion will accept.

The key becomes the container's only authorized key, so it must be exactly one plain
``<type> <base64> [comment]`` line: no ``authorized_keys`` options (``command=``,
``from=``, ``no-pty``...), a type we accept, a blob that really is a key of that type,
and RSA moduli of at least 2048 bits. The SSH wire format is parsed here by hand: the
Lambda runtime has no ``cryptography``, and the container entry point reuses this module.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

SUPPORTED_KEY_TYPES: tuple[str, ...] = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
MIN_RSA_BITS = 2048
#: OpenSSH refuses RSA keys above 16384 bits; a 16384-bit key line is about 2.8 KB.
MAX_KEY_LINE_CHARS = 8192
ED25519_KEY_BYTES = 32
#: Uncompressed point sizes (0x04 || X || Y) per curve.
_EC_POINT_BYTES = {"nistp256": 65, "nistp384": 97, "nistp521": 133}

# Anything that looks like a key type: the OpenSSH names, certificates, sk- keys.
_KEY_TYPE_SHAPE = re.compile(r"(ssh|ecdsa|sk)-[A-Za-z0-9@.+-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class SshKeyError(ValueError):
    """The text is not one acceptable OpenSSH public key. The message says why."""


@dataclass(frozen=True)
class PublicKey:
    """A validated public key."""

    key_type: str
    blob_base64: str
    comment: str
    bits: int

    def line(self) -> str:
        """The key as one normalized ``type base64 [comment]`` line."""
        return " ".join(part for part in (self.key_type, self.blob_base64, self.comment) if part)


class _Reader:
    """Reads the SSH wire format (RFC 4251 section 5): uint32-length-prefixed strings."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def string(self, what: str) -> bytes:
        if len(self._data) - self._offset < 4:
            raise SshKeyError(f"key data is truncated (no length for the {what})")
        length = int.from_bytes(self._data[self._offset : self._offset + 4], "big")
        start = self._offset + 4
        if length > len(self._data) - start:
            raise SshKeyError(f"key data is truncated (the {what} is cut short)")
        self._offset = start + length
        return self._data[start : self._offset]

    def mpint(self, what: str) -> int:
        raw = self.string(what)
        if raw and raw[0] & 0x80:
            raise SshKeyError(f"key data is malformed (the {what} is negative)")
        return int.from_bytes(raw, "big")

    def end(self) -> None:
        if self._offset != len(self._data):
            raise SshKeyError("key data has unexpected bytes after the key")


def parse_public_key(text: str) -> PublicKey:
    """Validate ``text`` as one OpenSSH public key line; raise :class:`SshKeyError` if not."""
    line = text.strip()
    if not line:
        raise SshKeyError("must not be empty")
    if "\n" in line or "\r" in line:
        raise SshKeyError("must be exactly one line (one public key)")
    if len(line) > MAX_KEY_LINE_CHARS:
        raise SshKeyError(f"is longer than {MAX_KEY_LINE_CHARS} characters")
    if _CONTROL.search(line):
        raise SshKeyError("must not contain control characters")
    fields = line.split()
    key_type = fields[0]
    if not _KEY_TYPE_SHAPE.fullmatch(key_type):
        if "=" in key_type or '"' in key_type or any(_looks_like_type(f) for f in fields[1:]):
            raise SshKeyError(
                "must not have an options prefix (such as command=, from= or no-pty): "
                "give the plain '<type> <base64> [comment]' line"
            )
        raise SshKeyError(f"does not start with a key type ({_supported()})")
    if key_type not in SUPPORTED_KEY_TYPES:
        raise SshKeyError(f"key type {key_type!r} is not supported ({_supported()})")
    if len(fields) < 2:
        raise SshKeyError("has no key data after the key type")
    blob_base64 = fields[1]
    try:
        blob = base64.b64decode(blob_base64, validate=True)
    except (binascii.Error, ValueError):
        raise SshKeyError("key data is not valid base64") from None
    bits = _check_blob(key_type, blob)
    comment = fields[2:]
    if any(_is_key(field) for field in comment):
        raise SshKeyError(
            "must be exactly one key: the text after it holds another key (a key type or "
            "key data); give one '<type> <base64> [comment]' line"
        )
    return PublicKey(key_type, blob_base64, " ".join(comment), bits)


def normalize_public_key(text: str) -> str:
    """The validated key as a single-spaced ``type base64 [comment]`` line."""
    return parse_public_key(text).line()


def _looks_like_type(field: str) -> bool:
    return field in SUPPORTED_KEY_TYPES or bool(_KEY_TYPE_SHAPE.fullmatch(field))


def _is_key(field: str) -> bool:
    """Whether a word of the comment is itself a key: a key type in any case, or base64
    that decodes to SSH key data (a length-prefixed key type name)."""
    if _looks_like_type(field.lower()):
        return True
    try:
        data = base64.b64decode(field, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(data) < 4:
        return False
    length = int.from_bytes(data[:4], "big")
    name = data[4 : 4 + length].decode("ascii", errors="replace")
    return len(data) >= 4 + length and bool(_KEY_TYPE_SHAPE.fullmatch(name))


def _supported() -> str:
    return "supported: " + ", ".join(SUPPORTED_KEY_TYPES)


def _check_blob(key_type: str, blob: bytes) -> int:
    """Check the blob is a key of ``key_type``; return its size in bits."""
    reader = _Reader(blob)
    inner_type = reader.string("key type")
    if inner_type != key_type.encode():
        shown = inner_type.decode("ascii", errors="replace")
        raise SshKeyError(f"key data is a {shown!r} key, not {key_type!r} as the line says")
    if key_type == "ssh-rsa":
        exponent = reader.mpint("RSA exponent")
        modulus = reader.mpint("RSA modulus")
        reader.end()
        if exponent < 3 or exponent % 2 == 0:
            raise SshKeyError("key data is malformed (bad RSA exponent)")
        bits = modulus.bit_length()
        if bits < MIN_RSA_BITS:
            raise SshKeyError(f"RSA key is {bits} bits; at least {MIN_RSA_BITS} are required")
        return bits
    if key_type in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
        point = reader.string("ed25519 key")
        if len(point) != ED25519_KEY_BYTES:
            raise SshKeyError(f"ed25519 key is {len(point)} bytes, not {ED25519_KEY_BYTES}")
        if key_type.startswith("sk-"):
            reader.string("security key application")
        reader.end()
        return 256
    # ecdsa-sha2-nistpNNN and sk-ecdsa-sha2-nistp256@openssh.com
    expected_curve = key_type.removeprefix("sk-").split("@")[0].removeprefix("ecdsa-sha2-")
    curve = reader.string("curve name")
    if curve != expected_curve.encode():
        shown = curve.decode("ascii", errors="replace")
        raise SshKeyError(f"key data names curve {shown!r}, not {expected_curve!r}")
    point = reader.string("curve point")
    if len(point) != _EC_POINT_BYTES[expected_curve] or point[0] != 0x04:
        raise SshKeyError(f"key data is not a valid {expected_curve} point")
    if key_type.startswith("sk-"):
        reader.string("security key application")
    reader.end()
    return int(expected_curve.removeprefix("nistp"))

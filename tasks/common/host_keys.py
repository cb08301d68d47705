"""The bastion's host keys, as its ``started`` event reports them, and known_hosts lines for them.

When sshd accepts connections the container's entry point writes one JSON ``started``
line to its log stream (container/README.md, "Events"); its ``hostPublicKeys`` field
lists the host keys sshd presents::

    "hostPublicKeys": [
      {"type": "ssh-ed25519", "key": "AAAAC3NzaC1lZDI1NTE5AAAAI...", "fingerprint": "SHA256:..."},
      {"type": "ecdsa-sha2-nistp256", "key": "AAAAE2VjZHNh...", "fingerprint": "SHA256:..."}
    ]

A client pins exactly those keys: :func:`known_hosts_lines` turns the event into the
lines of a known_hosts file for one host and port, for ``ssh -o StrictHostKeyChecking=yes
-o UserKnownHostsFile=<that file>``. Whatever reads the event, the text of each field
ends up in a file ssh trusts, so nothing but a plain host key gets through: a type of
``ssh-ed25519``, ``ecdsa-sha2-nistp256/384/521`` or ``ssh-rsa`` (no certificate, no
security key, no ``@cert-authority`` or ``@revoked`` marker), a blob that is valid
base64 of a key of that type, a fingerprint that is the blob's, and a host that is one
address or DNS name (no pattern, list, negation or hashed name). Anything else raises
:class:`HostKeyError`. Pure functions, no I/O: the Lambda runtime and the ``bastion``
command share them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

from tasks.common.container_contract import ENDPOINT_HOST_SHAPE
from tasks.common.ssh_keys import SshKeyError, parse_public_key

#: The key types a known_hosts line may carry (sshd_config's HostKeyAlgorithms are a subset).
HOST_KEY_TYPES: tuple[str, ...] = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
#: The entry point reports two; a few more leave room, a flood is refused.
MAX_HOST_KEYS = 8
#: The fields of each ``hostPublicKeys`` entry, and nothing else.
ENTRY_FIELDS = frozenset({"type", "key", "fingerprint"})
#: The port ssh writes without brackets (``host`` rather than ``[host]:22``).
SSH_DEFAULT_PORT = 22

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


class HostKeyError(ValueError):
    """Not a host key (or host) that may be written to a known_hosts file; the message says why."""


@dataclass(frozen=True)
class HostKey:
    """One validated host key: its type, its base64 blob and the blob's SHA256 fingerprint."""

    key_type: str
    key: str
    fingerprint: str

    def known_hosts_line(self, host: str, port: int) -> str:
        """``<host> <type> <base64>`` for ``host`` on ``port``, as ssh reads known_hosts."""
        return f"{known_hosts_host(host, port)} {self.key_type} {self.key}"

    def as_event_entry(self) -> dict[str, str]:
        """The key as an entry of the event's ``hostPublicKeys`` list."""
        return {"type": self.key_type, "key": self.key, "fingerprint": self.fingerprint}


def fingerprint_of(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a key blob (``ssh-keygen -l -E sha256``)."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def parse_host_key(entry: object) -> HostKey:
    """One ``hostPublicKeys`` entry, validated (see the module doc)."""
    if not isinstance(entry, Mapping):
        raise HostKeyError(f"a host key must be an object, got {type(entry).__name__}")
    if set(entry) != ENTRY_FIELDS:
        raise HostKeyError(f"a host key has exactly the fields {sorted(ENTRY_FIELDS)}")
    key_type, key, fingerprint = entry["type"], entry["key"], entry["fingerprint"]
    if not all(isinstance(value, str) for value in (key_type, key, fingerprint)):
        raise HostKeyError("a host key's type, key and fingerprint must be strings")
    if key_type not in HOST_KEY_TYPES:
        raise HostKeyError(
            f"host key type {key_type!r} is not accepted (only {', '.join(HOST_KEY_TYPES)})"
        )
    if not _BASE64.fullmatch(key):
        raise HostKeyError(f"the {key_type} host key is not one word of base64")
    try:
        blob = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise HostKeyError(f"the {key_type} host key is not valid base64") from None
    try:
        parse_public_key(f"{key_type} {key}")
    except SshKeyError as error:
        raise HostKeyError(f"the {key_type} host key {error}") from None
    if not _FINGERPRINT.fullmatch(fingerprint) or fingerprint != fingerprint_of(blob):
        raise HostKeyError(f"the {key_type} host key's fingerprint is not the key's own")
    return HostKey(key_type, key, fingerprint)


def parse_host_keys(entries: object) -> tuple[HostKey, ...]:
    """The ``hostPublicKeys`` list of a ``started`` event, every entry validated."""
    if not isinstance(entries, list) or not entries:
        raise HostKeyError("hostPublicKeys must be a non-empty list of host keys")
    if len(entries) > MAX_HOST_KEYS:
        raise HostKeyError(f"hostPublicKeys lists more than {MAX_HOST_KEYS} host keys")
    return tuple(parse_host_key(entry) for entry in entries)


def started_host_keys(event: Mapping[str, object]) -> tuple[HostKey, ...]:
    """The host keys a bastion's ``started`` event reports (HostKeyError if it has none)."""
    if event.get("event") != "started":
        raise HostKeyError("not the bastion's started event")
    return parse_host_keys(event.get("hostPublicKeys"))


def known_hosts_host(host: str, port: int) -> str:
    """The host field of a known_hosts line: ``host``, or ``[host]:port`` off port 22.

    ``host`` must be one IP address or one DNS name: a known_hosts host field also takes
    patterns (``*``, ``?``), lists (``,``), negations (``!``), hashed names (``|1|``) and
    a leading marker, none of which may come from the caller.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise HostKeyError(f"the port must be a number from 1 to 65535, got {port!r}")
    if not isinstance(host, str):
        raise HostKeyError(f"the host must be a string, got {type(host).__name__}")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not ENDPOINT_HOST_SHAPE.fullmatch(host) or host.rsplit(".", 1)[-1].isdigit():
            raise HostKeyError(
                f"the host must be one IP address or DNS name, got {host!r}"
            ) from None
        name = host.lower()  # ssh lower-cases the host name before reading known_hosts
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            raise HostKeyError(f"the host must be an address without a zone, got {host!r}")
        name = host.lower()
    return name if port == SSH_DEFAULT_PORT else f"[{name}]:{port}"


def known_hosts_lines(event: Mapping[str, object], host: str, port: int) -> list[str]:
    """The known_hosts lines that pin a ``started`` event's host keys for ``host``:``port``."""
    keys = started_host_keys(event)
    return [key.known_hosts_line(host, port) for key in keys]

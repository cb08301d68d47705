"""What a simulated bastion writes: the entry point's ``started`` line, made here.

Without a task runner (no sshd on this machine) the local AWS runs no bastion, yet a
session learns that its bastion is ready from the bastion's log stream. So a simulated
task writes the line ``container/entrypoint.sh`` writes once sshd accepts connections:
the same fields in the same order, with host keys generated here (nothing serves them:
no client can connect to a simulated bastion). The entry point is the source of truth
for the line's shape; ``tests/container/test_host_keys.py`` runs it and compares. The line
reaches the task's stream when RunTask returns (``bastion.local.awslogs``), as a real local
bastion's does, whatever the local task lifecycle's DescribeTasks says meanwhile.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tasks.common import container_contract as contract
from tasks.common.host_keys import HostKey, fingerprint_of
from tasks.common.ssh_keys import parse_public_key

#: ``ssh-keygen -l``'s name of each key type, as the started event's ``hostKeys`` words use it.
_KEYGEN_LABELS = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA"}


def generate_host_keys() -> tuple[HostKey, ...]:
    """Fresh public host keys of the types the entry point generates (ed25519, ECDSA P-256)."""
    publics = (
        ed25519.Ed25519PrivateKey.generate().public_key(),
        ec.generate_private_key(ec.SECP256R1()).public_key(),
    )
    keys = []
    for public in publics:
        line = public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode("ascii")
        key_type, key = line.split()[:2]
        keys.append(HostKey(key_type, key, fingerprint_of(base64.b64decode(key))))
    return tuple(keys)


def has_session_environment(environment: Mapping[str, str]) -> bool:
    """Whether ``environment`` sets every variable RunBastionTask sets (the contract's)."""
    return all(environment.get(name) for name in contract.CONTAINER_ENVIRONMENT)


def _event_time(moment: datetime) -> str:
    """The entry point's ``date -u +%Y-%m-%dT%H:%M:%S.%3NZ``."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _keygen_label(key_type: str) -> str:
    return _KEYGEN_LABELS.get(key_type, "ECDSA")


def started_event(
    environment: Mapping[str, str],
    *,
    region: str,
    region_source: str = "metadata",
    metadata_error: str = "",
    host_keys: Sequence[HostKey] | None = None,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """The entry point's ``started`` event for a bastion run with ``environment``.

    ``region``, ``region_source`` and ``metadata_error`` are what the entry point finds
    (on Fargate: the task metadata's region, ``metadata``, no error); ``host_keys`` are
    generated when not given. Raises KeyError or ValueError when ``environment`` lacks
    or misstates a variable the event reports.
    """
    keys = tuple(host_keys) if host_keys is not None else generate_host_keys()
    authorized = parse_public_key(environment[contract.AUTHORIZED_KEY])
    optional = contract.OPTIONAL_ENVIRONMENT
    return {
        "time": _event_time(moment or datetime.now(UTC)),
        "event": "started",
        "sessionId": environment[contract.SESSION_ID],
        "cluster": environment[contract.CLUSTER_NAME],
        "mode": environment[contract.MODE],
        "endpointHost": environment[contract.ENDPOINT_HOST],
        "endpointPort": int(
            environment.get(contract.ENDPOINT_PORT) or optional[contract.ENDPOINT_PORT]
        ),
        "region": region,
        "regionSource": region_source,
        "metadataError": metadata_error,
        "expiresAt": environment[contract.EXPIRES_AT],
        "idleTimeoutSeconds": int(environment[contract.IDLE_TIMEOUT_SECONDS]),
        "port": int(environment.get(contract.SSH_PORT) or optional[contract.SSH_PORT]),
        "authorizedKeyType": authorized.key_type,
        "authorizedKeyFingerprint": fingerprint_of(base64.b64decode(authorized.blob_base64)),
        "hostKeys": [f"{_keygen_label(key.key_type)} {key.fingerprint}" for key in keys],
        "hostPublicKeys": [key.as_event_entry() for key in keys],
    }


def event_line(event: Mapping[str, Any]) -> str:
    """An event as the entry point writes it: one line, ``jq -c``'s spelling."""
    return json.dumps(event, separators=(",", ":"))


def started_line(environment: Mapping[str, str], *, region: str) -> str:
    """The ``started`` line a bastion on Fargate in ``region`` writes."""
    return event_line(started_event(environment, region=region))

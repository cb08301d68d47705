"""Bad requests fail in ValidateRequest, naming the field, before anything exists."""

from __future__ import annotations

import base64
import struct

import pytest

from bastion.follow import error_message
from tests.workflow.harness import Harness, ed25519_public_key

pytestmark = pytest.mark.workflow


def _rsa_key(bits: int) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def _mislabelled_key() -> str:
    """An ed25519 blob declared as ssh-rsa."""
    blob = base64.b64decode(ed25519_public_key().split()[1])
    assert struct.unpack(">I", blob[:4])[0] == len(b"ssh-ed25519")
    return "ssh-rsa " + base64.b64encode(blob).decode()


CASES = [
    ("cluster missing", {"cluster": None}, "cluster"),
    ("cluster malformed", {"cluster": "-bad name!"}, "cluster"),
    ("cluster unknown", {"cluster": "no-such-cluster"}, "cluster"),
    ("key missing", {"sshPublicKey": None}, "sshPublicKey"),
    ("key malformed", {"sshPublicKey": "ssh-ed25519 not-base64!!"}, "sshPublicKey"),
    ("key type mismatch", {"sshPublicKey": "MISLABELLED"}, "sshPublicKey"),
    ("key with options", {"sshPublicKey": "OPTIONS"}, "sshPublicKey"),
    ("two keys", {"sshPublicKey": "TWO_KEYS"}, "sshPublicKey"),
    ("RSA under 2048 bits", {"sshPublicKey": "RSA1024"}, "sshPublicKey"),
    ("open to the world", {"allowedCidrs": ["0.0.0.0/0"]}, "allowedCidrs[0]"),
    ("IPv6 open to the world", {"allowedCidrs": ["::/0"]}, "allowedCidrs[0]"),
    (
        "CIDR wider than allowed",
        {"allowedCidrs": ["203.0.113.7/32", "10.0.0.0/8"]},
        "allowedCidrs[1]",
    ),
    ("CIDR with host bits", {"allowedCidrs": ["203.0.113.7/24"]}, "allowedCidrs[0]"),
    ("no CIDR", {"allowedCidrs": []}, "allowedCidrs"),
    ("duration zero", {"durationMinutes": 0}, "durationMinutes"),
    ("duration too long", {"durationMinutes": 100000}, "durationMinutes"),
    ("duration not a number", {"durationMinutes": "60"}, "durationMinutes"),
    ("unknown field", {"instanceType": "t3.micro"}, "instanceType"),
    ("mode the stack does not allow", {"accessMode": "private"}, "accessMode"),
    ("unknown mode", {"accessMode": "hidden"}, "accessMode"),
    ("mode not text", {"accessMode": ["private"]}, "accessMode"),
    ("requester id not a tag value", {"requesterId": "AIDAEXAMPLE,admin"}, "requesterId"),
    ("requester id not text", {"requesterId": 7}, "requesterId"),
]


def _materialize(harness: Harness, overrides: dict) -> dict:
    request = harness.request()
    for field, value in overrides.items():
        if value is None:
            request.pop(field, None)
            continue
        if value == "MISLABELLED":
            value = _mislabelled_key()
        elif value == "OPTIONS":
            value = 'command="/bin/sh" ' + ed25519_public_key()
        elif value == "TWO_KEYS":
            value = ed25519_public_key() + "\n" + ed25519_public_key()
        elif value == "RSA1024":
            value = _rsa_key(1024)
        request[field] = value
    return request


@pytest.mark.parametrize(("case", "overrides", "field"), CASES, ids=[c[0] for c in CASES])
def test_invalid_request_fails_naming_the_field_and_creates_nothing(
    harness: Harness, case: str, overrides: dict, field: str
) -> None:
    session_id, arn = harness.start(_materialize(harness, overrides))

    final = harness.finish(arn)

    assert final["status"] == "FAILED", final
    assert final["error"] == "InvalidRequest", final
    assert error_message(final["cause"]).startswith(f"{field}:"), final["cause"]
    invoked = {call.function_name for call in harness.aws.invocations}
    assert not any("CreateSessionSecurityGroup" in name for name in invoked), invoked
    assert not any("RunBastionTask" in name for name in invoked), invoked
    assert harness.aws.inventory(session_id).is_empty


def test_cluster_without_a_private_endpoint_is_refused(harness: Harness) -> None:
    public = harness.aws.seed_cluster("public-only", endpoint_private=False, endpoint_public=True)
    session_id, arn = harness.start(harness.request(cluster=public.name))

    final = harness.finish(arn)

    assert final["error"] == "InvalidRequest"
    assert error_message(final["cause"]).startswith("cluster:")
    assert "private" in error_message(final["cause"])
    assert harness.aws.inventory(session_id).is_empty


def test_a_valid_rsa_key_of_2048_bits_is_accepted(harness: Harness) -> None:
    session_id, arn = harness.start(harness.request(sshPublicKey=_rsa_key(2048), durationMinutes=1))
    assert harness.finish(arn)["status"] == "SUCCEEDED"
    assert harness.aws.inventory(session_id).is_empty


@pytest.mark.parametrize("payload", ["just a string", [1, 2], 42])
def test_input_that_is_not_an_object_fails_and_creates_nothing(
    harness: Harness, payload: object
) -> None:
    session_id, arn = harness.start(payload)

    final = harness.finish(arn)

    assert final["status"] == "FAILED", final
    assert final["error"] == "InvalidRequest", final
    assert error_message(final["cause"]) == "request: must be a JSON object"
    assert harness.aws.inventory(session_id).is_empty
    assert not any("CreateSessionSecurityGroup" in c.function_name for c in harness.aws.invocations)

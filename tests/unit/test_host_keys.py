"""Host keys from a bastion's started event into known_hosts lines: hostile input refused."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tasks.common.host_keys import (
    HostKeyError,
    fingerprint_of,
    known_hosts_host,
    known_hosts_lines,
    parse_host_key,
    started_host_keys,
)
from tests.unit.keys import blob_of, ecdsa_key, ed25519_key, key_line, rsa_key, sk_ed25519_key

pytestmark = pytest.mark.unit


def entry(line: str) -> dict[str, str]:
    """A hostPublicKeys entry for a public key line, as the entry point writes it."""
    key_type, key = line.split()[:2]
    return {"type": key_type, "key": key, "fingerprint": fingerprint_of(base64.b64decode(key))}


def started(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"event": "started", "sessionId": "s-1", "hostPublicKeys": list(entries)}


ED25519 = ed25519_key("fargate-bastion s-1")
ECDSA = ecdsa_key(ec.SECP256R1(), "fargate-bastion s-1")


def test_the_reported_keys_become_lines_for_exactly_that_host_and_port() -> None:
    event = started(entry(ED25519), entry(ECDSA))

    assert known_hosts_lines(event, "203.0.113.7", 22) == [
        f"203.0.113.7 {' '.join(ED25519.split()[:2])}",
        f"203.0.113.7 {' '.join(ECDSA.split()[:2])}",
    ]
    assert known_hosts_lines(event, "127.0.0.1", 2222)[0].startswith(
        "[127.0.0.1]:2222 ssh-ed25519 "
    )
    assert known_hosts_lines(event, "2001:db8::7", 22)[0].startswith("2001:db8::7 ssh-ed25519 ")
    assert known_hosts_lines(event, "::1", 2200)[1].startswith("[::1]:2200 ecdsa-sha2-nistp256 ")
    assert known_hosts_lines(event, "Bastion.Example.com", 22)[0].startswith(
        "bastion.example.com ssh-ed25519 "
    )


@pytest.mark.parametrize(
    "line",
    [
        ED25519,
        ECDSA,
        ecdsa_key(ec.SECP384R1()),
        ecdsa_key(ec.SECP521R1()),
        rsa_key(2048),
    ],
    ids=["ed25519", "nistp256", "nistp384", "nistp521", "rsa-2048"],
)
def test_every_plain_host_key_type_is_accepted(line: str) -> None:
    (key,) = started_host_keys(started(entry(line)))
    assert (key.key_type, key.key) == tuple(line.split()[:2])
    assert key.as_event_entry() == entry(line)


def _with(**changes: Any) -> dict[str, Any]:
    base = entry(ED25519)
    base.update(changes)
    return base


ED_BLOB = blob_of(ED25519)
ED_KEY = ED25519.split()[1]


HOSTILE_KEYS: list[tuple[Any, str]] = [
    # markers and other types in the type field
    (_with(type="@cert-authority"), "not accepted"),
    (_with(type="@revoked"), "not accepted"),
    (_with(type="@revoked ssh-ed25519"), "not accepted"),
    (_with(type="ssh-ed25519-cert-v01@openssh.com"), "not accepted"),
    (entry(sk_ed25519_key()), "not accepted"),
    (_with(type="ssh-dss"), "not accepted"),
    (_with(type="SSH-ED25519"), "not accepted"),
    (_with(type="ssh-ed25519\n@cert-authority"), "not accepted"),
    # newlines, spaces and options in the key field
    (_with(key=ED_KEY + "\n@cert-authority * " + ED25519), "base64"),
    (_with(key=ED_KEY + "\r\n* ssh-ed25519 " + ED_KEY), "base64"),
    (_with(key=ED_KEY + " comment"), "base64"),
    (_with(key='command="sh" ' + ED_KEY), "base64"),
    (_with(key=""), "base64"),
    (_with(key="!!notbase64"), "base64"),
    (_with(key=ED_KEY[:-1]), "base64"),
    # well-formed base64 that is not the key it claims to be
    (_with(key=ECDSA.split()[1]), "not 'ssh-ed25519'"),
    (_with(key=base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519").decode()), "truncated"),
    (_with(key=base64.b64encode(ED_BLOB + b"x").decode()), "unexpected bytes"),
    (_with(type="ssh-rsa", key=key_line("ssh-rsa", b"\x00").split()[1]), "host key"),
    # the fingerprint must be the key's own
    (_with(fingerprint=fingerprint_of(blob_of(ECDSA))), "fingerprint"),
    (_with(fingerprint="MD5:" + "aa:" * 15 + "aa"), "fingerprint"),
    (_with(fingerprint=fingerprint_of(ED_BLOB) + "\n"), "fingerprint"),
    # shape of the entry
    (_with(comment="x"), "exactly the fields"),
    ({"type": "ssh-ed25519", "key": ED_KEY}, "exactly the fields"),
    (_with(key=None), "strings"),
    (_with(key=["AAAA"]), "strings"),
    (f"ssh-ed25519 {ED_KEY}", "object"),
]


@pytest.mark.parametrize(
    ("hostile", "reason"),
    HOSTILE_KEYS,
    ids=[f"{index}-{reason}" for index, (_, reason) in enumerate(HOSTILE_KEYS)],
)
def test_hostile_keys_are_refused(hostile: Any, reason: str) -> None:
    with pytest.raises(HostKeyError, match=reason):
        parse_host_key(hostile)
    with pytest.raises(HostKeyError):
        known_hosts_lines(started(entry(ECDSA), hostile), "127.0.0.1", 22)


@pytest.mark.parametrize(
    "event",
    [
        {"event": "started"},
        {"event": "started", "hostPublicKeys": []},
        {"event": "started", "hostPublicKeys": "ssh-ed25519 AAAA"},
        {"event": "started", "hostPublicKeys": {"type": "ssh-ed25519"}},
        {"event": "connect", "hostPublicKeys": [entry(ED25519)]},
        {"hostPublicKeys": [entry(ED25519)]},
        started(*[entry(ED25519)] * 9),
    ],
)
def test_an_event_without_a_proper_key_list_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(HostKeyError):
        known_hosts_lines(event, "127.0.0.1", 22)


HOSTILE_HOSTS = [
    "*",
    "*.example.com",
    "bastion?.example.com",
    "127.0.0.1,*",
    "127.0.0.1 *",
    "!127.0.0.1",
    "127.0.0.1\n* ssh-ed25519 " + ED_KEY,
    "[127.0.0.1]:22",
    "|1|c29tZXNhbHQ=|aGFzaA==",
    "@cert-authority",
    "fe80::1%eth0",
    "1.2.3",
    "bastion.example.com.",
    "-oProxyCommand=sh",
    "",
]


@pytest.mark.parametrize(
    "host", HOSTILE_HOSTS, ids=[f"host-{i}" for i in range(len(HOSTILE_HOSTS))]
)
def test_a_host_that_is_not_one_address_or_name_is_refused(host: str) -> None:
    with pytest.raises(HostKeyError, match="host"):
        known_hosts_lines(started(entry(ED25519)), host, 22)


@pytest.mark.parametrize("port", [0, 65536, -22, True, "22", 22.0, None])
def test_a_port_that_is_not_a_port_is_refused(port: Any) -> None:
    with pytest.raises(HostKeyError, match="port"):
        known_hosts_host("127.0.0.1", port)


def test_the_event_is_not_changed() -> None:
    event = started(entry(ED25519), entry(ECDSA))
    before = copy.deepcopy(event)
    known_hosts_lines(event, "127.0.0.1", 2222)
    assert event == before


def test_the_documented_started_line_is_one_the_module_reads() -> None:
    readme = Path(__file__).resolve().parents[2] / "container" / "README.md"
    (line,) = [
        text
        for text in readme.read_text().splitlines()
        if text.startswith("{") and '"event":"started"' in text
    ]
    event = json.loads(line)
    lines = known_hosts_lines(event, "203.0.113.7", 22)
    assert [text.split()[1] for text in lines] == ["ssh-ed25519", "ecdsa-sha2-nistp256"]

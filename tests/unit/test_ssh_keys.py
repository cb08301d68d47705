"""The OpenSSH public key rules, against keys made by ``cryptography`` and crafted ones."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tasks.common.ssh_keys import SshKeyError, normalize_public_key, parse_public_key
from tests.unit.keys import (
    blob_of,
    ecdsa_key,
    ed25519_key,
    key_line,
    rsa_key,
    sk_ecdsa_key,
    sk_ed25519_key,
    ssh_string,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("make", "key_type", "bits"),
    [
        (lambda: ed25519_key(), "ssh-ed25519", 256),
        (lambda: rsa_key(2048), "ssh-rsa", 2048),
        (lambda: rsa_key(3072), "ssh-rsa", 3072),
        (lambda: ecdsa_key(ec.SECP256R1()), "ecdsa-sha2-nistp256", 256),
        (lambda: ecdsa_key(ec.SECP384R1()), "ecdsa-sha2-nistp384", 384),
        (lambda: ecdsa_key(ec.SECP521R1()), "ecdsa-sha2-nistp521", 521),
        (sk_ed25519_key, "sk-ssh-ed25519@openssh.com", 256),
        (sk_ecdsa_key, "sk-ecdsa-sha2-nistp256@openssh.com", 256),
    ],
    ids=["ed25519", "rsa2048", "rsa3072", "p256", "p384", "p521", "sk-ed25519", "sk-ecdsa"],
)
def test_accepts_every_supported_key_type(make, key_type: str, bits: int) -> None:
    key = parse_public_key(make())
    assert (key.key_type, key.bits) == (key_type, bits)


def test_normalizes_whitespace_and_keeps_the_comment() -> None:
    # GIVEN a key pasted with a trailing newline, tabs and a comment with spaces
    key_type, blob, _ = ed25519_key().split(" ")
    pasted = f"  {key_type}\t{blob}   alice  at   laptop\n"
    # WHEN it is normalized
    line = normalize_public_key(pasted)
    # THEN it is single-spaced "type base64 comment"
    assert line == f"{key_type} {blob} alice at laptop"


def test_a_key_without_comment_has_two_fields() -> None:
    key = ed25519_key(comment="")
    assert normalize_public_key(key) == key
    assert len(normalize_public_key(key).split(" ")) == 2


def _ed25519_blob() -> bytes:
    return blob_of(ed25519_key())


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "must not be empty"),
        (f"{ed25519_key()}\n{ed25519_key()}", "exactly one line"),
        (f'command="/bin/sh" {ed25519_key()}', "options prefix"),
        (f'from="10.0.0.0/8" {ed25519_key()}', "options prefix"),
        (f"no-pty,no-port-forwarding {ed25519_key()}", "options prefix"),
        (f"restrict {rsa_key(2048)}", "options prefix"),
        ("hello world", "does not start with a key type"),
        (key_line("ssh-dss", ssh_string(b"ssh-dss") + b"\x00" * 8), "'ssh-dss' is not supported"),
        ("ssh-ed25519", "no key data"),
        ("ssh-ed25519 AAAA$$$$", "not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP", "not valid base64"),
        (key_line("ssh-rsa", _ed25519_blob()), "is a 'ssh-ed25519' key, not 'ssh-rsa'"),
        (key_line("ssh-ed25519", _ed25519_blob()[:-5]), "truncated"),
        (key_line("ssh-ed25519", _ed25519_blob()[:2]), "truncated"),
        (key_line("ssh-ed25519", b"\x00\x00\x00\x0b"), "truncated"),
        (
            key_line("ssh-ed25519", ssh_string(b"ssh-ed25519") + ssh_string(b"\x01" * 31)),
            "ed25519 key is 31 bytes",
        ),
        (key_line("ssh-ed25519", _ed25519_blob() + b"\x00"), "unexpected bytes"),
        (rsa_key(1024), "RSA key is 1024 bits; at least 2048"),
        (
            key_line(
                "ecdsa-sha2-nistp384",
                ssh_string(b"ecdsa-sha2-nistp384") + blob_of(ecdsa_key(ec.SECP256R1()))[23:],
            ),
            "names curve 'nistp256', not 'nistp384'",
        ),
        (f"{ed25519_key('')} bad\x07comment", "control characters"),
        ("ssh-ed25519 " + "A" * 9000, "longer than"),
    ],
    ids=[
        "empty",
        "two-lines",
        "option-command",
        "option-from",
        "option-flags",
        "option-restrict-rsa",
        "no-key-type",
        "dsa",
        "no-data",
        "bad-base64-chars",
        "bad-base64-padding",
        "type-mismatch",
        "truncated-key",
        "truncated-length",
        "length-only",
        "ed25519-31-bytes",
        "trailing-bytes",
        "rsa-1024",
        "curve-mismatch",
        "control-char",
        "too-long",
    ],
)
def test_rejects(text: str, problem: str) -> None:
    with pytest.raises(SshKeyError, match=problem):
        parse_public_key(text)


def _blob_text(line: str) -> str:
    return line.split()[1]


@pytest.mark.parametrize(
    "text",
    [
        # A second whole key after the comment: OpenSSH would read it as comment text,
        # but a reviewer (or a later parser) could take it for a second authorized key.
        f"{ed25519_key('alice@laptop')} {ed25519_key('mallory@evil')}",
        # ... straight after the first key's data, with no comment between.
        f"{ed25519_key('')} {ed25519_key('')}",
        # ... of another type, or in a comment of several words.
        f"{ed25519_key('alice')} and also {rsa_key(2048, '')}",
        f"{rsa_key(2048, 'ops')} {ecdsa_key(ec.SECP256R1(), '')}",
        # ... its data alone, without the type in front.
        f"{ed25519_key('alice')} {_blob_text(ed25519_key(''))}",
        # ... a type alone, or a certificate or security-key type, in any case.
        f"{ed25519_key('alice')} ssh-rsa",
        f"{ed25519_key('alice')} SSH-ED25519",
        f"{ed25519_key('alice')} ssh-ed25519-cert-v01@openssh.com",
        f"{ed25519_key('alice')} {sk_ed25519_key()}",
        # ... separated by tabs instead of spaces.
        f"{ed25519_key('')}\t{ed25519_key('')}",
    ],
    ids=[
        "second-key-after-comment",
        "second-key-no-comment",
        "rsa-key-inside-comment",
        "ecdsa-after-rsa",
        "bare-key-data",
        "bare-type",
        "type-upper-case",
        "certificate-type",
        "security-key",
        "tab-separated",
    ],
)
def test_anything_after_the_key_that_is_itself_a_key_is_refused(text: str) -> None:
    with pytest.raises(SshKeyError, match="exactly one key"):
        parse_public_key(text)


@pytest.mark.parametrize(
    "comment",
    ["alice@laptop", "ops team key 2026", "ssh_user@host", "rsa-2048 yubikey", "AAAA"],
)
def test_a_comment_that_only_looks_keyish_is_kept(comment: str) -> None:
    key = ed25519_key(comment)
    assert parse_public_key(key).comment == comment

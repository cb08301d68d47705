"""The command pins the host keys the API says the bastion reported, and nothing else."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import boto3
import pytest

from bastion.cli import keys, sessions
from bastion.cli.errors import CliError, ExitCode
from bastion.cli.target import Target
from tasks.common.host_keys import fingerprint_of
from tests.cli.conftest import validate
from tests.cli.ready_views import REPORTED, public_ready_view

pytestmark = pytest.mark.cli


def target(tmp_path: Path) -> Target:
    session = boto3.Session(region_name="us-east-1")
    return Target(session=session, api_url="https://api.example.com/v1", local_dir=None)


view = public_ready_view


def test_a_ready_session_pins_its_reported_keys_in_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    here = target(tmp_path)
    doc = sessions.document(here, view())
    validate(doc, "session")

    path = sessions.pin_host_keys(here, doc)

    assert path == keys.known_hosts_path(here.sessions_dir, "alice-1")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().splitlines() == [
        f"203.0.113.7 {key['type']} {key['key']}" for key in REPORTED
    ]
    argv = doc["sshCommand"].split()
    assert f"UserKnownHostsFile={path}" in argv
    assert {"StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null"} <= set(argv)
    # written again, it replaces the file whole (a link planted there is not followed)
    outside = tmp_path / "outside"
    outside.write_text("theirs\n")
    path.unlink()
    path.symlink_to(outside)
    sessions.pin_host_keys(here, doc)
    assert not path.is_symlink() and outside.read_text() == "theirs\n"


def _entry(key_type: str, blob: bytes) -> dict[str, str]:
    return {
        "type": key_type,
        "key": base64.b64encode(blob).decode(),
        "fingerprint": fingerprint_of(blob),
    }


@pytest.mark.parametrize(
    "host_keys",
    [
        None,
        [],
        "ssh-ed25519 AAAA",
        [{"type": "@cert-authority", "key": "AAAA", "fingerprint": "SHA256:x"}],
        [_entry("ssh-ed25519", b"not a key")],
        [
            {
                **REPORTED[0],
                "key": REPORTED[0]["key"] + "\n* ssh-rsa AAAA",
            }
        ],
    ],
)
def test_without_host_keys_it_can_pin_there_is_no_ssh_command_and_ssh_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host_keys: Any
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    here = target(tmp_path)
    doc = sessions.document(here, view(hostPublicKeys=host_keys))
    validate(doc, "session")
    assert doc["hostPublicKeys"] is None and doc["sshCommand"] is None

    with pytest.raises(CliError) as refused:
        sessions.pin_host_keys(here, {**doc, "hostPublicKeys": host_keys})
    assert refused.value.code == ExitCode.SESSION_FAILED
    assert "no host keys to pin" in str(refused.value)
    assert not keys.known_hosts_path(here.sessions_dir, "alice-1").exists()

"""Logging in to a real bastion: the session's key only (tunnels: test_door.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.container.harness import Bastion, ClientKey

pytestmark = pytest.mark.container


def source_port(result: subprocess.CompletedProcess[str]) -> int:
    """The client's port, from the SSH_CONNECTION the session printed first."""
    return int(result.stdout.splitlines()[0].split()[1])


def test_the_session_key_logs_in_and_runs_a_command(
    running_bastion: Bastion, user_key: ClientKey, tmp_path: Path
) -> None:
    # WHEN the session's key logs in, checking the host key the entry point generated
    result = running_bastion.ssh(
        user_key,
        tmp_path,
        'echo "$SSH_CONNECTION"; id -un; echo "kubeconfig=$KUBECONFIG region=$AWS_REGION"',
    )
    # THEN the command ran, as the bastion's own user, with the session's environment
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == running_bastion.account.name
    assert lines[2] == f"kubeconfig={running_bastion.runtime / 'kubeconfig'} region=eu-west-1"
    # AND one connect and one disconnect event name the key and the client's address
    port = source_port(result)
    connect = running_bastion.wait_for("connect", lambda event: event["sourcePort"] == port)
    assert connect["fingerprint"] == user_key.fingerprint
    assert connect["sourceAddress"] == "127.0.0.1"
    assert connect["keyType"] == "ED25519"
    assert connect["sessionId"] == "test-session-1"
    disconnect = running_bastion.wait_for("disconnect", lambda event: event["sourcePort"] == port)
    assert disconnect["connections"] == 0


def logins(bastion: Bastion) -> int:
    return len(bastion.named("connect"))


def test_another_key_is_refused(
    running_bastion: Bastion, other_key: ClientKey, tmp_path: Path
) -> None:
    before = logins(running_bastion)
    result = running_bastion.ssh(other_key, tmp_path, "true")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr
    running_bastion.wait_for(
        "sshd",
        lambda event: (
            "Failed publickey" in event["message"] and other_key.fingerprint in event["message"]
        ),
    )
    assert logins(running_bastion) == before


def test_a_password_is_not_even_offered(running_bastion: Bastion, tmp_path: Path) -> None:
    # WHEN a client asks for password or keyboard-interactive authentication
    result = running_bastion.ssh(
        None,
        tmp_path,
        "true",
        options=[
            "PubkeyAuthentication=no",
            "PreferredAuthentications=password,keyboard-interactive",
            "NumberOfPasswordPrompts=1",
        ],
    )
    # THEN the server lists publickey as the only method that can continue
    assert result.returncode == 255
    assert "Permission denied (publickey)." in result.stderr


def test_root_is_refused_even_with_the_session_key(
    running_bastion: Bastion, user_key: ClientKey, tmp_path: Path
) -> None:
    before = logins(running_bastion)
    result = running_bastion.ssh(user_key, tmp_path, "true", user="root")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr
    assert logins(running_bastion) == before

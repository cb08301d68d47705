"""The ``bastion`` command's ssh pins the host keys the bastion reported, against the real sshd.

The command writes a known_hosts file of the session's own from the ready document's
``hostPublicKeys`` and runs ssh with ``StrictHostKeyChecking=yes`` (bastion/cli/sessions.py):
here its very command line logs in to the bastion that reported the keys, and a bastion
presenting other host keys at the same address is refused before anyone authenticates,
with nothing forwarded.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import boto3
import pytest

from bastion.cli import sessions
from bastion.cli.target import Target
from tests.container.harness import ENDPOINT_HOST, Bastion, ClientKey, Launcher, run

pytestmark = pytest.mark.container


def target(tmp_path: Path) -> Target:
    """A command's target whose sessions live under ``tmp_path``."""
    return Target(session=boto3.Session(region_name="us-east-1"), api_url="", local_dir=tmp_path)


def ready_document(
    bastion: Bastion, key: ClientKey, reported_by: Bastion, session_id: str
) -> dict[str, Any]:
    """The command's document of a READY session whose bastion listens where ``bastion``
    does (once its sshd accepts), with the host keys ``reported_by`` reported."""
    bastion.wait_for("started")
    return {
        "sessionId": session_id,
        "status": "READY",
        "address": "127.0.0.1",
        "port": bastion.port,
        "user": bastion.account.name,
        "keyFile": str(key.private),
        "hostPublicKeys": reported_by.wait_for("started")["hostPublicKeys"],
    }


def the_commands_ssh(
    target: Target, doc: dict[str, Any], *arguments: str, options: tuple[str, ...] = ()
) -> list[str]:
    """The command's own ssh line for ``doc`` (non-interactive, no user configuration), with
    ``options`` before the destination as ``bastion kubeconfig`` adds its tunnel's."""
    sessions.pin_host_keys(target, doc)
    argv = sessions.ssh_argv(target, doc, list(arguments))
    return [argv[0], "-F", "/dev/null", "-o", "BatchMode=yes", *options, *argv[1:]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_commands_ssh_logs_in_to_the_bastion_that_reported_the_keys(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    bastion = launcher.start(user_key.public_line)
    doc = ready_document(bastion, user_key, bastion, "pinned-1")

    logged_in = run(the_commands_ssh(target(tmp_path), doc, "echo", "in"))

    assert (logged_in.returncode, logged_in.stdout) == (0, "in\n"), logged_in.stderr
    assert bastion.wait_for("connect")["user"] == bastion.account.name


def test_a_bastion_presenting_other_host_keys_is_refused_and_nothing_is_forwarded(
    launcher: Launcher, user_key: ClientKey, tmp_path: Path
) -> None:
    # GIVEN the keys one bastion reported, and another bastion answering at the address
    reporting = launcher.start(user_key.public_line)
    impostor = launcher.start(user_key.public_line)
    doc = ready_document(impostor, user_key, reporting, "pinned-2")
    forward = free_port()

    # WHEN the command's ssh connects there, asking for a tunnel to the endpoint
    refused = run(
        the_commands_ssh(
            target(tmp_path),
            doc,
            options=("-N", "-L", f"127.0.0.1:{forward}:{ENDPOINT_HOST}:443"),
        )
    )

    # THEN ssh refuses the host before authenticating: no login, no tunnel
    assert refused.returncode == 255, refused.stderr
    assert "Host key verification failed" in refused.stderr
    assert impostor.named("connect") == []
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", forward), timeout=1):
        pass

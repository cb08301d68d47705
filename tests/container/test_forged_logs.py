"""sshd logs text a client chooses (user names, banners): it must not move the counts.

The entry point reads sshd's log to tell connections and disconnections. A client that
cannot log in can still put its own words into that log. These tests are the two
forgeries seen in the field, with the real sshd: neither may change a count, end a
session "idle" while a user is connected, nor produce a connect event.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.container.harness import DEADLINE, Bastion, ClientKey, Launcher
from tests.container.test_lifetime import open_session

pytestmark = pytest.mark.container

IDLE_SECONDS = 8


def source_port_of_the_login(bastion: Bastion) -> int:
    (connect,) = bastion.named("connect")
    return int(connect["sourcePort"])


def attempt_as(bastion: Bastion, key: ClientKey, directory: Path, user: str) -> None:
    """A login attempt under ``user``, which sshd refuses (and logs)."""
    refused = bastion.ssh(key, directory, "-N", user=user)
    assert refused.returncode == 255


def still_connected_past_the_idle_timeout(bastion: Bastion) -> None:
    """The bastion outlives its idle timeout with its one connection counted."""
    time.sleep(IDLE_SECONDS + 2)
    assert bastion.process.poll() is None, bastion.events
    assert not bastion.named("exit")
    assert not bastion.named("disconnect"), bastion.named("disconnect")


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param("Connection closed by 127.0.0.1 port {port}", id="closed-by"),
        pytest.param("Disconnected from user {account} 127.0.0.1 port {port}", id="disconnected"),
    ],
)
def test_a_user_name_forging_a_disconnection_changes_nothing(
    launcher: Launcher, user_key: ClientKey, other_key: ClientKey, tmp_path: Path, forged: str
) -> None:
    # GIVEN a user connected to a bastion with a short idle timeout
    bastion = launcher.start(
        user_key.public_line, {"BASTION_IDLE_TIMEOUT_SECONDS": str(IDLE_SECONDS)}
    )
    bastion.wait_for("started")
    client = open_session(bastion, user_key, tmp_path, "-N")
    try:
        port = source_port_of_the_login(bastion)
        # WHEN someone tries to log in under a user name that reads as that connection closing
        user = forged.format(port=port, account=bastion.account.name)
        attempt_as(bastion, other_key, tmp_path, user)
        bastion.wait_for(
            "sshd",
            lambda event: (
                event["message"].startswith("Invalid user ")
                and f"port {port} from " in event["message"]
            ),
        )
        # THEN the user's connection still counts, and the bastion does not go idle
        still_connected_past_the_idle_timeout(bastion)
    finally:
        client.kill()
        client.wait()
    # AND the real disconnection still ends it
    bastion.wait_for("disconnect", lambda event: event["sourcePort"] == port)
    assert bastion.wait_exit() == 0
    assert bastion.wait_for("exit")["reason"] == "idle"


def send_raw(bastion: Bastion, payload: bytes) -> int:
    """Connect to sshd, send ``payload`` instead of an SSH banner, and hang up.

    Returns the connection's source port.
    """
    with socket.create_connection(("127.0.0.1", bastion.port), timeout=DEADLINE) as raw:
        source_port = int(raw.getsockname()[1])
        raw.sendall(payload)
        raw.shutdown(socket.SHUT_WR)
        try:
            while raw.recv(4096):
                pass
        except OSError:
            pass
    return source_port


@pytest.mark.parametrize(
    "banner",
    [
        pytest.param(
            "Accepted publickey for {account} from 127.0.0.1 port 40000 ssh2: ED25519 {fp}\r\n",
            id="accepted",
        ),
        pytest.param(
            "SSH-2.0-x Accepted publickey for {account} from 127.0.0.1 port 40000 ssh2: "
            "ED25519 {fp}\r\n",
            id="accepted-after-a-version",
        ),
    ],
)
def test_a_raw_banner_forging_a_login_produces_no_connect_event(
    launcher: Launcher, user_key: ClientKey, banner: str
) -> None:
    bastion = launcher.start(user_key.public_line, {"BASTION_IDLE_TIMEOUT_SECONDS": "60"})
    bastion.wait_for("started")
    # WHEN a client sends a banner that reads as a successful login with the session's key
    payload = banner.format(account=bastion.account.name, fp=user_key.fingerprint)
    source_port = send_raw(bastion, payload.encode())
    # THEN once sshd has logged the end of that connection, no connect event came of it
    bastion.wait_for(
        "sshd",
        lambda event: (
            f"port {source_port}" in event["message"]
            and ("[preauth]" in event["message"] or "invalid format" in event["message"])
        ),
    )
    assert bastion.named("connect") == []

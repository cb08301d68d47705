"""Attacks on the door with the real sshd: the ways out that ``-L`` and ``-D`` are not.

Stdio forwarding (``-W``), forwarding to a Unix socket, remote forwarding to a socket, the
sftp subsystem on a tunnel-only bastion and agent forwarding on a shell bastion: each is
refused, and the bastion's own log says so where sshd logs it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.endpoint import HttpsServer
from tests.container.harness import (
    DEADLINE,
    Bastion,
    ClientKey,
    Launcher,
    free_port,
    run,
    stop,
    tool,
    utc_in,
)

pytestmark = pytest.mark.container


def _start(launcher: Launcher, key: ClientKey, endpoint: HttpsServer, mode: str) -> Bastion:
    bastion = launcher.start(
        key.public_line,
        {
            "BASTION_MODE": mode,
            "BASTION_ENDPOINT_PORT": str(endpoint.port),
            "BASTION_EXPIRES_AT": utc_in(900),
            "BASTION_IDLE_TIMEOUT_SECONDS": "900",
        },
    )
    assert bastion.wait_for("started")["mode"] == mode
    return bastion


@pytest.fixture(scope="module", params=["tunnel", "shell"])
def either_mode(
    request: pytest.FixtureRequest,
    module_launcher: Launcher,
    user_key: ClientKey,
    endpoint: HttpsServer,
) -> Bastion:
    return _start(module_launcher, user_key, endpoint, request.param)


@contextlib.contextmanager
def _unix_listener(path: Path) -> Iterator[list[bytes]]:
    """A Unix socket server that records whatever connects to it."""
    accepted: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    path.chmod(0o777)  # noqa: S103 - the bastion's account may connect, if sshd lets it
    server.listen(5)
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            accepted.append(b"connected")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield accepted
    finally:
        done.set()
        thread.join(timeout=DEADLINE)
        server.close()


def test_stdio_forwarding_to_elsewhere_is_refused(
    either_mode: Bastion, user_key: ClientKey, elsewhere: HttpsServer, tmp_path: Path
) -> None:
    command = either_mode.ssh_command(user_key, tmp_path)
    result = run([*command[:-1], "-W", f"127.0.0.1:{elsewhere.port}", command[-1]])
    assert result.returncode != 0
    assert "HTTP" not in result.stdout
    either_mode.wait_for(
        "sshd",
        lambda event: event["message"].endswith(
            f"to connect to host 127.0.0.1 port {elsewhere.port}, but the request was denied."
        ),
    )


def test_a_local_forward_to_a_unix_socket_is_refused(
    either_mode: Bastion, user_key: ClientKey, tmp_path: Path
) -> None:
    socket_path = Path("/tmp") / f"attack-{free_port()}.sock"  # noqa: S108 - reachable by sshd
    port = free_port()
    with _unix_listener(socket_path) as accepted:
        client = subprocess.Popen(  # noqa: S603 - ssh with a fixed argv
            [
                *either_mode.ssh_command(
                    user_key, tmp_path, options=[f"LocalForward=127.0.0.1:{port} {socket_path}"]
                )[:-1],
                "-N",
                either_mode.ssh_command(user_key, tmp_path)[-1],
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            either_mode.wait_for("connect")
            for _ in range(3):
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=2) as probe,
                ):
                    probe.settimeout(2)
                    with contextlib.suppress(OSError):
                        probe.recv(1)
        finally:
            stop(client)
        assert accepted == []
    socket_path.unlink(missing_ok=True)


def test_a_remote_forward_of_a_unix_socket_is_refused(
    either_mode: Bastion, user_key: ClientKey, tmp_path: Path
) -> None:
    remote = f"/tmp/attack-remote-{free_port()}.sock"  # noqa: S108 - on the bastion
    result = either_mode.ssh(
        user_key,
        tmp_path,
        "-N",
        options=[f"RemoteForward={remote} 127.0.0.1:9", "ExitOnForwardFailure=yes"],
    )
    assert result.returncode != 0
    assert not Path(remote).exists()


def test_the_sftp_subsystem_is_refused_on_a_tunnel_only_bastion(
    module_launcher: Launcher, user_key: ClientKey, endpoint: HttpsServer, tmp_path: Path
) -> None:
    bastion = _start(module_launcher, user_key, endpoint, "tunnel")
    result = bastion.ssh(user_key, tmp_path, "-s", "sftp")
    assert result.returncode == 255, (result.returncode, result.stdout, result.stderr)


def test_agent_forwarding_is_refused_on_a_shell_bastion(
    module_launcher: Launcher, user_key: ClientKey, endpoint: HttpsServer, tmp_path: Path
) -> None:
    bastion = _start(module_launcher, user_key, endpoint, "shell")
    agent_socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(  # noqa: S603 - ssh-agent with a fixed argv
        [tool("ssh-agent"), "-D", "-a", str(agent_socket)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + DEADLINE
        while not agent_socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        environment = {**os.environ, "SSH_AUTH_SOCK": str(agent_socket)}
        added = run(["ssh-add", str(user_key.private)], env=environment)
        assert added.returncode == 0, added.stderr
        command = bastion.ssh_command(
            user_key,
            tmp_path,
            'echo "agent=${SSH_AUTH_SOCK:-none}"; ssh-add -l; echo "listed=$?"',
            options=["ForwardAgent=yes"],
        )
        result = run(command, env=environment)
        assert result.returncode == 0, result.stderr
        assert "agent=none" in result.stdout, result.stdout
        assert "listed=0" not in result.stdout, result.stdout
        assert user_key.fingerprint not in result.stdout
    finally:
        stop(agent)

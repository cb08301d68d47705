"""A tunnel to the cluster's API endpoint and nothing else, in both modes of the bastion.

The stand-in endpoint is an HTTPS server on loopback, known to the bastion by a name
(``localhost``) as the real one is known by its EKS name. A second server stands for
everything else in the VPC: it answers when asked directly, so a refused tunnel to it is
the bastion's refusal, not a dead address.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.container.endpoint import VERSION_BODY, HttpsServer
from tests.container.harness import (
    DEADLINE,
    ENDPOINT_HOST,
    Bastion,
    ClientKey,
    Launcher,
    free_port,
    popen,
    run,
    stop,
    utc_in,
)

pytestmark = pytest.mark.container


@pytest.fixture(scope="module", params=["tunnel", "shell"])
def door(
    request: pytest.FixtureRequest,
    module_launcher: Launcher,
    user_key: ClientKey,
    endpoint: HttpsServer,
) -> Bastion:
    """A bastion in each mode, whose endpoint is the stand-in."""
    bastion = module_launcher.start(
        user_key.public_line,
        {
            "BASTION_MODE": request.param,
            "BASTION_ENDPOINT_PORT": str(endpoint.port),
            "BASTION_EXPIRES_AT": utc_in(900),
            "BASTION_IDLE_TIMEOUT_SECONDS": "900",
        },
    )
    started = bastion.wait_for("started")
    assert started["mode"] == request.param
    return bastion


def wait_listening(port: int, client: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        assert client.poll() is None, f"ssh exited: {client.communicate()[1]}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"ssh never listened on {port}")


class Tunnel:
    """``ssh -N`` with one forwarding option, kept running for a test."""

    def __init__(self, bastion: Bastion, key: ClientKey, directory: Path, option: str) -> None:
        self.port = free_port()
        command = bastion.ssh_command(key, directory, options=[option.format(port=self.port)])
        self.client = popen(
            [*command[:-1], "-N", command[-1]], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        wait_listening(self.port, self.client)

    def close(self) -> None:
        stop(self.client)


def fetch(url: str, ca_file: Path, *curl_options: str) -> subprocess.CompletedProcess[str]:
    return run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--max-time",
            "10",
            "--cacert",
            str(ca_file),
            *curl_options,
            url,
        ]
    )


def refusals(bastion: Bastion) -> list[str]:
    return [
        event["message"]
        for event in bastion.named("sshd")
        if "but the request was denied" in event["message"]
    ]


def wait_refused(bastion: Bastion, target: str, port: int) -> str:
    event = bastion.wait_for(
        "sshd",
        lambda event: event["message"].endswith(
            f"to connect to host {target} port {port}, but the request was denied."
        ),
    )
    return str(event["message"])


# ------------------------------------------------------------------- the way in


def test_a_local_forward_to_the_endpoint_by_name_works(
    door: Bastion, user_key: ClientKey, endpoint: HttpsServer, tmp_path: Path
) -> None:
    tunnel = Tunnel(
        door, user_key, tmp_path, f"LocalForward={{port}} {ENDPOINT_HOST}:{endpoint.port}"
    )
    try:
        fetched = fetch(f"https://localhost:{tunnel.port}/version", endpoint.ca_file)
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.stdout == VERSION_BODY
    finally:
        tunnel.close()


def test_socks_sending_the_endpoints_name_works(
    door: Bastion, user_key: ClientKey, endpoint: HttpsServer, tmp_path: Path
) -> None:
    # kubectl's proxy-url socks5:// sends the host name, as curl's --socks5-hostname does
    tunnel = Tunnel(door, user_key, tmp_path, "DynamicForward=127.0.0.1:{port}")
    try:
        fetched = fetch(
            f"https://{ENDPOINT_HOST}:{endpoint.port}/version",
            endpoint.ca_file,
            "--socks5-hostname",
            f"127.0.0.1:{tunnel.port}",
        )
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.stdout == VERSION_BODY
    finally:
        tunnel.close()


# ------------------------------------------------------------- every other way


@pytest.mark.parametrize(
    ("forward", "host", "port_of"),
    [
        pytest.param("local", "127.0.0.1", "endpoint", id="-L-to-the-endpoints-address"),
        pytest.param("local", ENDPOINT_HOST, "elsewhere", id="-L-to-another-port-of-its-host"),
        pytest.param("local", "127.0.0.1", "elsewhere", id="-L-to-another-service"),
        pytest.param("local", ENDPOINT_HOST.upper(), "endpoint", id="-L-to-the-name-in-upper-case"),
        pytest.param("socks", "127.0.0.1", "endpoint", id="-D-to-the-endpoints-address"),
        pytest.param("socks", ENDPOINT_HOST, "elsewhere", id="-D-to-another-port-of-its-host"),
        pytest.param("socks", "127.0.0.1", "elsewhere", id="-D-to-another-service"),
    ],
)
def test_a_tunnel_anywhere_else_is_refused(
    door: Bastion,
    user_key: ClientKey,
    endpoint: HttpsServer,
    elsewhere: HttpsServer,
    tmp_path: Path,
    forward: str,
    host: str,
    port_of: str,
) -> None:
    target = endpoint if port_of == "endpoint" else elsewhere
    # GIVEN the target answers when asked directly, so only the bastion can refuse it
    direct = fetch(f"https://{host}:{target.port}/version", target.ca_file, "--noproxy", "*")
    assert direct.returncode == 0, direct.stderr
    options: tuple[str, ...] = ()
    if forward == "local":
        tunnel = Tunnel(door, user_key, tmp_path, f"LocalForward={{port}} {host}:{target.port}")
        url = f"https://localhost:{tunnel.port}/version"
    else:
        tunnel = Tunnel(door, user_key, tmp_path, "DynamicForward=127.0.0.1:{port}")
        url = f"https://{host}:{target.port}/version"
        options = ("--socks5-hostname", f"127.0.0.1:{tunnel.port}")
    try:
        # WHEN a client goes through the tunnel
        fetched = fetch(url, target.ca_file, *options)
        # THEN nothing comes back, and sshd says it refused that very destination
        assert fetched.returncode != 0
        assert VERSION_BODY not in fetched.stdout
        wait_refused(door, host, target.port)
    finally:
        tunnel.close()


def test_socks_resolving_the_name_itself_is_refused(
    door: Bastion, user_key: ClientKey, endpoint: HttpsServer, tmp_path: Path
) -> None:
    # curl --socks5 resolves the name on the client and asks for the address
    tunnel = Tunnel(door, user_key, tmp_path, "DynamicForward=127.0.0.1:{port}")
    try:
        fetched = fetch(
            f"https://{ENDPOINT_HOST}:{endpoint.port}/version",
            endpoint.ca_file,
            "--socks5",
            f"127.0.0.1:{tunnel.port}",
        )
        assert fetched.returncode != 0
        wait_refused(door, "127.0.0.1", endpoint.port)
    finally:
        tunnel.close()


def test_remote_forwarding_is_refused(door: Bastion, user_key: ClientKey, tmp_path: Path) -> None:
    result = door.ssh(
        user_key,
        tmp_path,
        "-N",
        options=[f"RemoteForward=127.0.0.1:{free_port()} 127.0.0.1:9", "ExitOnForwardFailure=yes"],
    )
    assert result.returncode != 0
    assert "remote port forwarding failed" in result.stderr


def test_an_endpoint_name_in_upper_case_is_permitted_as_written_and_in_lower_case(
    launcher: Launcher, user_key: ClientKey, endpoint: HttpsServer, tmp_path: Path
) -> None:
    # EKS reports its endpoints' names with upper-case letters; clients may lower them
    bastion = launcher.start(
        user_key.public_line,
        {
            "BASTION_MODE": "tunnel",
            "BASTION_ENDPOINT_HOST": "LocalHost",
            "BASTION_ENDPOINT_PORT": str(endpoint.port),
        },
    )
    bastion.wait_for("started")
    for name in ("LocalHost", "localhost"):
        tunnel = Tunnel(
            bastion, user_key, tmp_path, f"LocalForward={{port}} {name}:{endpoint.port}"
        )
        try:
            fetched = fetch(f"https://localhost:{tunnel.port}/version", endpoint.ca_file)
            assert fetched.returncode == 0, f"{name}: {fetched.stderr}"
        finally:
            tunnel.close()
    assert refusals(bastion) == []


# ---------------------------------------------------------------------- no shell


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(("echo", "ran"), id="a-command"),
        pytest.param(("-tt", "echo ran"), id="a-terminal"),
    ],
)
def test_a_shell_and_commands_only_on_a_shell_bastion(
    door: Bastion, user_key: ClientKey, tmp_path: Path, arguments: tuple[str, ...]
) -> None:
    logins = len(door.named("connect"))
    result = door.ssh(user_key, tmp_path, *arguments)
    # The key logged in either way: what follows is the mode's doing, not a refused key.
    door.wait_for("connect", lambda _: len(door.named("connect")) > logins)
    if door.named("started")[0]["mode"] == "shell":
        assert result.returncode == 0, result.stderr
        assert "ran" in result.stdout
        return
    # sshd's MaxSessions 0: no session channel at all (forwarding is still allowed)
    assert result.returncode == 255
    assert "ran" not in result.stdout

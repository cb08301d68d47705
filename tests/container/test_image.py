"""The built image, run as the task definition says: login, refusals, the tunnel, expiry
with its warning, the idle timeout, a bad environment, and the hardening itself.

One image for the whole test session (tests/container/image.py). These tests skip only
where podman cannot run, saying why; a build that fails fails them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.common.host_keys import started_host_keys
from tests.container.endpoint import VERSION_BODY, HttpsServer
from tests.container.harness import DEADLINE, ClientKey, run, utc_in
from tests.container.image import (
    ENDPOINT_NAME,
    HOST_FROM_CONTAINER,
    ContainerBastion,
    ImageLauncher,
    build_image,
    podman_unavailable,
)
from tests.container.test_door import Tunnel, fetch, wait_refused
from tests.container.test_host_keys import keyscan
from tests.container.test_lifetime import open_session

pytestmark = pytest.mark.container


@pytest.fixture(scope="session")
def image() -> str:
    reason = podman_unavailable()
    if reason is not None:
        pytest.skip(f"the image tests need podman: {reason}")
    return build_image("tunnel")


@pytest.fixture(scope="module")
def launcher(image: str) -> Iterator[ImageLauncher]:
    launcher = ImageLauncher(image)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def tunnel_bastion(
    launcher: ImageLauncher, user_key: ClientKey, endpoint: HttpsServer
) -> ContainerBastion:
    """The default, tunnel-only bastion, whose endpoint is the stand-in on the host."""
    bastion = launcher.start(
        user_key.public_line,
        {
            "BASTION_ENDPOINT_PORT": str(endpoint.port),
            "BASTION_EXPIRES_AT": utc_in(600),
            "BASTION_IDLE_TIMEOUT_SECONDS": "600",
        },
    )
    started = bastion.wait_for("started", timeout=60)
    assert (started["mode"], started["port"]) == ("tunnel", 22)
    return bastion


def test_the_image_is_a_tunnel_to_the_endpoint_and_nothing_else(
    tunnel_bastion: ContainerBastion,
    user_key: ClientKey,
    other_key: ClientKey,
    endpoint: HttpsServer,
    elsewhere: HttpsServer,
    tmp_path: Path,
) -> None:
    bastion = tunnel_bastion
    # Another key is refused; the session's key gets no shell or command
    refused = bastion.ssh(other_key, tmp_path, "-N")
    assert refused.returncode == 255
    assert "Permission denied (publickey)" in refused.stderr
    command = bastion.ssh(user_key, tmp_path, "echo", "ran")
    assert command.returncode == 255
    assert "ran" not in command.stdout
    # The tunnel to the endpoint, by its name, works
    tunnel = Tunnel(
        bastion, user_key, tmp_path, f"LocalForward={{port}} {ENDPOINT_NAME}:{endpoint.port}"
    )
    try:
        fetched = fetch(f"https://localhost:{tunnel.port}/version", endpoint.ca_file)
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.stdout == VERSION_BODY
    finally:
        tunnel.close()
    # Its address, and another service the container can reach, are refused
    for host, port in ((HOST_FROM_CONTAINER, endpoint.port), (ENDPOINT_NAME, elsewhere.port)):
        tunnel = Tunnel(bastion, user_key, tmp_path, f"LocalForward={{port}} {host}:{port}")
        try:
            assert fetch(f"https://localhost:{tunnel.port}/version", endpoint.ca_file).returncode
            wait_refused(bastion, host, port)
        finally:
            tunnel.close()


def test_the_image_reports_the_host_keys_it_presents(tunnel_bastion: ContainerBastion) -> None:
    # sshd listens on every address here: the event waits for its IPv4 socket
    started = tunnel_bastion.wait_for("started", timeout=60)
    reported = {(key.key_type, key.key) for key in started_host_keys(started)}
    assert keyscan(tunnel_bastion.port) == reported
    assert len(reported) == 2


def test_the_image_runs_unprivileged_on_a_read_only_root_without_capabilities(
    tunnel_bastion: ContainerBastion,
) -> None:
    bastion = tunnel_bastion
    assert bastion.exec("id", "-u").stdout.strip() == "10001"
    # No process of the container holds or may regain any capability (sshd included)
    capabilities = bastion.exec(
        "sh", "-c", "grep -h -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/[0-9]*/status"
    )
    assert capabilities.returncode == 0, capabilities.stderr
    values = {line.split()[1] for line in capabilities.stdout.splitlines()}
    assert values == {"0000000000000000"}, capabilities.stdout
    # sshd is among them, listening on 22 as uid 10001
    owners = bastion.exec("sh", "-c", "for p in /proc/[0-9]*; do cat $p/comm; done")
    assert "sshd" in owners.stdout.split()
    # Nothing of the image can be written; the runtime directory can, by bastion alone
    assert bastion.exec("touch", "/etc/written").returncode != 0
    assert bastion.exec("touch", "/usr/local/bin/written").returncode != 0
    assert bastion.exec("stat", "-c", "%u %a", "/run/bastion").stdout.split() == ["10001", "700"]


def test_the_image_carries_no_tools_setuid_binaries_or_package_caches(image: str) -> None:
    launcher = ImageLauncher(image)
    inspected = run(
        [
            "podman",
            "run",
            "--rm",
            *launcher.flags,
            "--entrypoint",
            "/bin/sh",
            image,
            "-c",
            "find / -xdev -type f -perm /6000; echo ---;"
            " for tool in kubectl aws helm eksctl curl apt-get; do command -v $tool; done;"
            " echo ---;"
            " ls -A /var/lib/apt/lists /var/cache/apt /etc/ssh | grep -v ':$' | grep -v '^$'",
        ]
    )
    assert inspected.returncode == 0, inspected.stderr
    setuid, tools, listed = inspected.stdout.split("---\n")
    assert setuid.strip() == "", f"setuid/setgid files: {setuid}"
    # apt itself stays (the base's), the session tools do not
    assert tools.split() == ["/usr/bin/apt-get"]
    # no package lists or caches, and no host key: /etc/ssh holds the configuration only
    assert sorted(listed.split()) == ["moduli", "ssh_config", "ssh_config.d", "sshd_config"]


def test_the_image_logs_in_with_a_shell_on_a_writable_home_in_shell_mode(
    launcher: ImageLauncher, user_key: ClientKey, tmp_path: Path
) -> None:
    bastion = launcher.start(user_key.public_line, mode="shell")
    bastion.wait_for("started", timeout=60)
    result = bastion.ssh(
        user_key, tmp_path, "id -un; touch ~/notes && echo home-writable; touch /x"
    )
    assert result.stdout.splitlines()[:2] == ["bastion", "home-writable"], result.stderr
    assert "Read-only file system" in result.stderr


def test_the_image_warns_then_ends_the_session_at_its_expiry(
    launcher: ImageLauncher, user_key: ClientKey, tmp_path: Path
) -> None:
    bastion = launcher.start(
        user_key.public_line,
        {"BASTION_EXPIRES_AT": utc_in(15), "BASTION_EXPIRY_WARNING_SECONDS": "8"},
    )
    bastion.wait_for("started", timeout=60)
    client = open_session(bastion, user_key, tmp_path, "-N")
    try:
        warning = bastion.wait_for("expiry_warning", timeout=60)
        assert warning["connections"] == 1
        assert bastion.wait_for("exit", timeout=60)["reason"] == "expired"
        assert bastion.wait_exit(timeout=60) == 0
        client.wait(timeout=DEADLINE)
        assert client.returncode != 0
    finally:
        client.kill()
        client.wait()


def test_the_image_ends_itself_when_idle(launcher: ImageLauncher, user_key: ClientKey) -> None:
    bastion = launcher.start(user_key.public_line, {"BASTION_IDLE_TIMEOUT_SECONDS": "2"})
    assert bastion.wait_for("exit", timeout=60)["reason"] == "idle"
    assert bastion.wait_exit(timeout=60) == 0


def test_the_image_refuses_a_bad_environment(launcher: ImageLauncher, user_key: ClientKey) -> None:
    bastion = launcher.start(user_key.public_line, {"BASTION_ENDPOINT_HOST": "*"})
    assert bastion.wait_exit(timeout=60) == 2
    (event,) = [event for event in bastion.events if event["event"] == "exit"]
    assert event["reason"] == "invalid-environment"
    assert "BASTION_ENDPOINT_HOST" in event["message"]


def test_a_process_of_the_bastions_user_cannot_stop_its_entry_point(
    launcher: ImageLauncher, user_key: ClientKey
) -> None:
    # GIVEN a bastion whose hard stop is seconds off
    bastion = launcher.start(user_key.public_line, {"BASTION_EXPIRES_AT": utc_in(20)})
    bastion.wait_for("started", timeout=60)
    # WHEN a process of the bastion's user, as a login shell is, stops every process it may
    stopped = bastion.exec("sh", "-c", "kill -STOP -1")
    assert stopped.returncode == 0, stopped.stderr
    # THEN the entry point (the container's first process, which no process inside may
    # stop) still ends the session at its hard stop
    assert bastion.wait_for("exit", timeout=60)["reason"] == "expired"
    assert bastion.wait_exit(timeout=60) == 0

"""The built bastion image, run with podman as the task definition in template.yaml says.

One image per test session: built (or found in podman's build cache) by
scripts/build-image.sh under a lock, so concurrent test workers share it. The task
definition's own settings become ``podman run`` flags: user, read-only root, dropped
capabilities, system controls, port, volumes, init process and environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bastion.container_image import task_definition_flags
from tests.container.harness import (
    DEADLINE,
    ROOT,
    Account,
    Bastion,
    free_port,
    popen,
    run,
    utc_in,
)

BUILD_SCRIPT = ROOT / "scripts" / "build-image.sh"
TEST_IMAGE = "localhost/fargate-bastion:test"
#: How the container reaches the tests' stand-in endpoint on the host's loopback:
#: slirp4netns's address for the host, under a name as the real endpoint has one.
ENDPOINT_NAME = "endpoint.test"
HOST_FROM_CONTAINER = "10.0.2.2"
#: Building on a fresh machine makes the base from Debian's packages first.
BUILD_DEADLINE = 900.0


def podman_unavailable() -> str | None:
    """Why podman cannot run containers here, or None when it can."""
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/install-image-deps.sh installs it, as root)"
    info = run(["podman", "info"])
    if info.returncode != 0:
        return f"podman cannot run here: {info.stderr.strip()[-300:]}"
    return None


def podman_flags() -> list[str]:
    """The runtime and limits every podman run needs on this machine."""
    flags = run(["bash", str(BUILD_SCRIPT), "podman-flags"], check=True)
    return flags.stdout.split()


def build_image(target: str = "tunnel", tag: str = TEST_IMAGE) -> str:
    """Build ``target`` with podman (seconds when the build cache has it); its tag."""
    environment = {**os.environ, "IMAGE": tag, "IMAGE_TARGET": target, "CONTAINER_ENGINE": "podman"}
    built = run(["bash", str(BUILD_SCRIPT)], timeout=BUILD_DEADLINE, env=environment)
    if built.returncode != 0:
        raise AssertionError(f"the image did not build:\n{built.stdout}\n{built.stderr}")
    return tag


@dataclass
class ContainerBastion(Bastion):
    """A bastion running in the image: events from the container's stdout."""

    name: str = ""

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman(["exec", self.name, *command])

    def stop(self) -> None:
        podman(["rm", "--force", "--time", "0", self.name])
        try:
            self.process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()


def podman(arguments: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return run(["podman", *arguments])


class ImageLauncher:
    """Starts the image as the task definition says; removes every container it started."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.flags = podman_flags()
        self.started: list[ContainerBastion] = []
        self.account = Account("bastion", 10001, 10001, Path("/home/bastion"), False)

    def command(self, name: str, host_port: int, environment: Mapping[str, str]) -> list[str]:
        flags, container_port = task_definition_flags()
        command = [
            "podman",
            "run",
            "--rm",
            "--name",
            name,
            *self.flags,
            *flags,
            "--network",
            "slirp4netns:allow_host_loopback=true",
            "--add-host",
            f"{ENDPOINT_NAME}:{HOST_FROM_CONTAINER}",
            "--publish",
            f"127.0.0.1:{host_port}:{container_port}",
        ]
        for variable, value in environment.items():
            command += ["--env", f"{variable}={value}"]
        return [*command, self.image]

    @staticmethod
    def session_environment(
        key_line: str, mode: str, overrides: Mapping[str, str]
    ) -> dict[str, str]:
        """What RunBastionTask sets, for a session of two minutes, then ``overrides``."""
        return {
            "BASTION_SESSION_ID": "image-session-1",
            "BASTION_CLUSTER_NAME": "demo",
            "BASTION_AUTHORIZED_KEY": key_line,
            "BASTION_EXPIRES_AT": utc_in(120),
            "BASTION_IDLE_TIMEOUT_SECONDS": "120",
            "BASTION_ENDPOINT_HOST": ENDPOINT_NAME,
            "BASTION_MODE": mode,
            **overrides,
        }

    def start(
        self, key_line: str, overrides: Mapping[str, str] | None = None, mode: str = "tunnel"
    ) -> ContainerBastion:
        name = f"fargate-bastion-test-{os.getpid()}-{len(self.started)}-{free_port()}"
        port = free_port()
        environment = self.session_environment(key_line, mode, overrides or {})
        process = popen(
            self.command(name, port, environment),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        bastion = ContainerBastion(process, Path("/run/bastion"), port, self.account, name=name)
        self.started.append(bastion)
        threading.Thread(target=bastion._read, daemon=True).start()
        threading.Thread(target=bastion._read_stderr, daemon=True).start()
        return bastion

    def stop_all(self) -> None:
        for bastion in self.started:
            bastion.stop()
        self.started.clear()

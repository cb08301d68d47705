"""Run the bastion's real entry point and sshd on loopback, and talk to it with real ssh.

When the tests run as root (CI does), the entry point runs as the unprivileged account
``fargate-bastion-test``: an unprivileged sshd logs in only the user it runs as, which
is exactly how the container runs it. As an ordinary user, it runs as that user.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tasks.common.host_keys import known_hosts_lines

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "container"
ENTRYPOINT = CONTAINER / "entrypoint.sh"
SSHD_CONFIG = CONTAINER / "sshd_config"
TEST_ACCOUNT = "fargate-bastion-test"
SSHD = "/usr/sbin/sshd"
SETUP_HINT = "run `make test`, which installs it (scripts/install-test-deps.sh)"
#: The cluster's API endpoint as the tests' bastions know it: a name that resolves to
#: 127.0.0.1 here, as the endpoint's name resolves to its interfaces in the VPC.
ENDPOINT_HOST = "localhost"

#: Long enough for any wait of these tests on a loaded machine; never a timing assertion.
DEADLINE = 20.0


def tool(name: str) -> str:
    """The absolute path of a program (an AssertionError saying how to get it if absent)."""
    if "/" in name:
        return name
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed: {SETUP_HINT}")
    return path


def run(command: Sequence[str], **options: Any) -> subprocess.CompletedProcess[str]:
    """Run a fixed argv (no shell) in text mode, capturing its output, within DEADLINE."""
    options = {"capture_output": True, "text": True, "timeout": DEADLINE, "check": False} | options
    options.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([tool(command[0]), *command[1:]], **options)  # noqa: S603


def popen(command: Sequence[str], **options: Any) -> subprocess.Popen[str]:
    """Start a fixed argv (no shell) in text mode."""
    options = {"text": True, "stdin": subprocess.DEVNULL} | options
    return subprocess.Popen([tool(command[0]), *command[1:]], **options)  # noqa: S603


def stop(client: subprocess.Popen[Any]) -> None:
    """End a client the test started: SIGTERM, then SIGKILL if it has not gone.

    A client (``ssh -N``, an agent) that lingers on a loaded machine is the test's own
    process, not the bastion's behaviour; the bastion's side is asserted from its events.
    """
    client.terminate()
    try:
        client.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        client.kill()
        client.communicate(timeout=DEADLINE)


@dataclass(frozen=True)
class Account:
    """Who the entry point runs as."""

    name: str
    uid: int
    gid: int
    home: Path
    #: True when the tests run as root and must drop to the account to start it.
    switch: bool


def bastion_account() -> Account:
    """The account to run the entry point as (raises LookupError if it does not exist)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(TEST_ACCOUNT)
        return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), True)
    entry = pwd.getpwuid(os.geteuid())
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), False)


def utc_in(seconds: float) -> str:
    """``BASTION_EXPIRES_AT`` for ``seconds`` from now (whole seconds, rounded up)."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    queue = [pid]
    while queue:
        current = queue.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found.extend(children)
        queue.extend(children)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def kill_all(pids: Sequence[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class ClientKey:
    """An ed25519 key pair for the ssh client, made with ssh-keygen."""

    private: Path

    @property
    def public_line(self) -> str:
        return Path(f"{self.private}.pub").read_text().strip()

    @property
    def fingerprint(self) -> str:
        listing = run(["ssh-keygen", "-l", "-f", f"{self.private}.pub"], check=True).stdout
        return listing.split()[1]


def make_client_key(directory: Path, name: str) -> ClientKey:
    private = directory / name
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)], check=True)
    return ClientKey(private)


@dataclass
class Bastion:
    """A running entry point, its JSON events and its files."""

    process: subprocess.Popen[str]
    root: Path
    port: int
    account: Account
    events: list[dict[str, Any]] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    non_json: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def runtime(self) -> Path:
        return self.root / "run"

    # ------------------------------------------------------------------ events
    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                try:
                    self.events.append(json.loads(line))
                except json.JSONDecodeError:
                    self.non_json.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def named(self, event: str) -> list[dict[str, Any]]:
        with self._changed:
            return [item for item in self.events if item.get("event") == event]

    def wait_for(
        self,
        event: str,
        matching: Callable[[dict[str, Any]], bool] = lambda _: True,
        timeout: float = DEADLINE,
    ) -> dict[str, Any]:
        """The first ``event`` that ``matching`` accepts; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for item in self.events:
                    if item.get("event") == event and matching(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {event!r} event within {timeout:.0f} s; events: {self.events}; "
                        f"stderr: {''.join(self.stderr_lines)}"
                    )
                self._changed.wait(min(left, 0.2))

    def wait_exit(self, timeout: float = DEADLINE) -> int:
        returncode = self.process.wait(timeout=timeout)
        time.sleep(0.1)  # let the reader thread take the last lines
        return returncode

    # ---------------------------------------------------------------- clients
    def known_hosts(self, directory: Path) -> Path:
        """A known_hosts file pinning the host keys the bastion's started event reports: every
        test that logs in trusts only what the bastion itself said, as a user does."""
        started = self.wait_for("started")
        path = directory / f"known_hosts-{self.port}"
        path.write_text("\n".join(known_hosts_lines(started, "127.0.0.1", self.port)) + "\n")
        return path

    def ssh_command(
        self,
        key: ClientKey | None,
        directory: Path,
        *arguments: str,
        user: str | None = None,
        options: Sequence[str] = (),
        known_hosts: Path | None = None,
    ) -> list[str]:
        """An ssh command line for this bastion, checking its host key strictly (against
        ``known_hosts`` if given, else the keys the bastion reported)."""
        pinned = known_hosts if known_hosts is not None else self.known_hosts(directory)
        command = [
            "ssh",
            "-F",
            "/dev/null",
            "-p",
            str(self.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={pinned}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "LogLevel=ERROR",
        ]
        if key is not None:
            command += ["-i", str(key.private)]
        for option in options:
            command += ["-o", option]
        return [*command, f"{user or self.account.name}@127.0.0.1", *arguments]

    def ssh(
        self,
        key: ClientKey | None,
        directory: Path,
        *arguments: str,
        user: str | None = None,
        options: Sequence[str] = (),
        known_hosts: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return run(
            self.ssh_command(
                key, directory, *arguments, user=user, options=options, known_hosts=known_hosts
            )
        )

    # ---------------------------------------------------------------- cleanup
    def stop(self) -> None:
        """End the entry point, sshd and every session process, whatever state they are in."""
        pids = descendants(self.process.pid)
        sshd_pid_file = self.runtime / "sshd.pid"
        if sshd_pid_file.exists():
            try:
                sshd_pid = int(sshd_pid_file.read_text().strip())
            except (OSError, ValueError):
                sshd_pid = 0
            if sshd_pid and alive(sshd_pid):
                pids += [sshd_pid, *descendants(sshd_pid)]
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        kill_all([*pids, self.process.pid])
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_all([self.process.pid])
        shutil.rmtree(self.root, ignore_errors=True)


class Launcher:
    """Starts entry points as the test account, each in its own directory, and cleans up."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.started: list[Bastion] = []

    def workdir(self) -> Path:
        """A directory owned by the account under its home, holding copies of the files.

        Under the home directory because sshd's StrictModes checks every directory above
        authorized_keys up to the home directory (a world-writable /tmp fails it).
        """
        root = Path(tempfile.mkdtemp(prefix=".fargate-bastion-test-", dir=self.account.home))
        shutil.copy2(ENTRYPOINT, root / "entrypoint.sh")
        shutil.copy2(SSHD_CONFIG, root / "sshd_config")
        (root / "bin").mkdir()
        self.give(root)
        return root

    def give(self, path: Path) -> None:
        """Hand ``path`` (recursively) to the account."""
        if not self.account.switch:
            return
        for item in [path, *path.rglob("*")]:
            os.chown(item, self.account.uid, self.account.gid, follow_symlinks=False)

    def as_account(self, command: Sequence[str]) -> list[str]:
        """``command``, run as the account (setpriv execs it: same pid, no fork)."""
        if not self.account.switch:
            return list(command)
        return [
            "setpriv",
            f"--reuid={self.account.uid}",
            f"--regid={self.account.gid}",
            "--init-groups",
            "--",
            *command,
        ]

    def command(self, root: Path, *arguments: str) -> list[str]:
        return self.as_account([str(root / "entrypoint.sh"), *arguments])

    def environment(
        self, root: Path, port: int, key_line: str | None, overrides: Mapping[str, str | None]
    ) -> dict[str, str]:
        environment = {
            "PATH": f"{root / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.account.home),
            "USER": self.account.name,
            "LOGNAME": self.account.name,
            "LANG": "C.UTF-8",
            "BASTION_SESSION_ID": "test-session-1",
            "BASTION_CLUSTER_NAME": "demo",
            "BASTION_EXPIRES_AT": utc_in(120),
            "BASTION_IDLE_TIMEOUT_SECONDS": "120",
            "BASTION_SSH_PORT": str(port),
            "BASTION_LISTEN_ADDRESS": "127.0.0.1",
            "BASTION_RUNTIME_DIR": str(root / "run"),
            "BASTION_SSHD_CONFIG": str(root / "sshd_config"),
            "BASTION_SSHD": SSHD,
            "BASTION_ENDPOINT_HOST": ENDPOINT_HOST,
            # No endpoint listens here unless a test starts one and names its port.
            "BASTION_ENDPOINT_PORT": "9",
            "BASTION_MODE": "shell",
            "AWS_REGION": "eu-west-1",
        }
        if key_line is not None:
            environment["BASTION_AUTHORIZED_KEY"] = key_line
        for name, value in overrides.items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        return environment

    def start(
        self,
        key_line: str | None,
        overrides: Mapping[str, str | None] | None = None,
        fake_aws: str | None = None,
    ) -> Bastion:
        """Start an entry point; ``fake_aws`` is a shell script put on its PATH as ``aws``."""
        root = self.workdir()
        if fake_aws is not None:
            script = root / "bin" / "aws"
            script.write_text(fake_aws)
            script.chmod(0o755)
            self.give(script)
        port = free_port()
        process = popen(
            self.command(root),
            env=self.environment(root, port, key_line, overrides or {}),
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        bastion = Bastion(process, root, port, self.account)
        self.started.append(bastion)
        threading.Thread(target=bastion._read, daemon=True).start()
        threading.Thread(target=bastion._read_stderr, daemon=True).start()
        return bastion

    def run_to_end(
        self,
        key_line: str | None,
        overrides: Mapping[str, str | None] | None = None,
        arguments: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Run the entry point to completion (it must end by itself: a refusal, --check)."""
        root = self.workdir()
        try:
            return run(
                self.command(root, *arguments),
                env=self.environment(root, free_port(), key_line, overrides or {}),
                cwd=root,
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def stop_all(self) -> None:
        for bastion in self.started:
            bastion.stop()
        self.started.clear()


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """Every line of ``text`` as JSON (fails on a line that is not)."""
    for line in text.splitlines():
        yield json.loads(line)

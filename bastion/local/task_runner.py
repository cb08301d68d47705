"""Really run a bastion for an ECS task of the local AWS: OpenSSH's sshd on loopback.

The local AWS simulates ECS tasks. With a task runner plugged in
(``aws.ecs_control.task_runner = SshdTaskRunner(...)``), RunTask also starts the
bastion's container entry point on this machine: ``container/entrypoint.sh`` when it is
there, or else a minimal stand-in that starts ``sshd`` the way the container does (key
only, the session's authorized key, self-exit at expiry). It listens on a free port of
127.0.0.1; the task's network interface gets 127.0.0.1 as its public address, so the
workflow reports where to connect. Stopping the task kills the process group.

Run as root, sshd would need privilege separation and a non-root account to log in
to; this runner never runs sshd as root. It runs it as an unprivileged account
(:data:`TEST_ACCOUNT`, created by ``scripts/install-test-deps.sh``), or as the current
user when that is not root, and that same account is the SSH login user. Each running
bastion is described in ``<state dir>/bastions/<session id>.json`` (address, port,
user, log file), which the ``bastion`` command reads.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

#: The unprivileged account sshd runs as (and that logs in) when the runner runs as root.
TEST_ACCOUNT = "fargate-bastion-test"
SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
ENTRYPOINT = Path(__file__).resolve().parents[2] / "container" / "entrypoint.sh"
READY_TIMEOUT_SECONDS = 10.0


class TaskRunnerError(RuntimeError):
    """The bastion could not be started on this machine."""


class TaskRunner(Protocol):
    """What the local AWS calls when a task starts and stops."""

    def start(self, task_arn: str, environment: Mapping[str, str]) -> str:
        """Start the task's bastion; returns the address it listens on."""

    def stop(self, task_arn: str) -> None:
        """Stop the task's bastion (no-op when it is not running)."""


@dataclass(frozen=True)
class BastionProcess:
    """A bastion running on this machine (one JSON file per session in the state dir)."""

    sessionId: str  # noqa: N815 - the JSON document's field names
    taskArn: str  # noqa: N815
    address: str
    port: int
    user: str
    pid: int
    logFile: str  # noqa: N815
    runtimeDir: str  # noqa: N815
    entrypoint: str


def find_sshd() -> str | None:
    """The sshd binary, or None when OpenSSH's server is not installed."""
    for candidate in SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("sshd")


def login_account() -> pwd.struct_passwd | None:
    """The account sshd runs as and logs in to (None: there is none usable)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(TEST_ACCOUNT)
    except KeyError:
        return None


def unavailable_reason() -> str | None:
    """Why real bastions cannot run here, or None when they can."""
    if find_sshd() is None:
        return "OpenSSH's server (sshd) is not installed: run scripts/install-test-deps.sh"
    if login_account() is None:
        return (
            f"running as root, and the unprivileged account {TEST_ACCOUNT!r} does not exist: "
            "run scripts/install-test-deps.sh"
        )
    return None


def record_path(state_dir: Path, session_id: str) -> Path:
    """Where the runner describes the session's running bastion."""
    return state_dir / "bastions" / f"{session_id}.json"


def log_path(state_dir: Path, session_id: str) -> Path:
    """Where the session's bastion writes its log lines (kept after it stops)."""
    return state_dir / "logs" / f"{session_id}.log"


def read_record(state_dir: Path, session_id: str) -> BastionProcess | None:
    """The running bastion of ``session_id``, if this machine runs one."""
    try:
        data = json.loads(record_path(state_dir, session_id).read_text())
    except (OSError, ValueError):
        return None
    return BastionProcess(**data)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise TaskRunnerError(
                f"the bastion exited with status {process.returncode}: {' / '.join(tail)}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TaskRunnerError(f"the bastion did not listen on 127.0.0.1:{port} in time")


def _seconds_until(expires_at: str) -> float | None:
    try:
        moment = datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


#: What the container image's /etc/ssh/sshd_config says, for this machine: key only, one
#: user, no PAM (an unprivileged sshd cannot use it). StrictModes is off because the
#: runtime directory lives under the world-writable temporary directory.
_BASE_CONFIG = """\
# A local stand-in for the bastion container's sshd_config.
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
StrictModes no
AllowTcpForwarding yes
X11Forwarding no
PermitTunnel no
LogLevel VERBOSE
ClientAliveInterval 30
ClientAliveCountMax 3
"""
#: What the entry point passes sshd with -o; the built-in stand-in writes it itself.
_BUILTIN_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {runtime}/ssh_host_ed25519_key
PidFile {runtime}/sshd.pid
AuthorizedKeysFile {runtime}/authorized_keys
"""


class SshdTaskRunner:
    """Runs each task's bastion as a real sshd on a loopback port (see the module doc)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        use_entrypoint: bool | None = None,
        on_exit: Callable[[str, int], None] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        #: Called as ``on_exit(task_arn, status)`` when a bastion exits by itself (expiry,
        #: idle timeout, crash): the local AWS then stops its task, as Fargate would.
        self.on_exit = on_exit
        self.use_entrypoint = ENTRYPOINT.is_file() if use_entrypoint is None else use_entrypoint
        self._lock = threading.Lock()
        self._running: dict[str, tuple[subprocess.Popen[bytes], BastionProcess]] = {}
        self._timers: dict[str, threading.Timer] = {}

    # --- the TaskRunner protocol ----------------------------------------------------------

    def start(self, task_arn: str, environment: Mapping[str, str]) -> str:
        """Start sshd for the task; returns 127.0.0.1."""
        reason = unavailable_reason()
        if reason is not None:
            raise TaskRunnerError(reason)
        account = login_account()
        assert account is not None  # noqa: S101 - checked by unavailable_reason
        session_id = environment.get("BASTION_SESSION_ID", task_arn.rsplit("/", 1)[-1])
        runtime = Path(tempfile.mkdtemp(prefix="fargate-bastion-"))
        log_file = log_path(self.state_dir, session_id)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        try:
            argv, env = self._command(runtime, port, account.pw_name, environment)
            if os.geteuid() == 0:
                os.chown(runtime, account.pw_uid, account.pw_gid)
                for child in runtime.iterdir():
                    os.chown(child, account.pw_uid, account.pw_gid)
            with log_file.open("ab") as log:
                process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=runtime,
                    start_new_session=True,
                    user=account.pw_uid if os.geteuid() == 0 else None,
                    group=account.pw_gid if os.geteuid() == 0 else None,
                    # The account's own groups (tty among them): sshd hands a login's
                    # terminal to the group tty, which it can do only as a member.
                    extra_groups=(
                        os.getgrouplist(account.pw_name, account.pw_gid)
                        if os.geteuid() == 0
                        else None
                    ),
                )
            _wait_listening(port, process, log_file)
        except BaseException:
            shutil.rmtree(runtime, ignore_errors=True)
            if "process" in locals():
                _kill_group(process)
            raise
        record = BastionProcess(
            sessionId=session_id,
            taskArn=task_arn,
            address="127.0.0.1",
            port=port,
            user=account.pw_name,
            pid=process.pid,
            logFile=str(log_file),
            runtimeDir=str(runtime),
            entrypoint=str(ENTRYPOINT) if self.use_entrypoint else "sshd",
        )
        path = record_path(self.state_dir, session_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(record), indent=2) + "\n")
        with self._lock:
            self._running[task_arn] = (process, record)
        threading.Thread(
            target=self._watch, args=(task_arn, process), name=f"bastion-{session_id}", daemon=True
        ).start()
        expires_in = _seconds_until(environment.get("BASTION_EXPIRES_AT", ""))
        if expires_in is not None and not self.use_entrypoint:
            # The container exits at its expiry whatever the control plane does.
            timer = threading.Timer(expires_in, self.stop, args=(task_arn,))
            timer.daemon = True
            timer.start()
            with self._lock:
                self._timers[task_arn] = timer
        return record.address

    def stop(self, task_arn: str) -> None:
        """Kill the task's bastion and remove its runtime directory."""
        with self._lock:
            running = self._running.pop(task_arn, None)
            timer = self._timers.pop(task_arn, None)
        if timer is not None:
            timer.cancel()
        if running is None:
            return
        process, record = running
        _kill_group(process)
        shutil.rmtree(record.runtimeDir, ignore_errors=True)
        record_path(self.state_dir, record.sessionId).unlink(missing_ok=True)

    def _watch(self, task_arn: str, process: subprocess.Popen[bytes]) -> None:
        status = process.wait()
        with self._lock:
            exited_by_itself = self._running.get(task_arn, (None,))[0] is process
        if not exited_by_itself:
            return  # stopped by stop(): the task is stopping already
        self.stop(task_arn)
        if self.on_exit is not None:
            self.on_exit(task_arn, status)

    def stop_all(self) -> None:
        """Stop every bastion this runner started."""
        with self._lock:
            arns = list(self._running)
        for arn in arns:
            self.stop(arn)

    # --- how ------------------------------------------------------------------------------

    def _command(
        self, runtime: Path, port: int, user: str, environment: Mapping[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            **environment,
            "BASTION_RUNTIME_DIR": str(runtime),
            "BASTION_SSH_PORT": str(port),
            "BASTION_LISTEN_ADDRESS": "127.0.0.1",
            "BASTION_SSH_USER": user,
        }
        sshd = find_sshd()
        if sshd is None:
            raise TaskRunnerError("sshd is not installed")
        config = runtime / "sshd_config"
        config.write_text(_BASE_CONFIG.format(user=user))
        if self.use_entrypoint:
            env["BASTION_SSHD_CONFIG"] = str(config)
            env["BASTION_SSHD"] = sshd
            return ["/bin/bash", str(ENTRYPOINT)], env
        key = runtime / "ssh_host_ed25519_key"
        subprocess.run(  # noqa: S603 - fixed argv
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],  # noqa: S607
            check=True,
            capture_output=True,
        )
        (runtime / "authorized_keys").write_text(
            environment.get("BASTION_AUTHORIZED_KEY", "").strip() + "\n"
        )
        with config.open("a") as handle:
            handle.write(_BUILTIN_CONFIG.format(port=port, runtime=runtime))
        return [sshd, "-D", "-e", "-f", str(config)], env


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def task_environment(task: Any) -> dict[str, str]:
    """The environment of a moto task's first container override."""
    overrides = (getattr(task, "overrides", None) or {}).get("containerOverrides") or []
    environment: dict[str, str] = {}
    for override in overrides[:1]:
        for pair in override.get("environment") or []:
            environment[str(pair["name"])] = str(pair["value"])
    return environment


def start_task(runner: TaskRunner, task: Any, eni: Any) -> str | None:
    """Start ``task`` with ``runner``; the reason it failed to start, or None.

    Called by the local AWS when a task is created; the interface ``eni`` (if any) gets
    the address the bastion listens on as its public address.
    """
    try:
        address = runner.start(str(task.task_arn), task_environment(task))
    except Exception as error:  # noqa: BLE001 - any failure is the task's failure to start
        return f"CannotStartContainerError: {error}"
    if eni is not None:
        eni.public_ip = address
    return None

"""Really run a bastion for an ECS task of the local AWS: the container's entry point on loopback.

The local AWS simulates ECS tasks. With a task runner plugged in
(``aws.ecs_control.task_runner = SshdTaskRunner(...)``), RunTask also runs the bastion
container's own entry point and sshd configuration on this machine, unchanged:
``container/entrypoint.sh`` with ``container/sshd_config``. What has to differ from
Fargate is given to them only through the variables the container documents for that
(tasks/common/container_contract.py ``OPTIONAL_ENVIRONMENT``), all set in
:func:`local_overrides`: the port (a free one of 127.0.0.1), the listen address, the
runtime directory, the sshd binary and the configuration's path. The task's network
interface gets 127.0.0.1 as its public address, so the workflow reports where to
connect. Stopping the task ends the bastion's process group.

sshd never runs as root: as root, this runner runs the entry point as the unprivileged
account :data:`TEST_ACCOUNT` (created by ``scripts/install-test-deps.sh``), else as the
current user; that account is the SSH login user, as ``bastion`` is on Fargate. The
runtime directory is under the account's home directory, because sshd's StrictModes
checks every directory above ``authorized_keys`` (a world-writable /tmp fails it). Each
running bastion is described in ``<state dir>/bastions/<session id>.json`` (address,
port, user, log file, pid and start time): the ``bastion`` command reads it, and a later
local AWS ends the bastions whose own local AWS died with :func:`reap_orphans`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from bastion.local.awslogs import FileOutput, file_output
from bastion.local.processes import ProcessIdentity, descendants, end, start_time
from tasks.common.validation import SESSION_ID_PATTERN

#: The unprivileged account sshd runs as (and that logs in) when the runner runs as root.
TEST_ACCOUNT = "fargate-bastion-test"
SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
CONTAINER = Path(__file__).resolve().parents[2] / "container"
ENTRYPOINT = CONTAINER / "entrypoint.sh"
SSHD_CONFIG = CONTAINER / "sshd_config"
#: Under the login account's home: where the bastions' runtime directories are made.
RUNTIME_PARENT = ".fargate-bastion-local"
READY_TIMEOUT_SECONDS = 10.0


class TaskRunnerError(RuntimeError):
    """The bastion could not be started on this machine."""


class TaskRunner(Protocol):
    """What the local AWS calls when a task starts and stops."""

    def start(self, task_arn: str, environment: Mapping[str, str]) -> str:
        """Start the task's bastion; returns the address it listens on."""

    def stop(self, task_arn: str) -> None:
        """Stop the task's bastion (no-op when it is not running)."""

    def output(self, task_arn: str) -> FileOutput | None:
        """Where the task's bastion writes its lines (None when it is not running): what
        the awslogs driver puts to CloudWatch Logs."""


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
    sshdConfig: str  # noqa: N815
    startTime: int  # noqa: N815 - when the entry point started (clock ticks since boot)

    def identity(self) -> ProcessIdentity:
        """The entry point's process, as recorded (so a reused pid is never signalled)."""
        return ProcessIdentity(self.pid, self.startTime, ENTRYPOINT.name)


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
    return _read_record_file(record_path(state_dir, session_id))


def _read_record_file(path: Path) -> BastionProcess | None:
    try:
        data = json.loads(path.read_text())
        return BastionProcess(**{f.name: data[f.name] for f in fields(BastionProcess)})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def local_overrides(
    runtime: Path, port: int, sshd: str, endpoint_port: int | None = None
) -> dict[str, str]:
    """Everything the local bastion does differently from Fargate's: the container's own
    optional variables (container/README.md), set here and nowhere else."""
    overrides = {
        "BASTION_RUNTIME_DIR": str(runtime),
        "BASTION_SSH_PORT": str(port),
        "BASTION_LISTEN_ADDRESS": "127.0.0.1",
        "BASTION_SSHD_CONFIG": str(SSHD_CONFIG),
        "BASTION_SSHD": sshd,
    }
    if endpoint_port is not None:
        # The cluster's API endpoint listens on this port, not on EKS's 443.
        overrides["BASTION_ENDPOINT_PORT"] = str(endpoint_port)
    return overrides


def _runtime_dir(account: pwd.struct_passwd) -> Path:
    """A new runtime directory owned by ``account``, under its home directory."""
    parent = Path(account.pw_dir) / RUNTIME_PARENT
    parent.mkdir(mode=0o700, exist_ok=True)
    runtime = Path(tempfile.mkdtemp(prefix="bastion-", dir=parent))
    if os.geteuid() == 0:
        for path in (parent, runtime):
            os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    return runtime


def _is_runtime_dir(path: Path) -> bool:
    """Whether ``path`` (read from a record) is one of the runtime directories made here."""
    return path.parent.name == RUNTIME_PARENT and path.name.startswith("bastion-")


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


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` (0600) through a temporary file renamed over it."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    partial.replace(path)


class SshdTaskRunner:
    """Runs each task's bastion: the container's entry point and sshd (see the module doc)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        on_exit: Callable[[str, int], None] | None = None,
        endpoint_port: int | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        #: The port of the cluster's API endpoint, when it is not 443 (a local stand-in).
        self.endpoint_port = endpoint_port
        #: Called as ``on_exit(task_arn, status)`` when a bastion exits by itself (expiry,
        #: idle timeout, crash): the local AWS then stops its task, as Fargate would.
        self.on_exit = on_exit
        self._lock = threading.Lock()
        self._running: dict[str, tuple[subprocess.Popen[bytes], BastionProcess]] = {}
        self._outputs: dict[str, FileOutput] = {}

    # --- the TaskRunner protocol ----------------------------------------------------------

    def start(self, task_arn: str, environment: Mapping[str, str]) -> str:
        """Start the task's bastion; returns 127.0.0.1."""
        reason = unavailable_reason()
        if reason is not None:
            raise TaskRunnerError(reason)
        account = login_account()
        sshd = find_sshd()
        assert account is not None and sshd is not None  # noqa: S101 - unavailable_reason
        session_id = environment.get("BASTION_SESSION_ID", "")
        if not SESSION_ID_PATTERN.fullmatch(session_id):
            raise TaskRunnerError(f"BASTION_SESSION_ID is not a session id: {session_id!r}")
        runtime = _runtime_dir(account)
        log_file = log_path(self.state_dir, session_id)
        log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        port = _free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": account.pw_dir,
            "USER": account.pw_name,
            "LOGNAME": account.pw_name,
            **environment,
            **local_overrides(runtime, port, sshd, self.endpoint_port),
        }
        as_root = os.geteuid() == 0
        # The log file is the session's, kept across its tasks: this task's lines start here.
        output = file_output(log_file)
        try:
            descriptor = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(descriptor, "ab") as log:
                process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    ["/bin/bash", str(ENTRYPOINT)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=runtime,
                    start_new_session=True,
                    user=account.pw_uid if as_root else None,
                    group=account.pw_gid if as_root else None,
                    # The account's own groups (tty among them): sshd hands a login's
                    # terminal to the group tty, which it can do only as a member.
                    extra_groups=(
                        os.getgrouplist(account.pw_name, account.pw_gid) if as_root else None
                    ),
                )
            _wait_listening(port, process, log_file)
        except BaseException:
            if "process" in locals():
                _kill_group(process)
            shutil.rmtree(runtime, ignore_errors=True)
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
            entrypoint=str(ENTRYPOINT),
            sshdConfig=str(SSHD_CONFIG),
            startTime=start_time(process.pid) or 0,
        )
        path = record_path(self.state_dir, session_id)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(path, json.dumps(asdict(record), indent=2) + "\n")
        with self._lock:
            self._running[task_arn] = (process, record)
            self._outputs[task_arn] = output
        threading.Thread(
            target=self._watch, args=(task_arn, process), name=f"bastion-{session_id}", daemon=True
        ).start()
        return record.address

    def stop(self, task_arn: str) -> None:
        """Kill the task's bastion and remove its runtime directory."""
        with self._lock:
            running = self._running.pop(task_arn, None)
            self._outputs.pop(task_arn, None)
        if running is None:
            return
        process, record = running
        _kill_group(process)
        shutil.rmtree(record.runtimeDir, ignore_errors=True)
        record_path(self.state_dir, record.sessionId).unlink(missing_ok=True)

    def output(self, task_arn: str) -> FileOutput | None:
        """The session's log file, from where this task's bastion began writing to it."""
        with self._lock:
            return self._outputs.get(task_arn)

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


def _is_own_directory(path: Path) -> bool:
    try:
        found = path.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(found.st_mode) and found.st_uid == os.geteuid() and not found.st_mode & 0o022
    )


def _is_own_file(path: Path) -> bool:
    try:
        found = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_uid == os.geteuid()


def reap_orphans(state_dir: Path) -> list[str]:
    """End the bastions a local AWS of ``state_dir`` left behind; their session ids.

    Called only when no local AWS runs for ``state_dir``: every record left is a bastion
    whose local AWS died without stopping it (SIGKILL, a crash), so its session is lost.
    A process is signalled only while it is still the one recorded (its pid, start time
    and command line), with the processes below it; its runtime directory goes too.
    """
    lost: list[str] = []
    records = state_dir / "bastions"
    if not _is_own_directory(state_dir) or not _is_own_directory(records):
        return lost  # never act on records someone else could have written
    for path in sorted(records.glob("*.json")):
        if not _is_own_file(path):
            continue
        record = _read_record_file(path)
        if record is not None:
            identity = record.identity()
            if identity.is_alive():
                below = [ProcessIdentity.of(pid, "") for pid in descendants(record.pid)]
                end([identity, *(found for found in below if found is not None)])
            runtime = Path(record.runtimeDir)
            if _is_runtime_dir(runtime):
                shutil.rmtree(runtime, ignore_errors=True)
            lost.append(record.sessionId)
        path.unlink(missing_ok=True)
    return lost


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

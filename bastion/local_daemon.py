"""The embedded local AWS as a background process, for ``bastion --local``.

moto keeps its state in one process, and every ``bastion`` command is a process of its
own; so ``bastion local start`` (or the first ``--local`` command) starts a detached
Python process that runs a :class:`~bastion.local.LocalAws` with the project's patches,
seeds the private EKS cluster ``demo`` (its endpoint: a stand-in HTTPS API on loopback),
deploys ``template.yaml`` once, and serves the AWS APIs on a loopback port with moto's
server, and the stack's session API beside them as API Gateway would, the local user
as its caller (``apiUrl`` in ``state.json``; :mod:`bastion.local.api_gateway`). Where
OpenSSH's server is available, RunTask really starts a bastion (the container's entry
point and sshd on a loopback port, :mod:`bastion.local.task_runner`).

Only its own user can use it: it answers only requests signed with credentials it makes
afresh at each start (:mod:`bastion.local.request_signatures`), which it keeps in
``state.json``; the state directory is 0700 and everything in it 0600 (0700 for
directories), and no CORS header is ever sent. ``state.json`` also holds the endpoint,
the stack's outputs, and the daemon's pid with its start time: ``start``, ``status`` and
``stop`` check that the pid still is this state directory's daemon before they trust or
signal it, and signal that one process only. A daemon that died without stopping its
bastions (SIGKILL, a crash) leaves their records behind: the next ``start`` or ``stop``
ends those bastions and names their sessions, which are lost with the daemon's state.

The state directory also holds ``daemon.log`` and the running bastions' records and logs.
It is ``$BASTION_LOCAL_DIR``, else ``$XDG_STATE_HOME/fargate-bastion/local`` (by default
``~/.local/state/fargate-bastion/local``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.local.processes import ProcessIdentity, command_line, end, start_time
from bastion.local.request_signatures import LocalCredentials

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
LOCAL_IMAGE = "public.ecr.aws/fargate-bastion/bastion:local"
DEFAULT_CLUSTER = "demo"
DEFAULT_REGION = "us-east-1"
STATE_FILE = "state.json"
LOG_FILE = "daemon.log"
START_TIMEOUT_SECONDS = 60.0
#: The word of the daemon's command line that a pid must show to be taken for it.
DAEMON_MODULE = "bastion.local_daemon"


class LocalAwsError(RuntimeError):
    """The local AWS could not be started, reached or stopped."""


@dataclass(frozen=True)
class LocalEndpoint:
    """A running local AWS, as ``state.json`` describes it."""

    state_dir: Path
    pid: int
    start_time: int
    endpoint_url: str
    #: The session API's base URL, as the stack's ``ApiUrl`` is on AWS.
    api_url: str
    region: str
    cluster: str
    outputs: dict[str, str]
    bastions: str  # "sshd" (real bastions) or "simulated: <why>"
    time_scale: float
    credentials: LocalCredentials
    #: Sessions whose bastions a previous, dead daemon left and ``start`` ended.
    lost_sessions: tuple[str, ...] = field(default=())

    @classmethod
    def from_state(cls, state_dir: Path, data: dict[str, Any]) -> LocalEndpoint:
        return cls(
            state_dir=state_dir,
            pid=int(data["pid"]),
            start_time=int(data["startTime"]),
            endpoint_url=str(data["endpointUrl"]),
            api_url=str(data["apiUrl"]),
            region=str(data["region"]),
            cluster=str(data["cluster"]),
            outputs={str(k): str(v) for k, v in dict(data["outputs"]).items()},
            bastions=str(data["bastions"]),
            time_scale=float(data["timeScale"]),
            credentials=LocalCredentials(
                str(data["credentials"]["accessKeyId"]),
                str(data["credentials"]["secretAccessKey"]),
            ),
        )

    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.start_time, DAEMON_MODULE)

    def is_alive(self) -> bool:
        """Whether the recorded pid still is this state directory's daemon."""
        argv = command_line(self.pid) or []
        ours = "--state-dir" in argv and argv[argv.index("--state-dir") + 1 :][:1] == [
            str(self.state_dir.resolve())
        ]
        return ours and self.identity().is_alive()

    def to_dict(self) -> dict[str, Any]:
        """What ``local start`` and ``local status`` print (never the credentials)."""
        return {
            "stateDir": str(self.state_dir),
            "pid": self.pid,
            "endpointUrl": self.endpoint_url,
            "apiUrl": self.api_url,
            "region": self.region,
            "cluster": self.cluster,
            "bastions": self.bastions,
            "timeScale": self.time_scale,
            "outputs": self.outputs,
            "lostSessions": list(self.lost_sessions),
        }


@dataclass(frozen=True)
class Stopped:
    """What ``stop`` did: whether a daemon ran, and the sessions of orphans it ended."""

    stopped: bool
    lost_sessions: tuple[str, ...]


def default_state_dir() -> Path:
    """Where the local AWS keeps its state between commands."""
    explicit = os.environ.get("BASTION_LOCAL_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "fargate-bastion" / "local"


def _private_dir(path: Path) -> None:
    """Create ``path`` 0700, or make it 0700 when it is this user's already."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_uid == os.geteuid():
        path.chmod(0o700)
    else:
        raise LocalAwsError(f"{path} belongs to another user: pick another state directory")


def _recorded(state_dir: Path) -> LocalEndpoint | None:
    """What ``state.json`` says, if it is a readable file of this user's."""
    path = state_dir / STATE_FILE
    try:
        if path.lstat().st_uid != os.geteuid() or path.is_symlink():
            return None
        return LocalEndpoint.from_state(state_dir, json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def running(state_dir: Path) -> LocalEndpoint | None:
    """The local AWS running for ``state_dir``, or None (also when its pid is another's)."""
    endpoint = _recorded(state_dir)
    return endpoint if endpoint is not None and endpoint.is_alive() else None


def _reap(state_dir: Path) -> tuple[str, ...]:
    """End the bastions a dead daemon of ``state_dir`` left; their sessions."""
    from bastion.local.task_runner import reap_orphans

    return tuple(reap_orphans(state_dir))


def start(
    state_dir: Path, *, time_scale: float = 1.0, timeout: float = START_TIMEOUT_SECONDS
) -> LocalEndpoint:
    """The running local AWS for ``state_dir``; starts one in the background if needed.

    Before a new one starts, the bastions a dead one left are ended: the returned
    endpoint's ``lost_sessions`` names their sessions.
    """
    found = running(state_dir)
    if found is not None:
        return found
    _private_dir(state_dir)
    lost = _reap(state_dir)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    log_path = state_dir / LOG_FILE
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "ab") as log:
        # -P: the module path never holds the working directory, where a ``bastion``
        # package could stand in for this one.
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-P",
                "-m",
                DAEMON_MODULE,
                "--state-dir",
                str(state_dir.resolve()),
                "--time-scale",
                str(time_scale),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = running(state_dir)
        if found is not None and found.pid == process.pid:
            return LocalEndpoint(**{**found.__dict__, "lost_sessions": lost})
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()
            raise LocalAwsError(
                f"the local AWS exited while starting ({' / '.join(tail[-2:])}); see {log_path}"
            )
        time.sleep(0.1)
    process.terminate()  # our own child: its pid cannot have been reused
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)
    _reap(state_dir)
    raise LocalAwsError(f"the local AWS did not start within {timeout:.0f} s")


def stop(state_dir: Path) -> Stopped:
    """Stop the local AWS of ``state_dir`` (and its bastions).

    Only a pid that still is this state directory's daemon is signalled, and only that
    process (it stops its bastions itself). Bastions left by a daemon that died are then
    ended, and their sessions named.
    """
    found = running(state_dir)
    if found is not None:
        end([found.identity()], timeout=15.0)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    lost = _reap(state_dir) if state_dir.is_dir() else ()
    return Stopped(stopped=found is not None, lost_sessions=lost)


# --------------------------------------------------------------------------- the daemon


def _task_exited(aws: Any) -> Any:
    """What happens when a bastion exits by itself: its task stops, as on Fargate."""

    def stopped(task_arn: str, status: int) -> None:
        with contextlib.suppress(Exception):  # the local AWS may be stopping too
            aws.stop_task_by_itself(
                task_arn, reason="Essential container in task exited", exit_code=status
            )

    return stopped


class _SignedServer:
    """moto's server, and the session API under :data:`~bastion.local.api_gateway.PREFIX`,
    on a free loopback port behind :class:`SignedRequestsOnly`."""

    def __init__(self, credentials: LocalCredentials, api: Any) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.middleware.dispatcher import DispatcherMiddleware
        from werkzeug.serving import make_server

        from bastion.local.api_gateway import PREFIX
        from bastion.local.request_signatures import SignedRequestsOnly

        moto = DomainDispatcherApplication(create_backend_app)
        app = SignedRequestsOnly(DispatcherMiddleware(moto, {PREFIX: api}), credentials)
        self._server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
        )
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def serve(state_dir: Path, time_scale: float, cluster_name: str = DEFAULT_CLUSTER) -> None:
    """Run the local AWS until SIGTERM or SIGINT (the body of the background process)."""
    os.umask(0o077)  # every file it makes is 0600, every directory 0700
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"  # read when moto's server is imported

    from bastion.kube_standin import point_cluster_at, start_standin_api
    from bastion.local import LocalAws
    from bastion.local.api_gateway import PREFIX as API_PREFIX
    from bastion.local.api_gateway import RestApi, lambda_invoker
    from bastion.local.task_runner import SshdTaskRunner, unavailable_reason

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())

    aws = LocalAws(region=DEFAULT_REGION, time_scale=time_scale).start()
    runner: SshdTaskRunner | None = None
    server: _SignedServer | None = None
    standin = None
    try:
        # The bastion runs (or is simulated) at once: no PROVISIONING polls to sit through.
        aws.ecs_control.describes_until_running = 0
        cluster = aws.seed_cluster(cluster_name, endpoint_private=True, endpoint_public=False)
        standin = start_standin_api()
        point_cluster_at(cluster.name, standin)
        why_not = unavailable_reason()
        if why_not is None:
            runner = SshdTaskRunner(
                state_dir, on_exit=_task_exited(aws), endpoint_port=standin.port
            )
            aws.ecs_control.task_runner = runner
        stack = aws.deploy(
            TEMPLATE,
            parameters={
                "BastionSubnetIds": ",".join(cluster.public_subnet_ids),
                "BastionImageUri": LOCAL_IMAGE,
                # A shell bastion, so that `bastion ssh -- COMMAND` runs here; AWS stacks
                # default to the tunnel-only one.
                "BastionMode": "shell",
                "AllowedClusters": cluster.name,
                # Locally the daemon's own user is the only caller.
                "ApiAllowedPrincipals": "*",
                # Both modes, public by default: `bastion up --local --mode private` too.
                "AccessModes": "public,private",
            },
        )
        credentials = LocalCredentials.generate()
        # The API's caller is the local user: whom the local AWS takes its credentials for.
        caller = aws.client("sts").get_caller_identity()["Arn"]
        stage = stack.outputs["ApiUrl"].rstrip("/").rsplit("/", 1)[-1]
        invoke = lambda_invoker(aws.client("lambda"), stack.function_name("ApiFunction"))
        server = _SignedServer(credentials, RestApi(invoke, caller, stage))
        endpoint_url = f"http://127.0.0.1:{server.port}"
        state = {
            "pid": os.getpid(),
            "startTime": start_time(os.getpid()),
            "endpointUrl": endpoint_url,
            "apiUrl": f"{endpoint_url}{API_PREFIX}/{stage}",
            "region": aws.region,
            "cluster": cluster.name,
            "outputs": stack.outputs,
            "bastions": "sshd" if runner is not None else f"simulated: {why_not}",
            "timeScale": time_scale,
            "credentials": {
                "accessKeyId": credentials.access_key_id,
                "secretAccessKey": credentials.secret_access_key,
            },
        }
        partial = state_dir / (STATE_FILE + ".tmp")
        partial.unlink(missing_ok=True)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(state, indent=2) + "\n")
        partial.replace(state_dir / STATE_FILE)
        print(f"local AWS serving on {state['endpointUrl']}", flush=True)
        stopping.wait()
    finally:
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        if runner is not None:
            runner.stop_all()
        if server is not None:
            server.stop()
        if standin is not None:
            standin.stop()
        aws.stop()
        if runner is not None:
            runner.stop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bastion.local_daemon",
        description="Serve the embedded local AWS (started by `bastion local start`).",
    )
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    state_dir = args.state_dir or default_state_dir()
    _private_dir(state_dir)
    serve(state_dir, args.time_scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())

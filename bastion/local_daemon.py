"""The embedded local AWS as a background process, for ``bastion --local``.

moto keeps its state in one process, and every ``bastion`` command is a process of its
own; so ``bastion local start`` (or the first ``--local`` command) starts a detached
Python process that runs a :class:`~bastion.local.LocalAws` with the project's patches,
seeds the private EKS cluster ``demo`` (its endpoint: a stand-in HTTPS API on loopback),
deploys ``template.yaml`` once, and serves the AWS APIs on a loopback port with moto's
server. Where OpenSSH's server is available, RunTask really starts a bastion (sshd on a
loopback port, :mod:`bastion.local.task_runner`).

The state directory holds ``state.json`` (the endpoint, the stack's outputs, the pid),
``daemon.log``, and the running bastions' records and logs. It is
``$BASTION_LOCAL_DIR``, else ``$XDG_STATE_HOME/fargate-bastion/local`` (by default
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
LOCAL_IMAGE = "public.ecr.aws/fargate-bastion/bastion:local"
DEFAULT_CLUSTER = "demo"
DEFAULT_REGION = "us-east-1"
STATE_FILE = "state.json"
START_TIMEOUT_SECONDS = 60.0
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class LocalAwsError(RuntimeError):
    """The local AWS could not be started, reached or stopped."""


@dataclass(frozen=True)
class LocalEndpoint:
    """A running local AWS, as ``state.json`` describes it."""

    state_dir: Path
    pid: int
    endpoint_url: str
    region: str
    cluster: str
    outputs: dict[str, str]
    bastions: str  # "sshd" (real bastions) or "simulated: <why>"
    time_scale: float

    @classmethod
    def from_state(cls, state_dir: Path, data: dict[str, Any]) -> LocalEndpoint:
        return cls(
            state_dir=state_dir,
            pid=int(data["pid"]),
            endpoint_url=str(data["endpointUrl"]),
            region=str(data["region"]),
            cluster=str(data["cluster"]),
            outputs=dict(data["outputs"]),
            bastions=str(data["bastions"]),
            time_scale=float(data["timeScale"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stateDir": str(self.state_dir),
            "pid": self.pid,
            "endpointUrl": self.endpoint_url,
            "region": self.region,
            "cluster": self.cluster,
            "bastions": self.bastions,
            "timeScale": self.time_scale,
            "outputs": self.outputs,
        }


def default_state_dir() -> Path:
    """Where the local AWS keeps its state between commands."""
    explicit = os.environ.get("BASTION_LOCAL_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "fargate-bastion" / "local"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(state_dir: Path) -> LocalEndpoint | None:
    """The local AWS running for ``state_dir``, or None."""
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
        endpoint = LocalEndpoint.from_state(state_dir, data)
    except (OSError, ValueError, KeyError):
        return None
    return endpoint if _alive(endpoint.pid) else None


def start(
    state_dir: Path, *, time_scale: float = 1.0, timeout: float = START_TIMEOUT_SECONDS
) -> LocalEndpoint:
    """The running local AWS for ``state_dir``; starts one in the background if needed."""
    found = running(state_dir)
    if found is not None:
        return found
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with (state_dir / "daemon.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "bastion.local_daemon",
                "--state-dir",
                str(state_dir),
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
            return found
        if process.poll() is not None:
            tail = (state_dir / "daemon.log").read_text(errors="replace").strip().splitlines()
            raise LocalAwsError(
                f"the local AWS exited while starting ({' / '.join(tail[-2:])}); "
                f"see {state_dir / 'daemon.log'}"
            )
        time.sleep(0.1)
    _terminate(process.pid)
    raise LocalAwsError(f"the local AWS did not start within {timeout:.0f} s")


def _terminate(pid: int, timeout: float = 15.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def stop(state_dir: Path) -> bool:
    """Stop the local AWS of ``state_dir`` (and its bastions); whether one was running."""
    found = running(state_dir)
    if found is None:
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        return False
    _terminate(found.pid)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return True


# --------------------------------------------------------------------------- the daemon


def _task_exited(aws: Any) -> Any:
    """What happens when a bastion exits by itself: its task stops, as on Fargate."""

    def stopped(task_arn: str, status: int) -> None:
        with contextlib.suppress(Exception):  # the local AWS may be stopping too
            aws.ecs_control.stop_task_by_itself(
                task_arn, reason="Essential container in task exited", exit_code=status
            )

    return stopped


def serve(state_dir: Path, time_scale: float, cluster_name: str = DEFAULT_CLUSTER) -> None:
    """Run the local AWS until SIGTERM or SIGINT (the body of the background process)."""
    from moto.server import ThreadedMotoServer

    from bastion.kube_standin import point_cluster_at, start_standin_api
    from bastion.local import LocalAws
    from bastion.local.task_runner import SshdTaskRunner, unavailable_reason

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())

    aws = LocalAws(region=DEFAULT_REGION, time_scale=time_scale).start()
    runner: SshdTaskRunner | None = None
    server: Any = None
    standin = None
    try:
        # The bastion runs (or is simulated) at once: no PROVISIONING polls to sit through.
        aws.ecs_control.describes_until_running = 0
        why_not = unavailable_reason()
        if why_not is None:
            runner = SshdTaskRunner(state_dir, on_exit=_task_exited(aws))
            aws.ecs_control.task_runner = runner
        cluster = aws.seed_cluster(cluster_name, endpoint_private=True, endpoint_public=False)
        standin = start_standin_api()
        point_cluster_at(cluster.name, standin)
        stack = aws.deploy(
            TEMPLATE,
            parameters={
                "BastionSubnetIds": ",".join(cluster.public_subnet_ids),
                "BastionImageUri": LOCAL_IMAGE,
                "AllowedClusters": cluster.name,
                # Locally the daemon's own user is the only caller.
                "ApiAllowedPrincipals": "*",
            },
        )
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        _host, port = server.get_host_and_port()
        state = {
            "pid": os.getpid(),
            "endpointUrl": f"http://127.0.0.1:{port}",
            "region": aws.region,
            "cluster": cluster.name,
            "outputs": stack.outputs,
            "bastions": "sshd" if runner is not None else f"simulated: {why_not}",
            "timeScale": time_scale,
        }
        partial = state_dir / (STATE_FILE + ".tmp")
        partial.write_text(json.dumps(state, indent=2) + "\n")
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
    state_dir.mkdir(parents=True, exist_ok=True)
    serve(state_dir, args.time_scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())

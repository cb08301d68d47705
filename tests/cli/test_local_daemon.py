"""The local AWS daemon: only its own user can use it, it signals only itself, and a daemon
that died (SIGKILL) leaves no bastion running once the next stop (or start) has run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from bastion import local_daemon
from bastion.cli.errors import ExitCode
from bastion.local.processes import ProcessIdentity, descendants, start_time
from tests.cli.conftest import Cli, validate

pytestmark = pytest.mark.cli


def _endpoint(cli: Cli) -> local_daemon.LocalEndpoint:
    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    return endpoint


def _send(request: AWSRequest) -> tuple[int, dict[str, str], bytes]:
    prepared = urllib.request.Request(  # noqa: S310 - the loopback endpoint
        request.url, data=request.body or None, headers=dict(request.headers), method=request.method
    )
    try:
        with urllib.request.urlopen(prepared, timeout=10) as answer:  # noqa: S310
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _list_state_machines(url: str, origin: str | None = None) -> AWSRequest:
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
    }
    if origin:
        headers["Origin"] = origin
    return AWSRequest(method="POST", url=url + "/", data=b"{}", headers=headers)


def test_unsigned_and_foreign_requests_are_refused(cli: Cli) -> None:
    endpoint = _endpoint(cli)
    # Unsigned, as any local user (or a web page) could send it.
    status, _headers, body = _send(_list_state_machines(endpoint.endpoint_url))
    assert status == 403, body
    # Signed, but with credentials that are not the daemon's (the old fixed "testing").
    foreign = boto3.Session(
        region_name=endpoint.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
    ).client("stepfunctions", endpoint_url=endpoint.endpoint_url)
    with pytest.raises(ClientError) as refused:
        foreign.list_state_machines()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # The daemon's key with another secret: the signature does not match.
    forged = _list_state_machines(endpoint.endpoint_url)
    SigV4Auth(
        Credentials(endpoint.credentials.access_key_id, "not-the-secret"), "states", endpoint.region
    ).add_auth(forged)
    assert _send(forged)[0] == 403
    # The daemon's own credentials work.
    assert "stateMachines" in cli.clients()("stepfunctions").list_state_machines()


def test_no_cors_headers_even_for_signed_requests(cli: Cli) -> None:
    endpoint = _endpoint(cli)
    preflight = AWSRequest(
        method="OPTIONS",
        url=endpoint.endpoint_url + "/",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    status, headers, _ = _send(preflight)
    assert status == 403
    assert not [name for name in headers if name.lower().startswith("access-control-")]
    signed = _list_state_machines(endpoint.endpoint_url, origin="http://evil.example")
    SigV4Auth(
        Credentials(endpoint.credentials.access_key_id, endpoint.credentials.secret_access_key),
        "states",
        endpoint.region,
    ).add_auth(signed)
    status, headers, body = _send(signed)
    assert status == 200, body
    assert not [name for name in headers if name.lower().startswith("access-control-")], headers


def _api_request(endpoint: local_daemon.LocalEndpoint, method: str, path: str) -> AWSRequest:
    request = AWSRequest(method=method, url=endpoint.api_url + path, headers={})
    credentials = endpoint.credentials
    SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key),
        "execute-api",
        endpoint.region,
    ).add_auth(request)
    return request


def test_the_session_api_answers_signed_requests_as_the_deployed_function(cli: Cli) -> None:
    endpoint = _endpoint(cli)
    status, headers, body = _send(_api_request(endpoint, "GET", "/clusters/demo/sessions/none"))
    assert status == 404, body
    assert json.loads(body) == {"message": "no session 'none' on cluster 'demo'", "field": None}
    assert headers["Content-Type"] == "application/json"
    # A hostile value stays inside its segment, for the function to refuse by name.
    status, _, body = _send(_api_request(endpoint, "GET", "/clusters/..%2Fdemo/sessions"))
    assert (status, json.loads(body)["field"]) == (400, "cluster"), body
    status, _, body = _send(_api_request(endpoint, "GET", "/sessions?limit=1"))
    assert status == 200 and set(json.loads(body)) == {"sessions", "truncated"}, body
    # Unsigned, the API is closed as the rest of the local AWS is.
    unsigned = AWSRequest(method="GET", url=endpoint.api_url + "/sessions", headers={})
    assert _send(unsigned)[0] == 403


def test_its_files_are_its_users_alone(cli: Cli) -> None:
    code, document = cli.json("up", "--local", "--wait", "--session-id", "private-files")
    assert code == 0, document
    try:
        assert cli.local_dir.stat().st_mode & 0o777 == 0o700
        for path in [cli.local_dir, *cli.local_dir.rglob("*")]:
            mode = path.lstat().st_mode & 0o777
            assert mode & 0o077 == 0, f"{path} is {mode:o}"
        for name in ("state.json", "daemon.log"):
            assert (cli.local_dir / name).stat().st_mode & 0o777 == 0o600
    finally:
        cli.run("down", "--local", "private-files")


# --------------------------------------------------------------------------- pids


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process of someone else's that a stale state.json might name."""
    process = subprocess.Popen(  # noqa: S603
        ["sleep", "300"],  # noqa: S607
        start_new_session=True,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def _forge_state(state_dir: Path, pid: int) -> None:
    state_dir.mkdir(mode=0o700, parents=True)
    (state_dir / "state.json").write_text(
        json.dumps(
            {
                "pid": pid,
                "startTime": start_time(pid) or 0,
                "endpointUrl": "http://127.0.0.1:9",
                "apiUrl": "http://127.0.0.1:9/execute-api/v1",
                "region": "us-east-1",
                "cluster": "demo",
                "outputs": {},
                "bastions": "sshd",
                "timeScale": 1.0,
                "credentials": {"accessKeyId": "AKLOCALX", "secretAccessKey": "x"},
            }
        )
    )


def test_stop_and_status_never_signal_a_pid_that_is_not_the_daemon(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    # (Never pid 1 here: on a machine where the code under test is wrong, it would be
    # signalled.)
    from bastion.cli.app import main

    pid = bystander.pid
    state_dir = tmp_path / "local"
    _forge_state(state_dir, pid)
    assert main(["local", "status", "--local-dir", str(state_dir)]) == ExitCode.NOT_FOUND
    assert main(["local", "stop", "--local-dir", str(state_dir)]) == ExitCode.OK
    assert bystander.poll() is None  # neither it nor its group was signalled
    assert not (state_dir / "state.json").exists()


def test_stop_reaps_a_recorded_bastion_only_while_it_is_that_process(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    from bastion.local.task_runner import reap_orphans

    state_dir = tmp_path / "local"
    (state_dir / "bastions").mkdir(mode=0o700, parents=True)
    state_dir.chmod(0o700)
    record = {
        "sessionId": "stale-1",
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/1",
        "address": "127.0.0.1",
        "port": 2222,
        "user": "bastion",
        "pid": bystander.pid,
        "logFile": "/dev/null",
        "runtimeDir": str(tmp_path / "not-a-runtime-dir"),
        "entrypoint": "entrypoint.sh",
        "sshdConfig": "sshd_config",
        "startTime": (start_time(bystander.pid) or 0) + 1,  # the pid was reused since
    }
    (tmp_path / "not-a-runtime-dir").mkdir()
    (state_dir / "bastions" / "stale-1.json").write_text(json.dumps(record))
    assert reap_orphans(state_dir) == ["stale-1"]
    assert bystander.poll() is None
    assert (tmp_path / "not-a-runtime-dir").is_dir()  # not a directory the runner made
    assert not list((state_dir / "bastions").iterdir())


# --------------------------------------------------------------------------- SIGKILL


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def test_a_killed_daemon_leaves_no_bastion_after_the_next_start(
    cli: Cli, real_bastions: None, tmp_path: Path
) -> None:
    own = Cli(local_dir=tmp_path / "local", env=cli.env)
    record: dict[str, Any] = {}
    try:
        code, session = own.json("up", "--local", "--wait", "--session-id", "orphaned-1")
        assert code == 0, session
        record = json.loads((own.local_dir / "bastions" / "orphaned-1.json").read_text())
        daemon = _endpoint(own)
        os.kill(daemon.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while local_daemon.running(own.local_dir) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _port_open(session["port"])  # the bastion outlived its daemon
        code, started = own.json("local", "start")
        assert code == 0, started
        validate(started, "local")
        assert started["lostSessions"] == ["orphaned-1"], started
        assert started["pid"] != daemon.pid
        assert not _port_open(session["port"])
        # Gone, or a zombie nobody has waited for yet: no longer running, either way.
        assert not ProcessIdentity(record["pid"], record["startTime"], "").is_alive()
        assert not Path(record["runtimeDir"]).exists()
        code, stopped = own.json("local", "stop")
        assert (code, stopped["stopped"], stopped["lostSessions"]) == (0, True, []), stopped
    finally:
        local_daemon.stop(own.local_dir)
        if record:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record["pid"], signal.SIGKILL)


def test_the_next_stop_ends_the_bastions_a_dead_daemon_left(tmp_path: Path) -> None:
    from bastion.local.task_runner import ENTRYPOINT, RUNTIME_PARENT

    state_dir = tmp_path / "local"
    (state_dir / "bastions").mkdir(mode=0o700, parents=True)
    state_dir.chmod(0o700)
    runtime = tmp_path / RUNTIME_PARENT / "bastion-x"
    runtime.mkdir(parents=True)
    # A stand-in for an orphaned entry point (its command line names entrypoint.sh) with a
    # child of its own, as sshd is.
    orphan = subprocess.Popen(  # noqa: S603
        ["/bin/bash", "-c", "sleep 300 & wait", str(ENTRYPOINT)],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not descendants(orphan.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = descendants(orphan.pid)[0]
        child_started = start_time(child)
        record = {
            "sessionId": "left-1",
            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/1",
            "address": "127.0.0.1",
            "port": 2222,
            "user": "bastion",
            "pid": orphan.pid,
            "logFile": "/dev/null",
            "runtimeDir": str(runtime),
            "entrypoint": str(ENTRYPOINT),
            "sshdConfig": "sshd_config",
            "startTime": start_time(orphan.pid),
        }
        (state_dir / "bastions" / "left-1.json").write_text(json.dumps(record))
        stopped = local_daemon.stop(state_dir)
        assert (stopped.stopped, stopped.lost_sessions) == (False, ("left-1",))
        assert orphan.wait(timeout=10) is not None
        assert not ProcessIdentity(child, child_started or 0, "").is_alive()
        assert not runtime.exists()
        assert local_daemon.stop(state_dir).lost_sessions == ()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orphan.pid, signal.SIGKILL)
        orphan.wait(timeout=10)


def test_records_in_a_directory_others_may_write_are_never_acted_on(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    from bastion.local.task_runner import reap_orphans

    state_dir = tmp_path / "shared"
    (state_dir / "bastions").mkdir(parents=True)
    state_dir.chmod(0o777)
    record = {
        "sessionId": "planted-1",
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/1",
        "address": "127.0.0.1",
        "port": 2222,
        "user": "bastion",
        "pid": bystander.pid,
        "logFile": "/dev/null",
        "runtimeDir": "/nonexistent/.fargate-bastion-local/bastion-x",
        "entrypoint": "entrypoint.sh",
        "sshdConfig": "sshd_config",
        "startTime": start_time(bystander.pid),
    }
    (state_dir / "bastions" / "planted-1.json").write_text(json.dumps(record))
    assert reap_orphans(state_dir) == []
    assert bystander.poll() is None
    assert (state_dir / "bastions" / "planted-1.json").exists()


def test_the_daemon_started_is_the_installed_one_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A directory that holds a package of the daemon's name is not where it comes from.
    hostile = tmp_path / "checkout"
    (hostile / "bastion").mkdir(parents=True)
    (hostile / "bastion" / "__init__.py").write_text("")
    marker = tmp_path / "ran"
    (hostile / "bastion" / "local_daemon.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n"
    )
    monkeypatch.chdir(hostile)
    state_dir = tmp_path / "local"
    try:
        endpoint = local_daemon.start(state_dir)
        assert endpoint.is_alive()
    finally:
        local_daemon.stop(state_dir)
    assert not marker.exists()

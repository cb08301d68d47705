"""Acceptance on the local AWS: up, ssh, kubeconfig through the tunnel, down, nothing left.

The tests of this module share one session, started by the first and ended by the last.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion.local.inventory import read_inventory
from tests.cli.conftest import REPO, Cli, local_session, validate
from tests.cli.tunnel import endpoint_version, running_tunnel

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def session(cli: Cli, real_bastions: None) -> Iterator[dict[str, Any]]:
    with local_session(cli) as document:
        yield document


def test_up_wait_json_returns_the_ready_session_with_a_reachable_address(
    session: dict[str, Any],
) -> None:
    validate(session, "session")
    assert session["status"] == "READY"
    assert session["address"] == "127.0.0.1"
    assert session["port"] != 22
    assert f"-p {session['port']}" in session["sshCommand"]
    # The printed command trusts the host keys the bastion reported, written by `up`, alone.
    assert [key["type"] for key in session["hostPublicKeys"]] == [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
    ]
    known_hosts = Path(session["keyFile"]).parent / "known_hosts"
    assert f"UserKnownHostsFile={known_hosts} " in session["sshCommand"]
    assert "StrictHostKeyChecking=yes" in session["sshCommand"]
    assert "GlobalKnownHostsFile=/dev/null" in session["sshCommand"]
    assert "accept-new" not in session["sshCommand"]
    assert len(known_hosts.read_text().splitlines()) == 2
    key = Path(session["keyFile"])
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    with socket.create_connection((session["address"], session["port"]), timeout=5) as sock:
        assert sock.recv(64).startswith(b"SSH-2.0-OpenSSH")


def test_ssh_runs_a_command_on_the_bastion(cli: Cli, session: dict[str, Any]) -> None:
    done = cli.run("ssh", "--local", "--", "echo", "hello from", "$(id -un)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"hello from {session['user']}"
    # It trusted exactly the host keys the bastion reported, pinned for this session only.
    known_hosts = Path(session["keyFile"]).parent / "known_hosts"
    assert known_hosts.stat().st_mode & 0o777 == 0o600
    assert known_hosts.read_text().splitlines() == [
        f"[127.0.0.1]:{session['port']} {key['type']} {key['key']}"
        for key in session["hostPublicKeys"]
    ]


def test_kubeconfig_and_its_tunnel_reach_the_private_endpoint(
    cli: Cli, session: dict[str, Any]
) -> None:
    code, document = cli.json("kubeconfig", "--local")
    assert code == 0, document
    validate(document, "kubeconfig")
    import yaml

    config = yaml.safe_load(Path(document["kubeconfig"]).read_text())
    cluster = config["clusters"][0]["cluster"]
    assert cluster["proxy-url"] == f"socks5://127.0.0.1:{document['socksPort']}"
    with running_tunnel(document) as socks_port:
        version = endpoint_version(socks_port, cluster)
        assert version["gitVersion"].endswith("fargate-bastion-standin")
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            print("kubectl is not installed: checked the tunnel with a SOCKS5 client instead")
        else:
            done = subprocess.run(  # noqa: S603
                [kubectl, "get", "--raw", "/version"],
                env={**os.environ, "KUBECONFIG": document["kubeconfig"]},
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["gitVersion"] == version["gitVersion"]


def test_kubeconfig_merges_into_the_users_own_file(
    cli: Cli, session: dict[str, Any], tmp_path: Path
) -> None:
    import yaml

    path = tmp_path / "config"
    theirs = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443"}}],
        "users": [{"name": "prod-admin", "user": {"token": "prod-secret-token"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}}],
    }
    path.write_text(yaml.safe_dump(theirs))
    path.chmod(0o640)
    code, document = cli.json("kubeconfig", "--local", "--kubeconfig", str(path))
    assert code == 0, document
    merged = yaml.safe_load(path.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["prod", document["context"]]
    assert merged["users"][0] == theirs["users"][0]
    assert merged["current-context"] == document["context"]
    assert path.stat().st_mode & 0o777 == 0o640


def _ssh(
    session: dict[str, Any], *options: str, env: dict[str, str] | None = None, command: str = "true"
) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(session["sshCommand"])
    argv[1:1] = ["-o", "BatchMode=yes", *options]
    return subprocess.run(  # noqa: S603 - the session's own ssh command
        [*argv, command],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_local_bastion_runs_the_containers_sshd_config_unchanged(
    cli: Cli, session: dict[str, Any]
) -> None:
    from bastion.local.task_runner import SSHD_CONFIG

    record = json.loads((cli.local_dir / "bastions" / f"{session['sessionId']}.json").read_text())
    assert Path(record["sshdConfig"]) == SSHD_CONFIG == REPO / "container" / "sshd_config"
    from bastion.local.processes import command_line, pids

    sshd = [argv for pid in pids() if (argv := command_line(pid))]
    # sshd rewrites its command line into one word: "sshd: /usr/sbin/sshd -D ... [listener]".
    theirs = [" ".join(argv) for argv in sshd if f"Port={session['port']} " in " ".join(argv)]
    assert theirs and all(f"-f {SSHD_CONFIG} " in line for line in theirs), theirs


def test_agent_forwarding_is_refused_locally_as_on_aws(
    session: dict[str, Any], tmp_path: Path
) -> None:
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(  # noqa: S603
        ["ssh-agent", "-D", "-a", str(socket_path)],  # noqa: S607
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        done = _ssh(
            session,
            "-A",
            env={"SSH_AUTH_SOCK": str(socket_path)},
            command='echo "agent=${SSH_AUTH_SOCK:-none}"',
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "agent=none", done.stdout
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_remote_forwarding_is_refused_locally_as_on_aws(session: dict[str, Any]) -> None:
    done = _ssh(session, "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:9")
    assert done.returncode == 255, (done.stdout, done.stderr)
    assert "forwarding failed" in done.stderr, done.stderr


def test_status_and_ls_print_documented_json(cli: Cli, session: dict[str, Any]) -> None:
    code, status = cli.json("status", "--local")
    assert code == 0
    validate(status, "session")
    assert status["sessionId"] == session["sessionId"]
    code, listing = cli.json("ls", "--local")
    assert code == 0
    validate(listing, "sessionList")
    assert session["sessionId"] in [s["sessionId"] for s in listing["sessions"]]


def test_text_output_stays_plain_when_piped(cli: Cli, session: dict[str, Any]) -> None:
    outputs = {}
    for command in ("status", "ls", "logs"):
        done = cli.run(command, "--local")
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout + done.stderr
        outputs[command] = done.stdout
    assert f"session {session['sessionId']}: READY" in outputs["status"]
    assert f"bastion ssh {session['sessionId']} --local" in outputs["status"]
    assert outputs["ls"].splitlines()[0].split() == [
        "SESSION",
        "STATUS",
        "CLUSTER",
        "ADDRESS",
        "EXPIRES",
    ]


def test_logs_show_the_bastion_log_lines(cli: Cli, session: dict[str, Any]) -> None:
    # A login of this test's own, whichever tests ran before it on this session.
    done = cli.run("ssh", "--local", "--", "true")
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 15
    while True:
        code, document = cli.json("logs", "--local")
        assert code == 0
        validate(document, "logs")
        if any('"event":"connect"' in line for line in document["lines"]):
            break
        assert time.monotonic() < deadline, document["lines"][-5:]
        time.sleep(0.1)


def test_resources_show_what_the_session_owns(cli: Cli, session: dict[str, Any]) -> None:
    code, owned = cli.json("resources", "--local")
    assert code == 0
    validate(owned, "resources")
    assert (owned["sessionId"], owned["status"]) == (session["sessionId"], "RUNNING")
    kinds = ("securityGroups", "controlPlaneRules", "bastionTasks", "holdParameters")
    assert [len(owned[kind]) for kind in kinds] == [1, 1, 1, 1], owned
    done = cli.run("resources", "--local")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split() == ["KIND", "ID", "DETAIL"]
    assert owned["securityGroups"][0]["groupId"] in done.stdout


def test_down_ends_the_session_and_leaves_nothing(cli: Cli, session: dict[str, Any]) -> None:
    done = cli.run("down", "--local", session["sessionId"])
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout + done.stderr
    assert "StopBastionTask" in done.stderr
    assert "ValidateRequest" not in done.stderr  # only what happened since `down`
    code, status = cli.json("status", "--local", session["sessionId"])
    assert code == 0
    validate(status, "session")
    assert (status["status"], status["endReason"]) == ("ENDED", "ended-by-user"), status
    assert read_inventory(cli.clients(), session["sessionId"]).is_empty
    code, owned = cli.json("resources", "--local", session["sessionId"])
    assert code == 0
    assert owned["securityGroups"] == owned["bastionTasks"] == owned["holdParameters"] == []
    assert owned["controlPlaneRules"] == []
    assert not Path(session["keyFile"]).parent.exists()  # the ephemeral key is gone
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", session["port"]), timeout=2).close()
    assert not list((cli.local_dir / "bastions").glob(f"{session['sessionId']}.json"))

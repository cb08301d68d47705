"""A private session on the local AWS, reached the way users reach one on AWS: `bastion ssh`
runs OpenSSH with the command's own Session Manager proxy as its ProxyCommand; the proxy
calls the local AWS's StartSession and runs the Session Manager plugin on the answer.

Session Manager's data channel itself cannot run here: its plugin is in no registry this
machine reaches, and no Session Manager service stands behind the local StreamUrl. So the
plugin these tests run is a stand-in, an executable each test writes: it checks the
arguments it is given (in the AWS CLI's order) and relays its standard input and output
to the local bastion's sshd on loopback, so the login through it is real. The plugin
missing and the plugin failing are run too.

The tests of this module share one session, started by the first and ended by the last.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion.cli.errors import ExitCode
from bastion.cli.session_manager_plugin import INSTALL_PAGE, OVERRIDE, PLUGIN
from bastion.local.inventory import read_inventory
from bastion.local.task_runner import read_record
from tests.cli.conftest import Cli, validate
from tests.cli.tunnel import endpoint_version, running_tunnel

pytestmark = pytest.mark.cli

DATA_CHANNEL = (
    "stand-in plugin: Session Manager's data channel cannot run here "
    "(session-manager-plugin is in no reachable registry)"
)

#: The stand-in plugin: checks its arguments, then relays stdio to the bastion's sshd.
STANDIN = """\
import json, os, socket, sys, threading
if sys.argv[1:] == ["--version"]:
    print("1.2.707.0")
    sys.exit(0)
first, region, operation, profile, request, endpoint = sys.argv[1:]
answer = json.loads(os.environ[first])
record = {"argv": sys.argv[1:], "answer": answer, "request": json.loads(request)}
with open(os.environ["STANDIN_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
if first != "AWS_SSM_START_SESSION_RESPONSE" or operation != "StartSession":
    sys.exit("stand-in: not the AWS CLI's arguments")
if not (answer["SessionId"] and answer["TokenValue"] and answer["StreamUrl"]):
    sys.exit("stand-in: not a StartSession answer")
sshd = socket.create_connection(("127.0.0.1", int(os.environ["STANDIN_SSHD_PORT"])))

def upstream():
    while chunk := os.read(0, 65536):
        sshd.sendall(chunk)
    sshd.shutdown(socket.SHUT_WR)

threading.Thread(target=upstream, daemon=True).start()
while chunk := sshd.recv(65536):
    os.write(1, chunk)
"""

FAILING = """\
import sys
if sys.argv[1:] == ["--version"]:
    print("1.2.707.0")
    sys.exit(0)
print("starting session", file=sys.stderr)
print("Cannot perform start session: TargetNotConnected", file=sys.stderr)
sys.exit(7)
"""


def _executable(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the stand-in as ``session-manager-plugin``, and ``failing``."""
    directory = tmp_path_factory.mktemp("plugins")
    _executable(directory / PLUGIN, STANDIN)
    _executable(directory / "failing", FAILING)
    return directory


@pytest.fixture(scope="module")
def session(cli: Cli, real_bastions: None) -> Iterator[dict[str, Any]]:
    code, document = cli.json("up", "--local", "--wait", "--duration", "30m", "--mode", "private")
    assert code == 0, document
    try:
        yield document
    finally:
        cli.run("down", "--local", document["sessionId"])


def _environment(cli: Cli, session: dict[str, Any], plugins: Path, **extra: str) -> dict[str, str]:
    record = read_record(cli.local_dir, session["sessionId"])
    assert record is not None, "the local bastion is not running"
    return {
        "PATH": f"{plugins}{os.pathsep}{os.environ['PATH']}",
        "STANDIN_SSHD_PORT": str(record.port),
        "STANDIN_LOG": str(plugins / f"{session['sessionId']}.log"),
        **extra,
    }


def test_up_private_returns_where_session_manager_reaches_the_task(
    cli: Cli, session: dict[str, Any]
) -> None:
    validate(session, "session")
    assert session["status"] == "READY" and session["accessMode"] == "private"
    assert session["address"] is None
    manager = session["sessionManager"]
    assert manager["target"].startswith("ecs:") and manager["region"] == "us-east-1"
    assert "HostKeyAlias=" + session["sessionId"] in session["sshCommand"]
    assert "bastion.cli.session_manager_proxy" in session["sshCommand"]
    known_hosts = Path(session["keyFile"]).parent / "known_hosts"
    assert known_hosts.read_text().splitlines() == [
        f"{session['sessionId']} {key['type']} {key['key']}" for key in session["hostPublicKeys"]
    ]


def test_status_text_ends_with_the_working_command_plugin_or_not(
    cli: Cli, session: dict[str, Any], plugins: Path
) -> None:
    without = cli.run("status", "--local", env={"PATH": "/usr/bin:/bin"})
    assert without.returncode == 0, without.stderr
    lines = without.stdout.splitlines()
    assert PLUGIN in lines[-3] and INSTALL_PAGE in lines[-3]
    assert lines[-2] == f"  connect:  bastion ssh {session['sessionId']} --local"
    assert lines[-1] == f"  or:       {session['sshCommand']}"
    found = cli.run("status", "--local", env=_environment(cli, session, plugins))
    assert found.stdout.splitlines()[-3] == f"  plugin:   {plugins / PLUGIN}"
    assert found.stdout.splitlines()[-2:] == lines[-2:]


def test_ls_says_the_session_is_reached_through_session_manager(
    cli: Cli, session: dict[str, Any]
) -> None:
    done = cli.run("ls", "--local", "--running")
    assert done.returncode == 0, done.stderr
    row = next(line.split() for line in done.stdout.splitlines() if session["sessionId"] in line)
    assert row[:4] == [session["sessionId"], "READY", "demo", "session-manager"]


def test_ssh_logs_in_through_session_manager(
    cli: Cli, session: dict[str, Any], plugins: Path
) -> None:
    print(DATA_CHANNEL)
    environment = _environment(cli, session, plugins)
    done = cli.run("ssh", "--local", "--", "echo", "through", "$(id -un)", env=environment)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"through {session['user']}"
    # The proxy gave the plugin StartSession's answer and request, as the AWS CLI does.
    record = json.loads(Path(environment["STANDIN_LOG"]).read_text().splitlines()[-1])
    manager = session["sessionManager"]
    assert record["request"] == {
        "Target": manager["target"],
        "DocumentName": manager["documentName"],
    }
    assert record["argv"][1:4] == ["us-east-1", "StartSession", ""]
    assert record["argv"][5].startswith("http://127.0.0.1:")
    assert record["answer"]["SessionId"] in record["answer"]["StreamUrl"]


def test_the_kubeconfig_tunnel_reaches_the_endpoint_through_session_manager(
    cli: Cli, session: dict[str, Any], plugins: Path
) -> None:
    print(DATA_CHANNEL)
    code, document = cli.json("kubeconfig", "--local")
    assert code == 0, document
    validate(document, "kubeconfig")
    # The command printed for the terminal is the same, quoted for a shell.
    text = cli.run("kubeconfig", "--local", "--socks-port", str(document["socksPort"]))
    printed = text.stdout.splitlines()[2]
    assert shlex.split(printed) == document["tunnelCommand"]
    import yaml

    cluster = yaml.safe_load(Path(document["kubeconfig"]).read_text())["clusters"][0]["cluster"]
    assert cluster["proxy-url"] == f"socks5://127.0.0.1:{document['socksPort']}"
    assert cluster["server"].startswith("https://localhost:")  # the endpoint's own name
    environment = {**cli.env, **_environment(cli, session, plugins)}
    with running_tunnel(document, environment) as socks_port:
        version = endpoint_version(socks_port, cluster)
        assert version["gitVersion"].endswith("fargate-bastion-standin")


def test_ssh_without_the_plugin_names_it_and_the_command(cli: Cli, session: dict[str, Any]) -> None:
    done = cli.run("ssh", "--local", "--", "true", env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == ExitCode.CONFIGURATION, done.stderr
    assert PLUGIN in done.stderr and INSTALL_PAGE in done.stderr
    assert done.stderr.rstrip().endswith(f"then run: bastion ssh {session['sessionId']} --local")


def test_a_failing_plugin_is_named_with_its_status_and_stderr(
    cli: Cli, session: dict[str, Any], plugins: Path
) -> None:
    environment = _environment(cli, session, plugins, **{OVERRIDE: str(plugins / "failing")})
    done = cli.run("ssh", "--local", "--", "true", env=environment)
    assert done.returncode == 255, done.stderr
    assert f"{plugins / 'failing'} exited with status 7" in done.stderr
    assert "Cannot perform start session: TargetNotConnected" in done.stderr
    # AND the Session Manager session it did not carry is not left open
    assert re.search(r"Session Manager session bastion-local-[0-9a-f]+ terminated", done.stderr)


def test_an_override_that_is_not_executable_is_refused(
    cli: Cli, session: dict[str, Any], plugins: Path
) -> None:
    log = plugins / f"{session['sessionId']}.log"
    environment = _environment(cli, session, plugins, **{OVERRIDE: str(log)})
    done = cli.run("ssh", "--local", "--", "true", env=environment)
    assert done.returncode == ExitCode.CONFIGURATION, done.stderr
    assert OVERRIDE in done.stderr


def test_ssh_through_session_manager_refuses_a_bastion_whose_keys_were_not_reported(
    cli: Cli, session: dict[str, Any], plugins: Path
) -> None:
    # Whatever answers through Session Manager must present the keys pinned under the
    # session's id: with other keys in their place, ssh sends nothing and fails.
    from bastion.local.simulated_bastion import generate_host_keys

    known_hosts = Path(session["keyFile"]).parent / "known_hosts"
    pinned = known_hosts.read_text()
    others = [f"{session['sessionId']} {key.key_type} {key.key}" for key in generate_host_keys()]
    known_hosts.write_text("\n".join(others) + "\n")
    try:
        done = subprocess.run(  # noqa: S603 - the command the CLI printed
            [*shlex.split(session["sshCommand"]), "-o", "BatchMode=yes", "true"],
            env={**cli.env, **_environment(cli, session, plugins)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        known_hosts.write_text(pinned)
    assert done.returncode == 255, done.stderr
    assert "Host key verification failed" in done.stderr


def test_down_ends_the_private_session_and_leaves_nothing(
    cli: Cli, session: dict[str, Any]
) -> None:
    done = cli.run("down", "--local", session["sessionId"])
    assert done.returncode == 0, done.stderr
    assert read_inventory(cli.clients(), session["sessionId"]).is_empty

"""Private sessions as the command sees them: the ready document's ``sessionManager`` is
checked before anything runs, and ssh reaches the bastion through the command's own
Session Manager proxy, trusting the pinned host keys under the session's id.

These tests use the API's view of a session as the contract describes it; the local
session that really logs in through a stand-in plugin is in test_private_local_session.py.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from bastion.cli import keys, session_manager, sessions
from bastion.cli.app import build_parser
from bastion.cli.errors import CliError, ExitCode
from bastion.cli.target import Target
from tests.cli.conftest import validate
from tests.cli.ready_views import (
    DOCUMENT,
    REPORTED,
    TASK_ID,
    private_ready_view,
    task_arn,
)
from tests.cli.ready_views import session_manager as session_manager_of_task

pytestmark = pytest.mark.cli

REGION = "eu-west-1"
TASK_ARN = task_arn(REGION)
MANAGER = session_manager_of_task(REGION)
TARGET = MANAGER["target"]
view = private_ready_view


def target(profile: str | None = None) -> Target:
    session = boto3.Session(region_name="eu-west-1")
    return Target(session=session, api_url="https://api.example.com/v1", profile=profile)


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("BASTION_STATE_DIR", raising=False)


HOSTILE_MANAGERS: dict[str, Any] = {
    "missing": None,
    "not an object": f"{TARGET} {DOCUMENT}",
    "no document": {"target": TARGET, "region": "eu-west-1"},
    "an extra field": {**MANAGER, "parameters": {"portNumber": ["22"]}},
    "shell in the target": {**MANAGER, "target": f"{TARGET};touch /tmp/owned"},
    "command substitution": {**MANAGER, "target": f"ecs:$(id)_{TASK_ID}_{TASK_ID}-1"},
    "an instance target": {**MANAGER, "target": "i-0123456789abcdef0"},
    "another cluster": {**MANAGER, "target": f"ecs:other_{TASK_ID}_{TASK_ID}-1"},
    "another task": {**MANAGER, "target": TARGET.replace("0123", "3210")},
    "no runtime id": {**MANAGER, "target": f"ecs:fargate-bastion_{TASK_ID}"},
    "newline in the target": {**MANAGER, "target": f"{TARGET}\nProxyCommand sh"},
    "shell in the document": {**MANAGER, "documentName": f"{DOCUMENT}`id`"},
    "a document ARN": {
        **MANAGER,
        "documentName": "arn:aws:ssm:eu-west-1:999999999999:document/Theirs",
    },
    "an AWS document": {**MANAGER, "documentName": "AWS-StartPortForwardingSessionToRemoteHost"},
    "a space in the document": {**MANAGER, "documentName": "My Document"},
    "another region": {**MANAGER, "region": "us-east-1"},
    "a region that is not one": {**MANAGER, "region": "eu-west-1 --endpoint-url x"},
    "a number as target": {**MANAGER, "target": 7},
}


@pytest.mark.parametrize("hostile", list(HOSTILE_MANAGERS.values()), ids=list(HOSTILE_MANAGERS))
def test_a_hostile_session_manager_gives_no_command_and_ssh_is_refused(hostile: Any) -> None:
    here = target()
    doc = sessions.document(here, view(sessionManager=hostile))
    validate(doc, "session")
    assert doc["accessMode"] == "private"
    assert doc["sshCommand"] is None and doc["sessionManager"] is None

    with pytest.raises(CliError) as refused:
        sessions.session_manager_of(here, view(sessionManager=hostile))
    assert refused.value.code == ExitCode.SESSION_FAILED
    assert "sessionManager" in refused.value.message and "nothing is run" in refused.value.message


def test_a_private_session_without_its_task_is_refused() -> None:
    with pytest.raises(CliError, match="taskArn"):
        sessions.session_manager_of(target(), view(taskArn=None))


def test_an_access_mode_that_is_neither_gives_no_command() -> None:
    doc = sessions.document(target(), view(accessMode="PRIVATE; rm -rf ~"))
    validate(doc, "session")
    assert doc["sshCommand"] is None and doc["sessionManager"] is None


def test_a_private_session_connects_through_the_proxy_trusting_keys_under_its_id() -> None:
    here = target(profile="dev team")
    doc = sessions.document(here, view())
    validate(doc, "session")
    assert doc["sessionManager"] == MANAGER and doc["address"] is None
    argv = shlex.split(doc["sshCommand"])
    options = [argv[i + 1] for i, word in enumerate(argv) if word == "-o"]
    assert "HostKeyAlias=alice-1" in options and "StrictHostKeyChecking=yes" in options
    assert "UpdateHostKeys=no" in options
    assert argv[-1] == "bastion@alice-1"
    proxy = next(option for option in options if option.startswith("ProxyCommand="))
    assert shlex.split(proxy.removeprefix("ProxyCommand=")) == [
        sys.executable,
        "-P",
        "-m",
        "bastion.cli.session_manager_proxy",
        "--target",
        TARGET,
        "--document-name",
        DOCUMENT,
        "--region",
        "eu-west-1",
        "--profile",
        "dev team",
    ]

    path = sessions.pin_host_keys(here, doc)
    assert path == keys.known_hosts_path(here.sessions_dir, "alice-1")
    assert path.read_text().splitlines() == [
        f"alice-1 {key['type']} {key['key']}" for key in REPORTED
    ]


def test_percent_signs_reach_the_proxy_unexpanded(tmp_path: Path) -> None:
    # ssh expands %h, %p... in a ProxyCommand: a literal % is written %%.
    command = session_manager.proxy_command(
        session_manager.SessionManager(TARGET, DOCUMENT, "eu-west-1"),
        profile="100%",
        local_dir=tmp_path / "a%hb",
    )
    assert "100%%" in command and "a%%hb" in command
    assert shlex.split(command.replace("%%", "%"))[-2:] == ["--local-dir", str(tmp_path / "a%hb")]


def test_a_session_id_that_starts_with_a_dash_is_still_a_host_ssh_takes() -> None:
    doc = sessions.document(target(), view(sessionId="-alice"))
    argv = shlex.split(doc["sshCommand"])
    assert "HostKeyAlias=-alice" in argv
    assert not argv[-1].partition("@")[2].startswith("-")


def test_a_public_session_is_unchanged_and_says_so() -> None:
    doc = sessions.document(
        target(),
        view(
            accessMode="public",
            sessionManager=None,
            address="203.0.113.7",
            sshCommand="ssh bastion@203.0.113.7",
        ),
    )
    validate(doc, "session")
    assert doc["accessMode"] == "public" and doc["sessionManager"] is None
    assert doc["sshCommand"].endswith("bastion@203.0.113.7")
    assert "ProxyCommand" not in doc["sshCommand"] and "HostKeyAlias" not in doc["sshCommand"]


def test_a_view_without_an_access_mode_is_a_public_session() -> None:
    view_of_old_api = view(address="203.0.113.7", sshCommand="ssh bastion@203.0.113.7")
    del view_of_old_api["accessMode"], view_of_old_api["sessionManager"]
    doc = sessions.document(target(), view_of_old_api)
    assert doc["accessMode"] == "public" and "ProxyCommand" not in doc["sshCommand"]


@pytest.mark.parametrize(
    ("words", "body"),
    [
        ([], None),
        (["--mode", "private"], "private"),
        (["--mode", "public"], "public"),
    ],
)
def test_up_sends_the_mode_only_when_asked(words: list[str], body: str | None) -> None:
    args = build_parser().parse_args(["up", "--cluster", "payments", *words])
    from bastion.cli.app import session_request

    request = session_request(args, "ssh-ed25519 AAAA", "alice-1")
    assert request.get("accessMode") == body
    assert ("accessMode" in request) == (body is not None)


def test_up_refuses_a_mode_it_does_not_know() -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["up", "--mode", "hidden"])
    assert exited.value.code == ExitCode.USAGE


PUBLIC_VIEW = {
    "accessMode": "public",
    "sessionManager": None,
    "address": "203.0.113.7",
}
HOSTILE_USERS = {
    "an ssh option": "-oProxyCommand=touch /tmp/owned",
    "an option that runs a command per host": "-oKnownHostsCommand=/bin/sh",
    "a space": "bastion -v",
    "a shell word": "$(id)",
}


@pytest.mark.parametrize("user", ["bastion", "fargate-bastion-test", "alice@corp.example"])
def test_a_user_name_ssh_takes_gives_the_command(user: str) -> None:
    doc = sessions.document(target(), view(sshCommand=f"ssh {user}@alice-1"))
    assert doc["user"] == user
    assert shlex.split(doc["sshCommand"])[-1] == f"{user}@alice-1"


@pytest.mark.parametrize("mode", ["public", "private"])
@pytest.mark.parametrize("user", list(HOSTILE_USERS.values()), ids=list(HOSTILE_USERS))
def test_a_user_name_that_is_not_one_gives_no_command_and_ssh_is_refused(
    mode: str, user: str
) -> None:
    # ssh takes an argument that starts with "-" for an option wherever it stands, so
    # "-oProxyCommand=...@203.0.113.7" before a remote command runs that command.
    here = target()
    changes = PUBLIC_VIEW if mode == "public" else {}
    hostile = view(**changes, sshCommand=f"ssh {user}@alice-1")
    doc = sessions.document(here, hostile)
    validate(doc, "session")
    assert doc["sshCommand"] is None

    with pytest.raises(CliError) as refused:
        sessions.ssh_argv(here, doc, ["kubectl", "get", "pods"])
    assert refused.value.code == ExitCode.SESSION_FAILED and "user" in refused.value.message


def test_the_proxy_ssh_runs_is_the_installed_one_whatever_directory_it_runs_in(
    tmp_path: Path,
) -> None:
    # ssh runs its ProxyCommand in the user's working directory; a directory that holds
    # a package of the proxy's name must not be where the proxy comes from.
    hostile = tmp_path / "checkout"
    (hostile / "bastion" / "cli").mkdir(parents=True)
    (hostile / "bastion" / "__init__.py").write_text("")
    (hostile / "bastion" / "cli" / "__init__.py").write_text("")
    marker = tmp_path / "ran"
    (hostile / "bastion" / "cli" / "session_manager_proxy.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
    )
    command = session_manager.proxy_command(
        session_manager.SessionManager(TARGET, DOCUMENT, "eu-west-1"), profile=None, local_dir=None
    )
    done = subprocess.run(  # noqa: S603 - the command the CLI gives ssh
        ["/bin/sh", "-c", command.replace("%%", "%")],
        cwd=hostile,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert not marker.exists()
    # The installed proxy ran: it found no Session Manager plugin on this PATH.
    assert done.returncode == ExitCode.CONFIGURATION, done.stderr
    assert "session-manager-plugin" in done.stderr

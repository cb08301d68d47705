"""Hostile command lines: nothing outside a session's own folder is touched, bad numbers and
ids are refused naming the option before anything starts, a reused id changes nothing."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import pytest

from bastion import local_daemon
from bastion.cli.app import main
from bastion.cli.errors import ExitCode
from bastion.local.inventory import read_inventory
from tests.cli.conftest import Cli, validate

pytestmark = pytest.mark.cli


def _refused_usage(argv: list[str]) -> str:
    """Run ``argv``, expect a usage error; its stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as raised:
        main(argv, out=io.StringIO())
    assert raised.value.code == ExitCode.USAGE, err.getvalue()
    return err.getvalue()


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(item.relative_to(path)): item.read_bytes() if item.is_file() else b"<dir>"
        for item in sorted(path.rglob("*"))
    }


# --------------------------------------------------------------------------- session ids


HOSTILE_IDS = ["../../victim", "..", ".", "x/y", "*", "sess*", "a?", "", "é-session", "a b", "a\n"]


@pytest.mark.parametrize("session_id", HOSTILE_IDS)
def test_up_refuses_a_hostile_session_id_before_anything_exists(
    tmp_path: Path, session_id: str
) -> None:
    # A directory beside the state folder that `../../victim` reaches from its sessions/.
    local_dir = tmp_path / "state" / "local"
    victim = tmp_path / "state" / "victim"
    victim.mkdir(parents=True)
    (victim / "precious").write_text("keep me\n")
    before = _tree(tmp_path)
    message = _refused_usage(
        ["up", "--local", "--local-dir", str(local_dir), "--wait", "--session-id", session_id]
    )
    assert "--session-id" in message and "letters, digits" in message, message
    assert _tree(tmp_path) == before  # no key, no folder, no local AWS started


@pytest.mark.parametrize("command", ["status", "down", "ssh", "kubeconfig", "logs"])
@pytest.mark.parametrize("session_id", ["..", "../../victim", "*"])
def test_every_command_refuses_a_hostile_session_id(
    tmp_path: Path, command: str, session_id: str
) -> None:
    message = _refused_usage([command, "--local", "--local-dir", str(tmp_path), session_id])
    assert "argument ID" in message and "letters, digits" in message, message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("session_id", ["..", "../../victim", "*"])
def test_extend_refuses_a_hostile_session_id(tmp_path: Path, session_id: str) -> None:
    words = ["extend", "--local", "--local-dir", str(tmp_path), session_id, "--by", "5m"]
    message = _refused_usage(words)
    assert "argument ID" in message and "letters, digits" in message, message
    assert list(tmp_path.iterdir()) == []


def test_a_session_folder_is_never_a_path_outside_its_root(tmp_path: Path) -> None:
    from bastion.cli import keys
    from bastion.cli.errors import CliError

    for session_id in ("..", "../x", "x/y", "", "*"):
        with pytest.raises(CliError) as refused:
            keys.session_dir(tmp_path / "sessions", session_id)
        assert refused.value.field == "sessionId"
    assert not keys.remove_session_dir(tmp_path / "sessions", "absent")


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["up", "--duration", "0"], "--duration"),
        (["up", "--duration", "99999999h"], "--duration"),
        (["up", "--timeout", "0"], "--timeout"),
        (["up", "--timeout", "-5"], "--timeout"),
        (["up", "--timeout", "nan"], "--timeout"),
        (["up", "--timeout", "inf"], "--timeout"),
        (["up", "--timeout", "1e300"], "--timeout"),
        (["down", "--timeout", "0"], "--timeout"),
        (["extend", "--by", "0"], "--by"),
        (["extend", "--by", "-30m"], "--by"),
        (["extend", "--by", "99999999h"], "--by"),
        (["extend", "--by", "30s"], "--by"),
        (["extend", "--by", "5m", "--timeout", "0"], "--timeout"),
        (["ls", "--limit", "0"], "--limit"),
        (["ls", "--limit", "-1"], "--limit"),
        (["ls", "--limit", "100000000"], "--limit"),
        (["kubeconfig", "--socks-port", "0"], "--socks-port"),
        (["kubeconfig", "--socks-port", "65536"], "--socks-port"),
        (["kubeconfig", "--socks-port", "-22"], "--socks-port"),
        (["logs", "--tail", "-1"], "--tail"),
        (["logs", "--tail", "10000000000"], "--tail"),
        (["local", "start", "--time-scale", "0"], "--time-scale"),
        (["local", "start", "--time-scale", "-1"], "--time-scale"),
        (["local", "start", "--time-scale", "nan"], "--time-scale"),
        (["local", "start", "--time-scale", "1e9"], "--time-scale"),
    ],
)
def test_numeric_options_are_range_checked_before_anything_starts(
    tmp_path: Path, argv: list[str], option: str
) -> None:
    words = [argv[0], "--local", "--local-dir", str(tmp_path / "local"), *argv[1:]]
    if argv[0] == "local":
        words = [*argv, "--local-dir", str(tmp_path / "local")]
    message = _refused_usage(words)
    assert f"argument {option}" in message, message
    assert list(tmp_path.iterdir()) == []  # no local AWS, no folder


# --------------------------------------------------------------------------- a reused id


@pytest.fixture(scope="module")
def held(cli: Cli) -> dict[str, object]:
    code, document = cli.json("up", "--local", "--wait", "--session-id", "held-by-another")
    assert code == 0, document
    return document


def _session_folder(cli: Cli, session_id: str) -> Path:
    return cli.local_dir / "sessions" / session_id


@pytest.mark.parametrize("with_key", [False, True], ids=["ephemeral-key", "own-key"])
def test_reusing_a_running_sessions_id_changes_nothing_of_it(
    cli: Cli, held: dict[str, object], tmp_path: Path, with_key: bool
) -> None:
    from bastion.cli import keys

    folder = _session_folder(cli, "held-by-another")
    before = _tree(folder)
    extra: list[str] = []
    if with_key:
        own, _line = keys.generate_key(tmp_path / "mine", "mine")
        extra = ["--key", str(own)]
    done = cli.run("up", "--local", "--wait", "--session-id", "held-by-another", *extra)
    assert done.returncode == ExitCode.REFUSED, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]  # one line, no traceback
    assert "held-by-another" in done.stderr and "already" in done.stderr, done.stderr
    assert _tree(folder) == before
    code, status = cli.json("status", "--local", "held-by-another")
    assert (code, status["status"]) == (0, "READY"), status
    assert status["keyFile"] == held["keyFile"]


def test_reusing_the_id_of_a_session_whose_folder_is_gone_changes_nothing(
    cli: Cli, held: dict[str, object]
) -> None:
    # Another machine's session, or a folder removed by hand: the execution still exists.
    code, status = cli.json("status", "--local", "held-by-another")
    assert status["status"] == "READY"
    folder = _session_folder(cli, "held-by-another")
    hidden = folder.with_name("held-by-another.aside")
    folder.rename(hidden)
    try:
        done = cli.run("up", "--local", "--wait", "--session-id", "held-by-another")
        assert done.returncode == ExitCode.REFUSED, done.stderr
        assert "already" in done.stderr and "Traceback" not in done.stderr
        assert not folder.exists()
    finally:
        hidden.rename(folder)
    assert not read_inventory(cli.clients(), "held-by-another").is_empty
    done = cli.run("down", "--local", "held-by-another")
    assert done.returncode == 0, done.stderr
    assert not folder.exists()  # its own folder goes once it is seen ended


def test_a_failed_start_removes_only_the_folder_it_created(cli: Cli) -> None:
    sessions = cli.local_dir / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    neighbour = sessions / "neighbour-1"
    neighbour.mkdir(mode=0o700, exist_ok=True)
    (neighbour / "key-path").write_text("/somewhere/id_ed25519\n")
    (neighbour / "key-path").chmod(0o600)
    done = cli.run("up", "--local", "--wait", "--session-id", "fails-1", "--cluster", "nope")
    assert done.returncode == ExitCode.REFUSED, done.stderr
    assert not (sessions / "fails-1").exists()
    assert (neighbour / "key-path").read_text() == "/somewhere/id_ed25519\n"
    assert sessions.stat().st_mode & 0o777 == 0o700


# --------------------------------------------------------------------------- any execution


#: Inputs anyone allowed to start executions can give the session machine.
HOSTILE_INPUTS = {
    "hostile-text": '"text"',
    "hostile-list": "[1, 2]",
    "hostile-null": "null",
    "hostile-empty": "{}",
    "hostile-types": json.dumps(
        {"cluster": {"a": 1}, "requestedBy": "arn:aws:sts::123456789012:user/moto", "x": [1]}
    ),
    "hostile-huge": json.dumps(
        {"cluster": "c" * 200_000, "requestedBy": "arn:aws:sts::123456789012:user/moto"}
    ),
    # On the cluster and as the local user, but with values of every wrong type.
    "hostile-mine": json.dumps(
        {
            "cluster": "demo",
            "requestedBy": "arn:aws:sts::123456789012:user/moto",
            "sshPublicKey": ["x"],
            "allowedCidrs": {"a": 1},
            "durationMinutes": "forever",
        }
    ),
}


@pytest.fixture(scope="module")
def hostile_executions(cli: Cli) -> list[str]:
    """The executions, ended; this machine has a folder for each, on ``demo``."""
    from bastion.cli import keys

    sfn = cli.clients()("stepfunctions")
    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    machine = endpoint.outputs["SessionStateMachineArn"]
    arns = {}
    for name, text in HOSTILE_INPUTS.items():
        arns[name] = sfn.start_execution(stateMachineArn=machine, name=name, input=text)[
            "executionArn"
        ]
    deadline = time.monotonic() + 60
    while "RUNNING" in {sfn.describe_execution(executionArn=a)["status"] for a in arns.values()}:
        assert time.monotonic() < deadline, "the hostile executions did not end"
        time.sleep(0.2)
    for name, arn in arns.items():
        keys.claim(cli.local_dir / "sessions", name, arn, "demo")
    return list(HOSTILE_INPUTS)


@pytest.mark.parametrize("command", [["ls"], ["ls", "--running"]])
def test_listing_survives_any_execution_and_shows_only_sessions(
    cli: Cli, hostile_executions: list[str], command: list[str]
) -> None:
    code, listing = cli.json(*command, "--local")
    assert code == 0, listing
    validate(listing, "sessionList")
    listed = {entry["sessionId"]: entry for entry in listing["sessions"]}
    # Only the one on the cluster, of the local user, is a session the API shows.
    expected = {"hostile-mine"} if command == ["ls"] else set()
    assert set(hostile_executions) & set(listed) == expected, listing
    assert all(len(json.dumps(entry)) < 10_000 for entry in listing["sessions"])


@pytest.mark.parametrize("name", list(HOSTILE_INPUTS))
def test_status_of_any_execution_is_a_document_not_a_crash(
    cli: Cli, hostile_executions: list[str], name: str
) -> None:
    code, status = cli.json("status", "--local", name)
    if name != "hostile-mine":
        # Not a session on any cluster: the API does not find it there.
        assert code == ExitCode.NOT_FOUND, status
        validate(status, "error")
        return
    assert code == 0, status
    validate(status, "session")
    assert (status["status"], status["error"]["code"]) == ("FAILED", "InvalidRequest"), status
    assert len(json.dumps(status)) < 10_000
    done = cli.run("status", "--local", name)
    assert done.returncode == 0 and "InvalidRequest" in done.stdout, done.stdout + done.stderr


# --------------------------------------------------------------------------- down


def test_down_ends_a_session_whose_hold_parameter_is_gone(cli: Cli) -> None:
    code, document = cli.json("up", "--local", "--wait", "--session-id", "hold-gone")
    assert code == 0, document
    ssm = cli.clients()("ssm")
    names = [
        parameter["Name"]
        for page in ssm.get_paginator("describe_parameters").paginate()
        for parameter in page["Parameters"]
        if parameter["Name"].endswith("/hold-gone")
    ]
    assert len(names) == 1, names
    ssm.delete_parameter(Name=names[0])
    # Before: `down` waited, silently, for its --timeout; the session kept everything.
    done = cli.run("down", "--local", "hold-gone", "--timeout", "60")
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 60
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        code, status = cli.json("status", "--local", "hold-gone")
        if status["status"] == "ENDED" and read_inventory(cli.clients(), "hold-gone").is_empty:
            break
        time.sleep(0.2)
    assert status["status"] == "ENDED", status
    assert read_inventory(cli.clients(), "hold-gone").is_empty

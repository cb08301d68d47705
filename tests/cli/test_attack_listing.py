"""Attacks on reading sessions: an execution anyone who may start executions can make
carries terminal control sequences into what the API answers about it (its error);
listing or showing it must never write them to a user's terminal."""

from __future__ import annotations

import json
import re
import time

import pytest

from bastion import local_daemon
from tests.cli.conftest import Cli

pytestmark = pytest.mark.cli

#: An OSC title change, a screen clear and a cursor move: what a forged listing would use.
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[1;1H"
#: C0 controls (but tab and newline, which the text output uses itself), DEL and C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
NAME = "escape-sequences"


@pytest.fixture(scope="module")
def escaping_execution(cli: Cli) -> str:
    """The ARN of the local user's execution on ``demo`` whose unknown field (named in
    its error) holds control sequences."""
    sfn = cli.clients()("stepfunctions")
    caller = cli.clients()("sts").get_caller_identity()["Arn"]
    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    arn = sfn.start_execution(
        stateMachineArn=endpoint.outputs["SessionStateMachineArn"],
        name=NAME,
        input=json.dumps({"cluster": "demo", "requestedBy": caller, f"{ESCAPES}forged\x9b2J": 1}),
    )["executionArn"]
    deadline = time.monotonic() + 60
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.2)
    return str(arn)


@pytest.mark.parametrize("command", [["ls"], ["status", NAME]], ids=["ls", "status"])
@pytest.mark.parametrize("output", ["text", "json"])
def test_reading_a_session_never_writes_its_control_characters_to_the_terminal(
    cli: Cli, escaping_execution: str, command: list[str], output: str
) -> None:
    from bastion.cli import keys

    # This machine has its folder, so `ls` shows it too (and forgets it, seen ended).
    keys.claim(cli.local_dir / "sessions", NAME, escaping_execution, "demo")
    done = cli.run(*command, "--local", "--output", output)
    assert done.returncode == 0, done.stderr
    assert NAME in done.stdout, done.stdout
    if command[0] == "status" and output == "text":
        assert "forged" in done.stdout and "\\x1b" in done.stdout, done.stdout
    assert not CONTROL.search(done.stdout), repr(done.stdout)
    assert not CONTROL.search(done.stderr), repr(done.stderr)

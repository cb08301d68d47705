"""Attacks on reading sessions: an execution anyone may start carries terminal control
sequences in its input; listing or showing it must never write them to a user's terminal."""

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


@pytest.fixture(scope="module")
def escaping_execution(cli: Cli) -> str:
    """An execution whose cluster, requester and an unknown field hold control sequences."""
    sfn = cli.clients()("stepfunctions")
    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    name = "escape-sequences"
    arn = sfn.start_execution(
        stateMachineArn=endpoint.outputs["SessionStateMachineArn"],
        name=name,
        input=json.dumps(
            {
                "cluster": f"demo{ESCAPES}\x9b2J",
                "requestedBy": f"arn:aws:iam::123456789012:user/x{ESCAPES}",
                f"{ESCAPES}forged": 1,
            }
        ),
    )["executionArn"]
    deadline = time.monotonic() + 60
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.2)
    return name


@pytest.mark.parametrize(
    "command", [["ls", "--all"], ["status", "escape-sequences"]], ids=["ls", "status"]
)
def test_reading_a_session_never_writes_its_control_characters_to_the_terminal(
    cli: Cli, escaping_execution: str, command: list[str]
) -> None:
    if command[0] == "ls":
        # An ended execution is listed when this machine has its folder (see below).
        from bastion.cli import keys

        endpoint = local_daemon.running(cli.local_dir)
        assert endpoint is not None
        prefix, _, machine = endpoint.outputs["SessionStateMachineArn"].partition(":stateMachine:")
        keys.claim(
            cli.local_dir / "sessions",
            escaping_execution,
            f"{prefix}:execution:{machine}:{escaping_execution}",
        )
    done = cli.run(*command, "--local")
    assert done.returncode == 0, done.stderr
    assert escaping_execution in done.stdout, done.stdout
    assert not CONTROL.search(done.stdout), repr(done.stdout)
    assert not CONTROL.search(done.stderr), repr(done.stderr)


#: Executions someone else started (refused at once); they stay listed for 90 days on AWS.
OTHERS = 25


def test_listing_your_sessions_costs_in_proportion_to_yours_not_to_every_execution(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.client

    sfn = cli.clients()("stepfunctions")
    endpoint = local_daemon.running(cli.local_dir)
    assert endpoint is not None
    machine = endpoint.outputs["SessionStateMachineArn"]
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    for number in range(OTHERS):
        sfn.start_execution(
            stateMachineArn=machine,
            name=f"someone-else-{number}",
            input=json.dumps({"cluster": "demo", "requestedBy": "arn:aws:iam::1:user/mallory"}),
        )
    # Refused at once: wait until they have ended (on a loaded machine that takes a while;
    # running ones are listed, and the stack's caps bound how many can run).
    deadline = time.monotonic() + 120
    while any(
        e["name"].startswith("someone-else-")
        for e in sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
    ):
        assert time.monotonic() < deadline, "the refused executions did not end"
        time.sleep(0.2)
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self: object, operation: str, params: object) -> object:
        calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    done = cli.run("ls", "--local", "--limit", "1")
    assert done.returncode == 0, done.stderr
    described = calls.count("DescribeExecution")
    # The caller has at most the sessions listed before; the others are not theirs.
    assert described <= before + 2, f"{described} DescribeExecution calls for one listing"

"""Attacks on the CLI's per-session folders across stacks, regions and accounts.

Against AWS every stack shares one sessions folder (``$BASTION_STATE_DIR/sessions/<id>``),
and a session id is unique only within one state machine. Another stack (or region, or
account) may hold an execution of the same name: anyone who may start executions there can
make one, and it ends at once. Looking at it must not remove the folder (the key) of the
live session of that name in the user's other stack.
"""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from bastion.cli import app, keys
from bastion.cli.target import Target

pytestmark = pytest.mark.cli

ACCOUNT = "123456789012"
SESSION_ID = "alice-1a2b3c4d"
OTHER_MACHINE = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:other-stack-session"
OTHER_EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:other-stack-session:{SESSION_ID}"


def _other_stack(stubber_calls: int) -> tuple[Target, Stubber]:
    """A target on another stack whose machine has a failed execution named SESSION_ID."""
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    sfn = session.client("stepfunctions")
    stubber = Stubber(sfn)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(stubber_calls):
        stubber.add_response(
            "describe_execution",
            {
                "executionArn": OTHER_EXECUTION,
                "stateMachineArn": OTHER_MACHINE,
                "name": SESSION_ID,
                "status": "FAILED",
                "startDate": moment,
                "stopDate": moment,
                "input": '"not a session request"',
                "error": "InvalidRequest",
                "cause": "request: must be a JSON object",
            },
        )
        stubber.add_response("get_execution_history", {"events": []})
    stubber.activate()
    target = Target(session=session, state_machine_arn=OTHER_MACHINE)
    target._clients["stepfunctions"] = sfn
    return target, stubber


LIVE_EXECUTION = (
    f"arn:aws:states:eu-west-1:{ACCOUNT}:execution:fargate-bastion-session:{SESSION_ID}"
)


@pytest.mark.parametrize("recorded", [True, False], ids=["folder-names-its-execution", "older"])
@pytest.mark.parametrize("command", [["status", SESSION_ID], ["ls", "--all"]])
def test_another_stacks_ended_execution_of_the_same_name_keeps_the_live_sessions_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], recorded: bool
) -> None:
    monkeypatch.setenv("BASTION_STATE_DIR", str(tmp_path))
    root = tmp_path / "sessions"
    # The user's live session of that name, started on their usual stack.
    keys.create_session_dir(root, SESSION_ID)
    private, _ = keys.generate_key(root, SESSION_ID)
    if recorded:
        keys.claim(root, SESSION_ID, LIVE_EXECUTION)
    target, stubber = _other_stack(1)
    monkeypatch.setattr(app, "resolve", lambda _args: target)
    monkeypatch.setattr(app, "caller_arn", lambda _target: f"arn:aws:iam::{ACCOUNT}:user/alice")
    monkeypatch.setattr(
        app.sessions,
        "list_sessions",
        lambda target, **_: [app.sessions.describe(target, SESSION_ID)],
    )
    with contextlib.redirect_stderr(io.StringIO()):
        code = app.main([*command, "--stack", "other-stack"], out=io.StringIO())
    assert code == 0
    stubber.assert_no_pending_responses()
    assert private.is_file(), "the live session's key was deleted"
    if recorded:
        assert keys.private_key_for(root, SESSION_ID, OTHER_EXECUTION) is None
        assert keys.private_key_for(root, SESSION_ID, LIVE_EXECUTION) == private
        assert keys.forget(root, SESSION_ID, LIVE_EXECUTION) and not private.exists()

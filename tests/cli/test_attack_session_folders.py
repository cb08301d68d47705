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
from pathlib import Path
from typing import Any

import boto3
import pytest

from bastion.cli import app, keys
from bastion.cli.target import Target

pytestmark = pytest.mark.cli

ACCOUNT = "123456789012"
SESSION_ID = "alice-1a2b3c4d"
OTHER_EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:other-stack-session:{SESSION_ID}"
LIVE_EXECUTION = (
    f"arn:aws:states:eu-west-1:{ACCOUNT}:execution:fargate-bastion-session:{SESSION_ID}"
)
#: What the other stack's API answers: its execution of that name failed at once.
OTHER_VIEW = {
    "sessionId": SESSION_ID,
    "executionArn": OTHER_EXECUTION,
    "status": "FAILED",
    "phase": "failed",
    "requestedBy": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "cluster": "payments",
    "startedAt": "2026-01-01T00:00:00.000Z",
    "stoppedAt": "2026-01-01T00:00:01.000Z",
    "address": None,
    "sshCommand": None,
    "expiresAt": None,
    "endReason": "failed",
    "error": {"error": "InvalidRequest", "message": "sshPublicKey: is required"},
    "steps": [],
}


def _other_stack(path: str) -> tuple[int, dict[str, Any]]:
    if path.startswith("/sessions"):
        return 200, {"sessions": [{"sessionId": SESSION_ID, "cluster": "payments"}]}
    assert path == f"/clusters/payments/sessions/{SESSION_ID}", path
    return 200, OTHER_VIEW


@pytest.mark.parametrize("recorded", [True, False], ids=["folder-names-its-execution", "older"])
@pytest.mark.parametrize("command", [["status", SESSION_ID], ["ls"]])
def test_another_stacks_ended_execution_of_the_same_name_keeps_the_live_sessions_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], recorded: bool
) -> None:
    monkeypatch.setenv("BASTION_STATE_DIR", str(tmp_path))
    root = tmp_path / "sessions"
    # The user's live session of that name, started on their usual stack.
    keys.create_session_dir(root, SESSION_ID)
    private, _ = keys.generate_key(root, SESSION_ID)
    if recorded:
        keys.claim(root, SESSION_ID, LIVE_EXECUTION, "payments")
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    target = Target(session=session, api_url="https://other.example/v1")
    monkeypatch.setattr(app, "resolve", lambda _args: target)
    monkeypatch.setattr(app.api, "call", lambda _target, _method, path, *_: _other_stack(path))
    with contextlib.redirect_stderr(io.StringIO()):
        code = app.main([*command, "--stack", "other-stack"], out=io.StringIO())
    assert code == 0
    assert private.is_file(), "the live session's key was deleted"
    if recorded:
        assert keys.private_key_for(root, SESSION_ID, OTHER_EXECUTION) is None
        assert keys.private_key_for(root, SESSION_ID, LIVE_EXECUTION) == private
        assert keys.forget(root, SESSION_ID, LIVE_EXECUTION) and not private.exists()

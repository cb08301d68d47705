"""``make demo`` runs a whole session and proves nothing is left."""

from __future__ import annotations

import io

import pytest

from bastion.demo import main, run_demo
from bastion.follow import error_message
from tasks.common.session_states import SETUP_STEPS, TEARDOWN_STEPS

pytestmark = pytest.mark.workflow

SESSION_STATES = [
    *SETUP_STEPS[:-1],
    "BastionReady",
    "HoldSession",
    "MarkSessionExpired",
    *TEARDOWN_STEPS,
    "SessionEnded",
]


def test_demo_runs_a_session_and_leaves_nothing() -> None:
    out = io.StringIO()

    code = run_demo("demo", hold_seconds=2, cidr="203.0.113.7/32", out=out)

    text = out.getvalue()
    assert code == 0, text
    for state in SESSION_STATES:
        assert f"-> {state}" in text, state
        assert f"<- {state}" in text, state
    assert "bastion ready at " in text
    assert "on AWS, connect with: ssh bastion@" in text
    assert "logged in to " in text
    assert "1 security group, 1 control-plane rule, 1 bastion task, 1 hold parameter" in text
    assert "reason: expired" in text
    assert text.rstrip().endswith("demo passed: nothing left behind")
    assert "No session-owned resources." in text


def test_demo_refuses_a_hold_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--hold-seconds", "0"])
    assert exit_info.value.code == 2
    assert "--hold-seconds must be between 1 and 60" in capsys.readouterr().err


def test_demo_with_a_forbidden_cidr_fails_and_leaves_nothing() -> None:
    out = io.StringIO()

    code = run_demo("demo", hold_seconds=2, cidr="0.0.0.0/0", out=out)

    text = out.getvalue()
    assert code == 1
    assert "error: InvalidRequest: allowedCidrs[0]:" in text
    assert "No session-owned resources." in text
    assert text.rstrip().endswith("demo FAILED")


@pytest.mark.parametrize(
    ("cause", "message"),
    [
        ('{"errorType": "X", "errorMessage": "cluster: no", "stackTrace": []}', "cluster: no"),
        ("plain words", "plain words"),
        ('{"no": "message"}', '{"no": "message"}'),
    ],
)
def test_error_message_reads_lambda_causes_and_plain_ones(cause: str, message: str) -> None:
    assert error_message(cause) == message

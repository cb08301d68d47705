"""Attacks on the teardown paths with ids that are filters or paths, not session ids.

A session id becomes an EC2 tag-filter value (where ``*`` and ``?`` are wildcards), an SSM
parameter name and an ECS tag value. Anyone who may start the teardown machine or invoke a
task function can hand it any id: each must be refused before it reaches any of those, and
every session holding meanwhile keeps every resource.
"""

from __future__ import annotations

import json

import pytest

from bastion.follow import error_message
from tests.workflow.harness import Harness

pytestmark = pytest.mark.workflow

HOSTILE_IDS = [
    "*",
    "?",
    "test-session*",
    "test-session-?",
    "..",
    "a/b",
    "a%2Fb",
    "x" * 81,
    "test-sessi\u043en-1",  # a Cyrillic o: a look-alike of a holding session's id
    "test-session-1\x00",
    " test-session-1",
]
#: Every function that acts on a session id in teardown, with its input's other fields.
TEARDOWN_FUNCTIONS = {
    "RevokeControlPlaneIngress": {},
    "DeleteSessionSecurityGroup": {},
    "DeleteHoldParameter": {},
    "StopBastionTask": {},
    "EndSession": {"reason": "ended-by-user"},
}


def _holding(harness: Harness) -> dict[str, str]:
    sessions = {}
    for _ in range(2):
        session_id, arn = harness.start(harness.request(durationMinutes=480))
        harness.wait_until_holding(arn, session_id)
        sessions[session_id] = arn
    return sessions


def _assert_untouched(harness: Harness, sessions: dict[str, str], rules: list[str]) -> None:
    assert harness.control_plane_rules() == rules
    for session_id, arn in sessions.items():
        assert harness.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        left = harness.aws.inventory(session_id)
        assert left.security_groups and left.control_plane_rules and left.running_tasks, (
            session_id,
            left.render(),
        )


def test_teardown_refuses_a_wildcard_session_id_and_keeps_every_rule(harness: Harness) -> None:
    sessions = _holding(harness)
    rules = harness.control_plane_rules()
    machine = harness.stack.state_machine_arn("TeardownStateMachine")
    for number, session_id in enumerate(HOSTILE_IDS):
        arn = harness.sfn.start_execution(
            stateMachineArn=machine,
            name=f"attack-{number}",
            input=json.dumps({"sessionId": session_id}),
        )["executionArn"]
        final = harness.finish(arn)
        assert (final["status"], final.get("error")) == ("FAILED", "InvalidRequest"), (
            session_id,
            final,
        )
        assert error_message(final["cause"]).startswith("sessionId:"), final["cause"]
        _assert_untouched(harness, sessions, rules)


def test_every_teardown_function_invoked_directly_refuses_a_wildcard_session_id(
    harness: Harness,
) -> None:
    sessions = _holding(harness)
    rules = harness.control_plane_rules()
    lambda_client = harness.aws.client("lambda")
    for function, extra in TEARDOWN_FUNCTIONS.items():
        for session_id in HOSTILE_IDS:
            answer = lambda_client.invoke(
                FunctionName=harness.stack.function_name(f"{function}Function"),
                Payload=json.dumps({"sessionId": session_id, **extra}),
            )
            payload = json.loads(answer["Payload"].read())
            assert answer.get("FunctionError"), (function, session_id, payload)
            assert payload.get("errorType") == "InvalidRequest", (function, session_id, payload)
            assert str(payload.get("errorMessage")).startswith("sessionId:"), payload
            _assert_untouched(harness, sessions, rules)

"""The session state machine, started with any input: it holds, or it fails cleanly.

Every example is a real execution of the deployed session machine on the local AWS, one
after the other on one stack: each is over (held and ended, or failed) before the next
starts, so "nothing exists" after an example is a statement about that example alone.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, example, given, settings

from bastion.follow import error_message, follow
from bastion.local.waits import WAIT_SECONDS
from tests.property.strategies import (
    SAMPLE_KEY,
    any_requests,
    fields_it_may_name,
    kind_of_field,
)
from tests.workflow.harness import Harness, deploy_for_tests

pytestmark = [pytest.mark.property, pytest.mark.workflow]

#: The cluster deploy_for_tests seeds.
CLUSTER = "payments"
#: A valid request.
VALID_REQUEST = {
    "cluster": CLUSTER,
    "sshPublicKey": SAMPLE_KEY,
    "allowedCidrs": ["203.0.113.7/32", "2001:db8::/64"],
    "durationMinutes": 30,
}
#: Whole executions are slow next to a function call: a twelfth of the profile's examples.
EXAMPLES = max(settings().max_examples // 12, 1)
#: The setup states after ValidateRequest: a refused request must enter none of them.
SETUP_STATES = frozenset(
    {
        "FindControlPlane",
        "CreateSessionSecurityGroup",
        "RunBastionTask",
        "AuthorizeControlPlaneIngress",
        "WaitForBastionAddress",
        "BastionReady",
        "HoldSession",
    }
)
#: The AWS actions that make something a session owns.
CREATING_ACTIONS = frozenset(
    {
        "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:CreateTags",
        "ecs:RunTask",
        "ssm:PutParameter",
    }
)
#: Execution names: unique across every example (shrinking included) of the module.
_names = (f"property-{number}" for number in itertools.count(1))


@pytest.fixture(scope="module")
def stack() -> Iterator[Harness]:
    """One local AWS with the stack deployed, for every example of the module."""
    from bastion.local import LocalAws

    # At 60x a session of N minutes holds for N seconds, and retry waits shrink alike.
    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        harness = deploy_for_tests(aws)
        assert harness.cluster.name == CLUSTER
        yield harness


def is_holding(step: Any) -> bool:
    return bool(step.kind == "entered" and step.state == "HoldSession")


def names_a_field(message: str, request: Any) -> bool:
    """Whether ``message`` starts with a name a refusal of ``request`` may give."""
    return any(message.startswith(f"{name}: ") for name in fields_it_may_name(request))


def end_and_finish(
    stack: Harness, session_id: str, arn: str, timeout: float = WAIT_SECONDS
) -> dict[str, Any]:
    """End a holding session as `bastion down` does; its execution's final description.

    A session of a minute or two may expire first (its hold is seconds long at 60x), and
    EndSession refuses a session whose hold token is not stored yet: so try until one or
    the other has ended it.
    """
    deadline = time.monotonic() + timeout
    while True:
        description = stack.sfn.describe_execution(executionArn=arn)
        if description["status"] != "RUNNING":
            return description
        if stack.end_session(session_id, "ended-by-user")["functionError"] is None:
            return stack.finish(arn)
        assert time.monotonic() < deadline, f"{session_id} could not be ended"
        time.sleep(0.05)


@example(request=None)
@example(request="just a string")
@example(request=VALID_REQUEST | {"allowedCidrs": ["0.0.0.0/0"]})
@example(request=VALID_REQUEST)
@settings(max_examples=EXAMPLES)
@given(request=any_requests(CLUSTER))
def test_any_input_holds_a_session_or_fails_naming_a_field_with_nothing_made(
    stack: Harness, request: Any
) -> None:
    """Started with any input, the session machine either reaches HoldSession (and, ended,
    leaves nothing), or ends FAILED with InvalidRequest naming a field, having entered no
    setup state and made nothing. Never States.Runtime, never any other error."""
    # GIVEN nothing of any session exists
    assert stack.aws.inventory().is_empty
    actions_before = len(stack.aws.actions)
    # WHEN a session is started with the input
    session_id, arn = stack.start(request, session_id=next(_names))
    reached = follow(
        stack.sfn, arn, lambda _step: None, until=is_holding, timeout_seconds=WAIT_SECONDS
    )
    # THEN either the session holds, and ends cleanly when ended
    if reached["status"] == "RUNNING":
        final = end_and_finish(stack, session_id, arn)
        assert final["status"] == "SUCCEEDED", final
        event("held, then ended")
    # OR it failed with InvalidRequest naming a field, before any setup state
    else:
        failure = f"{reached['status']} {reached.get('error')}: {reached.get('cause')}"
        assert reached["status"] == "FAILED", failure
        assert reached.get("error") == "InvalidRequest", failure
        message = error_message(reached["cause"])
        assert names_a_field(message, request), (message, json.dumps(request))
        event(f"refused: {kind_of_field(message.partition(': ')[0])}")
        assert not SETUP_STATES & set(stack.states_entered(arn))
        made = [
            a.action for a in stack.aws.actions[actions_before:] if a.action in CREATING_ACTIONS
        ]
        assert made == []
    # AND nothing of any session exists
    assert stack.aws.inventory().is_empty, stack.aws.inventory().render()

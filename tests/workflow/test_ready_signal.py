"""Ready is signalled: the bastion's started line, through the log subscription, wakes the
ready wait; a lost delivery costs one timeout, never the session."""

from __future__ import annotations

import json
import time
from typing import Any

from bastion.local.waits import WAIT_SECONDS
from tests.workflow.harness import Harness
from workflows.session import WAIT_FOR_BASTION_ADDRESS

SIGNAL_FUNCTION = "SignalBastionReadyFunction"


def _invocations(harness: Harness, function: str, session_id: str) -> list[Any]:
    name = harness.stack.function_name(function)
    return [
        call
        for call in harness.aws.invocations
        if call.function_name == name and session_id in json.dumps(call.event)
    ]


def _ready_wait_events(harness: Harness, arn: str) -> list[str]:
    """The ready wait's task events, in order (scheduled, started, timed out, succeeded)."""
    entered = False
    seen = []
    for event in harness.aws.history(arn):
        details = event.get("stateEnteredEventDetails", {})
        if details:
            entered = details.get("name") == WAIT_FOR_BASTION_ADDRESS
        elif entered and event["type"].startswith("Task"):
            seen.append(event["type"])
    return seen


def start_after_the_first_look(harness: Harness, session_id: str) -> None:
    """Fargate takes its time: the bastion starts once the ready wait has looked once."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not _invocations(harness, "WaitForBastionAddressFunction", session_id):
        assert time.monotonic() < deadline, "the ready wait never looked"
        time.sleep(0.02)
    assert harness.aws.ecs_control.start_waiting_tasks_now() == 1


def test_the_started_line_makes_the_session_ready_without_a_second_look(harness: Harness) -> None:
    # GIVEN a bastion that starts after the ready wait's first look
    harness.aws.ecs_control.describes_until_running = 1000
    harness.aws.ecs_control.seconds_until_running = 10**9
    # WHEN a session starts
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    start_after_the_first_look(harness, session_id)
    ready = harness.wait_until_holding(arn, session_id)

    # THEN it is ready, with the host keys its bastion reported
    assert ready["ready"]["hostPublicKeys"]
    # AND what woke the wait was the started line's delivery: one look by the wait itself,
    # one by SignalBastionReady, and no timeout
    delivery = harness.aws.log_deliveries.wait_for_delivery(
        lambda d: (
            d.function_arn.endswith(harness.stack.function_name(SIGNAL_FUNCTION))
            and session_id in d.message.log_events[0].message
        )
    )
    assert delivery.succeeded, delivery
    assert json.loads(delivery.result or "{}") == {"answers": [{"outcome": "ready"}]}
    assert len(_invocations(harness, "WaitForBastionAddressFunction", session_id)) == 1
    assert "TaskTimedOut" not in _ready_wait_events(harness, arn)
    harness.end_session(session_id, "ended-by-user")
    assert harness.finish(arn)["status"] == "SUCCEEDED"
    assert harness.aws.inventory(session_id).is_empty


def test_a_lost_delivery_makes_the_session_ready_at_the_next_look(harness: Harness) -> None:
    # GIVEN a bastion that starts after the ready wait's first look, whose started line's
    # delivery will be lost
    harness.aws.ecs_control.describes_until_running = 1000
    harness.aws.ecs_control.seconds_until_running = 10**9
    harness.aws.log_deliveries.lose(1)
    # WHEN a session starts
    session_id, arn = harness.start(harness.request(durationMinutes=480))
    start_after_the_first_look(harness, session_id)
    ready = harness.wait_until_holding(arn, session_id)

    # THEN it is ready all the same: the wait timed out once and its next look found it
    assert ready["ready"]["hostPublicKeys"]
    lost = [d for d in harness.aws.log_deliveries.delivered if d.outcome == "lost"]
    assert len(lost) == 1 and session_id in lost[0].message.log_events[0].message
    events = _ready_wait_events(harness, arn)
    assert events.count("TaskTimedOut") == 1, events
    assert len(_invocations(harness, "WaitForBastionAddressFunction", session_id)) == 2
    harness.end_session(session_id, "ended-by-user")
    assert harness.finish(arn)["status"] == "SUCCEEDED"
    assert harness.aws.inventory(session_id).is_empty

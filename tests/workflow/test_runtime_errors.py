"""A field missing from a task's output: States.Runtime, past every Catch, as on AWS.

On AWS a path in a state's Parameters (or ``TimeoutSecondsPath``) that does not resolve is
``States.Runtime``, which no Catch takes, ``States.ALL`` included: the execution fails at
once, without the teardown chain in the machine. Each test here removes one field that a
state reads from an earlier task's output, found by reading the rendered ASL, and shows the
session is torn down all the same: the execution ends FAILED, and the EventBridge rule on
FAILED starts the teardown machine, which removes everything the session made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.workflow.harness import Harness
from workflows.lint import all_states
from workflows.machines import ASL_DIR

pytestmark = pytest.mark.workflow

TEARDOWN_RULE = "TeardownStateMachineSessionEndedAbnormally"


def _paths(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.endswith(".$") and isinstance(inner, str):
                yield inner
            else:
                yield from _paths(inner)


def fields_read_from_task_outputs() -> list[tuple[str, str, str]]:
    """(producing task, field, reading state) for every field of a task's result that a
    later state reads by path, in the session machine."""
    definition = json.loads((ASL_DIR / "session.asl.json").read_text())
    producers: dict[str, str] = {}
    for name, state in all_states(definition):
        if state["Type"] != "Task":
            continue
        if state.get("ResultPath") == "$":  # ValidateRequest: {"session.$": "$"}
            for key in state.get("ResultSelector", {}):
                producers[f"$.{key.removesuffix('.$')}"] = name
        elif state.get("ResultPath"):
            producers[state["ResultPath"]] = name
    found: dict[tuple[str, str], str] = {}
    for reader, state in all_states(definition):
        paths = [*_paths(state.get("Parameters", {})), state.get("TimeoutSecondsPath", "")]
        for path in paths:
            top, _, field = path.rpartition(".")
            if top in producers and field and "[" not in field:
                found.setdefault((producers[top], field), reader)
    return sorted((producer, field, reader) for (producer, field), reader in found.items())


FIELDS = fields_read_from_task_outputs()


def test_the_fields_read_are_found() -> None:
    # The enumeration itself: the fields the setup steps pass on to each other.
    pairs = {(producer, field) for producer, field, _ in FIELDS}
    assert {
        ("ValidateRequest", "sessionId"),
        ("FindControlPlane", "vpcId"),
        ("CreateSessionSecurityGroup", "groupId"),
        ("RunBastionTask", "taskArn"),
        ("WaitForBastionAddress", "holdSeconds"),
    } <= pairs, pairs


@pytest.mark.parametrize(
    ("producer", "field", "reader"), FIELDS, ids=[f"{p}.{f}" for p, f, _ in FIELDS]
)
def test_a_field_missing_from_a_tasks_output_still_ends_in_teardown(
    harness: Harness, producer: str, field: str, reader: str
) -> None:
    # GIVEN the producing task answers without the field, once
    rules_before = harness.control_plane_rules()
    harness.aws.faults.drop_result_field(f"{producer}Function", field)

    # WHEN a session starts
    session_id, arn = harness.start(harness.request(durationMinutes=480))

    # THEN the state reading the field fails the execution with States.Runtime, past its Catch
    final = harness.finish(arn)
    assert (final["status"], final.get("error")) == ("FAILED", "States.Runtime"), final
    entered = harness.states_entered(arn)
    assert entered[-1] == reader, entered
    assert "StopBastionTask" not in entered

    # AND the rule on FAILED starts the teardown machine, which removes everything
    teardown_machine = harness.stack.state_machine_arn("TeardownStateMachine")
    delivery = harness.aws.events.wait_for_delivery(
        lambda d: d.target_arn == teardown_machine and d.event["detail"].get("name") == session_id,
        timeout=30,
    )
    assert delivery.rule_name == harness.stack.resources[TEARDOWN_RULE]
    teardown = harness.aws.wait_for_execution(str(delivery.result), timeout=60)
    assert teardown["status"] == "SUCCEEDED", teardown
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    assert harness.control_plane_rules() == rules_before

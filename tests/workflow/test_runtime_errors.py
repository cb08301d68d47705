"""No runtime error skips the teardown in the machine.

On AWS a path that does not resolve (in Parameters, ``TimeoutSecondsPath``, ``ItemsPath``...)
is ``States.Runtime``, and a result too large for a state ``States.DataLimitExceeded``:
``States.ALL`` takes neither, and the execution fails at once, past the teardown chain.

* What a state reads: no state before the end of a teardown reads a path its input may
  lack (:mod:`workflows.data_flow` proves it of the three rendered machines). A step is
  given the session id from ``$$`` and the whole results of earlier tasks, which a task
  that succeeded always wrote, never a field of one; so no field can be missing there.
* What a step needs: each field of an earlier task's result that a step's input model
  needs (found by taking it from the step's event file) is taken in turn from the task's
  real answer: the step raises ``StepInputInvalid`` naming it, and the machine tears the
  session down. The ready document's fields are checked by the ``BastionReady`` Choice.
* What still gets past: an answer too large for a state fails the execution with
  ``States.DataLimitExceeded``, and the EventBridge rule on FAILED starts the teardown
  machine, which removes everything.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from typing import Any

import pytest

from bastion.follow import error_message
from tasks.common.errors import StepInputInvalid
from tasks.common.session_states import SETUP_STEPS, TEARDOWN_STEPS
from tests.unit.support import load_event
from tests.workflow.harness import Harness
from workflows.data_flow import states_reaching, unproven_reads
from workflows.lint import all_states
from workflows.machines import ASL_DIR, MACHINES
from workflows.session import READY_INCOMPLETE, READY_PATH, READY_STATE

pytestmark = pytest.mark.workflow

TEARDOWN_RULE = "TeardownStateMachineSessionEndedAbnormally"
SWEEP_SCHEDULE = "SweeperStateMachineSweepSchedule"


def load(file_name: str) -> dict[str, Any]:
    return dict(json.loads((ASL_DIR / file_name).read_text(encoding="utf-8")))


SESSION = load("session.asl.json")


# ------------------------------------------------------------- what a state reads


@pytest.mark.parametrize("file_name", sorted(MACHINES))
def test_no_state_before_the_teardown_ends_reads_a_path_its_input_may_lack(
    file_name: str,
) -> None:
    definition = load(file_name)
    # The states from which a teardown step can still be entered (the steps included).
    before_teardown_ends = states_reaching(definition, TEARDOWN_STEPS)
    assert set(TEARDOWN_STEPS) <= before_teardown_ends

    unproven = unproven_reads(definition)
    assert [str(read) for read in unproven if read.state in before_teardown_ends] == []


# ------------------------------------------------------------- what a step needs


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _producers(definition: dict[str, Any]) -> dict[str, str]:
    """Each key a step is given an earlier task's whole result under, and that task."""
    producers = {}
    for name, state in all_states(definition):
        if state["Type"] != "Task":
            continue
        if state.get("ResultPath") == "$":  # ValidateRequest: {"session.$": "$"}
            for key, value in state.get("ResultSelector", {}).items():
                if value == "$":
                    producers[key.removesuffix(".$")] = name
        elif state.get("ResultPath"):
            producers[state["ResultPath"].removeprefix("$.")] = name
    return producers


def _results_given(state: dict[str, Any]) -> list[str]:
    """The keys under which a Task state hands its function an earlier result, whole."""
    payload = state["Parameters"].get("Payload", state["Parameters"])
    return [key.removesuffix(".$") for key, path in payload.items() if path == f"$.{key[:-2]}"]


def fields_steps_need() -> list[tuple[str, str, str, str]]:
    """(producing task, field, first step that needs it, error) for every field of an
    earlier task's result a later step needs, in the session machine: for the steps, each
    field whose removal from the step's event file makes its input model refuse it; for
    the ready document, each field the BastionReady Choice tests."""
    producers = _producers(SESSION)
    needed: dict[tuple[str, str], tuple[str, str]] = {}
    for step in SETUP_STEPS[1:]:
        model = getattr(importlib.import_module(f"tasks.{_snake(step)}"), f"{step}Input")
        event = load_event(_snake(step))
        model.from_event(event)  # the event file itself is a valid input
        for key in _results_given(SESSION["States"][step]):
            for field in event[key]:
                without = copy.deepcopy(event)
                del without[key][field]
                try:
                    model.from_event(without)
                except StepInputInvalid:
                    needed.setdefault((producers[key], field), (step, "StepInputInvalid"))
    ready = SESSION["States"][READY_STATE]
    for test in ready["Choices"][0]["Not"]["And"]:
        # the answer's own key: hostPublicKeys for the test of hostPublicKeys[0]
        field = test["Variable"].removeprefix(f"{READY_PATH}.").split("[", 1)[0]
        needed.setdefault(("WaitForBastionAddress", field), (READY_STATE, READY_INCOMPLETE))
    return sorted((producer, field, *rest) for (producer, field), rest in needed.items())


FIELDS = fields_steps_need()


def test_the_fields_steps_need_are_found() -> None:
    # The enumeration itself: what the steps pass on to each other.
    found = {(producer, field): step for producer, field, step, _ in FIELDS}
    assert {
        ("ValidateRequest", "cluster"): "FindControlPlane",
        ("ValidateRequest", "expiresAt"): "FindControlPlane",
        ("FindControlPlane", "vpcId"): "CreateSessionSecurityGroup",
        ("FindControlPlane", "controlPlaneSecurityGroupId"): "CreateSessionSecurityGroup",
        ("FindControlPlane", "endpointHost"): "RunBastionTask",
        ("FindControlPlane", "controlPlaneRuleScope"): "WaitForBastionAddress",
        ("CreateSessionSecurityGroup", "groupId"): "RunBastionTask",
        ("RunBastionTask", "taskArn"): "WaitForBastionAddress",
        ("WaitForBastionAddress", "address"): READY_STATE,
        ("WaitForBastionAddress", "holdSeconds"): READY_STATE,
        ("WaitForBastionAddress", "hostPublicKeys"): READY_STATE,
    }.items() <= found.items(), found


@pytest.mark.parametrize(
    ("producer", "field", "step", "error"), FIELDS, ids=[f"{p}.{f}" for p, f, _, _ in FIELDS]
)
def test_a_field_missing_from_a_tasks_answer_is_torn_down_in_the_machine(
    harness: Harness, producer: str, field: str, step: str, error: str
) -> None:
    # GIVEN the producing task answers without the field, once
    rules_before = harness.control_plane_rules()
    harness.aws.faults.drop_result_field(f"{producer}Function", field)
    if producer == "WaitForBastionAddress":
        # The ready wait is answered by whichever look finds the bastion ready first: its
        # own, or SignalBastionReady's on the started line; either answers without it.
        harness.aws.faults.drop_result_field("SignalBastionReadyFunction", field)

    # WHEN a session starts
    session_id, arn = harness.start(harness.request(durationMinutes=480))

    # THEN the step that needs it fails with a named error, which the machine catches
    final = harness.finish(arn)
    assert (final["status"], final.get("error")) == ("FAILED", error), final
    if error == "StepInputInvalid":
        assert f".{field}" in error_message(final["cause"]), final["cause"]
    entered = harness.states_entered(arn)
    # AND the teardown chain in the machine runs, right after that step
    first_teardown = entered.index(TEARDOWN_STEPS[0])
    assert entered[first_teardown - 1] in (step, READY_INCOMPLETE), entered
    assert entered[first_teardown : first_teardown + len(TEARDOWN_STEPS)] == list(TEARDOWN_STEPS)
    assert "HoldSession" not in entered
    # AND it removed everything the session made
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    assert harness.control_plane_rules() == rules_before


def test_a_sweep_whose_orphans_are_not_listed_touches_nothing(harness: Harness) -> None:
    # GIVEN FindOrphanedSessions answers without its list, once
    harness.aws.faults.drop_result_field("FindOrphanedSessionsFunction", "sessionIds")

    # WHEN the sweeper's schedule fires
    (delivery,) = harness.aws.fire_schedule(SWEEP_SCHEDULE)
    sweep = harness.aws.wait_for_execution(str(delivery.result), timeout=60)

    # THEN the sweep ends SweepIncomplete, not States.Runtime, having torn nothing down
    assert (sweep["status"], sweep["error"]) == ("FAILED", "SweepIncomplete"), sweep
    assert "without sessionIds" in sweep["cause"]
    assert harness.states_entered(str(delivery.result))[-2:] == [
        "AreOrphansListed",
        "OrphansNotListed",
    ]
    invoked = {invocation.function_name for invocation in harness.aws.invocations}
    assert not any(step in name for step in TEARDOWN_STEPS for name in invoked), invoked


# --------------------------------------------------------------- what gets past


def test_an_answer_too_large_for_a_state_fails_the_session_and_the_failed_rule_tears_down(
    harness: Harness,
) -> None:
    # GIVEN AuthorizeControlPlaneIngress answers more than a state may hold (256 KiB), once:
    # by then the session has its group, its task and its control-plane rule
    rules_before = harness.control_plane_rules()
    harness.aws.faults.inflate_result("AuthorizeControlPlaneIngressFunction", 300_000)

    # WHEN a session starts
    session_id, arn = harness.start(harness.request(durationMinutes=480))

    # THEN the execution fails with States.DataLimitExceeded, which States.ALL does not take
    final = harness.finish(arn)
    assert (final["status"], final.get("error")) == ("FAILED", "States.DataLimitExceeded"), final
    entered = harness.states_entered(arn)
    assert entered[-1] == "AuthorizeControlPlaneIngress", entered
    assert TEARDOWN_STEPS[0] not in entered

    # AND the rule on FAILED starts the teardown machine, which removes everything
    teardown_machine = harness.stack.state_machine_arn("TeardownStateMachine")
    delivery = harness.aws.events.wait_for_delivery(
        lambda d: d.target_arn == teardown_machine and d.event["detail"].get("name") == session_id,
        timeout=30,
    )
    assert delivery.rule_name == harness.stack.resources[TEARDOWN_RULE]
    teardown = harness.aws.wait_for_execution(str(delivery.result), timeout=60)
    assert teardown["status"] == "SUCCEEDED", teardown
    # (the failed session had left its task, its rule and its group: the teardown removed
    # them; the rule may start it before this test could look at what was left)
    removed = json.loads(teardown["output"])["teardown"]
    assert len(removed["StopBastionTask"]["stoppedTaskArns"]) == 1, removed
    assert len(removed["RevokeControlPlaneIngress"]["revokedRules"]) == 1, removed
    assert len(removed["DeleteSessionSecurityGroup"]["deletedGroupIds"]) == 1, removed
    inventory = harness.aws.inventory(session_id)
    assert inventory.is_empty, inventory.render()
    assert harness.control_plane_rules() == rules_before

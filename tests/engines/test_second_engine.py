"""The lifecycle scenarios on a second ASL engine agree with moto's, state by state.

Each scenario runs once on the local AWS (the rendered ASL on moto's interpreter, the real
handlers, faults injected as the workflow tier injects them) and is then replayed on
aws-local-stepfunctions with the recorded task answers (see :mod:`tests.engines.second_engine`).
Both engines must take the same path of states, give each task attempt the same input and
end with the same output, or the same error and cause.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tasks.common.extensions import EXTENSION_REQUESTED
from tasks.common.session_states import SETUP_STEPS
from tests.engines.second_engine import (
    TIMEOUT_KEY,
    WORKAROUNDS,
    Recording,
    Replay,
    comparable_inputs,
    load_for_second_engine,
    node_unavailable,
    record,
    replay,
    run_node,
    substituted,
)
from tests.workflow.harness import Harness, deploy_for_tests

pytestmark = pytest.mark.workflow

SESSION = "session.asl.json"
TEARDOWN = "teardown.asl.json"
#: Seconds a scenario may take to hold or to end: generous, since the scenarios run at once
#: on machines that may be busy (a deadline on a condition, not a time being measured).
DEADLINE = 240


@pytest.fixture(scope="module", autouse=True)
def _second_engine_installed() -> None:
    reason = node_unavailable()
    if reason is not None:
        pytest.fail(f"the second ASL engine cannot run: {reason}")


@dataclass(frozen=True)
class Scenario:
    """One execution to run on moto: ``drive`` starts it and returns its ARN and machine."""

    name: str
    drive: Callable[[Harness, str], tuple[str, str]]
    #: Changes the whole local AWS (its clock, every network interface): run after the rest.
    alone: bool = False


def _session(harness: Harness, name: str, **request: Any) -> str:
    return harness.start(harness.request(**request), session_id=name)[1]


def _expires(harness: Harness, name: str) -> tuple[str, str]:
    arn = _session(harness, name, durationMinutes=1)
    harness.finish(arn, timeout=DEADLINE)
    return arn, SESSION


def _ends_early(harness: Harness, name: str) -> tuple[str, str]:
    arn = _session(harness, name, durationMinutes=480)
    harness.wait_until_holding(arn, name, timeout=DEADLINE)
    assert harness.end_session(name, "ended-by-user")["functionError"] is None
    harness.finish(arn, timeout=DEADLINE)
    return arn, SESSION


def _bastion_stops(harness: Harness, name: str) -> tuple[str, str]:
    arn = _session(harness, name, durationMinutes=480)
    ready = harness.wait_until_holding(arn, name, timeout=DEADLINE)
    # The stack's rule calls EndSession with the task-stopped event.
    harness.aws.stop_task_by_itself(ready["bastionTask"]["taskArn"], exit_code=137)
    harness.finish(arn, timeout=DEADLINE)
    return arn, SESSION


def _refused(harness: Harness, name: str) -> tuple[str, str]:
    arn = _session(harness, name, allowedCidrs=["0.0.0.0/0"])
    harness.finish(arn, timeout=DEADLINE)
    return arn, SESSION


def _setup_step_fails(step: str) -> Callable[[Harness, str], tuple[str, str]]:
    def drive(harness: Harness, name: str) -> tuple[str, str]:
        harness.aws.faults.fail_invocation(
            f"{step}Function", error_type="InjectedFault", message=f"{step} broke", session_id=name
        )
        arn = _session(harness, name, durationMinutes=1)
        harness.finish(arn, timeout=DEADLINE)
        return arn, SESSION

    return drive


def _answer_lacks(function: str, field: str) -> Callable[[Harness, str], tuple[str, str]]:
    def drive(harness: Harness, name: str) -> tuple[str, str]:
        harness.aws.faults.drop_result_field(f"{function}Function", field, session_id=name)
        arn = _session(harness, name, durationMinutes=1)
        harness.finish(arn, timeout=DEADLINE)
        return arn, SESSION

    return drive


def _teardown_step_fails_for_good(harness: Harness, name: str) -> tuple[str, str]:
    # An error no retrier names: the last step fails at once, and the session ends
    # TeardownIncomplete (teardown-retries-out has a step fail after all its retries).
    harness.aws.faults.fail_invocation(
        "DeleteHoldParameterFunction",
        error_type="InjectedFault",
        message="delete broke",
        session_id=name,
    )
    arn = _session(harness, name, durationMinutes=1)
    harness.finish(arn, timeout=DEADLINE)
    return arn, SESSION


def _teardown(payload: dict[str, Any]) -> Callable[[Harness, str], tuple[str, str]]:
    def drive(harness: Harness, name: str) -> tuple[str, str]:
        arn = harness.sfn.start_execution(
            stateMachineArn=harness.stack.state_machine_arn("TeardownStateMachine"),
            name=name,
            input=json.dumps(payload),
        )["executionArn"]
        harness.finish(arn, timeout=DEADLINE)
        return arn, TEARDOWN

    return drive


def _aborted_session_leftovers(harness: Harness, name: str) -> tuple[str, str]:
    session_id = f"{name}-session"
    arn = _session(harness, session_id, durationMinutes=480)
    harness.wait_until_holding(arn, session_id, timeout=DEADLINE)
    harness.sfn.stop_execution(executionArn=arn, error="Console", cause="stopped by hand")
    harness.finish(arn, timeout=DEADLINE)
    return _teardown({"sessionId": session_id})(harness, name)


def _teardown_retries_out(harness: Harness, name: str) -> tuple[str, str]:
    # The session group stays in use beyond every retry of DeleteSessionSecurityGroup.
    session_id = f"{name}-session"
    arn = _session(harness, session_id, durationMinutes=480)
    harness.wait_until_holding(arn, session_id, timeout=DEADLINE)
    harness.sfn.stop_execution(executionArn=arn)
    harness.finish(arn, timeout=DEADLINE)
    harness.aws.ec2_control.eni_release_dependency_violations = 1000
    harness.aws.time_scale = 3000.0
    try:
        return _teardown({"sessionId": session_id})(harness, name)
    finally:
        harness.aws.time_scale = 60.0
        harness.aws.ec2_control.eni_release_dependency_violations = 0


def _signal_extension(harness: Harness, name: str, by_minutes: int) -> None:
    """Answer the session's hold with an extension request, as RequestExtension does, and
    wait until the hold holds again (its second attempt stored its token)."""
    ssm = harness.aws.client("ssm")
    stored = ssm.get_parameter(Name=harness.parameter_name(name))["Parameter"]
    harness.sfn.send_task_failure(
        taskToken=json.loads(stored["Value"])["taskToken"],
        error=EXTENSION_REQUESTED,
        cause=json.dumps({"byMinutes": by_minutes, "requestedBy": "engines"}),
    )
    deadline = time.monotonic() + DEADLINE
    while ssm.get_parameter(Name=harness.parameter_name(name))["Parameter"]["Version"] < 2:
        assert time.monotonic() < deadline, f"{name} never held again"
        time.sleep(0.05)


def _extended_then_ended(harness: Harness, name: str) -> tuple[str, str]:
    arn = _session(harness, name, durationMinutes=60)
    harness.wait_until_holding(arn, name, timeout=DEADLINE)
    _signal_extension(harness, name, 30)
    assert harness.end_session(name, "ended-by-user")["functionError"] is None
    harness.finish(arn, timeout=DEADLINE)
    return arn, SESSION


def _extension_refused(harness: Harness, name: str) -> tuple[str, str]:
    # Past the stack's maximum: refused, the session holds on to its expiry, then ends.
    arn = _session(harness, name, durationMinutes=60)
    harness.wait_until_holding(arn, name, timeout=DEADLINE)
    _signal_extension(harness, name, 480)
    assert harness.end_session(name, "ended-by-user")["functionError"] is None
    harness.finish(arn, timeout=DEADLINE)
    return arn, SESSION


SCENARIOS = (
    Scenario("expires", _expires),
    Scenario("ends-early", _ends_early),
    Scenario("bastion-stops", _bastion_stops),
    Scenario("refused-request", _refused),
    Scenario("extended-then-ended", _extended_then_ended),
    Scenario("extension-refused", _extension_refused),
    *(Scenario(f"setup-fails-{step}", _setup_step_fails(step)) for step in SETUP_STEPS),
    # A step given an earlier result without a field it needs; a ready document without one.
    Scenario("answer-lacks-vpcId", _answer_lacks("FindControlPlane", "vpcId")),
    Scenario("ready-lacks-holdSeconds", _answer_lacks("WaitForBastionAddress", "holdSeconds")),
    Scenario("teardown-step-fails-for-good", _teardown_step_fails_for_good),
    Scenario("teardown-of-aborted-session", _aborted_session_leftovers),
    Scenario("teardown-of-nothing", _teardown({"sessionId": "never-existed"})),
    Scenario("teardown-without-id", _teardown({})),
    Scenario("teardown-with-number-id", _teardown({"sessionId": 42})),
    Scenario("teardown-with-other-field", _teardown({"session": "x"})),
    Scenario("teardown-retries-out", _teardown_retries_out, alone=True),
)


def _function_arns(harness: Harness) -> dict[str, str]:
    """``${<Function>Arn}`` substitutions, as the template's DefinitionSubstitutions give."""
    return {
        f"{logical_id}Arn": (
            f"arn:aws:lambda:us-east-1:123456789012:function:"
            f"{harness.stack.function_name(logical_id)}"
        )
        for logical_id in harness.stack.resources
        if logical_id.endswith("Function")
    }


def _run_both_engines() -> dict[str, tuple[Recording, Replay]]:
    """Every scenario run on moto, then all replayed in one Node process."""
    from bastion.local import LocalAws

    logging.getLogger("moto").setLevel(logging.CRITICAL)
    with LocalAws(region="us-east-1", time_scale=60.0) as aws:
        harness = deploy_for_tests(aws)
        # Teardowns are started by hand here: keep the rule from starting one first.
        rule = harness.stack.resources["TeardownStateMachineSessionEndedAbnormally"]
        aws.client("events").disable_rule(Name=rule)

        def run(scenario: Scenario) -> Recording:
            arn, machine = scenario.drive(harness, scenario.name)
            return record(harness.sfn, arn, machine)

        # The scenarios' faults are scoped to their own session, so most run at once.
        with ThreadPoolExecutor(max_workers=8) as pool:
            recordings = list(pool.map(run, [s for s in SCENARIOS if not s.alone]))
        recordings += [run(scenario) for scenario in SCENARIOS if scenario.alone]
        replays = replay(recordings, _function_arns(harness))
    return {recording.name: (recording, replays[recording.name]) for recording in recordings}


def _disagreements(moto: Recording, node: Replay) -> list[str]:
    """Where the second engine's run differs from moto's (empty when they agree)."""
    found = []
    if node.path != moto.path:
        found.append(f"path: moto {moto.path}, second engine {node.path}")
    moto_inputs, node_inputs = (
        comparable_inputs(moto.task_inputs),
        comparable_inputs(node.task_inputs),
    )
    for state in sorted(set(moto_inputs) | set(node_inputs)):
        if moto_inputs.get(state) != node_inputs.get(state):
            found.append(
                f"{state} inputs: moto {moto_inputs.get(state)}, "
                f"second engine {node_inputs.get(state)}"
            )
    if node.unused:
        found.append(f"recorded attempts the second engine never asked for: {node.unused}")
    if (node.status, node.error, node.cause) != (moto.status, moto.error, moto.cause):
        found.append(
            f"end: moto {(moto.status, moto.error, moto.cause)}, "
            f"second engine {(node.status, node.error, node.cause)}"
        )
    if node.output != moto.output:
        found.append(f"output: moto {moto.output}, second engine {node.output}")
    return found


def test_the_second_engine_takes_the_same_path_to_the_same_end_in_every_scenario() -> None:
    # One test (not one per scenario): under pytest-xdist a module fixture would run the
    # whole batch again on every worker that got one of its tests.
    both = _run_both_engines()

    # The batch is what it claims: each kind of end, with retries and a timeout in it.
    endings = {
        name: (moto.status, moto.error, (moto.output or {}).get("end", {}).get("reason"))
        for name, (moto, _) in both.items()
    }
    assert endings["expires"] == ("SUCCEEDED", None, "expired")
    assert endings["ends-early"] == ("SUCCEEDED", None, "ended-by-user")
    assert endings["refused-request"][:2] == ("FAILED", "InvalidRequest")
    assert endings["teardown-step-fails-for-good"][:2] == ("FAILED", "TeardownIncomplete")
    assert endings["teardown-retries-out"][:2] == ("FAILED", "TeardownIncomplete")
    assert endings["answer-lacks-vpcId"][:2] == ("FAILED", "StepInputInvalid")
    assert endings["ready-lacks-holdSeconds"][:2] == ("FAILED", "BastionReadyIncomplete")
    for step in SETUP_STEPS:
        assert endings[f"setup-fails-{step}"][:2] == ("FAILED", "InjectedFault")
    assert {"hang": True} in both["expires"][0].attempts["HoldSession"]
    assert len(both["teardown-retries-out"][0].attempts["DeleteSessionSecurityGroup"]) > 1

    # THEN the second engine agrees with moto on every one
    disagreements = {name: _disagreements(*pair) for name, pair in both.items()}
    assert {name: found for name, found in disagreements.items() if found} == {}
    assert sorted(both) == sorted(scenario.name for scenario in SCENARIOS)


# ------------------------------------------------------ the loader and its workarounds


def test_the_loader_changes_only_what_its_workarounds_list() -> None:
    substitutions = {"HoldSessionFunctionArn": "arn:hold"} | {
        f"{name}FunctionArn": f"arn:{name}"
        for name in (
            "ValidateRequest",
            "FindControlPlane",
            "CreateSessionSecurityGroup",
            "AuthorizeControlPlaneIngress",
            "RunBastionTask",
            "WaitForBastionAddress",
            "ExtendSession",
            "StopBastionTask",
            "RevokeControlPlaneIngress",
            "DeleteSessionSecurityGroup",
            "DeleteHoldParameter",
        )
    }
    committed = substituted(SESSION, substitutions)
    loaded = load_for_second_engine(SESSION, substitutions)

    changed = {
        name for name, state in committed["States"].items() if loaded["States"][name] != state
    }
    assert changed == {"ValidateRequest", "RecordValidationError", "HoldSession"}
    assert "ResultPath" not in loaded["States"]["ValidateRequest"]
    assert "ResultPath" not in loaded["States"]["ValidateRequest"]["Catch"][0]
    hold = loaded["States"]["HoldSession"]
    assert hold["TimeoutSecondsPath"] == f"$.{TIMEOUT_KEY}"
    assert hold["Parameters"][f"{TIMEOUT_KEY}.$"] == "$.ready.holdSeconds"
    assert len(WORKAROUNDS) == 2


_PROBE_TIMEOUT_SECONDS = 2


def _probe(name: str, states: dict[str, Any], task_answers: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "definition": {"StartAt": next(iter(states)), "States": states},
        "input": {"keep": 1, "timeout": _PROBE_TIMEOUT_SECONDS},
        "context": {},
        "attempts": task_answers,
    }


def test_each_workaround_is_still_needed() -> None:
    """The engine still has both bugs (drop a workaround once a release fixes it)."""
    if node_unavailable():
        pytest.fail(str(node_unavailable()))
    reports = run_node(
        {
            "timeScale": 1.0,
            "executions": [
                _probe(
                    "root-result-path",
                    {"Set": {"Type": "Pass", "Result": {"new": 2}, "ResultPath": "$", "End": True}},
                    {},
                ),
                _probe(
                    "timeout-path",
                    {
                        "Wait": {
                            "Type": "Task",
                            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                            "Parameters": {"other": 1},
                            "TimeoutSecondsPath": "$.timeout",
                            "End": True,
                        }
                    },
                    {"Wait": [{"result": "answered"}]},
                ),
            ],
        }
    )

    # ASL: "ResultPath": "$" replaces the input with the result.
    assert reports["root-result-path"]["output"] == {"keep": 1, "timeout": 2, "$": {"new": 2}}
    # ASL: TimeoutSecondsPath reads the state input, where $.timeout is 2.
    assert reports["timeout-path"]["status"] == "FAILED"
    assert reports["timeout-path"]["error"] == "States.Runtime"

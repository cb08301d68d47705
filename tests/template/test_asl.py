"""The rendered ASL: current with its Python source, and statically sound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.local import lambda_errors
from benchmarks.history import HISTORY_EVENT_LIMIT, HistoryBound, history_bounds, worst_case_events
from tasks.common.errors import TASK_ERROR_NAMES
from tasks.common.session_states import SETUP_STEPS, TEARDOWN_STEPS
from workflows.asl import Choice, DuplicateStateName, Pass, StateMachine, Succeed
from workflows.lambda_tasks import FUNCTION_DIED_ERRORS, TEARDOWN_TRANSIENT_ATTEMPTS
from workflows.lint import (
    LAMBDA_ERROR_NAMES,
    all_states,
    duplicate_keys,
    lint_definition,
    placeholders,
)
from workflows.machines import ASL_DIR, MACHINES
from workflows.render import REGENERATE_HINT, render_text, stale_files, write_all

pytestmark = pytest.mark.template


def load(file_name: str) -> dict:
    text = (ASL_DIR / file_name).read_text(encoding="utf-8")
    return json.loads(text, object_pairs_hook=duplicate_keys)


def test_committed_asl_is_current() -> None:
    stale = stale_files()
    assert not stale, f"stale ASL files {stale}: {REGENERATE_HINT}"


def test_stale_check_notices_an_edited_file(tmp_path: Path) -> None:
    # GIVEN a fresh render, WHEN one file is edited by hand, THEN the check names it
    write_all(tmp_path, docs=False)
    assert stale_files(tmp_path, docs=False) == []
    edited = tmp_path / "teardown.asl.json"
    edited.write_text(edited.read_text().replace("StopBastionTask", "StopTask", 1))
    assert stale_files(tmp_path, docs=False) == ["teardown.asl.json"]


@pytest.mark.parametrize("file_name", sorted(MACHINES))
def test_rendered_definition_is_sound(file_name: str) -> None:
    assert lint_definition(load(file_name), TASK_ERROR_NAMES) == []


@pytest.mark.parametrize("file_name", sorted(MACHINES))
def test_every_task_is_a_substituted_function(file_name: str) -> None:
    definition = load(file_name)
    for name, state in all_states(definition):
        if state["Type"] != "Task":
            continue
        target = state["Parameters"].get("FunctionName", state["Resource"])
        assert target == "${" + name + "FunctionArn}", name
    assert placeholders(render_text(file_name)) == {
        f"{name}FunctionArn" for name, state in all_states(definition) if state["Type"] == "Task"
    }


def test_teardown_chain_is_the_same_in_both_machines() -> None:
    session, teardown = load("session.asl.json"), load("teardown.asl.json")
    for name in (*TEARDOWN_STEPS, "IsTeardownComplete", "TeardownIncomplete"):
        ours, theirs = dict(session["States"][name]), dict(teardown["States"][name])
        # Only where the session id comes from, and what follows, may differ; and the
        # teardown machine's first step stops at an id that is not a session id.
        for state in (ours, theirs):
            state.pop("Parameters", None)
            state.pop("Default", None)
        if name == TEARDOWN_STEPS[0]:
            refusal, *rest = theirs["Catch"]
            assert refusal == {
                "ErrorEquals": ["InvalidRequest"],
                "ResultPath": "$.invalid",
                "Next": "SessionIdInvalid",
            }
            theirs["Catch"] = rest
        assert ours == theirs, name


def test_every_setup_step_catches_into_teardown() -> None:
    states = load("session.asl.json")["States"]
    setup = list(SETUP_STEPS)
    first = states["ValidateRequest"]["Catch"]
    assert first == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": "RecordValidationError"}
    ]
    assert states["RecordValidationError"]["Next"] == TEARDOWN_STEPS[0]
    for name in setup[1:]:
        catchers = {
            e
            for c in states[name]["Catch"]
            for e in c["ErrorEquals"]
            if c["Next"] == TEARDOWN_STEPS[0]
        }
        assert "States.ALL" in catchers, name


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}},
            "A: Next goes to 'Nowhere', which is not a state",
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}}},
            "B: unreachable from 'A'",
        ),
        (
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Task",
                        "Resource": "x",
                        "End": True,
                        "Retry": [{"ErrorEquals": ["NoSuchError"]}],
                    }
                },
            },
            "A: Retry[0] names 'NoSuchError', which no task raises"
            " and is not a States.* or Lambda error",
        ),
        (
            {"StartAt": "A" * 81, "States": {"A" * 81: {"Type": "Succeed"}}},
            f"{'A' * 81}: name is longer than 80 characters",
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass"}}},
            "A: needs exactly one of Next and End",
        ),
        (
            {"StartAt": "Z", "States": {"A": {"Type": "Succeed"}}},
            "StartAt 'Z' is not a state",
        ),
    ],
)
def test_lint_reports_each_kind_of_problem(definition: dict, problem: str) -> None:
    assert problem in lint_definition(definition, TASK_ERROR_NAMES)


def _retrying(error_name: str) -> dict:
    retry = [{"ErrorEquals": [error_name]}]
    return {
        "StartAt": "A",
        "States": {"A": {"Type": "Task", "Resource": "x", "End": True, "Retry": retry}},
    }


@pytest.mark.parametrize("name", FUNCTION_DIED_ERRORS)
def test_lint_knows_the_names_lambda_gives_a_function_that_died(name: str) -> None:
    assert lint_definition(_retrying(name), TASK_ERROR_NAMES) == []


@pytest.mark.parametrize("misspelt", ["Sandbox.TimedOut", "Lambda.Timeout", "Runtime.OOM"])
def test_lint_reports_a_misspelt_lambda_error_name(misspelt: str) -> None:
    # A retrier on a name Lambda never reports never fires: the timeout fails the step.
    assert lint_definition(_retrying(misspelt), TASK_ERROR_NAMES) == [
        f"A: Retry[0] names {misspelt!r}, which no task raises"
        " and is not a States.* or Lambda error"
    ]


def test_the_retriers_and_the_local_aws_agree_on_how_a_function_dies() -> None:
    # The local AWS reports a dead function under Lambda's names; the retrier must match each.
    assert set(FUNCTION_DIED_ERRORS) == set(lambda_errors.FUNCTION_DIED)
    assert set(FUNCTION_DIED_ERRORS) <= LAMBDA_ERROR_NAMES


def test_duplicate_state_names_are_refused() -> None:
    with pytest.raises(DuplicateStateName, match="'Same'"):
        StateMachine(comment="", states=[Pass(name="Same", next="Same"), Succeed(name="Same")])
    with pytest.raises(ValueError, match="duplicate key 'A'"):
        json.loads('{"A": 1, "A": 2}', object_pairs_hook=duplicate_keys)


def test_choice_renders_default_and_rules() -> None:
    from workflows.asl import Rule, is_present

    choice = Choice(name="IsIt", rules=(Rule(is_present("$.x"), next="Yes"),), default="No")
    assert choice.to_asl() == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Yes"}],
        "Default": "No",
    }


@pytest.mark.parametrize("file_name", sorted(MACHINES))
def test_diagram_draws_every_state_and_transition(file_name: str) -> None:
    from workflows.diagram import mermaid

    diagram = mermaid(MACHINES[file_name]())
    definition = load(file_name)
    for name, _state in all_states(definition):
        assert f'"{name}"' in diagram, name
    arrows = sum(line.count("-->") + line.count("-.->") for line in diagram.splitlines())
    transitions = sum(
        ("Next" in state)
        + ("Default" in state)
        + len(state.get("Choices", []))
        + len(state.get("Catch", []))
        + ("ItemProcessor" in state)
        for _, state in all_states(definition)
    )
    starts = 1 + sum("ItemProcessor" in state for _, state in all_states(definition))
    assert arrows == transitions + starts


#: What AWS says is transient: every task state retries these, with backoff and jitter.
TRANSIENT_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
    "AwsThrottled",
    "AwsUnavailable",
    # a function that died, under each name Lambda gives it
    "Sandbox.Timedout",
    "Runtime.ExitError",
    "Runtime.OutOfMemory",
    "Lambda.Unknown",
}
#: Names that would retry what is not transient (a refusal, a bad request, a quota).
NEVER_RETRIED = {
    "States.ALL",
    "States.TaskFailed",
    "ClientError",
    "InvalidRequest",
    "CapacityUnavailable",
    "ControlPlaneRuleQuotaReached",
    "BastionTaskStopped",
}


@pytest.mark.parametrize("file_name", sorted(MACHINES))
def test_every_task_retries_what_is_transient_with_jitter_and_nothing_else(
    file_name: str,
) -> None:
    tasks = [(n, s) for n, s in all_states(load(file_name)) if s["Type"] == "Task"]
    assert tasks
    for name, state in tasks:
        if name == "HoldSession":
            continue  # test_the_hold_retries_nothing_and_holds_on_after_a_transient_error
        retried = {error for entry in state["Retry"] for error in entry["ErrorEquals"]}
        assert retried >= TRANSIENT_ERRORS, name
        assert not retried & NEVER_RETRIED, name
        for entry in state["Retry"]:
            if set(entry["ErrorEquals"]) & TRANSIENT_ERRORS:
                assert entry["JitterStrategy"] == "FULL", (name, entry)
                assert entry["BackoffRate"] > 1, (name, entry)
                assert entry["MaxDelaySeconds"] <= 30, (name, entry)


@pytest.mark.parametrize("file_name", sorted(MACHINES))
def test_a_timed_out_function_is_retried_but_the_hold_timing_out_is_its_expiry(
    file_name: str,
) -> None:
    for name, state in all_states(load(file_name)):
        if state["Type"] != "Task":
            continue
        retried = {error for entry in state.get("Retry", []) for error in entry["ErrorEquals"]}
        if name == "HoldSession":
            assert "States.Timeout" not in retried
        else:
            assert "States.Timeout" in retried, name


def test_the_hold_retries_nothing_and_holds_on_after_a_transient_error() -> None:
    # A retried attempt would wait holdSeconds again from whenever it failed, and whoever
    # holds the token can fail it with any error: ExtendSession answers what the other
    # steps retry, holding on for the seconds left until the unchanged expiry.
    hold = dict(all_states(load("session.asl.json")))["HoldSession"]
    assert "Retry" not in hold
    held_on = {
        error
        for catcher in hold["Catch"]
        if catcher["Next"] == "ExtendSession"
        for error in catcher["ErrorEquals"]
    }
    assert held_on >= TRANSIENT_ERRORS


@pytest.mark.parametrize("file_name", sorted(MACHINES))
def test_a_teardown_step_outlasts_transient_errors_over_all_its_calls(file_name: str) -> None:
    # A state's retriers count over the whole state: DeleteSessionSecurityGroup calls its
    # function up to 21 times while the ENI is released, and each call may meet one.
    teardown_steps = [
        (name, state) for name, state in all_states(load(file_name)) if name in TEARDOWN_STEPS
    ]
    assert {name for name, _ in teardown_steps} == set(TEARDOWN_STEPS)
    for name, state in teardown_steps:
        for entry in state["Retry"]:
            if set(entry["ErrorEquals"]) & (TRANSIENT_ERRORS | {"States.Timeout"}):
                assert entry["MaxAttempts"] >= TEARDOWN_TRANSIENT_ATTEMPTS, (name, entry)


@pytest.mark.parametrize("bound", history_bounds(), ids=lambda bound: bound.machine)
def test_the_worst_case_history_of_each_machine_fits_in_one_execution(bound: HistoryBound) -> None:
    # Every state once, every retrier run out, a sweep of the most orphans it takes.
    assert bound.events < HISTORY_EVENT_LIMIT, bound


def test_the_history_bound_counts_each_attempt_and_refuses_a_loop() -> None:
    task = {"Type": "Task", "Resource": "x", "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 4}]}
    hold = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken"}
    definition = {
        "StartAt": "A",
        "States": {
            "A": {**task, "Next": "B"},
            "B": {**hold, "Next": "C"},
            "C": {"Type": "Succeed"},
        },
    }
    # execution 2; A: 2 + 3 x 5 attempts; B: 2 + 4 x 1; C: 2
    assert worst_case_events(definition) == 2 + 17 + 6 + 2
    looping = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}
    with pytest.raises(ValueError, match="loops back to A"):
        worst_case_events(looping)


def test_a_named_loop_counts_its_states_once_more_each_time_it_may_be_taken() -> None:
    # GIVEN a hold that may loop back through a check, at most 7 times
    task = {"Type": "Task", "Resource": "x"}
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Choice", "Choices": [], "Default": "Hold"},
            "Hold": {**task, "Catch": [{"ErrorEquals": ["E"], "Next": "Again"}], "Next": "End"},
            "Again": {**task, "Next": "Check"},
            "End": {"Type": "Succeed"},
        },
    }
    # THEN unnamed, the loop is refused; named, each pass adds Check, Hold and Again
    with pytest.raises(ValueError, match="loops back to Check"):
        worst_case_events(definition)
    once = 2 + 2 + 5 + 5 + 2
    assert worst_case_events(definition, loops={("Again", "Check"): 7}) == once + 7 * (2 + 5 + 5)
    with pytest.raises(ValueError, match="not in the machine"):
        worst_case_events(definition, loops={("Nowhere", "Check"): 1})

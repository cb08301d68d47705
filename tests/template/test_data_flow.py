"""The proof that a state reads only what its input holds: it finds each kind of read that
may fail with States.Runtime, and accepts what cannot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bastion.local.simulated_bastion import generate_host_keys
from tasks.common.session_states import BASTION_READY, READY, TEARDOWN_STEPS
from tasks.wait_for_bastion_address import ReadyBastion
from workflows.data_flow import proven_inputs, states_reaching, unproven_reads
from workflows.machines import ASL_DIR

pytestmark = pytest.mark.template


def task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", **fields}


def machine(**states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


def reads(definition: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(read.state, read.field, read.path) for read in unproven_reads(definition)]


def test_a_field_of_a_tasks_result_is_never_proven_but_the_whole_result_is() -> None:
    definition = machine(
        Find=task(ResultPath="$.found", Next="Use"),
        Use=task(Parameters={"all.$": "$.found", "one.$": "$.found.id"}, End=True),
    )
    assert reads(definition) == [("Use", "Parameters.one.$", "$.found.id")]


def test_the_context_object_and_the_whole_input_are_always_there() -> None:
    definition = machine(
        Start=task(
            Parameters={"id.$": "$$.Execution.Name", "all.$": "$"}, ResultPath=None, End=True
        )
    )
    assert reads(definition) == []


def test_a_field_of_the_machines_input_is_not_proven() -> None:
    definition = machine(Start=task(TimeoutSecondsPath="$.seconds", End=True))
    assert reads(definition) == [("Start", "TimeoutSecondsPath", "$.seconds")]


def test_a_result_selector_proves_only_what_it_takes_whole() -> None:
    definition = machine(
        Check=task(
            ResultSelector={"whole.$": "$", "fixed": 1},
            ResultPath="$",
            Next="Use",
        ),
        Use=task(Parameters={"a.$": "$.whole", "b.$": "$.fixed", "c.$": "$.whole.x"}, End=True),
    )
    assert reads(definition) == [("Use", "Parameters.c.$", "$.whole.x")]


def test_a_result_selector_reading_a_field_of_the_result_is_found() -> None:
    definition = machine(Check=task(ResultSelector={"id.$": "$.id"}, End=True))
    assert reads(definition) == [("Check", "ResultSelector.id.$", "$.id")]


def test_a_catcher_proves_the_error_but_not_its_cause() -> None:
    caught = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Report"}
    definition = machine(
        Step=task(Catch=[caught], End=True),
        Report=task(Parameters={"error.$": "$.error.Error", "cause.$": "$.error.Cause"}, End=True),
    )
    assert reads(definition) == [("Report", "Parameters.cause.$", "$.error.Cause")]


def test_a_pass_state_passes_on_what_it_moves_and_what_it_fixes() -> None:
    caught = {"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": "Keep"}
    definition = machine(
        Step=task(Catch=[caught], End=True),
        Keep={"Type": "Pass", "Parameters": {"error.$": "$"}, "ResultPath": "$", "Next": "Mark"},
        Mark={
            "Type": "Pass",
            "Result": {"end": {"reason": "x"}},
            "ResultPath": "$.out",
            "Next": "Use",
        },
        Use=task(
            Parameters={"a.$": "$.error.Error", "b.$": "$.out.end.reason", "c.$": "$.error.Cause"},
            End=True,
        ),
    )
    assert reads(definition) == [("Use", "Parameters.c.$", "$.error.Cause")]


def test_a_path_proven_on_one_way_in_only_is_not_proven() -> None:
    caught = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Use"}
    definition = machine(
        Find=task(ResultPath="$.found", Catch=[caught], Next="Use"),
        Use=task(Parameters={"found.$": "$.found"}, End=True),
    )
    assert reads(definition) == [("Use", "Parameters.found.$", "$.found")]
    assert "$.found" not in proven_inputs(definition)["Use"]


def test_a_choice_proves_what_it_tested_on_that_way_only() -> None:
    present = {
        "And": [{"Variable": "$.x", "IsPresent": True}, {"Variable": "$.x", "IsNumeric": True}]
    }
    definition = machine(
        Check={"Type": "Choice", "Choices": [{**present, "Next": "Use"}], "Default": "Other"},
        Use=task(TimeoutSecondsPath="$.x", End=True),
        Other=task(TimeoutSecondsPath="$.x", End=True),
    )
    assert reads(definition) == [("Other", "TimeoutSecondsPath", "$.x")]


def test_a_choice_rule_of_not_proves_its_test_on_the_default_way() -> None:
    present = {"Variable": "$.x", "IsPresent": True}
    definition = machine(
        Check={
            "Type": "Choice",
            "Choices": [{"Not": present, "Next": "Missing"}],
            "Default": "Use",
        },
        Missing=task(TimeoutSecondsPath="$.x", End=True),
        Use=task(TimeoutSecondsPath="$.x", End=True),
    )
    assert reads(definition) == [("Missing", "TimeoutSecondsPath", "$.x")]


def test_a_choice_comparing_a_variable_no_earlier_test_showed_present_is_found() -> None:
    unguarded = {"Variable": "$.x", "NumericEquals": 1, "Next": "End"}
    guarded = {
        "And": [{"Variable": "$.y", "IsPresent": True}, {"Variable": "$.y", "NumericEquals": 1}],
        "Next": "End",
    }
    late_guard = {
        "And": [{"Variable": "$.z", "NumericEquals": 1}, {"Variable": "$.z", "IsPresent": True}],
        "Next": "End",
    }
    definition = machine(
        Check={
            "Type": "Choice",
            "Choices": [
                unguarded,
                guarded,
                late_guard,
                {"Variable": "$.w", "IsPresent": True, "Next": "End"},
            ],
            "Default": "End",
        },
        End={"Type": "Succeed"},
    )
    assert reads(definition) == [
        ("Check", "Choices[0].Variable", "$.x"),
        ("Check", "Choices[2].Variable", "$.z"),
    ]


def test_an_intrinsic_functions_paths_are_reads_and_its_strings_are_not() -> None:
    definition = machine(
        Fail={
            "Type": "Fail",
            "CausePath": "States.Format('$.not.a.path {} {}', $.a, States.JsonToString($.b))",
        }
    )
    assert [path for _, _, path in reads(definition)] == ["$.a", "$.b"]


def test_a_map_reads_its_items_from_the_input_and_its_iterations_from_the_selector() -> None:
    definition = machine(
        Find=task(ResultPath="$.found", Next="Each"),
        Each={
            "Type": "Map",
            "ItemsPath": "$.found.ids",
            "ItemSelector": {"id.$": "$$.Map.Item.Value"},
            "ItemProcessor": machine(
                Inner=task(Parameters={"id.$": "$.id", "other.$": "$.other"}, End=True)
            ),
            "End": True,
        },
    )
    assert reads(definition) == [
        ("Each", "ItemsPath", "$.found.ids"),
        ("Inner", "Parameters.other.$", "$.other"),
    ]


def test_the_reads_the_session_machine_made_before_are_found() -> None:
    # GIVEN the session machine as it was: steps given fields of earlier results, the ready
    # document a Pass reading them, and the hold's timeout read from a task's result
    definition = json.loads((ASL_DIR / "session.asl.json").read_text())
    states = definition["States"]
    states["FindControlPlane"]["Parameters"]["cluster.$"] = "$.session.cluster"
    states["BastionReady"] = {
        "Type": "Pass",
        "Parameters": {"address.$": "$.bastion.address"},
        "ResultPath": "$.ready",
        "Next": "HoldSession",
    }
    states["HoldSession"]["TimeoutSecondsPath"] = "$.bastion.holdSeconds"

    # THEN each is found
    assert {(state, path) for state, _, path in reads(definition)} >= {
        ("FindControlPlane", "$.session.cluster"),
        ("BastionReady", "$.bastion.address"),
        ("HoldSession", "$.bastion.holdSeconds"),
    }


def test_the_states_before_a_teardown_ends_include_a_map_that_tears_down() -> None:
    sweeper = json.loads((ASL_DIR / "sweeper.asl.json").read_text())
    session = json.loads((ASL_DIR / "session.asl.json").read_text())
    assert {"FindOrphanedSessions", "TearDownOrphanedSessions", *TEARDOWN_STEPS} <= (
        states_reaching(sweeper, TEARDOWN_STEPS)
    )
    assert "CheckSweep" not in states_reaching(sweeper, TEARDOWN_STEPS)
    reaching = states_reaching(session, TEARDOWN_STEPS)
    assert {"ValidateRequest", "BastionReady", "HoldSession", "MarkSessionExpired"} <= reaching
    assert not {"IsTeardownComplete", "DidSessionFail", "SessionFailed"} & reaching


def test_bastion_ready_tests_every_field_of_the_ready_document_before_anyone_reads_it() -> None:
    # GIVEN the ready document WaitForBastionAddress answers (a list: its entries' fields)
    ready = ReadyBastion(
        session_id="s-1",
        cluster="demo",
        address="203.0.113.7",
        ssh_user="bastion",
        expires_at="2026-11-27T11:00:00Z",
        control_plane_rule_scope="control-plane-only",
        hold_seconds=60,
        host_keys=generate_host_keys(),
        access_mode="public",
    ).to_dict()
    scalars = {f"$.{READY}.{name}" for name, value in ready.items() if not isinstance(value, list)}
    lists = {f"$.{READY}.{name}[0]" for name, value in ready.items() if isinstance(value, list)}
    # WHEN the rendered BastionReady Choice is read
    session = json.loads((ASL_DIR / "session.asl.json").read_text())
    # (its first rule: the second ends a session whose hold was asked to extend too often)
    rule = session["States"][BASTION_READY]["Choices"][0]
    tests = rule["Not"]["And"]

    def kinds(field: str) -> list[str]:
        return [next(k for k in t if k != "Variable") for t in tests if t["Variable"] == field]

    # THEN it tests each scalar field for presence, then its type; each list for a first
    # entry (ASL tests no list's or object's type: the readers check each key)
    assert {test["Variable"] for test in tests} == scalars | lists
    for field in scalars:
        assert kinds(field)[0] == "IsPresent" and len(kinds(field)) >= 2, field
    for field in lists:
        assert kinds(field) == ["IsPresent"], field

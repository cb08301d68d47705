"""A second ASL engine: replay executions recorded on the local AWS on aws-local-stepfunctions.

moto's interpreter runs every workflow test. To check that what it does with the rendered
ASL is what the Amazon States Language says, not a quirk of one interpreter, an execution
recorded on the local AWS (real handlers, real faults) is replayed on
`aws-local-stepfunctions <https://github.com/nibble-4bits/aws-local-stepfunctions>`_ (MIT,
pinned in tools/node/package.json), an independent TypeScript interpreter: each Task state
is answered by a stub that gives back, attempt by attempt, exactly what the recorded
execution's task returned (a result, an error with its cause, or no answer: a timeout). The
engine itself decides everything else: Parameters, ResultSelector, ResultPath, Retry,
Catch, Choice, timeouts, the Fail state's error. The two runs must agree on the path of
states, the input each task attempt was given, and the final output (or error and cause).

The committed ASL (workflows/asl/*.json) is never changed on disk. The loader fills the
template's substitutions (``${...FunctionArn}``) with the deployed functions' ARNs, as
CloudFormation does, then works around two bugs of aws-local-stepfunctions 3.0.0 in memory,
each listed in :data:`WORKAROUNDS` (and each shown to still exist by a test, so a fixed
release can drop it):

========================================  ===================================================
engine bug                                workaround at load time
========================================  ===================================================
an explicit ``"ResultPath": "$"`` (on a   remove the field: ``$`` is the default, and the
state or a Catch) sets a key named ``$``  engine's default replaces the input as ASL says
instead of replacing the input
``TimeoutSecondsPath`` is resolved        copy the path's value into the Parameters under
against the Parameters' output, not the   :data:`TIMEOUT_KEY` and point ``TimeoutSecondsPath``
state's input                             there (the key is dropped before comparing inputs)
========================================  ===================================================

One Node process runs a whole batch of executions at once (``tools/node/run-asl.mjs``), its
timers running :data:`TIME_SCALE` times fast, as the local AWS's clock does.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bastion.follow import history
from tests.node_tools import ROOT, run_script, unavailable

ENGINE = "aws-local-stepfunctions"
ASL_DIR = ROOT / "workflows" / "asl"
#: Where the TimeoutSecondsPath workaround copies the timeout into the Parameters.
TIMEOUT_KEY = "replayTimeoutSeconds"
#: The token the replayed ``$$.Task.Token`` holds (tokens differ between engines anyway).
TOKEN_MASK = "<task token>"
#: How much faster than real time the Node engine's timers run.
TIME_SCALE = 600.0

_SUBSTITUTION = re.compile(r"\$\{(\w+)\}")


def node_unavailable() -> str | None:
    """Why the second engine cannot run here, or None when it can."""
    return unavailable(ENGINE)


# --------------------------------------------------------------------------- the loader


def _drop_explicit_root_result_path(definition: dict[str, Any]) -> None:
    for state in _all_states(definition):
        for holder in [state, *state.get("Catch", [])]:
            if holder.get("ResultPath") == "$":
                del holder["ResultPath"]


def _timeout_path_from_parameters(definition: dict[str, Any]) -> None:
    for state in _all_states(definition):
        path = state.get("TimeoutSecondsPath")
        if path is None or "Parameters" not in state:
            continue
        state["Parameters"][f"{TIMEOUT_KEY}.$"] = path
        state["TimeoutSecondsPath"] = f"$.{TIMEOUT_KEY}"


@dataclass(frozen=True)
class Workaround:
    """One bug of the second engine, and what the loader does about it."""

    bug: str
    workaround: str
    apply: Callable[[dict[str, Any]], None]


#: Every change the loader makes to a definition, beyond filling the substitutions.
WORKAROUNDS = (
    Workaround(
        bug='an explicit "ResultPath": "$" sets a key named "$" instead of replacing the input',
        workaround='remove "ResultPath": "$" from states and catchers ("$" is the default)',
        apply=_drop_explicit_root_result_path,
    ),
    Workaround(
        bug="TimeoutSecondsPath is resolved against the Parameters' output, not the state input",
        workaround=f"copy the path into the Parameters as {TIMEOUT_KEY} and point the path there",
        apply=_timeout_path_from_parameters,
    ),
)


def _all_states(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every state, those of Map iterators and Parallel branches included."""
    found: list[dict[str, Any]] = []
    for state in definition["States"].values():
        found.append(state)
        for nested in (state.get("ItemProcessor"), state.get("Iterator")):
            if nested:
                found += _all_states(nested)
        for branch in state.get("Branches", []):
            found += _all_states(branch)
    return found


def substituted(file_name: str, substitutions: Mapping[str, str]) -> dict[str, Any]:
    """The committed ASL with the template's ``${Name}`` substitutions filled in."""
    text = (ASL_DIR / file_name).read_text(encoding="utf-8")
    missing = sorted(set(_SUBSTITUTION.findall(text)) - set(substitutions))
    if missing:
        raise KeyError(f"{file_name}: no value for the substitutions {missing}")
    filled = _SUBSTITUTION.sub(lambda match: substitutions[match.group(1)], text)
    return dict(json.loads(filled))


def load_for_second_engine(file_name: str, substitutions: Mapping[str, str]) -> dict[str, Any]:
    """The definition aws-local-stepfunctions runs: substituted, then every workaround."""
    definition = substituted(file_name, substitutions)
    for workaround in WORKAROUNDS:
        workaround.apply(definition)
    return definition


# ----------------------------------------------------------------- recording on moto


@dataclass
class Recording:
    """What one execution on the local AWS did, as the second engine needs it."""

    name: str
    machine: str
    input: Any
    context: dict[str, Any]
    #: Per Task state, each attempt's answer: ``result``, ``error``+``cause``, or ``hang``.
    attempts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Per Task state, the input each attempt was given.
    task_inputs: dict[str, list[Any]] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    status: str = ""
    output: Any = None
    error: str | None = None
    cause: str | None = None


def _answer(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """A task attempt's answer in a history event, or None if the event carries none."""
    kind = str(event["type"])
    details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
    if kind in ("LambdaFunctionSucceeded", "TaskSucceeded"):
        return {"result": json.loads(details.get("output") or "null")}
    if kind in ("LambdaFunctionTimedOut", "TaskTimedOut"):
        return {"hang": True}
    if kind.endswith(("Failed", "StartFailed", "ScheduleFailed", "SubmitFailed")):
        if kind.startswith(("LambdaFunction", "Task")) and "State" not in kind:
            return {"error": details.get("error", ""), "cause": details.get("cause", "")}
    return None


def _scheduled_input(event: Mapping[str, Any]) -> Any:
    if event["type"] == "LambdaFunctionScheduled":
        return json.loads(event["lambdaFunctionScheduledEventDetails"]["input"])
    if event["type"] == "TaskScheduled":
        return json.loads(event["taskScheduledEventDetails"]["parameters"])
    return None


def record(sfn: Any, execution_arn: str, machine: str) -> Recording:
    """Read a finished execution of ``machine`` (an ASL file name) from the local AWS."""
    described = sfn.describe_execution(executionArn=execution_arn)
    recording = Recording(
        name=str(described["name"]),
        machine=machine,
        input=json.loads(described["input"]),
        context={},
        status=str(described["status"]),
        output=json.loads(described["output"]) if described.get("output") else None,
        error=described.get("error"),
        cause=described.get("cause"),
    )
    start_time = described["startDate"].astimezone().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    state: str | None = None
    for event in history(sfn, execution_arn):
        entered = event.get("stateEnteredEventDetails")
        if entered is not None:
            state = str(entered["name"])
            recording.path.append(state)
            continue
        if state is None:
            continue
        scheduled = _scheduled_input(event)
        if scheduled is not None:
            recording.task_inputs.setdefault(state, []).append(scheduled)
            if state == "ValidateRequest" and isinstance(scheduled, dict):
                start_time = str(scheduled.get("startedAt", start_time))
            continue
        answer = _answer(event)
        if answer is not None:
            recording.attempts.setdefault(state, []).append(answer)
    recording.context = {
        "Execution": {
            "Id": str(described["executionArn"]),
            "Name": recording.name,
            "StartTime": start_time,
        },
        "StateMachine": {"Id": str(described["stateMachineArn"])},
        "Task": {"Token": TOKEN_MASK},
    }
    return recording


# ------------------------------------------------------------------- the replay


@dataclass(frozen=True)
class Replay:
    """What the second engine did with one recorded execution."""

    path: list[str]
    status: str
    output: Any
    error: str | None
    cause: str | None
    task_inputs: dict[str, list[Any]]
    #: Recorded attempts the engine never asked for, per state (must be none).
    unused: dict[str, int]


def run_node(batch: Mapping[str, Any], timeout: float = 300.0) -> dict[str, Any]:
    """Run ``tools/node/run-asl.mjs`` on one batch; its report per execution name."""
    return dict(json.loads(run_script("run-asl.mjs", stdin=json.dumps(batch), timeout=timeout)))


def replay(recordings: list[Recording], substitutions: Mapping[str, str]) -> dict[str, Replay]:
    """Replay every recording on aws-local-stepfunctions in one Node process."""
    batch = {
        "timeScale": TIME_SCALE,
        "executions": [
            {
                "name": recording.name,
                "definition": load_for_second_engine(recording.machine, substitutions),
                "input": recording.input,
                "context": recording.context,
                "attempts": recording.attempts,
            }
            for recording in recordings
        ],
    }
    reports = run_node(batch)
    return {
        name: Replay(
            path=report["path"],
            status=report["status"],
            output=report.get("output"),
            error=report.get("error"),
            cause=report.get("cause"),
            task_inputs=report["taskInputs"],
            unused=report["unused"],
        )
        for name, report in reports.items()
    }


#: Task input fields whose value is each engine's own: the token, and the execution's
#: start time (``$$.Execution.StartTime``: aws-local-stepfunctions always takes its own
#: clock's, and moto writes it as ``...T10:00:00.123456+00:00`` where AWS writes
#: ``...T10:00:00.123Z``).
MASKED_FIELDS = {"taskToken": TOKEN_MASK, "startedAt": "<execution start time>"}


def comparable_inputs(task_inputs: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """Task inputs with :data:`MASKED_FIELDS` masked, and without the key the
    TimeoutSecondsPath workaround adds."""

    def mask(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: MASKED_FIELDS[key] if key in MASKED_FIELDS else mask(item)
                for key, item in value.items()
                if key != TIMEOUT_KEY
            }
        if isinstance(value, list):
            return [mask(item) for item in value]
        return value

    return {
        state: [mask(copy.deepcopy(item)) for item in items] for state, items in task_inputs.items()
    }

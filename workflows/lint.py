"""Static checks of a rendered ASL definition that neither moto nor cfn-lint make.

moto accepts bad ``Next`` targets and unreachable states until run time, and cfn-lint
does not read a ``DefinitionUri`` file, so the rendered definitions are checked here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any

from workflows.asl import MAX_STATE_NAME_LENGTH

#: The errors Lambda reports as Step Functions names them: the service's own
#: (``Lambda.<code>``) and a function's death (timed out, exited, out of memory).
LAMBDA_ERROR_NAMES = frozenset(
    {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.TooManyRequestsException",
        "Lambda.ResourceNotReadyException",
        "Lambda.Unknown",
        "Sandbox.Timedout",
        "Runtime.ExitError",
        "Runtime.OutOfMemory",
    }
)
STATES_ERROR_NAMES = frozenset(
    {
        "States.ALL",
        "States.DataLimitExceeded",
        "States.ExceedToleratedFailureThreshold",
        "States.HeartbeatTimeout",
        "States.Http.Socket",
        "States.IntrinsicFailure",
        "States.ItemReaderFailed",
        "States.NoChoiceMatched",
        "States.ParameterPathFailure",
        "States.Permissions",
        "States.ResultPathMatchFailure",
        "States.ResultWriterFailed",
        "States.Runtime",
        "States.TaskFailed",
        "States.Timeout",
        "States.QueryEvaluationError",
    }
)
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def transitions(state: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, target) for every transition out of ``state``."""
    if "Next" in state:
        yield "Next", state["Next"]
    if "Default" in state:
        yield "Default", state["Default"]
    for index, rule in enumerate(state.get("Choices", [])):
        yield f"Choices[{index}]", rule.get("Next", "")
    for index, catcher in enumerate(state.get("Catch", [])):
        yield f"Catch[{index}]", catcher.get("Next", "")


def _error_names(state: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for kind in ("Retry", "Catch"):
        for index, entry in enumerate(state.get(kind, [])):
            for name in entry.get("ErrorEquals", []):
                yield f"{kind}[{index}]", name


def nested_scopes(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The state machines nested in a Map or Parallel state (their own name scopes)."""
    for key in ("ItemProcessor", "Iterator"):
        if key in state:
            yield state[key]
    yield from state.get("Branches", [])


def all_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (name, state) of a definition, nested scopes included."""
    for name, state in definition.get("States", {}).items():
        yield name, state
        for scope in nested_scopes(state):
            yield from all_states(scope)


def lint_definition(definition: dict[str, Any], task_error_names: Iterable[str]) -> list[str]:
    """Every problem found in ``definition``; an empty list means it is sound.

    ``task_error_names`` are the exception class names the tasks really raise: an
    ``ErrorEquals`` name must be one of them, a ``States.*`` name or a Lambda error.
    Map and Parallel states' nested machines are checked as scopes of their own:
    their transitions must stay inside them.
    """
    known_errors = STATES_ERROR_NAMES | LAMBDA_ERROR_NAMES | set(task_error_names)
    problems = _lint_scope(definition, known_errors)
    for _, state in definition.get("States", {}).items():
        for scope in nested_scopes(state):
            problems.extend(lint_definition(scope, known_errors))
    return problems


def _lint_scope(definition: dict[str, Any], known_errors: AbstractSet[str]) -> list[str]:
    states: dict[str, dict[str, Any]] = definition.get("States", {})
    problems: list[str] = []
    start = definition.get("StartAt")
    if start not in states:
        problems.append(f"StartAt {start!r} is not a state")

    for name, state in states.items():
        if len(name) > MAX_STATE_NAME_LENGTH:
            problems.append(f"{name}: name is longer than {MAX_STATE_NAME_LENGTH} characters")
        for where, target in transitions(state):
            if target not in states:
                problems.append(f"{name}: {where} goes to {target!r}, which is not a state")
        for where, error in _error_names(state):
            if error not in known_errors:
                problems.append(
                    f"{name}: {where} names {error!r}, which no task raises "
                    "and is not a States.* or Lambda error"
                )
        terminal = state.get("Type") in ("Succeed", "Fail", "Choice")
        if not terminal and ("Next" in state) == bool(state.get("End")):
            problems.append(f"{name}: needs exactly one of Next and End")
        if state.get("Type") == "Choice" and "Default" not in state:
            problems.append(f"{name}: a Choice without Default fails with States.NoChoiceMatched")

    reachable: set[str] = set()
    pending = [start] if start in states else []
    while pending:
        current = pending.pop()
        if current in reachable:
            continue
        reachable.add(current)
        pending.extend(t for _, t in transitions(states[current]) if t in states)
    for name in states:
        if name not in reachable:
            problems.append(f"{name}: unreachable from {start!r}")
    return problems


def placeholders(definition_text: str) -> set[str]:
    """The ``${Name}`` DefinitionSubstitutions placeholders in a rendered definition."""
    return set(_PLACEHOLDER.findall(definition_text))


def duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` object hook that rejects duplicate keys (duplicate state names)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen

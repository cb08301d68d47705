"""Which paths a state reads that its input may lack: ``States.Runtime`` found before it runs.

On AWS a reference path that does not resolve (in Parameters, ``TimeoutSecondsPath``,
``ItemsPath``...) is ``States.Runtime``: no Catch takes it, ``States.ALL`` included, and
the execution fails at once. This module works out, for every state of a rendered
definition, the paths its input is sure to hold whichever way the execution came, and
lists every path a state reads that is not one of them.

A path is *proven* by:

* the input of the machine, or of a Map iteration, as a whole (``$``);
* a Task's or a Map's ``ResultPath`` on its way out: a state that succeeded always writes
  its result there, whole (with a ``ResultSelector``: each of its keys whose value is fixed
  or the whole result);
* a catcher's ``ResultPath``, with its ``Error``: the error output always names the error,
  but need not carry a ``Cause``;
* a Pass state's ``Result`` (every key of it) or ``Parameters`` (each key whose value is
  fixed, from the context object, or a proven path, with what is proven under that path);
* a Choice rule that tests the path (``IsPresent``, a type test or a comparison), on the
  way to its ``Next``, when the test is the rule itself or one of its ``And``; and on the
  way to the ``Default``, a rule ``Not`` such a test (no rule held, so its test did).

Nothing else is: a field of a task's result is never proven, even when the task's model
always writes it. Every path a state reads must be proven or come from the context object
(``$$``); a variable a Choice compares may instead be tested by an ``IsPresent`` earlier in
the same ``And``, which AWS evaluates in order, stopping at the first false.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from workflows.lint import nested_scopes, transitions

#: Paths an input is sure to hold.
Facts = frozenset[str]

ROOT = "$"
WHOLE: Facts = frozenset({ROOT})
#: A catcher's error output: ``Error`` always, ``Cause`` only when the error has one.
ERROR_OUTPUT: Facts = frozenset({ROOT, "$.Error"})
#: Fields whose value is a reference path (or, for CausePath, an intrinsic function) read
#: from the state's input.
PATH_FIELDS = (
    "InputPath",
    "ItemsPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "OutputPath",
    "ErrorPath",
    "CausePath",
)
#: The payload templates evaluated against the state's input (after InputPath).
TEMPLATE_FIELDS = ("Parameters", "ItemSelector")
#: Choice tests that can only hold when their variable is present.
_TYPE_TESTS = ("IsString", "IsNumeric", "IsBoolean", "IsTimestamp", "IsNull")
_QUOTED = re.compile(r"'(?:\\.|[^'\\])*'")
_PATH_IN_FUNCTION = re.compile(r"\${1,2}[^,()\s]*")


@dataclass(frozen=True)
class UnprovenRead:
    """A path a state reads that its input may lack."""

    state: str
    field: str
    path: str

    def __str__(self) -> str:
        return f"{self.state}: {self.field} reads {self.path}, which its input may lack"


def paths_in(value: str) -> list[str]:
    """The reference paths a value reads: itself, or an intrinsic function's arguments
    (its string literals skipped)."""
    if not value.startswith("States."):
        return [value]
    return _PATH_IN_FUNCTION.findall(_QUOTED.sub("''", value))


def _is_proven(path: str, facts: Facts) -> bool:
    return path.startswith("$$") or path in facts


def _below(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` (``$`` when equal), or None when not under it."""
    if root == ROOT:
        return path
    if path == root:
        return ROOT
    if path.startswith((f"{root}.", f"{root}[")):
        return ROOT + path[len(root) :]
    return None


def _moved(facts: Iterable[str], source: str, target: str) -> set[str]:
    """The facts under ``source``, moved under ``target``."""
    moved = set()
    for path in facts:
        relative = _below(path, source)
        if relative is not None:
            moved.add(target + relative[1:])
    return moved


def _ancestors(path: str) -> set[str]:
    """``$.a.b.c`` → ``$``, ``$.a``, ``$.a.b``: the objects a write at ``path`` leaves."""
    parts = path.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts))}


def place(facts: Facts, result_path: str | None, result: Facts) -> Facts:
    """What an input proves once a result (its facts from the result's own root) is
    written at ``result_path`` (None: the result is discarded)."""
    if result_path is None:
        return facts
    if result_path == ROOT:
        return result
    kept = {path for path in facts if _below(path, result_path) is None}
    return frozenset(kept | _moved(result, ROOT, result_path) | _ancestors(result_path))


def template_output(template: Any, facts: Facts) -> Facts:
    """What a payload template (Parameters, ItemSelector, ResultSelector) evaluated
    against an input proving ``facts`` proves of its output."""
    proven = {ROOT}
    if not isinstance(template, Mapping):
        return frozenset(proven)
    for key, value in template.items():
        if key.endswith(".$") and isinstance(value, str):
            target = f"$.{key.removesuffix('.$')}"
            read = paths_in(value)
            if not all(_is_proven(path, facts) for path in read):
                continue
            proven.add(target)
            if read == [value] and not value.startswith("$$"):
                proven |= _moved(facts, value, target)
        else:
            proven |= _moved(template_output(value, facts), ROOT, f"$.{key}")
    return frozenset(proven)


def template_reads(template: Any) -> Iterator[tuple[str, str]]:
    """(key, path) for every path a payload template reads."""
    if not isinstance(template, Mapping):
        return
    for key, value in template.items():
        if key.endswith(".$") and isinstance(value, str):
            yield from ((key, path) for path in paths_in(value))
        else:
            yield from ((f"{key}.{inner}", path) for inner, path in template_reads(value))


def _fixed(value: Any) -> Facts:
    """Every path of a fixed JSON value."""
    proven = {ROOT}
    if isinstance(value, Mapping):
        for key, inner in value.items():
            proven |= _moved(_fixed(inner), ROOT, f"$.{key}")
    return frozenset(proven)


def _tested(condition: Mapping[str, Any]) -> set[str]:
    """The variables a Choice condition, when it holds, shows are present."""
    if "And" in condition:
        return set().union(*(_tested(inner) for inner in condition["And"]))
    if "Variable" not in condition:
        return set()
    if condition.get("IsPresent") is False or any(
        condition.get(test) is False for test in _TYPE_TESTS
    ):
        return set()
    return {condition["Variable"]}


def _condition_reads(condition: Mapping[str, Any], facts: Facts, tested: set[str]) -> Iterator[str]:
    """The paths a condition compares that may be missing when it is evaluated."""
    if "And" in condition:
        seen = set(tested)
        for inner in condition["And"]:
            yield from _condition_reads(inner, facts, seen)
            seen |= _tested(inner)
        return
    for inner in [*condition.get("Or", []), *([condition["Not"]] if "Not" in condition else [])]:
        yield from _condition_reads(inner, facts, tested)
    if "Variable" not in condition or "IsPresent" in condition:
        return
    compared = [condition["Variable"]] + [
        value for key, value in condition.items() if key.endswith("Path") and key != "Variable"
    ]
    yield from (path for path in compared if not (_is_proven(path, facts) or path in tested))


def _effective(state: Mapping[str, Any], facts: Facts) -> Facts:
    """What the input after ``InputPath`` proves."""
    input_path = state.get("InputPath", ROOT)
    if input_path is None:
        return WHOLE
    return frozenset(_moved(facts, input_path, ROOT))


def _reads(name: str, state: Mapping[str, Any], facts: Facts) -> Iterator[UnprovenRead]:
    """What ``state`` reads that an input proving ``facts`` may lack."""
    for where in PATH_FIELDS:
        value = state.get(where)
        if isinstance(value, str):
            for path in paths_in(value):
                if not _is_proven(path, facts):
                    yield UnprovenRead(name, where, path)
    effective = _effective(state, facts)
    for where in TEMPLATE_FIELDS:
        for key, path in template_reads(state.get(where)):
            if not _is_proven(path, effective):
                yield UnprovenRead(name, f"{where}.{key}", path)
    # A ResultSelector reads the task's result, of which only the whole is proven.
    for key, path in template_reads(state.get("ResultSelector")):
        if not _is_proven(path, WHOLE):
            yield UnprovenRead(name, f"ResultSelector.{key}", path)
    for index, rule in enumerate(state.get("Choices", [])):
        for path in _condition_reads(rule, facts, set()):
            yield UnprovenRead(name, f"Choices[{index}].Variable", path)
    if state.get("Type") == "Map":
        selector = state.get("ItemSelector")
        start = template_output(selector, effective) if selector is not None else WHOLE
        for scope in nested_scopes(dict(state)):
            yield from unproven_reads(scope, start)


def _exits(state: Mapping[str, Any], facts: Facts) -> Iterator[tuple[str, Facts]]:
    """(next state, what its input proves) for every way out of ``state``."""
    kind = state.get("Type")
    if kind == "Choice":
        for rule in state.get("Choices", []):
            yield rule["Next"], facts | _tested(rule)
        if "Default" in state:
            negated = [rule["Not"] for rule in state.get("Choices", []) if "Not" in rule]
            yield state["Default"], facts.union(*(_tested(test) for test in negated))
        return
    if kind == "Pass":
        if "Result" in state:
            result = _fixed(state["Result"])
        elif "Parameters" in state:
            result = template_output(state["Parameters"], _effective(state, facts))
        else:
            result = _effective(state, facts)
    elif "ResultSelector" in state:
        result = template_output(state["ResultSelector"], WHOLE)
    else:
        result = WHOLE
    if state.get("Next"):
        yield state["Next"], place(facts, state.get("ResultPath", ROOT), result)
    for catcher in state.get("Catch", []):
        yield catcher["Next"], place(facts, catcher.get("ResultPath", ROOT), ERROR_OUTPUT)


def proven_inputs(definition: Mapping[str, Any], start: Facts = WHOLE) -> dict[str, Facts]:
    """For each state of ``definition``'s own scope reachable from ``StartAt``: the paths
    its input holds whichever way the execution came (``start``: what the input proves)."""
    states: Mapping[str, Mapping[str, Any]] = definition["States"]
    facts: dict[str, Facts] = {definition["StartAt"]: start}
    pending = [definition["StartAt"]]
    while pending:
        name = pending.pop()
        for target, out in _exits(states[name], facts[name]):
            merged = out if target not in facts else facts[target] & out
            if facts.get(target) != merged:
                facts[target] = merged
                pending.append(target)
    return facts


def unproven_reads(definition: Mapping[str, Any], start: Facts = WHOLE) -> list[UnprovenRead]:
    """Every path a state of ``definition`` (nested scopes included) reads that its input
    may lack."""
    found: list[UnprovenRead] = []
    for name, facts in proven_inputs(definition, start).items():
        found += _reads(name, definition["States"][name], facts)
    return list(dict.fromkeys(found))


def _nested(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The nested scopes of ``definition``, at every depth."""
    for state in definition["States"].values():
        for scope in nested_scopes(dict(state)):
            yield scope
            yield from _nested(scope)


def states_reaching(definition: Mapping[str, Any], targets: Iterable[str]) -> set[str]:
    """The states, of ``definition`` and of its nested scopes, from which a state named
    in ``targets`` can still be entered: a target counts itself, and a Map or Parallel
    state counts when one of its nested states does."""
    found: set[str] = set()
    wanted = set(targets)
    # Innermost scopes first, so that a Map whose states reach a target counts.
    for scope in reversed([definition, *_nested(definition)]):
        states: Mapping[str, Any] = scope["States"]
        reaching = {
            name
            for name, state in states.items()
            if name in wanted
            or any(set(nested["States"]) & found for nested in nested_scopes(dict(state)))
        }
        grown = True
        while grown:
            before = len(reaching)
            reaching |= {
                name
                for name, state in states.items()
                if any(target in reaching for _, target in transitions(dict(state)))
            }
            grown = len(reaching) > before
        found |= reaching
    return found

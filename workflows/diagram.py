"""Mermaid diagrams of the state machines, generated from their Python definitions.

Solid arrows are the normal flow, dotted arrows the catchers (error paths); a Map's
iteration is drawn as a subgraph.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from workflows.asl import StateMachine

_SHAPES = {
    "Task": ('["', '"]'),
    "Pass": ('(["', '"])'),
    "Choice": ('{"', '"}'),
    "Succeed": ('(("', '"))'),
    "Fail": ('[["', '"]]'),
    "Map": ('[/"', '"/]'),
}


def _node_id(scope: str, name: str) -> str:
    return f"{scope}{name}"


def _lines(states: dict[str, Any], start: str, scope: str, indent: str) -> Iterator[str]:
    yield f"{indent}{scope}Start((start)) --> {_node_id(scope, start)}"
    for name, state in states.items():
        kind = state["Type"]
        opening, closing = _SHAPES.get(kind, ('["', '"]'))
        node = _node_id(scope, name)
        yield f"{indent}{node}{opening}{name}{closing}"
        if kind == "Map":
            inner = state["ItemProcessor"]
            inner_scope = f"{name}_"
            yield f"{indent}subgraph {inner_scope}iteration [for each item]"
            yield from _lines(inner["States"], inner["StartAt"], inner_scope, indent + "  ")
            yield f"{indent}end"
            yield f"{indent}{node} --> {inner_scope}Start"
        if "Next" in state:
            yield f"{indent}{node} --> {_node_id(scope, state['Next'])}"
        for rule in state.get("Choices", []):
            yield f'{indent}{node} -->|"{_condition(rule)}"| {_node_id(scope, rule["Next"])}'
        if "Default" in state:
            yield f"{indent}{node} -->|otherwise| {_node_id(scope, state['Default'])}"
        for catcher in state.get("Catch", []):
            errors = ", ".join(catcher["ErrorEquals"])
            yield f'{indent}{node} -.->|"{errors}"| {_node_id(scope, catcher["Next"])}'


def _condition(rule: dict[str, Any]) -> str:
    if "Variable" in rule:
        test = next(key for key in rule if key not in ("Variable", "Next"))
        return f"{rule['Variable']} {test}"
    if "And" in rule:
        parts = rule["And"]
        if len(parts) > 2:  # a long conjunction: its first test stands for the rest
            return f"{_condition(parts[0])} and {len(parts) - 1} more"
        return " and ".join(_condition(part) for part in parts)
    if "Or" in rule:
        tests = {_condition(part) for part in rule["Or"]}
        if len(tests) == 1:  # one test of one path against several values
            return f"{tests.pop()} one of {len(rule['Or'])}"
        return " or ".join(_condition(part) for part in rule["Or"])
    if "Not" in rule:
        return f"not ({_condition(rule['Not'])})"
    return "condition"


def mermaid(machine: StateMachine) -> str:
    """The machine as a Mermaid ``flowchart`` (top to bottom)."""
    definition = machine.to_asl()
    body = "\n".join(_lines(definition["States"], definition["StartAt"], "", "  "))
    return f"flowchart TD\n{body}\n"

"""The most events one execution of each machine can write to its history.

Step Functions fails a Standard execution whose history reaches 25,000 events (a hard
quota, "Step Functions service quotas"). The bound here reads the rendered ASL: every
state entered once (no machine loops back: checked), every retrier run to its last
attempt, every Map iteration taking its longest path. The one loop allowed is named with
the most times the machine takes it: the session's extensions (ExtendSession back to
BastionReady, which ends the session past ``MAX_EXTENSION_REQUESTS``); each time adds
every state of the loop once more. An event per state entered and
exited; per task attempt, a Lambda function task writes scheduled, started and its end,
a ``.waitForTaskToken`` task also submitted; the execution's own start and end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.asl import load_asl
from tasks.common.extensions import MAX_EXTENSION_REQUESTS
from tasks.common.session_states import BASTION_READY, EXTEND_SESSION
from tasks.find_orphaned_sessions import MAX_SESSIONS_PER_SWEEP

#: Events in one Standard execution's history at most (hard quota).
HISTORY_EVENT_LIMIT = 25_000
#: An execution's start and end.
_EXECUTION = 2
#: A Map state's own events besides its iterations (started, succeeded, their states).
_MAP_OWN = 4
#: A Map iteration's start and end.
_ITERATION = 2
#: Retry's MaxAttempts when a retrier does not say.
_DEFAULT_MAX_ATTEMPTS = 3


def attempts(state: Mapping[str, Any]) -> int:
    """How many times a state can run: once, plus every retrier's attempts."""
    retriers = state.get("Retry", [])
    return 1 + sum(int(r.get("MaxAttempts", _DEFAULT_MAX_ATTEMPTS)) for r in retriers)


def state_events(state: Mapping[str, Any]) -> int:
    """The most events one pass through ``state`` writes (a Map's iterations apart)."""
    if state["Type"] != "Task":
        return 2
    per_attempt = 4 if str(state.get("Resource", "")).endswith(".waitForTaskToken") else 3
    return 2 + per_attempt * attempts(state)


#: A loop's back edge (from, to), and the most times a machine takes it.
Loops = Mapping[tuple[str, str], int]
#: The session machine's one loop: each extension request holds again.
SESSION_LOOPS: Loops = {(EXTEND_SESSION, BASTION_READY): MAX_EXTENSION_REQUESTS}


def _targets(state: Mapping[str, Any]) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    found += [rule.get("Next") for rule in state.get("Choices", [])]
    found += [catcher.get("Next") for catcher in state.get("Catch", [])]
    return [target for target in found if target]


def _check_acyclic(definition: Mapping[str, Any], loops: Loops) -> None:
    states = definition["States"]
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise ValueError(f"the machine loops back to {name}: the bound does not hold")
        visiting.add(name)
        for target in _targets(states[name]):
            if (name, target) not in loops:
                visit(target)
        visiting.discard(name)
        done.add(name)

    visit(definition["StartAt"])


def _loop_states(definition: Mapping[str, Any], back_edge: tuple[str, str]) -> set[str]:
    """The states on a path from the loop's head (the back edge's target) to its end."""
    states = definition["States"]
    end, head = back_edge
    if end not in states or head not in states:
        raise ValueError(f"the loop {end} -> {head} is not in the machine")
    reached: dict[str, bool] = {}

    def reaches_end(name: str) -> bool:
        if name == end:
            return True
        if name not in reached:
            reached[name] = False
            reached[name] = any(
                reaches_end(target) for target in _targets(states[name]) if target != head
            )
        return reached[name]

    reaches_end(head)
    return {name for name, ends in reached.items() if ends} | {end}


def scope_events(
    definition: Mapping[str, Any], items_per_map: int, loops: Loops | None = None
) -> int:
    """Every state of ``definition`` once, each Map with ``items_per_map`` iterations,
    and each of ``loops`` taken its most times."""
    loops = loops or {}
    bodies = {edge: _loop_states(definition, edge) for edge in loops}
    _check_acyclic(definition, loops)
    total = sum(
        times * sum(state_events(definition["States"][name]) for name in bodies[edge])
        for edge, times in loops.items()
    )
    for state in definition["States"].values():
        total += state_events(state)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is not None:
            iteration = _ITERATION + scope_events(processor, items_per_map)
            total += _MAP_OWN - 2 + items_per_map * iteration
    return total


def worst_case_events(
    definition: Mapping[str, Any], items_per_map: int = 0, loops: Loops | None = None
) -> int:
    """The most events one execution of ``definition`` can write."""
    return _EXECUTION + scope_events(definition, items_per_map, loops)


@dataclass(frozen=True)
class HistoryBound:
    """One machine's worst-case history against the quota."""

    machine: str
    scenario: str
    events: int

    @property
    def margin(self) -> int:
        return HISTORY_EVENT_LIMIT - self.events

    @property
    def ok(self) -> bool:
        return self.events < HISTORY_EVENT_LIMIT


def history_bounds() -> list[HistoryBound]:
    """The session, teardown and sweeper machines' worst cases, from the rendered ASL."""
    return [
        HistoryBound(
            "session",
            "every setup step and the teardown retried to the last attempt, "
            f"{MAX_EXTENSION_REQUESTS} extension requests",
            worst_case_events(load_asl("session"), loops=SESSION_LOOPS),
        ),
        HistoryBound(
            "teardown",
            "every teardown step retried to the last attempt",
            worst_case_events(load_asl("teardown")),
        ),
        HistoryBound(
            "sweeper",
            f"{MAX_SESSIONS_PER_SWEEP} orphans, each teardown retried to the last attempt",
            worst_case_events(load_asl("sweeper"), MAX_SESSIONS_PER_SWEEP),
        ),
    ]

"""A small typed builder of Amazon States Language states (JSONPath query language).

Only what the fargate-bastion machines use: Task, Pass, Choice, Fail and Succeed,
with Retry and Catch. Each state renders itself to its ASL dict; a
:class:`StateMachine` checks names are unique and renders the whole definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_STATE_NAME_LENGTH = 80

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Retry:
    """A retrier: which errors, how often, how far apart."""

    errors: tuple[str, ...]
    interval_seconds: int = 1
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None
    full_jitter: bool = False

    def to_asl(self) -> JsonObject:
        rendered: JsonObject = {
            "ErrorEquals": list(self.errors),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": self.backoff_rate,
        }
        if self.max_delay_seconds is not None:
            rendered["MaxDelaySeconds"] = self.max_delay_seconds
        if self.full_jitter:
            rendered["JitterStrategy"] = "FULL"
        return rendered


@dataclass(frozen=True)
class Catch:
    """A catcher: on these errors, put ``{Error, Cause}`` at ``result_path`` and go on."""

    errors: tuple[str, ...]
    next: str
    result_path: str | None = "$.error"

    def to_asl(self) -> JsonObject:
        return {"ErrorEquals": list(self.errors), "ResultPath": self.result_path, "Next": self.next}


@dataclass
class State:
    """Fields every state has. ``next`` of None on a non-terminal state means End."""

    name: str
    comment: str = ""

    @property
    def type(self) -> str:
        raise NotImplementedError

    def to_asl(self) -> JsonObject:
        rendered: JsonObject = {"Type": self.type}
        if self.comment:
            rendered["Comment"] = self.comment
        return rendered


@dataclass
class _Flow(State):
    """A state that goes on to another state, or ends the execution."""

    next: str | None = None

    def _transition(self) -> JsonObject:
        return {"Next": self.next} if self.next else {"End": True}


@dataclass
class Task(_Flow):
    """A Task state."""

    resource: str = ""
    parameters: JsonObject | None = None
    result_selector: JsonObject | None = None
    result_path: str | None = "$"
    timeout_seconds: int | None = None
    timeout_seconds_path: str | None = None
    heartbeat_seconds: int | None = None
    retry: Sequence[Retry] = field(default_factory=tuple)
    catch: Sequence[Catch] = field(default_factory=tuple)

    @property
    def type(self) -> str:
        return "Task"

    def to_asl(self) -> JsonObject:
        rendered = super().to_asl()
        rendered["Resource"] = self.resource
        if self.parameters is not None:
            rendered["Parameters"] = self.parameters
        if self.result_selector is not None:
            rendered["ResultSelector"] = self.result_selector
        rendered["ResultPath"] = self.result_path
        if self.timeout_seconds is not None:
            rendered["TimeoutSeconds"] = self.timeout_seconds
        if self.timeout_seconds_path is not None:
            rendered["TimeoutSecondsPath"] = self.timeout_seconds_path
        if self.heartbeat_seconds is not None:
            rendered["HeartbeatSeconds"] = self.heartbeat_seconds
        if self.retry:
            rendered["Retry"] = [retrier.to_asl() for retrier in self.retry]
        if self.catch:
            rendered["Catch"] = [catcher.to_asl() for catcher in self.catch]
        rendered.update(self._transition())
        return rendered


@dataclass
class Pass(_Flow):
    """A Pass state: shapes data, or marks a step in the console."""

    parameters: JsonObject | None = None
    result: Any = None
    result_path: str | None = "$"

    @property
    def type(self) -> str:
        return "Pass"

    def to_asl(self) -> JsonObject:
        rendered = super().to_asl()
        if self.parameters is not None:
            rendered["Parameters"] = self.parameters
        if self.result is not None:
            rendered["Result"] = self.result
        rendered["ResultPath"] = self.result_path
        rendered.update(self._transition())
        return rendered


@dataclass(frozen=True)
class Rule:
    """One Choice rule: a JSONPath comparison and where it leads."""

    condition: JsonObject
    next: str

    def to_asl(self) -> JsonObject:
        return {**self.condition, "Next": self.next}


def is_present(path: str) -> JsonObject:
    """Condition: ``path`` exists in the state's input."""
    return {"Variable": path, "IsPresent": True}


def is_string(path: str) -> JsonObject:
    """Condition: ``path`` holds a string."""
    return {"Variable": path, "IsString": True}


def is_numeric(path: str) -> JsonObject:
    """Condition: ``path`` holds a number."""
    return {"Variable": path, "IsNumeric": True}


def is_at_least(path: str, minimum: int) -> JsonObject:
    """Condition: ``path`` holds a number no smaller than ``minimum``."""
    return {"Variable": path, "NumericGreaterThanEquals": minimum}


def none_of(condition: JsonObject) -> JsonObject:
    """Condition: ``condition`` does not hold."""
    return {"Not": condition}


def all_of(*conditions: JsonObject) -> JsonObject:
    """Condition: every one of ``conditions`` holds."""
    return {"And": list(conditions)}


@dataclass
class Choice(State):
    """A Choice state: the first rule that holds picks the next state."""

    rules: Sequence[Rule] = field(default_factory=tuple)
    default: str = ""

    @property
    def type(self) -> str:
        return "Choice"

    def to_asl(self) -> JsonObject:
        rendered = super().to_asl()
        rendered["Choices"] = [rule.to_asl() for rule in self.rules]
        rendered["Default"] = self.default
        return rendered


@dataclass
class Fail(State):
    """A Fail state, with a fixed error or one read from the input."""

    error: str | None = None
    cause: str | None = None
    error_path: str | None = None
    cause_path: str | None = None

    @property
    def type(self) -> str:
        return "Fail"

    def to_asl(self) -> JsonObject:
        rendered = super().to_asl()
        for key, value in (
            ("Error", self.error),
            ("ErrorPath", self.error_path),
            ("Cause", self.cause),
            ("CausePath", self.cause_path),
        ):
            if value is not None:
                rendered[key] = value
        return rendered


@dataclass
class Succeed(State):
    """A Succeed state."""

    output_path: str | None = None

    @property
    def type(self) -> str:
        return "Succeed"

    def to_asl(self) -> JsonObject:
        rendered = super().to_asl()
        if self.output_path is not None:
            rendered["OutputPath"] = self.output_path
        return rendered


@dataclass
class Map(_Flow):
    """A Map state: run ``processor`` (a list of states, the first starts) for each item."""

    items_path: str = "$"
    item_selector: JsonObject | None = None
    processor: Sequence[State] = field(default_factory=tuple)
    max_concurrency: int = 0
    result_path: str | None = "$"
    catch: Sequence[Catch] = field(default_factory=tuple)

    @property
    def type(self) -> str:
        return "Map"

    def to_asl(self) -> JsonObject:
        rendered = super().to_asl()
        rendered["ItemsPath"] = self.items_path
        if self.item_selector is not None:
            rendered["ItemSelector"] = self.item_selector
        rendered["MaxConcurrency"] = self.max_concurrency
        rendered["ItemProcessor"] = {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": self.processor[0].name,
            "States": {state.name: state.to_asl() for state in self.processor},
        }
        rendered["ResultPath"] = self.result_path
        if self.catch:
            rendered["Catch"] = [catcher.to_asl() for catcher in self.catch]
        rendered.update(self._transition())
        return rendered


class DuplicateStateName(ValueError):
    """Two states of one machine share a name."""


@dataclass
class StateMachine:
    """A whole state machine: its states in console order, starting with the first."""

    comment: str
    states: list[State]
    timeout_seconds: int | None = None

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for state in self.states:
            if state.name in seen:
                raise DuplicateStateName(f"state name {state.name!r} is used twice")
            seen.add(state.name)

    @property
    def start_at(self) -> str:
        return self.states[0].name

    def state(self, name: str) -> State:
        """The state called ``name``."""
        for state in self.states:
            if state.name == name:
                return state
        raise KeyError(name)

    def to_asl(self) -> JsonObject:
        """The ASL definition as a JSON-ready dict."""
        rendered: JsonObject = {
            "Comment": self.comment,
            "QueryLanguage": "JSONPath",
            "StartAt": self.start_at,
        }
        if self.timeout_seconds is not None:
            rendered["TimeoutSeconds"] = self.timeout_seconds
        rendered["States"] = {state.name: state.to_asl() for state in self.states}
        return rendered


def chain(states: Iterable[_Flow], then: str | None) -> list[State]:
    """Link ``states`` one after the other; the last goes to ``then`` (None: End)."""
    linked: list[State] = list(states)
    for current, following in zip(linked, linked[1:], strict=False):
        assert isinstance(current, _Flow)  # noqa: S101 - a programming error, not input
        current.next = following.name
    last = linked[-1]
    assert isinstance(last, _Flow)  # noqa: S101
    last.next = then
    return linked

"""What the rendered ASL says: Retry policies and the path to RunTask.

The benchmark reads ``workflows/asl/*.asl.json`` (what is deployed), never the Python
definitions, so it measures what AWS would run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ASL_DIR = Path(__file__).resolve().parent.parent / "workflows" / "asl"

#: ASL's defaults for a Retrier's fields.
DEFAULT_INTERVAL_SECONDS = 1.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_RATE = 2.0


def load_asl(name: str, directory: Path = ASL_DIR) -> dict[str, Any]:
    """The rendered definition of state machine ``name`` (``session``, ``teardown``...)."""
    loaded: dict[str, Any] = json.loads((directory / f"{name}.asl.json").read_text("utf-8"))
    return loaded


@dataclass(frozen=True)
class RetryPolicy:
    """One ASL Retrier."""

    error_equals: tuple[str, ...]
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_rate: float = DEFAULT_BACKOFF_RATE
    max_delay_seconds: float | None = None
    jitter: str | None = None

    @classmethod
    def from_asl(cls, retrier: Mapping[str, Any]) -> RetryPolicy:
        max_delay = retrier.get("MaxDelaySeconds")
        return cls(
            error_equals=tuple(retrier["ErrorEquals"]),
            interval_seconds=float(retrier.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS)),
            max_attempts=int(retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)),
            backoff_rate=float(retrier.get("BackoffRate", DEFAULT_BACKOFF_RATE)),
            max_delay_seconds=None if max_delay is None else float(max_delay),
            jitter=retrier.get("JitterStrategy"),
        )

    def wait_before_retry(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds Step Functions waits before retry number ``retry`` (1 is the first).

        ``IntervalSeconds × BackoffRate^(retry-1)``, capped at ``MaxDelaySeconds``; with
        ``JitterStrategy: FULL`` a uniform draw between 0 and that (``rng`` required).
        """
        if retry < 1:
            raise ValueError(f"retries are numbered from 1, got {retry}")
        wait = self.interval_seconds * self.backoff_rate ** (retry - 1)
        if self.max_delay_seconds is not None:
            wait = min(wait, self.max_delay_seconds)
        if self.jitter == "FULL":
            if rng is None:
                raise ValueError("a FULL-jitter policy needs a random generator")
            wait = rng.uniform(0.0, wait)
        return wait

    def total_wait_seconds(self) -> float:
        """Seconds spent waiting between attempts when every retry is used (no jitter)."""
        return sum(
            self.interval_seconds * self.backoff_rate ** (n - 1)
            if self.max_delay_seconds is None
            else min(self.interval_seconds * self.backoff_rate ** (n - 1), self.max_delay_seconds)
            for n in range(1, self.max_attempts + 1)
        )

    def describe(self) -> str:
        """A one-line summary, as the ASL fields read."""
        parts = [
            f"IntervalSeconds {self.interval_seconds:g}",
            f"BackoffRate {self.backoff_rate:g}",
            f"MaxAttempts {self.max_attempts}",
        ]
        if self.max_delay_seconds is not None:
            parts.append(f"MaxDelaySeconds {self.max_delay_seconds:g}")
        if self.jitter:
            parts.append(f"JitterStrategy {self.jitter}")
        return ", ".join(parts)


def retry_policy(asl: Mapping[str, Any], state: str, error: str) -> RetryPolicy:
    """The Retrier of ``state`` whose ErrorEquals names ``error``."""
    states = asl["States"]
    if state not in states:
        raise KeyError(f"no state {state!r} in the definition")
    for retrier in states[state].get("Retry", []):
        if error in retrier["ErrorEquals"]:
            return RetryPolicy.from_asl(retrier)
    raise KeyError(f"state {state!r} has no Retrier for {error!r}")


def normal_path(asl: Mapping[str, Any]) -> list[str]:
    """The states from StartAt following ``Next`` (and a Choice's Default) to the end."""
    states = asl["States"]
    path: list[str] = []
    name: str | None = asl["StartAt"]
    while name is not None and name not in path:
        path.append(name)
        state = states[name]
        name = state.get("Next") or state.get("Default")
    return path


def steps_before(asl: Mapping[str, Any], target: str) -> list[str]:
    """The states run, one after the other, from StartAt until ``target`` is entered."""
    path = normal_path(asl)
    if target not in path:
        raise KeyError(f"{target!r} is not on the path from {asl['StartAt']!r}")
    return path[: path.index(target)]


def states_between(asl: Mapping[str, Any], first: str, last: str) -> list[str]:
    """The states strictly after ``first`` and before ``last`` on the normal path."""
    path = normal_path(asl)
    return path[path.index(first) + 1 : path.index(last)]


def resource_of(asl: Mapping[str, Any], state: str) -> str:
    """A Task state's resource (the ``${...}`` placeholder or the integration ARN)."""
    return str(asl["States"][state].get("Resource", ""))

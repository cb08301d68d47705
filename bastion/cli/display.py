"""Following a session on screen, from the API's view of it: live on a terminal, plain
lines otherwise.

On a terminal the state in progress is one line that ticks (its elapsed time), rewritten
in place; each finished state is printed once. Anywhere else (a pipe, a file, CI,
``TERM=dumb``, ``NO_COLOR``) only plain lines are written: no control codes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

#: Each poll is one GET of the session (DescribeExecution and its history, on AWS).
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Step:
    """One line of a session's progress."""

    kind: str  # "entered", "exited" or "ended"
    state: str
    timestamp: datetime


def steps_of(view: dict[str, Any]) -> list[Step]:
    """The lines of the API's view of a session, oldest first: each state entered, each
    left, and the execution's end. The list only grows as the session goes on."""
    steps: list[Step] = []
    for step in view["steps"]:
        steps.append(Step("entered", str(step["name"]), _moment(step["enteredAt"])))
        if step["exitedAt"]:
            steps.append(Step("exited", str(step["name"]), _moment(step["exitedAt"])))
    if view["stoppedAt"]:
        steps.append(Step("ended", str(view["status"]).title(), _moment(view["stoppedAt"])))
    return steps


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def live_capable(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that may receive control codes."""
    if os.environ.get("TERM", "") in ("", "dumb") or "NO_COLOR" in os.environ:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Prints a session's steps with the time since its execution started."""

    def __init__(self, stream: TextIO | None, *, live: bool) -> None:
        self.stream = stream
        self.live = live and stream is not None
        self.started: datetime | None = None
        self.current: str | None = None
        self.current_since = 0.0
        self._ticker_shown = False

    def _elapsed(self, stamp: datetime) -> float:
        if self.started is None:
            self.started = stamp
        return (stamp - self.started).total_seconds()

    def _write(self, line: str) -> None:
        if self.stream is None:
            return
        if self._ticker_shown:
            self.stream.write("\r\x1b[K")
            self._ticker_shown = False
        self.stream.write(line + "\n")
        self.stream.flush()

    def step(self, step: Step) -> None:
        elapsed = self._elapsed(step.timestamp)
        if step.kind == "entered":
            self.current = step.state
            self.current_since = time.monotonic()
            if not self.live:
                self._write(f"  {elapsed:7.2f}s  -> {step.state}")
        elif step.kind == "exited":
            self._write(f"  {elapsed:7.2f}s  ok {step.state}")
            if self.current == step.state:
                self.current = None
        elif step.kind == "ended":
            self._write(f"  {elapsed:7.2f}s  == {step.state}")

    def tick(self) -> None:
        """Refresh the line of the state in progress (terminal only)."""
        if not self.live or self.stream is None or self.current is None:
            return
        waited = time.monotonic() - self.current_since
        self.stream.write(f"\r\x1b[K  {'':>8}   .. {self.current}  {waited:5.1f}s")
        self.stream.flush()
        self._ticker_shown = True

    def close(self) -> None:
        if self._ticker_shown and self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._ticker_shown = False


def follow_until(
    fetch: Callable[[], dict[str, Any]],
    progress: Progress,
    until: Callable[[dict[str, Any]], bool],
    *,
    timeout_seconds: float,
    skip: int = 0,
) -> dict[str, Any]:
    """Show the session's new steps, as ``fetch`` (the API's view) finds them, until
    ``until`` holds for the view or the execution ends.

    The first ``skip`` steps are not shown. Returns the last view; raises TimeoutError.
    """
    deadline = time.monotonic() + timeout_seconds
    seen = skip
    try:
        while True:
            view = fetch()
            for step in steps_of(view)[seen:]:
                seen += 1
                progress.step(step)
            if until(view) or view["status"] != "RUNNING":
                return view
            if time.monotonic() > deadline:
                raise TimeoutError(f"still {view['phase']} after {timeout_seconds:g} s")
            progress.tick()
            time.sleep(POLL_SECONDS)
    finally:
        progress.close()

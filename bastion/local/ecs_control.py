"""The ECS knobs of one local AWS: how a Fargate task's start goes, and what tests arm.

:mod:`bastion.local.ecs_lifecycle` moves each task along its life and
:mod:`bastion.local.ecs_fargate` patches moto's ECS; both read these knobs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.local.task_runner import TaskRunner

#: What AWS says when Fargate has no capacity for a task.
CAPACITY_UNAVAILABLE = (
    "Capacity is unavailable at this time. Please try again later or in a different "
    "availability zone"
)

#: What a simulated bastion writes to its log stream, given the started event it would
#: write: its lines (none: it never says it started).
SimulatedOutput = Callable[[dict[str, Any]], tuple[str, ...]]


class EcsControl:
    """Knobs for ECS tasks in one local AWS."""

    def __init__(self) -> None:
        #: ``DescribeTasks`` calls a new task needs to reach RUNNING: PROVISIONING at RunTask,
        #: PENDING after the first describe, RUNNING after this many (0: RUNNING at once).
        self.describes_until_running = 2
        #: Seconds of workflow time (divided by the time scale) after which a task not
        #: running yet starts by itself, as Fargate starts one in 30-90 s whoever asks.
        self.seconds_until_running = 30.0
        #: Really runs each task's bastion (``bastion.local.task_runner``); None: simulated.
        self.task_runner: TaskRunner | None = None
        self._start_timers: list[tuple[threading.Timer, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._start_failures: list[str] = []
        self._capacity_refusals: list[str] = []
        self._client_tokens: dict[tuple[str, str], list[str]] = {}
        self._simulated_outputs: list[SimulatedOutput] = []

    def write_instead_of_started(self, output: SimulatedOutput, times: int = 1) -> None:
        """The next ``times`` simulated bastions write ``output(started event)`` to their log
        stream instead of their started line (a bastion whose sshd never accepts, or one
        that reports what it should not)."""
        with self._lock:
            self._simulated_outputs.extend([output] * times)

    def take_simulated_output(self) -> SimulatedOutput | None:
        """What the next simulated bastion writes instead of its started line, if armed
        (consumed)."""
        with self._lock:
            return self._simulated_outputs.pop(0) if self._simulated_outputs else None

    def fail_before_running(self, reason: str, times: int = 1) -> None:
        """The next ``times`` tasks stop with ``reason`` instead of reaching RUNNING."""
        with self._lock:
            self._start_failures.extend([reason] * times)

    def refuse_capacity(self, reason: str = CAPACITY_UNAVAILABLE, times: int = 1) -> None:
        """The next ``times`` RunTask calls start nothing and answer with ``failures``."""
        with self._lock:
            self._capacity_refusals.extend([reason] * times)

    def start_later(self, task_arn: str, start: Callable[[], None], seconds: float) -> None:
        """Call ``start`` (the task starting by itself) ``seconds`` from now, unless
        :meth:`start_waiting_tasks_now` calls it first or :meth:`cancel_start_timers` runs."""
        timer = threading.Timer(seconds, start)
        timer.daemon = True
        timer.name = f"fargate-start-{task_arn.rsplit('/', 1)[-1]}"
        with self._lock:
            self._start_timers = [t for t in self._start_timers if t[0].is_alive()]
            self._start_timers.append((timer, start))
        timer.start()

    def start_waiting_tasks_now(self) -> int:
        """Start now every task still waiting to start by itself (a test's moment); how many."""
        with self._lock:
            waiting, self._start_timers = self._start_timers, []
        for timer, start in waiting:
            timer.cancel()
            start()
        return len(waiting)

    def cancel_start_timers(self) -> None:
        """The local AWS stops: no task starts by itself any more."""
        with self._lock:
            timers, self._start_timers = self._start_timers, []
        for timer, _start in timers:
            timer.cancel()

    def take_start_failure(self) -> str | None:
        """The stop reason armed for the next task, if any (consumed)."""
        with self._lock:
            return self._start_failures.pop(0) if self._start_failures else None

    def take_capacity_refusal(self) -> str | None:
        """The failure reason armed for the next RunTask, if any (consumed)."""
        with self._lock:
            return self._capacity_refusals.pop(0) if self._capacity_refusals else None

    def tasks_for_client_token(self, cluster: str, token: str) -> list[str] | None:
        """The task ARNs an earlier RunTask with this ``clientToken`` started."""
        with self._lock:
            return self._client_tokens.get((cluster, token))

    def remember_client_token(self, cluster: str, token: str, task_arns: list[str]) -> None:
        """Record which tasks a RunTask with ``clientToken`` started."""
        with self._lock:
            self._client_tokens[(cluster, token)] = task_arns

"""Run every measurement and turn the results into tables and the Markdown page."""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchmarks import cost as pricing
from benchmarks.asl import (
    RetryPolicy,
    load_asl,
    normal_path,
    resource_of,
    retry_policy,
    states_between,
    steps_before,
)
from benchmarks.calls import CLOUDWATCH_LOGS, EVENTBRIDGE, STEP_FUNCTIONS, ApiCall
from benchmarks.designs import (
    DELETE_GROUP_FUNCTION,
    POLLED_DESIGN,
    POLLED_DESIGN_CALLS_PER_POLL,
    POLLED_DESIGN_CALLS_WHEN_READY,
    POLLED_DESIGN_TEARDOWN,
    SIGNAL_FUNCTION,
    SessionCounts,
    measured_counts,
    polled_counts,
)
from benchmarks.history import HISTORY_EVENT_LIMIT, history_bounds
from benchmarks.importtime import (
    LAMBDA,
    OUTSIDE,
    ImportTiming,
    handler_modules,
    load_average,
    measure,
)
from benchmarks.local_runs import (
    SessionRun,
    ThroughputRun,
    local_stack,
    run_concurrent,
    run_session,
)
from benchmarks.simulate import (
    ENI_RELEASE_SECONDS,
    FARGATE_START_SECONDS,
    DeliveryAssumptions,
    PollStudy,
    SignalledStudy,
    Summary,
    TeardownStudy,
    study_poll,
    study_signalled_ready,
    study_teardown,
    uniform_sample,
)
from benchmarks.tables import Table, make_table, render_markdown, render_text, verdict
from benchmarks.transitions import PHASES
from tasks.common import session_states
from tasks.common.extensions import MAX_EXTENSION_REQUESTS

RUN_TASK_STATE = session_states.RUN_BASTION_TASK
AUTHORIZE_STATE = "AuthorizeControlPlaneIngress"
WAIT_STATE = session_states.WAIT_FOR_BASTION_ADDRESS
READY_STATE = session_states.BASTION_READY
STOP_STATE = session_states.TEARDOWN_STEPS[0]
DELETE_GROUP_STATE = "DeleteSessionSecurityGroup"
TIMEOUT_ERROR = "States.Timeout"
GROUP_IN_USE_ERROR = "SessionSecurityGroupInUse"

ONE_HOUR = 60
EIGHT_HOURS = 480
DURATIONS = (ONE_HOUR, EIGHT_HOURS)

# Targets.
MAX_STEPS_BEFORE_RUN_TASK = 3
MAX_MEDIAN_TRANSITIONS = 25
MAX_P95_TRANSITIONS = 30
MAX_INVOCATIONS = 15
MAX_API_CALLS = 50
MAX_MEDIAN_READY_DELAY_SECONDS = 1.0
MAX_OVERHEAD_RATIO = 0.04
MAX_IMPORT_MS = 150.0

# Every table's title, in the order they are printed.
TITLE_CRITICAL_PATH = "Critical path to RunTask"
TITLE_OVERLAP = "Control-plane authorization while Fargate starts the task"
TITLE_TRANSITIONS = "State transitions per session, by phase"
TITLE_INVOCATIONS = "Lambda invocations per session"
TITLE_API_CALLS = "AWS API calls per session, by action"
TITLE_READY = "Ready-detection delay (simulated clock)"
TITLE_DELIVERY = "From sshd accepting to ready: assumed delays"
TITLE_TEARDOWN = "Teardown waiting for the ENI (simulated clock)"
TITLE_COST = "Cost per session (us-east-1)"
TITLE_IMPORTS = "Cold import time of the Lambda handlers"
TITLE_THROUGHPUT = "Local throughput"
TITLE_HISTORY = "Execution history, worst case, against the 25,000-event quota"
TITLE_TARGETS = "Targets"
TITLES = (
    TITLE_TARGETS,
    TITLE_CRITICAL_PATH,
    TITLE_OVERLAP,
    TITLE_TRANSITIONS,
    TITLE_INVOCATIONS,
    TITLE_API_CALLS,
    TITLE_READY,
    TITLE_DELIVERY,
    TITLE_TEARDOWN,
    TITLE_COST,
    TITLE_IMPORTS,
    TITLE_THROUGHPUT,
    TITLE_HISTORY,
)
SIGNALLED = "signalled (deployed)"
POLLED = "polled (previous design)"


@dataclass(frozen=True)
class BenchConfig:
    """What to run, and the stated assumptions."""

    #: How much faster than real time the local AWS's waits run (8 h → 2 s at 14,400).
    time_scale: float = 14_400.0
    #: The local AWS's speed while a measured session waits for its bastion: slow enough
    #: that a handler's cold start (about half a second here) is small beside the wait's
    #: timeout and the task's start, which keeps the order of events AWS would have.
    ready_time_scale: float = 10.0
    #: Seeded draws of Fargate start and ENI release times.
    draws: int = 1000
    seed: int = 7
    #: Concurrent sessions for the throughput runs.
    concurrency: tuple[int, ...] = (1, 10, 50)
    #: Fresh processes per handler module as on Lambda (the median is reported)...
    import_runs: int = 5
    #: ... and outside Lambda (for comparison only).
    import_runs_outside: int = 1
    #: Handler modules to time (None: every ``tasks/*.py``).
    import_modules: tuple[str, ...] | None = None
    #: Assumed round trip of one Lambda task invocation on AWS (simulated clock), seconds.
    invocation_seconds: float = 0.2
    #: Assumed billed duration per invocation on AWS (covers a cold start's init), ms.
    billed_ms_per_invocation: float = 500.0
    #: How the started line reaches SignalBastionReady (assumed; see the delivery table).
    delivery: DeliveryAssumptions = field(default_factory=DeliveryAssumptions)


@dataclass(frozen=True)
class Target:
    """One target and how each design measured against it (the result is the deployed
    design's)."""

    name: str
    measured: str
    polled: str
    limit: str
    ok: bool


@dataclass
class BenchResults:
    """Everything one run measured."""

    config: BenchConfig
    generated_at: datetime
    session_asl: dict[str, Any]
    #: The ready wait as rendered: each attempt's TimeoutSeconds and its Retrier.
    ready_timeout_seconds: float
    ready_retry: RetryPolicy
    signalled: SignalledStudy
    teardown_policy: RetryPolicy
    teardown: TeardownStudy
    #: The polled design on the same draws.
    polled: PollStudy
    polled_teardown: TeardownStudy
    runs: dict[int, SessionRun] = field(default_factory=dict)
    throughput: list[ThroughputRun] = field(default_factory=list)
    imports: dict[tuple[str, str], ImportTiming] = field(default_factory=dict)
    #: The 1-minute load average before and after the import timings.
    import_load: tuple[float | None, float | None] = (None, None)
    elapsed_seconds: float = 0.0

    # --- derived ------------------------------------------------------------------------------

    @property
    def steps_before_run_task(self) -> list[str]:
        return steps_before(self.session_asl, RUN_TASK_STATE)

    def wait_transitions(self, minutes: int) -> int:
        """The measured session's ready-wait attempts."""
        return self.runs[minutes].transitions.of_state(WAIT_STATE).transitions

    def delete_transitions(self, minutes: int) -> int:
        """The measured session's group-delete attempts."""
        return self.runs[minutes].transitions.of_state(DELETE_GROUP_STATE).transitions

    def counts(self, minutes: int) -> SessionCounts:
        """The measured session: the signalled design."""
        run = self.runs[minutes]
        return measured_counts(run.transitions, run.invocations, run.api_calls.calls)

    def polled_counts(self, minutes: int, *, p95: bool = False) -> SessionCounts:
        """The same session in the polled design, its polls and deletes at the median (or
        the 95th percentile) of the simulated clock."""
        polls = self.polled.transitions.p95 if p95 else self.polled.median_attempts
        retries = self.polled_teardown.retries.p95 if p95 else self.polled_teardown.median_retries
        return polled_counts(
            self.counts(minutes),
            wait_transitions=self.wait_transitions(minutes),
            delete_transitions=self.delete_transitions(minutes),
            polls=int(polls),
            delete_attempts=int(retries) + 1,
        )

    def p95_transitions(self, minutes: int) -> int:
        """The measured session with the 95th-percentile ready wait and ENI wait."""
        return (
            self.runs[minutes].transitions.total
            + int(self.signalled.transitions.p95)
            - self.wait_transitions(minutes)
            + int(self.teardown.retries.p95)
            + 1
            - self.delete_transitions(minutes)
        )

    def cost(self, duration_minutes: int, counts: SessionCounts) -> pricing.SessionCost:
        hours = duration_minutes / 60
        eni_hours = self.teardown.released.median / 3600
        return pricing.session_cost(
            pricing.SessionUsage(
                transitions=counts.transitions,
                invocations=counts.invocation_total,
                billed_ms_per_invocation=self.config.billed_ms_per_invocation,
                task_hours=hours,
                ipv4_hours=hours + eni_hours,
            )
        )


# --- running ----------------------------------------------------------------------------------


def _first_attempt_offset(asl: dict[str, Any], after: str, state: str, seconds: float) -> float:
    """Seconds from ``after`` returning to ``state``'s first attempt: the states in between."""
    return len(states_between(asl, after, state)) * seconds


def ready_wait_policy(asl: dict[str, Any]) -> tuple[float, RetryPolicy]:
    """The rendered ready wait: each attempt's TimeoutSeconds, and its Retrier on timeout."""
    timeout = float(asl["States"][WAIT_STATE]["TimeoutSeconds"])
    return timeout, retry_policy(asl, WAIT_STATE, TIMEOUT_ERROR)


def start_in_attempt(attempt: int, timeout_seconds: float, retry: RetryPolicy) -> float:
    """Seconds after RunTask for a task to start in the middle of the ready wait's
    ``attempt``-th attempt (its first look already made, its timeout still far)."""
    start = 0.0
    for earlier in range(1, attempt):
        start += timeout_seconds + retry.wait_before_retry(earlier)
    return start + timeout_seconds / 2


def simulate(config: BenchConfig, asl: dict[str, Any]) -> dict[str, Any]:
    """The ready-wait and teardown studies on the simulated clock, for the rendered ASL
    and for the polled design, on the same draws."""
    timeout, ready_retry = ready_wait_policy(asl)
    teardown_policy = retry_policy(asl, DELETE_GROUP_STATE, GROUP_IN_USE_ERROR)
    starts = uniform_sample(FARGATE_START_SECONDS, config.draws, config.seed)
    releases = uniform_sample(ENI_RELEASE_SECONDS, config.draws, config.seed + 1)
    step = config.invocation_seconds
    wait_offset = _first_attempt_offset(asl, RUN_TASK_STATE, WAIT_STATE, step)
    # The StopTask call is inside StopBastionTask: its return and the states in between
    # come before the first delete.
    teardown_offset = step + _first_attempt_offset(asl, STOP_STATE, DELETE_GROUP_STATE, step)

    def teardown_of(policy: RetryPolicy) -> TeardownStudy:
        return study_teardown(
            policy,
            releases,
            first_attempt_at=teardown_offset,
            attempt_seconds=step,
            seed=config.seed,
        )

    return {
        "ready_timeout_seconds": timeout,
        "ready_retry": ready_retry,
        "signalled": study_signalled_ready(
            starts,
            config.delivery,
            timeout_seconds=timeout,
            retry=ready_retry,
            first_attempt_at=wait_offset,
            attempt_seconds=step,
            seed=config.seed,
        ),
        "teardown_policy": teardown_policy,
        "teardown": teardown_of(teardown_policy),
        "polled": study_poll(
            POLLED_DESIGN,
            starts,
            first_attempt_at=wait_offset,
            attempt_seconds=step,
            seed=config.seed,
        ),
        "polled_teardown": teardown_of(POLLED_DESIGN_TEARDOWN),
    }


def run(config: BenchConfig, progress: Callable[[str], None] | None = None) -> BenchResults:
    """Run every measurement."""
    say = progress or (lambda _message: None)
    began = time.monotonic()
    asl = load_asl("session")
    results = BenchResults(
        config=config, generated_at=datetime.now(UTC), session_asl=asl, **simulate(config, asl)
    )
    # The measured sessions take the median ready wait and ENI wait of the simulated clock.
    task_starts_after = start_in_attempt(
        results.signalled.median_attempts, results.ready_timeout_seconds, results.ready_retry
    )
    say("deploying the stack on the local AWS")
    with local_stack(config.time_scale) as local:
        for minutes in DURATIONS:
            say(f"running a {minutes}-minute session")
            results.runs[minutes] = run_session(
                local,
                minutes,
                seconds_until_running=task_starts_after,
                eni_dependency_violations=results.teardown.median_retries,
                ready_time_scale=config.ready_time_scale,
            )
        for sessions in config.concurrency:
            say(f"running {sessions} concurrent session(s)")
            results.throughput.append(run_concurrent(local, sessions))
    modules = list(config.import_modules or handler_modules())
    say(f"timing cold imports of {len(modules)} handler modules ({config.import_runs} runs each)")
    load_before = load_average()
    results.imports = measure(
        modules, {LAMBDA: config.import_runs, OUTSIDE: config.import_runs_outside}
    )
    results.import_load = (load_before, load_average())
    results.elapsed_seconds = time.monotonic() - began
    return results


# --- tables -----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.0f}"


def _s(value: float) -> str:
    return f"{value:.1f}" if value != float("inf") else "never"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def targets(results: BenchResults) -> list[Target]:
    """Every target with the deployed design's measured value and the polled design's."""
    steps = len(results.steps_before_run_task)
    out = [
        Target(
            "sequential steps before RunTask",
            str(steps),
            str(steps),
            f"<= {MAX_STEPS_BEFORE_RUN_TASK}",
            steps <= MAX_STEPS_BEFORE_RUN_TASK,
        ),
    ]
    durations = [minutes for minutes in DURATIONS if minutes in results.runs]
    if durations:
        median = max(results.counts(m).transitions for m in durations)
        p95 = max(results.p95_transitions(m) for m in durations)
        invocations = max(results.counts(m).invocation_total for m in durations)
        calls = max(results.counts(m).call_total for m in durations)
        polled = [results.polled_counts(m) for m in durations]
        polled_p95 = max(results.polled_counts(m, p95=True).transitions for m in durations)
        lengths = " and ".join(f"{m // 60} h" for m in durations)
        out += [
            Target(
                f"state transitions per session ({lengths}), median",
                str(median),
                str(max(c.transitions for c in polled)),
                f"<= {MAX_MEDIAN_TRANSITIONS}",
                median <= MAX_MEDIAN_TRANSITIONS,
            ),
            Target(
                f"state transitions per session ({lengths}), p95",
                str(p95),
                str(polled_p95),
                f"<= {MAX_P95_TRANSITIONS}",
                p95 <= MAX_P95_TRANSITIONS,
            ),
            Target(
                "Lambda invocations per session",
                str(invocations),
                str(max(c.invocation_total for c in polled)),
                f"<= {MAX_INVOCATIONS}",
                invocations <= MAX_INVOCATIONS,
            ),
            Target(
                "AWS API calls per session",
                str(calls),
                str(max(c.call_total for c in polled)),
                f"<= {MAX_API_CALLS}",
                calls <= MAX_API_CALLS,
            ),
        ]
    delay = results.signalled.delay.median
    out.append(
        Target(
            "median delay from sshd accepting to ready",
            f"{delay:.2f} s",
            f"{results.polled.delay.median:.2f} s (from RUNNING; sshd not awaited)",
            f"<= {MAX_MEDIAN_READY_DELAY_SECONDS:g} s",
            delay <= MAX_MEDIAN_READY_DELAY_SECONDS,
        )
    )
    if ONE_HOUR in results.runs:
        ratio = results.cost(ONE_HOUR, results.counts(ONE_HOUR)).overhead_ratio
        polled_ratio = results.cost(ONE_HOUR, results.polled_counts(ONE_HOUR)).overhead_ratio
        out.append(
            Target(
                "orchestration overhead, 1-hour session",
                _pct(ratio),
                _pct(polled_ratio),
                f"<= {MAX_OVERHEAD_RATIO * 100:g}% of Fargate + IPv4",
                ratio <= MAX_OVERHEAD_RATIO,
            )
        )
    lambda_timings = [t for (_, kind), t in results.imports.items() if kind == LAMBDA]
    measured = [t for t in lambda_timings if t.median_ms is not None]
    if measured:
        slowest = max(measured, key=lambda t: t.median_ms or 0.0)
        failed = [t.module for t in lambda_timings if t.median_ms is None]
        ok = (slowest.median_ms or 0.0) <= MAX_IMPORT_MS and not failed
        text = f"{slowest.median_ms:.0f} ms ({slowest.module}"
        if slowest.median_cpu_ms is not None:
            text += f"; CPU {slowest.median_cpu_ms:.0f} ms"
        text += "; machine loaded)" if _machine_loaded(results) else ")"
        if failed:
            text += f"; failed to import: {', '.join(failed)}"
        out.append(
            Target(
                "slowest handler import, as on Lambda",
                text,
                "-",
                f"<= {MAX_IMPORT_MS:g} ms",
                ok,
            )
        )
    return out


def targets_table(results: BenchResults) -> Table:
    rows = [(t.name, t.measured, t.polled, t.limit, verdict(t.ok)) for t in targets(results)]
    return make_table(
        TITLE_TARGETS,
        ("target", SIGNALLED, POLLED, "limit", "result"),
        rows,
        notes=(
            "The result is the deployed design's. Both designs' figures come from this run: "
            "the polled design's from the same measured sessions and the same simulated "
            "draws (see each table).",
        ),
    )


def critical_path_table(results: BenchResults) -> Table:
    asl = results.session_asl
    path = normal_path(asl)
    before = results.steps_before_run_task
    rows = []
    for index, state in enumerate(path[: path.index(READY_STATE) + 1], start=1):
        if state in before:
            role = "sequential, before RunTask"
        elif state == RUN_TASK_STATE:
            role = "calls ecs:RunTask"
        else:
            role = "after RunTask, while Fargate starts the task"
        resource = _resource_label(asl, state)
        rows.append((str(index), state, resource, role))
    return make_table(
        TITLE_CRITICAL_PATH,
        ("#", "state (rendered session ASL)", "resource", "on the path"),
        rows,
        notes=(
            f"{len(before)} sequential steps run before RunTask "
            f"({', '.join(before)}); target <= {MAX_STEPS_BEFORE_RUN_TASK}: "
            f"{verdict(len(before) <= MAX_STEPS_BEFORE_RUN_TASK)}.",
            f"{AUTHORIZE_STATE} comes after {RUN_TASK_STATE} in the ASL: the control-plane "
            "rule is authorized while Fargate provisions the task, not before it.",
        ),
        numeric=(0,),
    )


def _resource_label(asl: dict[str, Any], state: str) -> str:
    resource = resource_of(asl, state)
    if resource.startswith("${") and resource.endswith("Arn}"):
        return "Lambda " + resource[2:-4]
    return resource or str(asl["States"][state]["Type"])


def _offset_ms(moment: datetime, origin: datetime) -> str:
    return f"{(moment - origin).total_seconds() * 1000:+.0f}"


def overlap_table(results: BenchResults) -> Table:
    run = results.runs[ONE_HOUR]
    origin = run.exited(RUN_TASK_STATE)
    rows: list[tuple[str, str]] = []
    created = run.task.get("createdAt")
    if created is not None:
        rows.append(("task created by RunTask (ECS createdAt)", _offset_ms(created, origin)))
    rows += [
        (f"{RUN_TASK_STATE} exited (RunTask returned)", "+0"),
        (f"{AUTHORIZE_STATE} entered", _offset_ms(run.entered(AUTHORIZE_STATE), origin)),
        (
            f"{AUTHORIZE_STATE} exited (rule in place)",
            _offset_ms(run.exited(AUTHORIZE_STATE), origin),
        ),
        (f"{WAIT_STATE} entered (first look)", _offset_ms(run.entered(WAIT_STATE), origin)),
    ]
    started = run.task.get("startedAt")
    if started is not None:
        rows.append(("task RUNNING (ECS startedAt)", _offset_ms(started, origin)))
    rows.append((f"{READY_STATE} entered", _offset_ms(run.entered(READY_STATE), origin)))
    authorized = run.exited(AUTHORIZE_STATE)
    overlaps = started is not None and authorized <= started
    notes = [
        f"From the 1-hour session's execution history on the local AWS ({run.session_id}), "
        f"in real milliseconds while the local AWS ran {results.config.ready_time_scale:g} "
        "times faster than AWS (the ready wait's speed; see the transitions table).",
        "Authorization finished before the task was RUNNING: "
        + ("yes, it overlaps the task start." if overlaps else "NO."),
        f"On AWS the task takes {FARGATE_START_SECONDS[0]:.0f}-{FARGATE_START_SECONDS[1]:.0f} s "
        "to reach RUNNING; one Lambda step of authorization (~"
        f"{results.config.invocation_seconds:g} s assumed) fits inside it, so it adds nothing "
        "to the time to bastion.",
    ]
    return make_table(
        TITLE_OVERLAP, ("event", "ms after RunTask returned"), rows, notes=notes, numeric=(1,)
    )


def transitions_table(results: BenchResults) -> Table:
    one, eight = results.runs[ONE_HOUR], results.runs[EIGHT_HOURS]
    by_one, by_eight = one.transitions.by_phase(), eight.transitions.by_phase()
    polled_one = results.polled_counts(ONE_HOUR).transitions_by_phase
    polled_eight = results.polled_counts(EIGHT_HOURS).transitions_by_phase
    phases = [*PHASES, *(p for p in [*by_one, *by_eight] if p not in PHASES)]
    rows = []
    for phase in dict.fromkeys(phases):
        a, b = by_one.get(phase), by_eight.get(phase)
        rows.append(
            (
                phase,
                f"{a.entered if a else 0} / {b.entered if b else 0}",
                f"{a.retries if a else 0} / {b.retries if b else 0}",
                str(a.transitions if a else 0),
                str(b.transitions if b else 0),
                str(polled_one.get(phase, 0)),
                str(polled_eight.get(phase, 0)),
            )
        )
    rows.append(
        (
            "total",
            f"{sum(s.entered for s in one.transitions.states)} / "
            f"{sum(s.entered for s in eight.transitions.states)}",
            f"{one.transitions.retries} / {eight.transitions.retries}",
            str(one.transitions.total),
            str(eight.transitions.total),
            str(sum(polled_one.values())),
            str(sum(polled_eight.values())),
        )
    )
    signalled, teardown = results.signalled, results.teardown
    task_start = start_in_attempt(
        signalled.median_attempts, results.ready_timeout_seconds, results.ready_retry
    )
    hold_one = by_one["hold"].transitions
    hold_eight = by_eight["hold"].transitions
    held_one = _held_minutes(one, results.config.time_scale)
    held_eight = _held_minutes(eight, results.config.time_scale)
    answers = "; ".join(
        f"{minutes // 60} h: {', '.join(results.runs[minutes].signal_answers) or 'none'}"
        for minutes in DURATIONS
    )
    waits = [results.wait_transitions(m) for m in DURATIONS]
    deletes = [results.delete_transitions(m) - 1 for m in DURATIONS]
    polled_p95 = [results.polled_counts(m, p95=True).transitions for m in DURATIONS]
    notes = [
        "Counted from the executions' histories on the local AWS: each state entered is one "
        "transition, each Retry attempt one more (as AWS bills Standard workflows).",
        f"The measured sessions take the simulated clock's medians: the task starts "
        f"{task_start:.0f} s "
        f"after RunTask, in the ready wait's attempt {signalled.median_attempts}, and the "
        f"session group is deleted after {teardown.median_retries} DependencyViolation "
        f"retries. Measured: {'/'.join(map(str, waits))} ready-wait attempts and "
        f"{'/'.join(map(str, deletes))} delete retries (1 h / 8 h).",
        "The task starts by its own clock, whoever describes it, and its started line "
        "reaches SignalBastionReady through the log subscription. What SignalBastionReady "
        f"answered to it: {answers}.",
        f"The local AWS ran {results.config.ready_time_scale:g} times faster than AWS until "
        f"that answer, then {results.config.time_scale:g} times: the hold costs {hold_one} "
        f"transitions for 1 hour and {hold_eight} for 8 hours (the holds measured "
        f"{held_one:.0f} and {held_eight:.0f} min of workflow time): HoldSession waits on a "
        "task token, with no polling loop.",
        f"With the p95 ready wait ({signalled.transitions.p95:.0f} attempts) and the p95 ENI "
        f"release ({teardown.retries.p95:.0f} retries) a session costs "
        f"{results.p95_transitions(ONE_HOUR)} transitions for 1 hour, "
        f"{results.p95_transitions(EIGHT_HOURS)} for 8 hours.",
        f"Polled design: the same sessions with its median {results.polled.median_attempts} "
        f"polls ({POLLED_DESIGN.describe()}) and {results.polled_teardown.median_retries} "
        f"delete retries ({POLLED_DESIGN_TEARDOWN.describe()}); with its p95 "
        f"({results.polled.transitions.p95:.0f} polls, "
        f"{results.polled_teardown.retries.p95:.0f} retries): "
        f"{polled_p95[0]} for 1 hour, {polled_p95[1]} for 8 hours.",
        f"History events: {len(one.events)} for 1 hour, {len(eight.events)} for 8 hours "
        "(Step Functions fails an execution at 25,000).",
    ]
    return make_table(
        TITLE_TRANSITIONS,
        (
            "phase",
            "states entered (1 h / 8 h)",
            "retry attempts (1 h / 8 h)",
            "transitions 1 h",
            "transitions 8 h",
            "polled design 1 h",
            "polled design 8 h",
        ),
        rows,
        notes=notes,
        numeric=(3, 4, 5, 6),
    )


def _held_minutes(run: SessionRun, time_scale: float) -> float:
    """The hold's wait (callback submitted → timed out or answered), in workflow minutes."""
    stamps: dict[str, datetime] = {}
    inside = False
    for event in run.events:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if details is not None:
            inside = (
                details.get("name") == session_states.HOLD_SESSION
                and "StateEntered" in event["type"]
            )
        elif inside and event["type"] in ("TaskSubmitted", "TaskTimedOut", "TaskSucceeded"):
            stamps.setdefault(
                event["type"] if event["type"] == "TaskSubmitted" else "end", event["timestamp"]
            )
    if "TaskSubmitted" not in stamps or "end" not in stamps:
        return float("nan")
    return (stamps["end"] - stamps["TaskSubmitted"]).total_seconds() * time_scale / 60


def _function_order(results: BenchResults) -> list[str]:
    return [s for s in normal_path(results.session_asl) if resource_of(results.session_asl, s)]


def _errors_of(run: SessionRun, name: str) -> str:
    found = sorted(
        (count, outcome)
        for (label, outcome), count in run.failed_invocations.items()
        if label == name
    )
    return ", ".join(f"{count} {outcome}" for count, outcome in reversed(found)) or "-"


def invocations_table(results: BenchResults) -> Table:
    one, eight = results.runs[ONE_HOUR], results.runs[EIGHT_HOURS]
    polled = results.polled_counts(ONE_HOUR).invocations
    order = _function_order(results)
    names = sorted(
        set(one.invocations) | set(eight.invocations) | set(polled),
        key=lambda n: (order.index(n) if n in order else len(order), n),
    )
    rows = [
        (
            name,
            str(one.invocations[name]),
            str(eight.invocations[name]),
            _errors_of(one, name),
            str(polled[name]),
        )
        for name in names
    ]
    rows.append(
        (
            "total",
            str(sum(one.invocations.values())),
            str(sum(eight.invocations.values())),
            str(sum(one.failed_invocations.values())),
            str(sum(polled.values())),
        )
    )
    durations = sorted(one.invocation_durations_ms())
    local_median = durations[len(durations) // 2] if durations else 0.0
    return make_table(
        TITLE_INVOCATIONS,
        ("function", "1 h", "8 h", "answered with an error (1 h)", "polled design (1 h)"),
        rows,
        notes=(
            "From the local AWS's record of invocations, named by the errorType the caller "
            f"received. {GROUP_IN_USE_ERROR} is the wait for the ENI, retried by design; a "
            f"{WAIT_STATE} attempt that times out is not an invocation error.",
            f"{SIGNAL_FUNCTION} is invoked by the bastion log group's subscription with the "
            "started line. The delivery names no session: the invocations counted are those "
            "whose delivered log stream is the session's task's.",
            "EndSession is invoked by the ECS task-stopped event (EventBridge) after the "
            "teardown's StopTask; it finds the session already ended and does nothing.",
            "Polled design: the same session with one WaitForBastionAddress invocation per "
            f"poll, no {SIGNAL_FUNCTION}, and one {DELETE_GROUP_FUNCTION} invocation per delete "
            "attempt (medians of the simulated clock).",
            f"Median handler duration on the local AWS: {local_median:.0f} ms (against moto, "
            "not AWS latency; the cost table assumes "
            f"{results.config.billed_ms_per_invocation:g} ms billed per invocation).",
        ),
        numeric=(1, 2, 4),
    )


def api_calls_table(results: BenchResults) -> Table:
    one, eight = results.runs[ONE_HOUR].api_calls, results.runs[EIGHT_HOURS].api_calls
    polled = results.polled_counts(ONE_HOUR).calls
    order = [STEP_FUNCTIONS, *_function_order(results)]
    ranked = sorted(
        set(one.calls) | set(eight.calls) | set(polled),
        key=lambda c: (
            order.index(c.caller) if c.caller in order else len(order),
            c.caller,
            c.call,
        ),
    )
    implied: dict[ApiCall, set[str]] = {}
    for (call, action), _count in [*one.implied.items(), *eight.implied.items()]:
        implied.setdefault(call, set()).add(action)
    rows = [
        (
            call.caller,
            call.call,
            str(one.calls[call]),
            str(eight.calls[call]),
            str(polled[call]),
            ", ".join(sorted(implied.get(call, ()))),
        )
        for call in ranked
    ]
    rows.append(
        (
            "total",
            "",
            str(sum(one.calls.values())),
            str(sum(eight.calls.values())),
            str(sum(polled.values())),
            "",
        )
    )
    by_service: Counter[str] = Counter()
    for call, count in one.calls.items():
        by_service[call.call.partition(":")[0]] += count
    summary = ", ".join(f"{service} {count}" for service, count in sorted(by_service.items()))
    return make_table(
        TITLE_API_CALLS,
        ("caller", "API call", "1 h", "8 h", "polled design (1 h)", "also authorized (IAM)"),
        rows,
        notes=(
            "From the local AWS's record of the actions each function, the state machine, "
            "EventBridge and CloudWatch Logs performed while the session ran (sessions run one "
            "at a time); the benchmark's own calls are not in it.",
            f"{CLOUDWATCH_LOGS}: the subscription's delivery of the started line to "
            f"{SIGNAL_FUNCTION}. {EVENTBRIDGE}: the ECS task-stopped event after StopTask "
            "invokes EndSession, which finds no held session and does nothing.",
            "Polled design: the same session without the ready wait's and the signal's calls, "
            f"with per poll an invocation and {', '.join(POLLED_DESIGN_CALLS_PER_POLL)}, once "
            f"{', '.join(POLLED_DESIGN_CALLS_WHEN_READY)}, and per delete attempt the calls "
            "one measured delete made.",
            f"1-hour session by service: {summary}.",
        ),
        numeric=(2, 3, 4),
    )


def ready_table(results: BenchResults) -> Table:
    signalled, polled = results.signalled, results.polled
    rows = []
    measures = (
        (
            "delay from sshd accepting (polled: RUNNING) to ready (s)",
            signalled.delay,
            polled.delay,
            _s,
        ),
        (
            f"{WAIT_STATE} attempts = transitions",
            signalled.transitions,
            polled.transitions,
            lambda v: f"{v:.0f}",
        ),
        (
            "RunTask to ready (s)",
            Summary.of([r.attempts.finished_at for r in signalled.results]),
            Summary.of([r.attempts.finished_at for r in polled.results]),
            _s,
        ),
    )
    for label, new, old, show in measures:
        rows.append(
            (
                label,
                show(new.median),
                show(new.p95),
                show(new.maximum),
                show(old.median),
                show(old.p95),
                show(old.maximum),
            )
        )
    lost = signalled.lost
    lost_delay = Summary.of([r.delay for r in lost]) if lost else None
    draws = len(signalled.results)
    delay = signalled.delay.median
    return make_table(
        TITLE_READY,
        (
            "measure",
            "signalled median",
            "p95",
            "max",
            "polled median",
            "p95",
            "max",
        ),
        rows,
        notes=(
            f"Signalled (deployed): {WAIT_STATE} is a .waitForTaskToken state, each attempt "
            f"{results.ready_timeout_seconds:g} s (TimeoutSeconds), then Retry on "
            f"{TIMEOUT_ERROR}: {results.ready_retry.describe()} (read from the rendered ASL). "
            "Each attempt keeps its token and looks once; the started line's delivery makes "
            f"{SIGNAL_FUNCTION} look again and answer. The delays it assumes are in the next "
            "table.",
            f"Polled (previous design): Retry on BastionNotReady, {POLLED_DESIGN.describe()}; "
            "it declared ready when the task was RUNNING with an address, without waiting for "
            "sshd: its delay is counted from RUNNING.",
            f"sshd accepting when the task is RUNNING, a uniform {FARGATE_START_SECONDS[0]:.0f}-"
            f"{FARGATE_START_SECONDS[1]:.0f} s after RunTask ({draws} seeded draws, seed "
            f"{results.config.seed}); each invocation takes "
            f"{results.config.invocation_seconds:g} s (assumed), the authorization step "
            "included before the first look.",
            f"Made ready by the delivery in {signalled.signalled} of {draws} draws, by an "
            f"attempt's own look in the others. Deliveries lost: {len(lost)}"
            + (
                f", made up by the next attempt's look: delay median {_s(lost_delay.median)} s, "
                f"max {_s(lost_delay.maximum)} s."
                if lost_delay
                else "."
            )
            + f" Never ready: {signalled.gave_up} (signalled), {polled.gave_up} (polled).",
            f"Target: median <= {MAX_MEDIAN_READY_DELAY_SECONDS:g} s: "
            f"{verdict(delay <= MAX_MEDIAN_READY_DELAY_SECONDS)}.",
        ),
        numeric=(1, 2, 3, 4, 5, 6),
    )


#: Why no channel open to the bastion reaches the ready-delay target, each from AWS's own
#: documentation or code (the delivery table's notes).
READY_CHANNEL_LIMITS = (
    "Why the 1 s target is out of reach: the bastion holds no AWS credentials (by design), "
    "so what it says leaves through its log stream, and each step of that way is slower "
    "than the target or has no documented latency.",
    "The batching cannot be turned off on Fargate: Docker's awslogs driver has a "
    "force-flush interval option, but Fargate's log router (shim-loggers-for-containerd) "
    "passes it none of that, and a batch is sent early only when it is full (1 MiB or "
    "10,000 events). A FireLens log router could flush sooner, but it sends with the task "
    "role, whose credentials every container of the task can fetch: the bastion's users "
    "would hold AWS credentials.",
    "CloudWatch Logs bounds a subscription's delivery by 'usually less than three "
    "minutes'; EventBridge and ECS document no delivery latency for the task state change "
    "events, and those events do not carry the containers' health (ECS documents that "
    "DescribeTasks must be called for it), so a health check gives no faster signal.",
)


def delivery_table(results: BenchResults) -> Table:
    delivery = results.config.delivery
    low, high = delivery.delivery_seconds
    step = results.config.invocation_seconds
    timeout = results.ready_timeout_seconds
    rows = [
        (
            "sshd accepts → started line written",
            "0 s",
            "The bastion writes its started line once sshd accepts (container/entrypoint.sh).",
        ),
        (
            "line written → in its log stream",
            f"uniform 0-{delivery.batch_seconds:g} s",
            "The awslogs driver sends a container's lines every 5 s, or when its batch is "
            "full (batchPublishFrequency in Docker's daemon/logger/awslogs, which Fargate's "
            "log router, shim-loggers-for-containerd, runs). AWS documents no figure.",
        ),
        (
            "in the stream → SignalBastionReady runs",
            f"uniform {low:g}-{high:g} s (assumed)",
            "CloudWatch Logs documents that log events are sent to a subscription's "
            "destination soon after being ingested, usually in less than three minutes, and "
            "no typical figure; Lambda documents for asynchronous invocation only its retries "
            "(after a function error 1 and 2 min; throttled events again after 1 s, growing "
            "to 5 min, for up to 6 h), no delay for an event that succeeds at once. The range "
            "assumed here is far inside AWS's bound.",
        ),
        (
            "SignalBastionReady looks, SendTaskSuccess, ready state entered",
            f"{step:g} s (assumed)",
            "One Lambda invocation's round trip, as for every step here; Step Functions "
            "documents no latency for SendTaskSuccess.",
        ),
        (
            "delivery lost",
            f"{delivery.loss_rate:.0%} of deliveries (assumed)",
            "Lambda documents that events may be dropped from the asynchronous queue when "
            "the function cannot keep up, and after its retries; no rate is documented. The "
            f"attempt's timeout ({timeout:g} s), then the next attempt's own look, make up for "
            f"a lost delivery: up to {timeout + results.ready_retry.interval_seconds:g} s "
            "more.",
        ),
    ]
    without_batch = study_signalled_ready(
        [r.accepting_at for r in results.signalled.results],
        DeliveryAssumptions(0.0, delivery.delivery_seconds, delivery.loss_rate),
        timeout_seconds=timeout,
        retry=results.ready_retry,
        first_attempt_at=_first_attempt_offset(
            results.session_asl, RUN_TASK_STATE, WAIT_STATE, step
        ),
        attempt_seconds=step,
        seed=results.config.seed,
    )
    return make_table(
        TITLE_DELIVERY,
        ("step", "assumed delay", "source"),
        rows,
        notes=(
            "Each draw of the ready-detection study takes these delays (seeded), after its "
            "Fargate start.",
            "The log driver's batching dominates: with the line in its stream at once, the "
            f"median delay would be {without_batch.delay.median:.2f} s (p95 "
            f"{without_batch.delay.p95:.2f} s) and the median ready wait "
            f"{without_batch.median_attempts} attempt(s).",
            *READY_CHANNEL_LIMITS,
        ),
    )


def teardown_table(results: BenchResults) -> Table:
    new, old = results.teardown, results.polled_teardown
    rows = []
    measures = (
        (
            f"{DELETE_GROUP_STATE} retries = extra transitions",
            new.retries,
            old.retries,
            lambda v: f"{v:.0f}",
        ),
        ("group deleted after the ENI's release (s)", new.lingered, old.lingered, _s),
        ("StopTask to group deleted (s)", new.finished, old.finished, _s),
    )
    for label, a, b, show in measures:
        rows.append(
            (
                label,
                show(a.median),
                show(a.p95),
                show(a.maximum),
                show(b.median),
                show(b.p95),
                show(b.maximum),
            )
        )
    return make_table(
        TITLE_TEARDOWN,
        ("measure", "deployed median", "p95", "max", "polled design median", "p95", "max"),
        rows,
        notes=(
            f"Deployed policy, read from the rendered ASL, {DELETE_GROUP_STATE} Retry on "
            f"{GROUP_IN_USE_ERROR}: {results.teardown_policy.describe()} (about "
            f"{results.teardown_policy.total_wait_seconds() / 60:.1f} min of waiting in all). "
            f"Polled design's: {POLLED_DESIGN_TEARDOWN.describe()} (about "
            f"{POLLED_DESIGN_TEARDOWN.total_wait_seconds() / 60:.1f} min).",
            f"ENI released a uniform {ENI_RELEASE_SECONDS[0]:.0f}-"
            f"{ENI_RELEASE_SECONDS[1] / 60:.0f} min after StopTask ({results.config.draws} "
            f"seeded draws); gave up (left to the sweeper) in {new.gave_up} (deployed) and "
            f"{old.gave_up} (polled design) of {len(new.results)}.",
        ),
        numeric=(1, 2, 3, 4, 5, 6),
    )


def cost_table(results: BenchResults) -> Table:
    one = results.cost(ONE_HOUR, results.counts(ONE_HOUR))
    eight = results.cost(EIGHT_HOURS, results.counts(EIGHT_HOURS))
    polled_counts_one = results.polled_counts(ONE_HOUR)
    old = results.cost(ONE_HOUR, polled_counts_one)
    count_one, count_eight = results.counts(ONE_HOUR), results.counts(EIGHT_HOURS)
    d = pricing.dollars
    rows = [
        (
            "Step Functions Standard (transitions)",
            f"{d(one.step_functions)} ({count_one.transitions})",
            f"{d(eight.step_functions)} ({count_eight.transitions})",
            f"{d(old.step_functions)} ({polled_counts_one.transitions})",
        ),
        (
            "Lambda requests (invocations)",
            f"{d(one.lambda_requests)} ({count_one.invocation_total})",
            f"{d(eight.lambda_requests)} ({count_eight.invocation_total})",
            f"{d(old.lambda_requests)} ({polled_counts_one.invocation_total})",
        ),
        (
            "Lambda duration (GB-s)",
            d(one.lambda_duration),
            d(eight.lambda_duration),
            d(old.lambda_duration),
        ),
        ("= orchestration", d(one.orchestration), d(eight.orchestration), d(old.orchestration)),
        (
            "Fargate ARM64 vCPU (0.25 vCPU)",
            d(one.fargate_vcpu),
            d(eight.fargate_vcpu),
            d(old.fargate_vcpu),
        ),
        (
            "Fargate ARM64 memory (0.5 GB)",
            d(one.fargate_memory),
            d(eight.fargate_memory),
            d(old.fargate_memory),
        ),
        ("public IPv4", d(one.ipv4), d(eight.ipv4), d(old.ipv4)),
        ("= floor (Fargate + IPv4)", d(one.floor), d(eight.floor), d(old.floor)),
        ("total per session", d(one.total), d(eight.total), d(old.total)),
        (
            "orchestration / floor",
            _pct(one.overhead_ratio),
            _pct(eight.overhead_ratio),
            _pct(old.overhead_ratio),
        ),
    ]
    eni_minutes = results.teardown.released.median / 60
    return make_table(
        TITLE_COST,
        ("line item", "1-hour session", "8-hour session", "polled design, 1-hour session"),
        rows,
        notes=(
            "Prices: Step Functions Standard $0.025 per 1,000 transitions; Fargate Linux/ARM64 "
            "$0.03238 per vCPU-hour + $0.00356 per GB-hour; public IPv4 $0.005 per hour "
            "(/work/shared/reference/AWS_FACTS.md section C); Lambda arm64 $0.20 per 1M "
            "requests + $0.0000133334 per GB-second (AWS Lambda price list). Free tiers left "
            "out.",
            "Transitions and invocations: the sessions measured above (the polled design's: "
            "computed from the 1-hour session, see the transitions table). Lambda: "
            f"{results.config.billed_ms_per_invocation:g} ms billed per invocation at "
            f"{pricing.LAMBDA_MEMORY_MB} MB (assumed; it covers a cold start's init).",
            "Fargate is billed for the session's length (the task starts within it and stops "
            "at expiry); the public IPv4 address also for the ENI's median release after stop "
            f"({eni_minutes:.1f} min).",
            f"Target: orchestration <= {MAX_OVERHEAD_RATIO * 100:g}% of the floor for a 1-hour "
            f"session: {verdict(one.overhead_ratio <= MAX_OVERHEAD_RATIO)}.",
        ),
        numeric=(1, 2, 3),
    )


def imports_table(results: BenchResults) -> Table:
    modules = sorted({module for module, _ in results.imports})
    loaded = _machine_loaded(results)
    rows = []
    for module in modules:
        on_lambda = results.imports.get((module, LAMBDA))
        outside = results.imports.get((module, OUTSIDE))
        median = on_lambda.median_ms if on_lambda else None
        cpu = on_lambda.median_cpu_ms if on_lambda else None
        spread = (
            f"{min(on_lambda.samples_ms):.0f}-{max(on_lambda.samples_ms):.0f}"
            if on_lambda and on_lambda.samples_ms
            else "-"
        )
        if on_lambda and on_lambda.failures:
            spread += f" ({on_lambda.failures} failed)"
        outside_median = outside.median_ms if outside else None
        ok = median is not None and median <= MAX_IMPORT_MS
        result = verdict(ok)
        if not ok and loaded and cpu is not None and cpu <= MAX_IMPORT_MS:
            result += " (loaded machine; CPU time within)"
        rows.append(
            (
                module,
                "import failed" if median is None else _ms(median),
                spread,
                "-" if cpu is None else _ms(cpu),
                "-" if outside_median is None else _ms(outside_median),
                f"{MAX_IMPORT_MS:g}",
                result,
            )
        )
    return make_table(
        TITLE_IMPORTS,
        (
            "module",
            "median ms, as on Lambda",
            "range ms",
            "CPU ms (median)",
            "outside Lambda ms",
            "limit ms",
            "result",
        ),
        rows,
        notes=(
            f"Each figure: a fresh `{platform.python_implementation()} "
            f"{platform.python_version()} -X importtime -c 'import boto3; import "
            "tasks.<module>'`; the cumulative time of tasks.<module> (boto3 and botocore "
            "imported first: the Lambda runtime provides them). As on Lambda: median of "
            f"{results.config.import_runs} processes, interleaved across modules; outside "
            f"Lambda: median of {results.config.import_runs_outside}, for comparison. The "
            "target applies to the wall-clock median as on Lambda.",
            f"Load average (1 min) on this {_cpu_count()}-CPU machine: {_load(results)}. "
            "Wall-clock import times grow with other work competing for the CPUs; the CPU "
            "time of the same imports (time.process_time in the measured process) much less.",
            "'As on Lambda': LAMBDA_TASK_ROOT and the function's variables set, tracing "
            "active (template.yaml: Tracing: Active), so the X-Ray SDK under Powertools' "
            "Tracer takes its Lambda path. 'Outside Lambda' its centralized sampler creates "
            "two botocore X-Ray clients at import instead, which a deployed function never "
            "does.",
            "Lambda runs python3.13 from a read-only /var/task without the tasks' .pyc files; "
            "here they are cached, so compiling the handlers' own small modules is not "
            "counted.",
        ),
        numeric=(1, 2, 3, 4, 5),
    )


def _machine_loaded(results: BenchResults) -> bool:
    """Whether other work kept every CPU busy while the imports were timed."""
    loads = [load for load in results.import_load if load is not None]
    return bool(loads) and max(loads) > _cpu_count()


def throughput_table(results: BenchResults) -> Table:
    rows = [
        (
            str(run.sessions),
            f"{run.wall_seconds:.2f}",
            f"{run.lifecycles_per_second:.2f}",
            f"{run.statuses.get('SUCCEEDED', 0)}/{run.sessions}",
            str(run.invocations),
            "empty" if run.inventory_empty else "NOT EMPTY",
            "yes" if run.control_plane_restored else "NO",
        )
        for run in results.throughput
    ]
    notes = [
        "Whole 1-minute sessions (start, ready, hold, expire, teardown) started together on "
        f"one local AWS at time scale {results.config.time_scale:g}, with its default task "
        "lifecycle (RUNNING at the second look or after 30 s of workflow time, ENI released "
        "at once).",
        "The local AWS runs one Lambda handler at a time (handlers share os.environ), so "
        "throughput is bounded by handler time, not by the workflows.",
    ]
    for run in results.throughput:
        if run.failures:
            kinds = Counter(run.failures)
            notes.append(
                f"{run.sessions} concurrent: {len(run.failures)} did not succeed: "
                + "; ".join(f"{count} x {text}" for text, count in kinds.items())
            )
        if run.other_executions:
            notes.append(
                f"{run.sessions} concurrent: the event rules started {run.other_executions} "
                "teardown execution(s) for sessions that ended abnormally; waited for them."
            )
        if not run.inventory_empty:
            notes.append(f"left behind after {run.sessions} concurrent: {run.leftover}")
    return make_table(
        TITLE_THROUGHPUT,
        (
            "concurrent sessions",
            "wall time (s)",
            "lifecycles/s",
            "succeeded",
            "invocations",
            "inventory afterwards",
            "control-plane rules restored",
        ),
        rows,
        notes=notes,
        numeric=(0, 1, 2, 4),
    )


def history_table() -> Table:
    """Each machine's most history events (read from the rendered ASL) and the margin."""
    rows = [
        (
            bound.machine,
            bound.scenario,
            f"{bound.events:,}",
            f"{bound.margin:,} ({bound.margin / HISTORY_EVENT_LIMIT:.0%})",
            verdict(bound.ok),
        )
        for bound in history_bounds()
    ]
    return make_table(
        TITLE_HISTORY,
        ("machine", "worst case", "events", "margin", "result"),
        rows,
        notes=(
            f"Step Functions fails a Standard execution at {HISTORY_EVENT_LIMIT:,} history "
            "events (a hard quota). Bound: every state entered once (the one loop, a "
            f"session's extensions, taken its {MAX_EXTENSION_REQUESTS} times at most), every "
            "retrier run to its last attempt, per attempt 3 events for a Lambda task and 4 "
            "for a .waitForTaskToken task (benchmarks/history.py).",
        ),
        numeric=(2,),
    )


def tables(results: BenchResults) -> list[Table]:
    """Every table, in :data:`TITLES` order."""
    built = [
        targets_table(results),
        critical_path_table(results),
        overlap_table(results),
        transitions_table(results),
        invocations_table(results),
        api_calls_table(results),
        ready_table(results),
        delivery_table(results),
        teardown_table(results),
        cost_table(results),
        imports_table(results),
        throughput_table(results),
        history_table(),
    ]
    if [table.title for table in built] != list(TITLES):
        raise RuntimeError("the tables are out of step with TITLES")
    return built


def header_lines(results: BenchResults) -> list[str]:
    """How and when the numbers were produced."""
    stamp = results.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"Generated by `make bench` (`python -m benchmarks`) on {stamp}, in "
        f"{results.elapsed_seconds:.0f} s: Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}, {_cpu_count()} CPUs.",
        "Sessions ran on the embedded local AWS (moto, the stack deployed from template.yaml, "
        f"the real handlers) at time scale {results.config.time_scale:g}; delays come from a "
        "seeded simulation on a simulated clock driven by the rendered ASL's Retry policies; "
        "import times from fresh Python processes. Regenerate it with `make bench`; do not "
        "edit it by hand.",
    ]


def _load(results: BenchResults) -> str:
    before, after = results.import_load
    if before is None or after is None:
        return "not available"
    return f"{before:.1f} before, {after:.1f} after the timings"


def _cpu_count() -> int:
    return os.cpu_count() or 1


def render_markdown_page(results: BenchResults, built: Sequence[Table]) -> str:
    lines = ["# Benchmarks", "", *header_lines(results), ""]
    for table in built:
        lines += [render_markdown(table), ""]
    return "\n".join(lines).rstrip() + "\n"


def render_text_report(results: BenchResults, built: Sequence[Table]) -> str:
    # The targets go last on a terminal, where the eye lands.
    ordered = [*built[1:], built[0]]
    blocks = [" ".join(header_lines(results)[:1])]
    blocks += [render_text(table) for table in ordered]
    missed = [t for t in targets(results) if not t.ok]
    blocks.append(
        "ALL TARGETS PASS"
        if not missed
        else "MISSED TARGETS: " + "; ".join(f"{t.name} ({t.measured})" for t in missed)
    )
    return "\n\n".join(blocks) + "\n"

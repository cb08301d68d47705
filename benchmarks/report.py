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
from benchmarks.calls import EVENTBRIDGE, STEP_FUNCTIONS, ApiCall
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
    PollStudy,
    Summary,
    TeardownStudy,
    study_poll,
    study_teardown,
    uniform_sample,
)
from benchmarks.tables import Table, make_table, render_markdown, render_text, verdict
from benchmarks.transitions import PHASES
from tasks.common import session_states
from tasks.common.extensions import MAX_EXTENSION_REQUESTS

RUN_TASK_STATE = session_states.RUN_BASTION_TASK
AUTHORIZE_STATE = "AuthorizeControlPlaneIngress"
POLL_STATE = session_states.WAIT_FOR_BASTION_ADDRESS
READY_STATE = session_states.BASTION_READY
STOP_STATE = session_states.TEARDOWN_STEPS[0]
DELETE_GROUP_STATE = "DeleteSessionSecurityGroup"
NOT_READY_ERROR = "BastionNotReady"
#: The ready poll the session machine used before the bastion's started line signalled
#: ready: WaitForBastionAddress retried on BastionNotReady every 3 s, 100 times. Its
#: figures are computed beside the signalled design's, for comparison.
POLLED_DESIGN = RetryPolicy((NOT_READY_ERROR,), 3.0, 100, backoff_rate=1.0)
GROUP_IN_USE_ERROR = "SessionSecurityGroupInUse"

ONE_HOUR = 60
EIGHT_HOURS = 480

# Targets (issue 7).
MAX_STEPS_BEFORE_RUN_TASK = 3
MAX_MEDIAN_READY_DELAY_SECONDS = 3.0
MAX_TRANSITIONS = {ONE_HOUR: 80, EIGHT_HOURS: 100}
MAX_OVERHEAD_RATIO = 0.10
MAX_IMPORT_MS = 150.0

# Every table's title, in the order they are printed.
TITLE_CRITICAL_PATH = "Critical path to RunTask"
TITLE_OVERLAP = "Control-plane authorization while Fargate starts the task"
TITLE_TRANSITIONS = "State transitions per session, by phase"
TITLE_INVOCATIONS = "Lambda invocations per session"
TITLE_API_CALLS = "AWS API calls per session, by action"
TITLE_READY = "Ready-detection delay (simulated clock)"
TITLE_POLICIES = "Ready poll policies compared (simulated clock)"
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
    TITLE_POLICIES,
    TITLE_TEARDOWN,
    TITLE_COST,
    TITLE_IMPORTS,
    TITLE_THROUGHPUT,
    TITLE_HISTORY,
)


@dataclass(frozen=True)
class BenchConfig:
    """What to run, and the stated assumptions."""

    #: How much faster than real time the local AWS's waits run (8 h → 2 s at 14,400).
    time_scale: float = 14_400.0
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


@dataclass(frozen=True)
class Target:
    """One target of issue 7 and how the run measured against it."""

    name: str
    measured: str
    limit: str
    ok: bool


@dataclass
class BenchResults:
    """Everything one run measured."""

    config: BenchConfig
    generated_at: datetime
    session_asl: dict[str, Any]
    poll_policy: RetryPolicy
    teardown_policy: RetryPolicy
    poll: PollStudy
    alternatives: list[tuple[str, PollStudy, int]]
    teardown: TeardownStudy
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

    def cost(self, duration_minutes: int) -> pricing.SessionCost:
        run = self.runs[duration_minutes]
        hours = duration_minutes / 60
        eni_hours = self.teardown.released.median / 3600
        return pricing.session_cost(
            pricing.SessionUsage(
                transitions=run.transitions.total,
                invocations=sum(run.invocations.values()),
                billed_ms_per_invocation=self.config.billed_ms_per_invocation,
                task_hours=hours,
                ipv4_hours=hours + eni_hours,
            )
        )


# --- running ----------------------------------------------------------------------------------


def _first_attempt_offset(asl: dict[str, Any], after: str, state: str, seconds: float) -> float:
    """Seconds from ``after`` returning to ``state``'s first attempt: the states in between."""
    return len(states_between(asl, after, state)) * seconds


def simulate(
    config: BenchConfig, asl: dict[str, Any]
) -> tuple[RetryPolicy, RetryPolicy, PollStudy, list[tuple[str, PollStudy, int]], TeardownStudy]:
    """The poll and teardown studies on the simulated clock, from the rendered ASL."""
    poll_policy = POLLED_DESIGN
    teardown_policy = retry_policy(asl, DELETE_GROUP_STATE, GROUP_IN_USE_ERROR)
    starts = uniform_sample(FARGATE_START_SECONDS, config.draws, config.seed)
    releases = uniform_sample(ENI_RELEASE_SECONDS, config.draws, config.seed + 1)
    step = config.invocation_seconds
    poll_offset = _first_attempt_offset(asl, RUN_TASK_STATE, POLL_STATE, step)
    poll = study_poll(
        poll_policy, starts, first_attempt_at=poll_offset, attempt_seconds=step, seed=config.seed
    )
    # The StopTask call is inside StopBastionTask: its return and the states in between
    # come before the first delete.
    teardown_offset = step + _first_attempt_offset(asl, STOP_STATE, DELETE_GROUP_STATE, step)
    teardown = study_teardown(
        teardown_policy,
        releases,
        first_attempt_at=teardown_offset,
        attempt_seconds=step,
        seed=config.seed,
    )
    alternatives: list[tuple[str, PollStudy, int]] = []
    candidates: list[tuple[str, RetryPolicy, float, int]] = [
        ("fixed 2 s", _policy(2, 1.0, None, 150), 0.0, 0),
        ("fixed 5 s", _policy(5, 1.0, None, 60), 0.0, 0),
        ("2 s ×1.5, max 10 s", _policy(2, 1.5, 10, 40), 0.0, 0),
        ("Wait 25 s, then fixed 3 s", _policy(3, 1.0, None, 100), 25.0, 1),
    ]
    for label, policy, wait, extra in candidates:
        study = study_poll(
            policy,
            starts,
            first_attempt_at=poll_offset + wait,
            attempt_seconds=step,
            seed=config.seed,
        )
        alternatives.append((label, study, extra))
    return poll_policy, teardown_policy, poll, alternatives, teardown


def _policy(interval: float, backoff: float, max_delay: float | None, attempts: int) -> RetryPolicy:
    return RetryPolicy(
        (NOT_READY_ERROR,),
        interval_seconds=interval,
        max_attempts=attempts,
        backoff_rate=backoff,
        max_delay_seconds=max_delay,
    )


def run(config: BenchConfig, progress: Callable[[str], None] | None = None) -> BenchResults:
    """Run every measurement."""
    say = progress or (lambda _message: None)
    began = time.monotonic()
    asl = load_asl("session")
    poll_policy, teardown_policy, poll, alternatives, teardown = simulate(config, asl)
    results = BenchResults(
        config=config,
        generated_at=datetime.now(UTC),
        session_asl=asl,
        poll_policy=poll_policy,
        teardown_policy=teardown_policy,
        poll=poll,
        alternatives=alternatives,
        teardown=teardown,
    )
    say("deploying the stack on the local AWS")
    with local_stack(config.time_scale) as local:
        for minutes in (ONE_HOUR, EIGHT_HOURS):
            say(f"running a {minutes}-minute session")
            results.runs[minutes] = run_session(
                local,
                minutes,
                describes_until_running=poll.median_attempts,
                eni_dependency_violations=teardown.median_retries,
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
    """Every target with its measured value."""
    steps = len(results.steps_before_run_task)
    delay = results.poll.delay.median
    out = [
        Target(
            "sequential steps before RunTask",
            str(steps),
            f"<= {MAX_STEPS_BEFORE_RUN_TASK}",
            steps <= MAX_STEPS_BEFORE_RUN_TASK,
        ),
        Target(
            "median ready-detection delay",
            f"{delay:.2f} s",
            f"<= {MAX_MEDIAN_READY_DELAY_SECONDS:g} s",
            delay <= MAX_MEDIAN_READY_DELAY_SECONDS,
        ),
    ]
    for minutes, limit in MAX_TRANSITIONS.items():
        if minutes in results.runs:
            total = results.runs[minutes].transitions.total
            out.append(
                Target(
                    f"state transitions, {minutes // 60}-hour session",
                    str(total),
                    f"<= {limit}",
                    total <= limit,
                )
            )
    if ONE_HOUR in results.runs:
        ratio = results.cost(ONE_HOUR).overhead_ratio
        out.append(
            Target(
                "orchestration overhead, 1-hour session",
                _pct(ratio),
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
            Target("slowest handler import, as on Lambda", text, f"<= {MAX_IMPORT_MS:g} ms", ok)
        )
    return out


def targets_table(results: BenchResults) -> Table:
    rows = [(t.name, t.measured, t.limit, verdict(t.ok)) for t in targets(results)]
    return make_table(TITLE_TARGETS, ("target", "measured", "limit", "result"), rows)


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
        (f"{POLL_STATE} entered (first poll)", _offset_ms(run.entered(POLL_STATE), origin)),
    ]
    started = run.task.get("startedAt")
    if started is not None:
        rows.append(("task RUNNING (ECS startedAt)", _offset_ms(started, origin)))
    rows.append((f"{READY_STATE} entered", _offset_ms(run.entered(READY_STATE), origin)))
    authorized = run.exited(AUTHORIZE_STATE)
    overlaps = started is not None and authorized <= started
    attempts = run.transitions.of_state(POLL_STATE).transitions
    notes = [
        f"From the 1-hour session's execution history on the local AWS ({run.session_id}), "
        f"where the task reaches RUNNING at poll {attempts}, the median number of polls on "
        "the simulated clock.",
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
        )
    )
    poll_p95 = int(results.poll.transitions.p95)
    teardown_p95 = int(results.teardown.retries.p95)
    extra = (poll_p95 - results.poll.median_attempts) + (
        teardown_p95 - results.teardown.median_retries
    )
    hold_one = by_one["hold"].transitions
    hold_eight = by_eight["hold"].transitions
    held_one = _held_minutes(one, results.config.time_scale)
    held_eight = _held_minutes(eight, results.config.time_scale)
    notes = [
        "Counted from the executions' histories on the local AWS: each state entered is one "
        "transition, each Retry attempt one more (as AWS bills Standard workflows).",
        f"The task ran at poll {results.poll.median_attempts} and the session group was "
        f"deleted after {results.teardown.median_retries} DependencyViolation retries: the "
        "medians of the simulated clock (below).",
        f"The hold costs {hold_one} transitions for 1 hour and {hold_eight} for 8 hours "
        f"(the holds measured {held_one:.0f} and {held_eight:.0f} min of workflow time): "
        "HoldSession waits on a task token, with no polling loop.",
        f"With the p95 Fargate start ({poll_p95} polls) and p95 ENI release ({teardown_p95} "
        f"retries) a session costs {extra:+d} transitions: {one.transitions.total + extra} "
        f"for 1 hour, {eight.transitions.total + extra} for 8 hours.",
        f"History events: {len(one.events)} for 1 hour, {len(eight.events)} for 8 hours "
        "(Step Functions fails an execution at 25,000).",
        f"Targets: 1 hour <= {MAX_TRANSITIONS[ONE_HOUR]}: "
        f"{verdict(one.transitions.total <= MAX_TRANSITIONS[ONE_HOUR])}; 8 hours <= "
        f"{MAX_TRANSITIONS[EIGHT_HOURS]}: "
        f"{verdict(eight.transitions.total <= MAX_TRANSITIONS[EIGHT_HOURS])}.",
    ]
    return make_table(
        TITLE_TRANSITIONS,
        (
            "phase",
            "states entered (1 h / 8 h)",
            "retry attempts (1 h / 8 h)",
            "transitions 1 h",
            "transitions 8 h",
        ),
        rows,
        notes=notes,
        numeric=(3, 4),
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
    order = _function_order(results)
    names = sorted(
        set(one.invocations) | set(eight.invocations),
        key=lambda n: (order.index(n) if n in order else len(order), n),
    )
    rows = [
        (name, str(one.invocations[name]), str(eight.invocations[name]), _errors_of(one, name))
        for name in names
    ]
    rows.append(
        (
            "total",
            str(sum(one.invocations.values())),
            str(sum(eight.invocations.values())),
            str(sum(one.failed_invocations.values())),
        )
    )
    durations = sorted(one.invocation_durations_ms())
    local_median = durations[len(durations) // 2] if durations else 0.0
    return make_table(
        TITLE_INVOCATIONS,
        ("function", "1 h", "8 h", "answered with an error (1 h)"),
        rows,
        notes=(
            "From the local AWS's record of invocations, named by the errorType the caller "
            f"received. {NOT_READY_ERROR} is the ready poll and {GROUP_IN_USE_ERROR} the wait "
            "for the ENI: both retried by design.",
            "EndSession is invoked by the ECS task-stopped event (EventBridge) after the "
            "teardown's StopTask; it finds the session already ended and does nothing.",
            f"Median handler duration on the local AWS: {local_median:.0f} ms (against moto, "
            "not AWS latency; the cost table assumes "
            f"{results.config.billed_ms_per_invocation:g} ms billed per invocation).",
        ),
        numeric=(1, 2),
    )


def api_calls_table(results: BenchResults) -> Table:
    one, eight = results.runs[ONE_HOUR].api_calls, results.runs[EIGHT_HOURS].api_calls
    order = [STEP_FUNCTIONS, *_function_order(results)]
    ranked = sorted(
        set(one.calls) | set(eight.calls),
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
            ", ".join(sorted(implied.get(call, ()))),
        )
        for call in ranked
    ]
    rows.append(("total", "", str(sum(one.calls.values())), str(sum(eight.calls.values())), ""))
    by_service: Counter[str] = Counter()
    for call, count in one.calls.items():
        by_service[call.call.partition(":")[0]] += count
    summary = ", ".join(f"{service} {count}" for service, count in sorted(by_service.items()))
    return make_table(
        TITLE_API_CALLS,
        ("caller", "API call", "1 h", "8 h", "also authorized (IAM)"),
        rows,
        notes=(
            "From the local AWS's record of the actions each function, the state machine and "
            "EventBridge performed; the benchmark's own calls are not in it.",
            f"{EVENTBRIDGE}: the ECS task-stopped event after StopTask invokes EndSession, "
            "which finds no held session and does nothing.",
            f"1-hour session by service: {summary}.",
        ),
        numeric=(2, 3),
    )


def ready_table(results: BenchResults) -> Table:
    poll = results.poll
    delay, transitions = poll.delay, poll.transitions
    ready_after = [r.attempts.finished_at for r in poll.results]
    total = Summary.of(ready_after)
    rows = [
        ("delay from RUNNING to ready (s)", _s(delay.median), _s(delay.p95), _s(delay.maximum)),
        (
            "poll attempts = transitions",
            f"{transitions.median:.0f}",
            f"{transitions.p95:.0f}",
            f"{transitions.maximum:.0f}",
        ),
        ("RunTask to ready (s)", _s(total.median), _s(total.p95), _s(total.maximum)),
    ]
    return make_table(
        TITLE_READY,
        ("measure", "median", "p95", "max"),
        rows,
        notes=(
            f"Policy read from workflows/asl/session.asl.json, {POLL_STATE} Retry on "
            f"{NOT_READY_ERROR}: {results.poll_policy.describe()}.",
            f"Task RUNNING after a uniform {FARGATE_START_SECONDS[0]:.0f}-"
            f"{FARGATE_START_SECONDS[1]:.0f} s ({results.config.draws} seeded draws, seed "
            f"{results.config.seed}); each invocation takes "
            f"{results.config.invocation_seconds:g} s (assumed), the authorization step "
            "included before the first poll.",
            f"Gave up (Retrier exhausted) in {poll.gave_up} of {len(poll.results)} draws. "
            f"Target: median <= {MAX_MEDIAN_READY_DELAY_SECONDS:g} s: "
            f"{verdict(delay.median <= MAX_MEDIAN_READY_DELAY_SECONDS)}.",
        ),
        numeric=(1, 2, 3),
    )


def policies_table(results: BenchResults) -> Table:
    rows = []
    entries: list[tuple[str, PollStudy, int]] = [
        (f"deployed: {results.poll_policy.describe()}", results.poll, 0),
        *results.alternatives,
    ]
    for label, study, extra in entries:
        rows.append(
            (
                label,
                f"{study.delay.median:.2f}",
                f"{study.delay.p95:.2f}",
                f"{study.transitions.median + extra:.0f}",
                f"{study.transitions.p95 + extra:.0f}",
                str(study.gave_up),
            )
        )
    return make_table(
        TITLE_POLICIES,
        (
            "policy",
            "delay median (s)",
            "delay p95 (s)",
            "transitions median",
            "transitions p95",
            "gave up",
        ),
        rows,
        notes=(
            "Same draws and assumptions as above. Only the first row is deployed; the others "
            "are what the trade-off between delay and transitions looks like.",
            "'Wait 25 s' would be a Wait state before the first poll (one transition more, "
            "counted); Fargate tasks take at least 30 s to start in the published range.",
        ),
        numeric=(1, 2, 3, 4, 5),
    )


def teardown_table(results: BenchResults) -> Table:
    study = results.teardown
    retries, lingered, finished = study.retries, study.lingered, study.finished
    rows = [
        (
            f"{DELETE_GROUP_STATE} retries = extra transitions",
            f"{retries.median:.0f}",
            f"{retries.p95:.0f}",
            f"{retries.maximum:.0f}",
        ),
        (
            "group deleted after the ENI's release (s)",
            _s(lingered.median),
            _s(lingered.p95),
            _s(lingered.maximum),
        ),
        (
            "StopTask to group deleted (s)",
            _s(finished.median),
            _s(finished.p95),
            _s(finished.maximum),
        ),
    ]
    return make_table(
        TITLE_TEARDOWN,
        ("measure", "median", "p95", "max"),
        rows,
        notes=(
            f"Policy read from the rendered ASL, {DELETE_GROUP_STATE} Retry on "
            f"{GROUP_IN_USE_ERROR}: {results.teardown_policy.describe()} (about "
            f"{results.teardown_policy.total_wait_seconds() / 60:.1f} min of waiting in all).",
            f"ENI released a uniform {ENI_RELEASE_SECONDS[0]:.0f}-"
            f"{ENI_RELEASE_SECONDS[1] / 60:.0f} min after StopTask ({results.config.draws} "
            f"seeded draws); gave up (left to the sweeper) in {study.gave_up} of "
            f"{len(study.results)}.",
        ),
        numeric=(1, 2, 3),
    )


def cost_table(results: BenchResults) -> Table:
    one, eight = results.cost(ONE_HOUR), results.cost(EIGHT_HOURS)
    run_one, run_eight = results.runs[ONE_HOUR], results.runs[EIGHT_HOURS]
    inv_one, inv_eight = sum(run_one.invocations.values()), sum(run_eight.invocations.values())
    d = pricing.dollars
    rows = [
        (
            "Step Functions Standard (transitions)",
            f"{d(one.step_functions)} ({run_one.transitions.total})",
            f"{d(eight.step_functions)} ({run_eight.transitions.total})",
        ),
        (
            "Lambda requests (invocations)",
            f"{d(one.lambda_requests)} ({inv_one})",
            f"{d(eight.lambda_requests)} ({inv_eight})",
        ),
        ("Lambda duration (GB-s)", d(one.lambda_duration), d(eight.lambda_duration)),
        ("= orchestration", d(one.orchestration), d(eight.orchestration)),
        ("Fargate ARM64 vCPU (0.25 vCPU)", d(one.fargate_vcpu), d(eight.fargate_vcpu)),
        ("Fargate ARM64 memory (0.5 GB)", d(one.fargate_memory), d(eight.fargate_memory)),
        ("public IPv4", d(one.ipv4), d(eight.ipv4)),
        ("= floor (Fargate + IPv4)", d(one.floor), d(eight.floor)),
        ("total per session", d(one.total), d(eight.total)),
        ("orchestration / floor", _pct(one.overhead_ratio), _pct(eight.overhead_ratio)),
    ]
    eni_minutes = results.teardown.released.median / 60
    return make_table(
        TITLE_COST,
        ("line item", "1-hour session", "8-hour session"),
        rows,
        notes=(
            "Prices: Step Functions Standard $0.025 per 1,000 transitions; Fargate Linux/ARM64 "
            "$0.03238 per vCPU-hour + $0.00356 per GB-hour; public IPv4 $0.005 per hour "
            "(/work/shared/reference/AWS_FACTS.md section C); Lambda arm64 $0.20 per 1M "
            "requests + $0.0000133334 per GB-second (AWS Lambda price list, as issue 7 "
            "states it). Free tiers left out.",
            "Transitions and invocations: the sessions measured above. Lambda: "
            f"{results.config.billed_ms_per_invocation:g} ms billed per invocation at "
            f"{pricing.LAMBDA_MEMORY_MB} MB (assumed; it covers a cold start's init).",
            "Fargate is billed for the session's length (the task starts within it and stops "
            "at expiry); the public IPv4 address also for the ENI's median release after stop "
            f"({eni_minutes:.1f} min).",
            f"Target: orchestration <= {MAX_OVERHEAD_RATIO * 100:g}% of the floor for a 1-hour "
            f"session: {verdict(one.overhead_ratio <= MAX_OVERHEAD_RATIO)}.",
        ),
        numeric=(1, 2),
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
        "lifecycle (RUNNING at the second poll, ENI released at once).",
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
        policies_table(results),
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

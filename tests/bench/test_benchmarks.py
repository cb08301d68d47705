"""The benchmark harness's own logic: simulations, counting, prices, the ASL, the report.

No test here asserts a wall-clock time: the harness measures those, it does not promise them.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cost
from benchmarks.asl import RetryPolicy, load_asl, normal_path, retry_policy, steps_before
from benchmarks.calls import (
    CLOUDWATCH_LOGS,
    EVENTBRIDGE,
    STEP_FUNCTIONS,
    ApiCall,
    is_own_action,
    tally,
)
from benchmarks.designs import POLLED_DESIGN_TEARDOWN, SessionCounts, polled_counts
from benchmarks.importtime import cumulative_microseconds, handler_modules
from benchmarks.local_runs import delivers_stream_of
from benchmarks.report import (
    TITLES,
    BenchConfig,
    ready_wait_policy,
    render_markdown_page,
    render_text_report,
    start_in_attempt,
)
from benchmarks.report import run as run_benchmark
from benchmarks.report import tables as build_tables
from benchmarks.simulate import (
    DeliveryAssumptions,
    Summary,
    percentile,
    retry_until,
    simulate_poll,
    simulate_signalled_ready,
    simulate_teardown,
    study_poll,
    study_signalled_ready,
    uniform_sample,
)
from benchmarks.tables import MISS, PASS, make_table, render_markdown, render_text, verdict
from benchmarks.transitions import (
    HOLD,
    READY_WAIT,
    SESSION_PHASES,
    SETUP,
    TEARDOWN,
    count_transitions,
)
from tasks.common.log_subscription import (
    LogEvent,
    LogSubscriptionMessage,
    encode_subscription_event,
)
from workflows.session import READY_LOOK_AGAIN_SECONDS, RETRY_READY_LOOK
from workflows.teardown import RETRY_GROUP_IN_USE

pytestmark = pytest.mark.bench

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def fixed(interval: float, attempts: int) -> RetryPolicy:
    return RetryPolicy(("BastionNotReady",), interval, attempts, backoff_rate=1.0)


# --- Retry policies and the simulated clock ----------------------------------------------------


def test_backoff_waits_grow_by_the_rate_and_stop_at_the_cap() -> None:
    policy = RetryPolicy(("X",), 5, 20, backoff_rate=1.5, max_delay_seconds=60)

    waits = [policy.wait_before_retry(n) for n in range(1, 10)]

    assert waits[:4] == [5, 7.5, 11.25, 16.875]
    assert waits[6] == pytest.approx(56.953125)
    assert waits[7:] == [60, 60]
    assert policy.total_wait_seconds() == pytest.approx(sum(waits[:7]) + 13 * 60)


def test_full_jitter_draws_below_the_computed_wait_and_needs_a_generator() -> None:
    policy = RetryPolicy(("X",), 4, 3, backoff_rate=2.0, jitter="FULL")

    draws = [policy.wait_before_retry(2, random.Random(seed)) for seed in range(50)]  # noqa: S311

    assert all(0 <= draw <= 8 for draw in draws)
    with pytest.raises(ValueError, match="random generator"):
        policy.wait_before_retry(1)


def test_a_fixed_poll_sees_the_task_at_the_first_attempt_on_or_after_running() -> None:
    # Attempts at 0, 3, 6, ... 30: RUNNING at 30 is seen at once, at 31 two seconds late.
    on_time = simulate_poll(30.0, fixed(3, 100))
    late = simulate_poll(31.0, fixed(3, 100))

    assert (on_time.attempts.attempts, on_time.delay) == (11, 0.0)
    assert (late.attempts.attempts, late.delay) == (12, 2.0)


def test_invocation_time_shifts_the_schedule_and_adds_to_the_delay() -> None:
    # First attempt at 0.2, then every 0.2 + 3 = 3.2 s: 0.2, 3.4, 6.6, 9.8, 13.0.
    result = simulate_poll(10.0, fixed(3, 100), first_attempt_at=0.2, attempt_seconds=0.2)

    assert result.attempts.attempts == 5
    assert result.attempts.finished_at == pytest.approx(13.2)
    assert result.delay == pytest.approx(3.2)


def test_a_poll_that_runs_out_of_attempts_gives_up() -> None:
    result = simulate_poll(100.0, fixed(3, 2))

    assert result.attempts.gave_up
    assert result.attempts.attempts == 3
    assert math.isinf(result.delay)


def test_teardown_retries_until_the_interface_is_released() -> None:
    policy = RetryPolicy.from_asl(RETRY_GROUP_IN_USE.to_asl())

    at_once = simulate_teardown(0.0, policy)
    later = simulate_teardown(100.0, policy)  # attempts at 0, 120
    latest = simulate_teardown(200.0, policy)  # attempts at 0, 120, 360

    assert (at_once.attempts.retries, at_once.lingered) == (0, 0.0)
    assert later.attempts.retries == 1
    assert later.lingered == pytest.approx(20.0)
    assert latest.attempts.retries == 2
    assert latest.lingered == pytest.approx(160.0)


def test_retry_until_matches_a_hand_computed_backoff_schedule() -> None:
    policy = RetryPolicy(("X",), 1, 5, backoff_rate=2.0)  # attempts at 0, 1, 3, 7, 15, 31

    assert retry_until(7.0, policy).attempts == 4
    assert retry_until(31.0, policy).attempts == 6
    assert retry_until(31.5, policy).gave_up


def test_a_study_summarizes_the_sample() -> None:
    starts = [30.0, 31.0, 32.0, 33.0]

    study = study_poll(fixed(3, 100), starts)

    assert [r.delay for r in study.results] == [0.0, 2.0, 1.0, 0.0]
    assert study.delay.median == 0.5
    assert study.median_attempts == 12  # attempts 11, 12, 12, 12
    assert study.gave_up == 0


# --- the signalled ready wait ---------------------------------------------------------------

#: Each attempt 60 s, then a retry 1 s later, five attempts in all; the first attempt 0.4 s
#: after RunTask, each look (an invocation) 0.2 s.
LOOK_AGAIN = RetryPolicy(("States.Timeout",), 1, 4, backoff_rate=1.0)
WAIT = {
    "timeout_seconds": 60.0,
    "retry": LOOK_AGAIN,
    "first_attempt_at": 0.4,
    "attempt_seconds": 0.2,
}


def test_a_delivery_during_the_first_attempt_answers_it() -> None:
    ready = simulate_signalled_ready(30.0, 32.0, 33.0, **WAIT)

    assert (ready.attempts.attempts, ready.signalled) == (1, True)
    assert ready.attempts.finished_at == pytest.approx(33.2)
    assert ready.delay == pytest.approx(3.2)


def test_a_lost_delivery_is_made_up_by_the_next_attempts_own_look() -> None:
    # The first attempt times out at 60.4; the second starts at 61.4 and finds the line.
    ready = simulate_signalled_ready(30.0, 32.0, None, **WAIT)

    assert (ready.attempts.attempts, ready.signalled) == (2, False)
    assert ready.attempts.finished_at == pytest.approx(61.6)
    assert ready.delay == pytest.approx(31.6)


def test_a_task_starting_after_the_first_timeout_is_answered_in_the_second_attempt() -> None:
    ready = simulate_signalled_ready(70.0, 71.0, 72.0, **WAIT)  # second attempt: 61.4-121.4

    assert (ready.attempts.attempts, ready.signalled) == (2, True)
    assert ready.attempts.finished_at == pytest.approx(72.2)


def test_a_delivery_between_two_attempts_finds_no_token_and_the_next_look_makes_up() -> None:
    # Delivered at 60.3: too late to answer the first attempt (its answer would come at
    # 60.5, after its timeout at 60.4), before the second attempt (61.4) keeps its token.
    ready = simulate_signalled_ready(59.0, 60.0, 60.3, **WAIT)

    assert (ready.attempts.attempts, ready.signalled) == (2, False)
    assert ready.attempts.finished_at == pytest.approx(61.6)


def test_a_bastion_that_never_says_it_started_exhausts_the_attempts() -> None:
    ready = simulate_signalled_ready(30.0, 1000.0, 1001.0, **WAIT)

    assert ready.attempts.gave_up
    assert ready.attempts.attempts == 5
    assert math.isinf(ready.delay)


def test_the_signalled_study_draws_its_delays_from_the_stated_assumptions() -> None:
    # No batching, every delivery 1 s after the line, none lost: ready 1.2 s after sshd.
    prompt = DeliveryAssumptions(batch_seconds=0.0, delivery_seconds=(1.0, 1.0), loss_rate=0.0)
    everything_lost = DeliveryAssumptions(0.0, (1.0, 1.0), loss_rate=1.0)

    study = study_signalled_ready([30.0, 70.0], prompt, **WAIT)
    lost = study_signalled_ready([30.0, 70.0], everything_lost, **WAIT)

    assert [r.delay for r in study.results] == pytest.approx([1.2, 1.2])
    assert [r.attempts.attempts for r in study.results] == [1, 2]
    assert study.median_attempts == 1
    assert (study.signalled, len(study.lost)) == (2, 0)
    # 30 s: found by the second attempt at 61.4; 70 s: by the third, at 122.4.
    assert [r.attempts.finished_at for r in lost.results] == pytest.approx([61.6, 122.6])
    assert (lost.signalled, len(lost.lost)) == (0, 2)


def test_the_measured_task_starts_in_the_middle_of_the_wanted_attempt() -> None:
    assert start_in_attempt(1, 60.0, LOOK_AGAIN) == 30.0
    assert start_in_attempt(2, 60.0, LOOK_AGAIN) == 60.0 + 1.0 + 30.0
    assert ready_wait_policy(load_asl("session"))[0] == READY_LOOK_AGAIN_SECONDS


# --- the polled design, from a measured session ---------------------------------------------


def test_the_polled_design_replaces_the_ready_wait_and_the_group_deletes_attempt_by_attempt() -> (
    None
):
    wait, signal, delete = (
        "WaitForBastionAddress",
        "SignalBastionReady",
        "DeleteSessionSecurityGroup",
    )
    measured = SessionCounts(
        {SETUP: 5, READY_WAIT: 3, HOLD: 2, TEARDOWN: 9},
        Counter({"ValidateRequest": 1, wait: 2, signal: 1, delete: 3}),
        Counter(
            {
                ApiCall(STEP_FUNCTIONS, "lambda:Invoke"): 6,
                ApiCall(CLOUDWATCH_LOGS, "lambda:Invoke"): 1,
                ApiCall("ValidateRequest", "eks:DescribeCluster"): 1,
                ApiCall(wait, "ssm:PutParameter"): 3,
                ApiCall(wait, "ecs:DescribeTasks"): 2,
                ApiCall(signal, "ecs:DescribeTasks"): 1,
                ApiCall(delete, "ec2:DeleteSecurityGroup"): 3,
                ApiCall(delete, "ec2:DescribeSecurityGroups"): 3,
            }
        ),
    )

    polled = polled_counts(
        measured, wait_transitions=2, delete_transitions=3, polls=19, delete_attempts=8
    )

    assert polled.transitions_by_phase == {SETUP: 5, READY_WAIT: 20, HOLD: 2, TEARDOWN: 14}
    assert polled.invocations == Counter({"ValidateRequest": 1, wait: 19, delete: 8})
    assert polled.calls == Counter(
        {
            ApiCall(STEP_FUNCTIONS, "lambda:Invoke"): 6 - 2 - 3 + 19 + 8,
            ApiCall("ValidateRequest", "eks:DescribeCluster"): 1,
            ApiCall(wait, "ecs:DescribeTasks"): 19,
            ApiCall(wait, "ec2:DescribeNetworkInterfaces"): 1,
            ApiCall(delete, "ec2:DeleteSecurityGroup"): 8,
            ApiCall(delete, "ec2:DescribeSecurityGroups"): 8,
        }
    )
    assert (polled.transitions, polled.invocation_total, polled.call_total) == (41, 28, 65)


def test_the_polled_designs_teardown_waits_as_it_did() -> None:
    # Attempts at 0, 5, 12.5, 23.75: a release at 20 s is seen by the fourth.
    assert simulate_teardown(20.0, POLLED_DESIGN_TEARDOWN).attempts.retries == 3
    assert POLLED_DESIGN_TEARDOWN.max_attempts == 20


def test_percentiles_are_values_of_the_sample() -> None:
    values = [float(n) for n in range(1, 101)]

    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 1.0) == 100.0
    assert Summary.of([3.0, 1.0, 2.0]) == Summary(2.0, 3.0, 3.0)


def test_the_sample_is_seeded_and_within_bounds() -> None:
    first = uniform_sample((30.0, 90.0), 200, seed=3)

    assert first == uniform_sample((30.0, 90.0), 200, seed=3)
    assert all(30.0 <= value <= 90.0 for value in first)


# --- the rendered ASL ----------------------------------------------------------------------------


def test_three_steps_run_before_run_task_in_the_rendered_session_asl() -> None:
    asl = load_asl("session")

    assert steps_before(asl, "RunBastionTask") == [
        "ValidateRequest",
        "FindControlPlane",
        "CreateSessionSecurityGroup",
    ]
    path = normal_path(asl)
    assert path.index("AuthorizeControlPlaneIngress") == path.index("RunBastionTask") + 1


def test_the_retry_policies_read_from_the_asl_are_the_ones_the_workflows_define() -> None:
    asl = load_asl("session")

    look_again = retry_policy(asl, "WaitForBastionAddress", "States.Timeout")
    group = retry_policy(asl, "DeleteSessionSecurityGroup", "SessionSecurityGroupInUse")

    assert (look_again.interval_seconds, look_again.max_attempts) == (
        RETRY_READY_LOOK.interval_seconds,
        RETRY_READY_LOOK.max_attempts,
    )
    assert group.max_delay_seconds == RETRY_GROUP_IN_USE.max_delay_seconds
    with pytest.raises(KeyError):  # the ready wait is signalled: nothing polls any more
        retry_policy(asl, "WaitForBastionAddress", "BastionNotReady")


def test_every_state_of_the_session_machine_has_a_phase() -> None:
    asl = load_asl("session")

    assert set(asl["States"]) <= set(SESSION_PHASES)


# --- counting transitions ---

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(kind: str, name: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "timestamp": _T0}
    if name is not None:
        key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
        event[key] = {"name": name}
    return event


def test_each_state_entered_and_each_retry_attempt_is_one_transition() -> None:
    history = [
        _event("ExecutionStarted"),
        _event("TaskStateEntered", "ValidateRequest"),
        _event("LambdaFunctionScheduled"),
        _event("LambdaFunctionSucceeded"),
        _event("TaskStateExited", "ValidateRequest"),
        _event("TaskStateEntered", "WaitForBastionAddress"),
        *[_event("LambdaFunctionScheduled"), _event("LambdaFunctionFailed")] * 3,
        _event("LambdaFunctionScheduled"),
        _event("LambdaFunctionSucceeded"),
        _event("TaskStateExited", "WaitForBastionAddress"),
        _event("TaskStateEntered", "HoldSession"),
        _event("TaskScheduled"),
        _event("TaskSubmitted"),
        _event("TaskTimedOut"),
        _event("TaskStateExited", "HoldSession"),
        _event("PassStateEntered", "MarkSessionExpired"),
        _event("PassStateExited", "MarkSessionExpired"),
        _event("ChoiceStateEntered", "DidSessionFail"),
        _event("SucceedStateEntered", "SessionEnded"),
        _event("ExecutionSucceeded"),
    ]

    counted = count_transitions(history)

    assert counted.of_state("WaitForBastionAddress").retries == 3
    assert counted.of_state("WaitForBastionAddress").transitions == 4
    assert counted.total == 6 + 3
    phases = counted.by_phase()
    assert list(phases) == [SETUP, READY_WAIT, HOLD, TEARDOWN]
    assert [phases[p].transitions for p in (SETUP, READY_WAIT, HOLD, TEARDOWN)] == [1, 4, 2, 2]


def test_states_without_a_phase_are_counted_apart() -> None:
    counted = count_transitions([_event("PassStateEntered", "SomethingNew")])

    assert counted.by_phase()["unclassified"].transitions == 1


# --- prices ---


def test_one_hour_of_the_floor_is_fargate_arm_quarter_vcpu_half_gb_and_an_ipv4_address() -> None:
    priced = cost.session_cost(
        cost.SessionUsage(
            transitions=40,
            invocations=36,
            billed_ms_per_invocation=500,
            task_hours=1.0,
            ipv4_hours=1.0,
        )
    )

    assert priced.step_functions == pytest.approx(0.001)
    assert priced.lambda_requests == pytest.approx(36 * 0.20 / 1e6)
    assert priced.lambda_duration == pytest.approx(36 * 0.5 * 0.25 * 0.0000133334)
    assert priced.fargate == pytest.approx(0.25 * 0.03238 + 0.5 * 0.00356)
    assert priced.floor == pytest.approx(0.009875 + 0.005)
    assert priced.overhead_ratio == pytest.approx(priced.orchestration / 0.014875)
    assert priced.total == pytest.approx(priced.orchestration + priced.floor)


def test_prices_print_with_enough_digits() -> None:
    assert cost.dollars(0.001025) == "$0.001025"
    assert cost.dollars(0.1192) == "$0.1192"
    assert cost.dollars(0) == "$0"


# --- API calls ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Principal:
    kind: str
    name: str


@dataclass(frozen=True)
class _Record:
    principal: _Principal
    action: str
    call: str


def test_calls_are_counted_once_and_implied_iam_actions_apart() -> None:
    records = [
        _Record(
            _Principal("state machine", "app-session"), "lambda:InvokeFunction", "lambda:Invoke"
        ),
        _Record(
            _Principal("function", "fn-1"), "ec2:CreateSecurityGroup", "ec2:CreateSecurityGroup"
        ),
        _Record(_Principal("function", "fn-1"), "ec2:CreateTags", "ec2:CreateSecurityGroup"),
        _Record(
            _Principal("service", "events.amazonaws.com"), "lambda:InvokeFunction", "lambda:Invoke"
        ),
        _Record(
            _Principal("state machine", "app-session"), "lambda:InvokeFunction", "lambda:Invoke"
        ),
        _Record(
            _Principal("service", "logs.amazonaws.com"), "lambda:InvokeFunction", "lambda:Invoke"
        ),
    ]

    counted = tally(records, {"fn-1": "CreateSessionSecurityGroup"}.__getitem__)

    assert counted.calls == {
        ApiCall(STEP_FUNCTIONS, "lambda:Invoke"): 2,
        ApiCall("CreateSessionSecurityGroup", "ec2:CreateSecurityGroup"): 1,
        ApiCall(EVENTBRIDGE, "lambda:Invoke"): 1,
        ApiCall(CLOUDWATCH_LOGS, "lambda:Invoke"): 1,
    }
    assert counted.implied == {
        (ApiCall("CreateSessionSecurityGroup", "ec2:CreateSecurityGroup"), "ec2:CreateTags"): 1
    }
    assert is_own_action("states:StartExecution", "stepfunctions:StartExecution")
    assert not is_own_action("iam:PassRole", "ecs:RunTask")


def _delivery_of(stream: str) -> dict[str, Any]:
    message = LogSubscriptionMessage(
        "DATA_MESSAGE",
        "123456789012",
        "/fargate-bastion/bastion",
        stream,
        ("started",),
        (LogEvent("1", 0, '{"event": "started"}'),),
    )
    return encode_subscription_event(message)


def test_a_signal_invocation_belongs_to_the_session_whose_task_wrote_the_stream() -> None:
    task_id = "0123456789abcdef0123456789abcdef"
    ours = _delivery_of(f"bastion/bastion/{task_id}")
    theirs = _delivery_of("bastion/bastion/fedcba9876543210fedcba9876543210")

    assert delivers_stream_of(ours, task_id)
    assert not delivers_stream_of(theirs, task_id)
    assert not delivers_stream_of({"not": "a delivery"}, task_id)
    assert not delivers_stream_of(ours, "")


# --- import times ---


def test_the_handler_module_cumulative_time_is_read_at_the_top_level_only() -> None:
    output = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       244 |     148624 | boto3",
            "import time:       179 |        179 |   tasks",
            "import time:      9000 |      50000 |   tasks.hold_session",
            "import time:      1977 |      61234 | tasks.hold_session",
        ]
    )

    assert cumulative_microseconds(output, "tasks.hold_session") == 61234
    assert cumulative_microseconds(output, "tasks.missing") is None


def test_every_handler_module_is_timed() -> None:
    modules = handler_modules()

    assert "tasks.wait_for_bastion_address" in modules
    assert "tasks.__init__" not in modules


# --- tables ---


def test_plain_tables_align_numbers_right_and_markdown_escapes_pipes() -> None:
    table = make_table("T", ("name", "n"), [("a|b", 5), ("c", 100)], notes=["note"], numeric=[1])

    text = render_text(table).splitlines()
    markdown = render_markdown(table)

    assert text[:2] == ["T", "="]
    assert text[2:6] == ["name    n", "----  ---", "a|b     5", "c     100"]
    assert text[-1] == "  * note"
    assert "| a\\|b | 5 |" in markdown
    assert "| --- | ---: |" in markdown
    assert (verdict(True), verdict(False)) == (PASS, MISS)
    with pytest.raises(ValueError, match="cells"):
        make_table("T", ("a", "b"), [("only one",)])


# --- the whole harness, tiny ---


def test_a_tiny_run_of_the_harness_reports_every_table(tmp_path: Path) -> None:
    config = BenchConfig(
        time_scale=100_000.0,
        draws=40,
        concurrency=(1, 2),
        import_runs=1,
        import_runs_outside=1,
        import_modules=("tasks.hold_session",),
    )

    results = run_benchmark(config)
    built = build_tables(results)
    text = render_text_report(results, built)
    page = render_markdown_page(results, built)

    assert [table.title for table in built] == list(TITLES)
    for title in TITLES:
        assert f"{title}\n{'=' * len(title)}" in text
        assert f"## {title}\n" in page
    assert page.startswith("# Benchmarks\n\nGenerated by `make bench`")
    # The hold costs the same whatever its length.
    assert results.runs[60].transitions.total == results.runs[480].transitions.total
    assert [run.sessions for run in results.throughput] == [1, 2]
    [targets] = [table for table in built if table.title == "Targets"]
    assert [row[0] for row in targets.rows] == [
        "sequential steps before RunTask",
        "state transitions per session (1 h and 8 h), median",
        "state transitions per session (1 h and 8 h), p95",
        "Lambda invocations per session",
        "AWS API calls per session",
        "median delay from sshd accepting to ready",
        "orchestration overhead, 1-hour session",
        "slowest handler import, as on Lambda",
    ]
    # The measured sessions took the signalled path: their started line answered the wait.
    assert results.runs[60].signal_answers == results.runs[480].signal_answers == ("ready",)
    assert all(row[-1] in (PASS, MISS) for row in targets.rows)
    assert text.rstrip().endswith(("ALL TARGETS PASS", ")"))


def test_the_generated_page_has_every_table() -> None:
    assert DOCS.is_file(), "docs/benchmarks.md is missing: run `make bench`"
    page = DOCS.read_text(encoding="utf-8")

    assert page.startswith("# Benchmarks")
    assert "Generated by `make bench`" in page
    for title in TITLES:
        assert f"## {title}\n" in page, f"docs/benchmarks.md has no table {title!r}"

"""The ready wait and the teardown's wait for the ENI, on a simulated clock.

Pure computation from the rendered Retry policies: no AWS, no sleeping. Time 0 is the
moment RunTask returned (for the ready wait) or StopTask was called (for the teardown).

The signalled ready wait (:func:`simulate_signalled_ready`): each attempt of the
``.waitForTaskToken`` state keeps its token and looks once; the bastion's started line,
once CloudWatch Logs has it and has delivered it, makes SignalBastionReady look again and
answer the token; an attempt nobody answers times out and the Retrier starts the next one,
which looks again. The polled design it replaced (:func:`simulate_poll`) is kept for
comparison:

A poll attempt starts at ``s``; it sees the task RUNNING when ``s >= running_at``, and the
ready state is entered ``attempt_seconds`` later (the Lambda invocation's round trip).
A failed attempt is followed, ``attempt_seconds`` later, by the Retrier's wait and the
next attempt. Every attempt is a state transition: the first enters the state, each
further one is a Retry attempt, which AWS bills as a transition.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.asl import RetryPolicy

#: The published range of Fargate start times (image pull included), in seconds.
FARGATE_START_SECONDS = (30.0, 90.0)
#: Reported time for a stopped Fargate task's network interface to be released, seconds.
ENI_RELEASE_SECONDS = (0.0, 240.0)
#: The awslogs log driver sends a container's lines to CloudWatch Logs every 5 s, or
#: sooner when its batch is full (``batchPublishFrequency`` in Docker's
#: daemon/logger/awslogs, which Fargate's log router, shim-loggers-for-containerd, runs).
AWSLOGS_BATCH_SECONDS = 5.0


@dataclass(frozen=True)
class Attempts:
    """How a retried step ended on the simulated clock."""

    #: Invocations made, the successful one included (= state transitions spent).
    attempts: int
    #: When the step's last attempt ended (seconds on the simulated clock).
    finished_at: float
    #: Whether the Retrier ran out before the condition held.
    gave_up: bool

    @property
    def retries(self) -> int:
        """Retry attempts (every attempt after the first)."""
        return self.attempts - 1


def retry_until(
    ready_at: float,
    policy: RetryPolicy,
    *,
    first_attempt_at: float = 0.0,
    attempt_seconds: float = 0.0,
    rng: random.Random | None = None,
) -> Attempts:
    """Attempt at ``first_attempt_at``, then per ``policy``, until an attempt starts at or
    after ``ready_at`` (success) or the Retrier's MaxAttempts are used up."""
    start = first_attempt_at
    for attempt in range(policy.max_attempts + 1):
        if start >= ready_at:
            return Attempts(attempt + 1, start + attempt_seconds, gave_up=False)
        if attempt == policy.max_attempts:
            break
        start += attempt_seconds + policy.wait_before_retry(attempt + 1, rng)
    return Attempts(policy.max_attempts + 1, start + attempt_seconds, gave_up=True)


@dataclass(frozen=True)
class PollResult:
    """One simulated session's ready poll."""

    running_at: float
    attempts: Attempts

    @property
    def delay(self) -> float:
        """Seconds between the task reaching RUNNING and the ready state (inf if never)."""
        if self.attempts.gave_up:
            return math.inf
        return self.attempts.finished_at - self.running_at


def simulate_poll(
    running_at: float,
    policy: RetryPolicy,
    *,
    first_attempt_at: float = 0.0,
    attempt_seconds: float = 0.0,
    rng: random.Random | None = None,
) -> PollResult:
    """The ready poll for a task that reaches RUNNING at ``running_at``."""
    attempts = retry_until(
        running_at,
        policy,
        first_attempt_at=first_attempt_at,
        attempt_seconds=attempt_seconds,
        rng=rng,
    )
    return PollResult(running_at, attempts)


@dataclass(frozen=True)
class TeardownResult:
    """One simulated teardown's wait for the stopped task's ENI."""

    released_at: float
    attempts: Attempts

    @property
    def lingered(self) -> float:
        """Seconds the session group outlived the ENI's release (inf if never deleted)."""
        if self.attempts.gave_up:
            return math.inf
        return self.attempts.finished_at - self.released_at


def simulate_teardown(
    released_at: float,
    policy: RetryPolicy,
    *,
    first_attempt_at: float = 0.0,
    attempt_seconds: float = 0.0,
    rng: random.Random | None = None,
) -> TeardownResult:
    """DeleteSessionSecurityGroup attempts until the ENI released at ``released_at`` is gone."""
    attempts = retry_until(
        released_at,
        policy,
        first_attempt_at=first_attempt_at,
        attempt_seconds=attempt_seconds,
        rng=rng,
    )
    return TeardownResult(released_at, attempts)


@dataclass(frozen=True)
class DeliveryAssumptions:
    """How the bastion's started line travels to SignalBastionReady: assumptions, stated."""

    #: The log driver sends what the container wrote in batches, this often: a line waits
    #: a uniform 0 to this many seconds before it is put in its stream.
    batch_seconds: float = AWSLOGS_BATCH_SECONDS
    #: From the line being put in its stream to SignalBastionReady running (CloudWatch
    #: Logs' subscription delivery and Lambda's asynchronous invocation): a uniform draw.
    delivery_seconds: tuple[float, float] = (0.2, 2.0)
    #: The fraction of deliveries that never reach the function.
    loss_rate: float = 0.01


@dataclass(frozen=True)
class SignalledReady:
    """One simulated session's signalled ready wait."""

    #: When sshd accepted connections and the bastion wrote its started line.
    accepting_at: float
    #: When the line could be read from its log stream.
    in_stream_at: float
    #: When SignalBastionReady ran for it (None: the delivery was lost).
    delivered_at: float | None
    #: The wait's attempts (= its transitions) and when the ready state was entered.
    attempts: Attempts
    #: Whether the delivery answered the wait (else an attempt's own look did).
    signalled: bool

    @property
    def delay(self) -> float:
        """Seconds between sshd accepting and the ready state (inf if never)."""
        if self.attempts.gave_up:
            return math.inf
        return self.attempts.finished_at - self.accepting_at


def simulate_signalled_ready(
    accepting_at: float,
    in_stream_at: float,
    delivered_at: float | None,
    *,
    timeout_seconds: float,
    retry: RetryPolicy,
    first_attempt_at: float = 0.0,
    attempt_seconds: float = 0.0,
) -> SignalledReady:
    """The signalled ready wait of a bastion whose started line is in its stream at
    ``in_stream_at`` and reaches SignalBastionReady at ``delivered_at``.

    Each attempt starts at ``s``, keeps its token and looks: it finds the line when
    ``s >= in_stream_at`` and the ready state is entered ``attempt_seconds`` later. Else
    it waits: a delivery at or after ``s`` looks again and answers ``attempt_seconds``
    later, if that is within the attempt's ``timeout_seconds``; a delivery before ``s``
    finds no token, or an earlier attempt's (the look of ``s`` makes up for it). An
    attempt nobody answers times out, and ``retry`` starts the next one.
    """
    start = first_attempt_at
    ends = start
    for attempt in range(1, retry.max_attempts + 2):
        if start >= in_stream_at:
            looked = Attempts(attempt, start + attempt_seconds, gave_up=False)
            return SignalledReady(accepting_at, in_stream_at, delivered_at, looked, False)
        ends = start + timeout_seconds
        if delivered_at is not None and start <= delivered_at <= ends - attempt_seconds:
            answered = Attempts(attempt, delivered_at + attempt_seconds, gave_up=False)
            return SignalledReady(accepting_at, in_stream_at, delivered_at, answered, True)
        start = ends + retry.wait_before_retry(attempt)
    never = Attempts(retry.max_attempts + 1, ends, gave_up=True)
    return SignalledReady(accepting_at, in_stream_at, delivered_at, never, False)


class _ReadyStudy:
    """What a study of a ready wait (signalled or polled) summarizes of its results."""

    results: tuple[PollResult, ...] | tuple[SignalledReady, ...]

    @property
    def delay(self) -> Summary:
        return Summary.of([r.delay for r in self.results])

    @property
    def transitions(self) -> Summary:
        return Summary.of([float(r.attempts.attempts) for r in self.results])

    @property
    def gave_up(self) -> int:
        return sum(r.attempts.gave_up for r in self.results)

    @property
    def median_attempts(self) -> int:
        """The median number of attempts, a whole number (the lower middle)."""
        return int(statistics.median_low([r.attempts.attempts for r in self.results]))


@dataclass(frozen=True)
class SignalledStudy(_ReadyStudy):
    """The signalled ready wait over a sample of moments sshd starts accepting."""

    delivery: DeliveryAssumptions
    results: tuple[SignalledReady, ...]

    @property
    def lost(self) -> tuple[SignalledReady, ...]:
        """The sessions whose started line's delivery was lost."""
        return tuple(r for r in self.results if r.delivered_at is None)

    @property
    def signalled(self) -> int:
        """Sessions the delivery made ready (the others: an attempt's own look)."""
        return sum(r.signalled for r in self.results)


def study_signalled_ready(
    accepting_times: Sequence[float],
    delivery: DeliveryAssumptions,
    *,
    timeout_seconds: float,
    retry: RetryPolicy,
    first_attempt_at: float = 0.0,
    attempt_seconds: float = 0.0,
    seed: int = 0,
) -> SignalledStudy:
    """:func:`simulate_signalled_ready` for every moment sshd starts accepting, with the
    batch wait, the delivery delay and its loss drawn from ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation
    low, high = delivery.delivery_seconds
    results = []
    for accepting_at in accepting_times:
        in_stream_at = accepting_at + rng.uniform(0.0, delivery.batch_seconds)
        lost = rng.random() < delivery.loss_rate
        delivered_at = in_stream_at + rng.uniform(low, high)
        results.append(
            simulate_signalled_ready(
                accepting_at,
                in_stream_at,
                None if lost else delivered_at,
                timeout_seconds=timeout_seconds,
                retry=retry,
                first_attempt_at=first_attempt_at,
                attempt_seconds=attempt_seconds,
            )
        )
    return SignalledStudy(delivery, tuple(results))


def uniform_sample(bounds: tuple[float, float], draws: int, seed: int) -> list[float]:
    """``draws`` seeded uniform draws between ``bounds``."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not cryptography
    low, high = bounds
    return [rng.uniform(low, high) for _ in range(draws)]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank, so it is a value of the sample)."""
    if not values:
        raise ValueError("no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    """Median, 95th percentile and maximum of a sample."""

    median: float
    p95: float
    maximum: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(statistics.median(values), percentile(values, 0.95), max(values))


@dataclass(frozen=True)
class PollStudy(_ReadyStudy):
    """The ready poll over a sample of start times."""

    policy: RetryPolicy
    results: tuple[PollResult, ...]


def study_poll(
    policy: RetryPolicy,
    start_times: Sequence[float],
    *,
    first_attempt_at: float = 0.0,
    attempt_seconds: float = 0.0,
    seed: int = 0,
) -> PollStudy:
    """:func:`simulate_poll` for every start time (jitter drawn from ``seed``)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible jitter
    return PollStudy(
        policy,
        tuple(
            simulate_poll(
                t,
                policy,
                first_attempt_at=first_attempt_at,
                attempt_seconds=attempt_seconds,
                rng=rng,
            )
            for t in start_times
        ),
    )


@dataclass(frozen=True)
class TeardownStudy:
    """The teardown's ENI wait over a sample of release times."""

    policy: RetryPolicy
    results: tuple[TeardownResult, ...]

    @property
    def retries(self) -> Summary:
        return Summary.of([float(r.attempts.retries) for r in self.results])

    @property
    def lingered(self) -> Summary:
        return Summary.of([r.lingered for r in self.results])

    @property
    def finished(self) -> Summary:
        return Summary.of([r.attempts.finished_at for r in self.results])

    @property
    def released(self) -> Summary:
        return Summary.of([r.released_at for r in self.results])

    @property
    def gave_up(self) -> int:
        return sum(r.attempts.gave_up for r in self.results)

    @property
    def median_retries(self) -> int:
        return int(statistics.median_low([r.attempts.retries for r in self.results]))


def study_teardown(
    policy: RetryPolicy,
    release_times: Sequence[float],
    *,
    first_attempt_at: float = 0.0,
    attempt_seconds: float = 0.0,
    seed: int = 0,
) -> TeardownStudy:
    """:func:`simulate_teardown` for every release time."""
    rng = random.Random(seed)  # noqa: S311 - reproducible jitter
    return TeardownStudy(
        policy,
        tuple(
            simulate_teardown(
                t,
                policy,
                first_attempt_at=first_attempt_at,
                attempt_seconds=attempt_seconds,
                rng=rng,
            )
            for t in release_times
        ),
    )

"""Seeded random faults: drawn per session, reproducibly, and only for sessions' calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bastion.local import LocalAws
from bastion.local.ecs_control import CAPACITY_UNAVAILABLE
from bastion.local.random_faults import (
    ABORTED,
    CAPACITY_REFUSED,
    CRASHED_AFTER_CALL,
    ENI_RELEASED_LATE,
    OUT_OF_MEMORY,
    SERVER_ERROR,
    SLOW,
    STOPPED_BEFORE_RUNNING,
    THROTTLED,
    TIMED_OUT,
    CallRates,
    FaultModel,
    InjectedFault,
    InvocationRates,
    RandomFaults,
    SessionFaults,
    session_scope,
)
from bastion.local.waits import WAIT_SECONDS
from tests.local.conftest import (
    ECS_CLUSTER,
    Network,
    create_fargate_cluster,
    create_function,
    create_network,
    invoke,
)

pytestmark = pytest.mark.local

CLUSTER = ECS_CLUSTER
#: Half the calls throttled, a quarter server errors, a tenth slow; invocations die often.
MIXED = FaultModel(
    calls={"*": CallRates(throttled=0.5, server_error=0.25, slow=0.1)},
    invocations=InvocationRates(crashed_after_call=0.3, timed_out=0.3),
    latency_seconds=0.0,
)
#: A session's calls, as a workflow makes them: (service, action) or ("invoke", function).
SEQUENCE = [
    ("ec2", "CreateSecurityGroup"),
    ("invoke", "RunBastionTaskFunction"),
    ("ecs", "RunTask"),
    ("ecs", "DescribeTasks"),
    ("ecs", "DescribeTasks"),
    ("ec2", "AuthorizeSecurityGroupIngress"),
    ("invoke", "HoldSessionFunction"),
    ("ecs", "StopTask"),
    ("ec2", "DeleteSecurityGroup"),
    ("ec2", "DeleteSecurityGroup"),
] * 3


def _armed(seed: int, model: FaultModel = MIXED) -> RandomFaults:
    faults = RandomFaults()
    faults.arm(seed, model)
    return faults


def _feed(faults: RandomFaults, session_id: str, calls: list[tuple[str, str]]) -> None:
    """Make the calls of ``session_id`` in order, as the patched AWS asks the faults."""
    for service, what in calls:
        if service == "invoke":
            faults.invocation_fault(what, session_id)
        else:
            faults.call_fault(service, what, session_id)


def _of(faults: RandomFaults, session_id: str) -> list[InjectedFault]:
    return [fault for fault in faults.injected if fault.session_id == session_id]


def _error(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = error.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "ok"


# --- a pure function of (seed, session, call, n) -----------------------------------------------


def test_the_same_seed_and_calls_decide_the_same_faults() -> None:
    # GIVEN two campaigns armed alike
    first, second = _armed(seed=7), _armed(seed=7)

    # WHEN both are fed the same calls
    _feed(first, "s-1", SEQUENCE)
    _feed(second, "s-1", SEQUENCE)

    # THEN they decided the same faults, of several kinds
    assert first.injected == second.injected
    assert {THROTTLED, SERVER_ERROR, CRASHED_AFTER_CALL, TIMED_OUT} <= set(first.counts())


def test_another_seed_decides_other_faults() -> None:
    # GIVEN two campaigns with different seeds
    first, second = _armed(seed=7), _armed(seed=8)

    # WHEN both are fed the same calls
    _feed(first, "s-1", SEQUENCE)
    _feed(second, "s-1", SEQUENCE)

    # THEN their faults differ
    assert first.injected != second.injected


def test_a_sessions_faults_do_not_depend_on_other_sessions_calls() -> None:
    # GIVEN a campaign where session A calls alone, and one where B calls in between
    alone, interleaved = _armed(seed=3), _armed(seed=3)

    # WHEN A makes the same calls in both, B its own and the same ones between A's
    _feed(alone, "s-a", SEQUENCE)
    for call in SEQUENCE:
        _feed(interleaved, "s-b", [call, ("ecs", "ListTasks")])
        _feed(interleaved, "s-a", [call])

    # THEN A met the same faults, and B met faults of its own
    assert _of(interleaved, "s-a") == _of(alone, "s-a")
    assert _of(interleaved, "s-b")
    assert interleaved.calls_drawn()[("s-a", "ec2:DeleteSecurityGroup")] == 6


def test_real_calls_meet_the_faults_the_pure_function_draws(aws: LocalAws) -> None:
    # GIVEN half of ec2:DescribeVpcs throttled for every session
    model = FaultModel(calls={"ec2:DescribeVpcs": CallRates(throttled=0.5)})
    aws.random_faults.arm(11, model)
    ec2 = aws.client("ec2")

    # WHEN session A describes VPCs, with session B's calls in between
    outcomes = []
    for _ in range(12):
        with session_scope("s-b"):
            _outcome(ec2.describe_vpcs)
        with session_scope("s-a"):
            outcomes.append(_outcome(ec2.describe_vpcs))

    # THEN A's outcomes are the pure function's for A alone: some throttled, some not
    reference = _armed(11, model)
    _feed(reference, "s-a", [("ec2", "DescribeVpcs")] * 12)
    throttled_calls = {fault.call_number for fault in reference.injected}
    assert outcomes == ["RequestLimitExceeded" if n in throttled_calls else "ok" for n in range(12)]
    assert set(outcomes) == {"ok", "RequestLimitExceeded"}
    assert _of(aws.random_faults, "s-a") == reference.injected


# --- rates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CallRates(throttled=-0.1), "throttled must be a probability"),
        (lambda: CallRates(server_error=1.5), "server_error must be a probability"),
        (lambda: CallRates(slow=float("nan")), "slow must be a probability"),
        (lambda: CallRates(throttled=0.5, server_error=0.4, slow=0.2), "add up to more than 1"),
        (lambda: InvocationRates(crashed_after_call=2.0), "crashed_after_call must be"),
        (lambda: InvocationRates(timed_out=-1.0), "timed_out must be"),
        (lambda: InvocationRates(crashed_after_call=0.6, timed_out=0.6), "more than 1"),
        (lambda: InvocationRates(out_of_memory=1.5), "out_of_memory must be"),
        (lambda: InvocationRates(timed_out=0.6, out_of_memory=0.6), "more than 1"),
    ],
)
def test_rates_refuse_what_is_not_a_probability(make: Callable[[], Any], message: str) -> None:
    # WHEN rates are made out of range, or adding up to more than 1
    with pytest.raises(ValueError, match=message):
        make()


def test_rates_adding_up_to_exactly_one_are_accepted() -> None:
    # GIVEN rates adding up to 1 (in floats, 0.33 + 0.56 + 0.11 is a hair above 1)
    calls = CallRates(throttled=0.33, server_error=0.56, slow=0.11)
    invocations = InvocationRates(crashed_after_call=0.5, timed_out=0.5)

    # THEN they are kept as given
    assert (calls.throttled, calls.server_error, calls.slow) == (0.33, 0.56, 0.11)
    assert (invocations.crashed_after_call, invocations.timed_out) == (0.5, 0.5)


def test_the_most_specific_rates_win() -> None:
    # GIVEN rates for one action, for its service, and for everything
    action, service, anything = CallRates(slow=0.1), CallRates(slow=0.2), CallRates(slow=0.3)
    model = FaultModel(calls={"ec2:RunInstances": action, "ec2:*": service, "*": anything})

    # THEN an action gets its own rates, else its service's, else the catch-all's
    assert model.rates_for("ec2", "RunInstances") is action
    assert model.rates_for("ec2", "DescribeVpcs") is service
    assert model.rates_for("ecs", "RunTask") is anything
    assert FaultModel(calls={"ec2:*": service}).rates_for("ecs", "RunTask") == CallRates()


# --- AWS call faults ---------------------------------------------------------------------------


def test_the_test_clients_do_not_retry(aws: LocalAws) -> None:
    # THEN the first error a call meets is the one the caller sees
    assert aws.client("ec2").meta.config.retries["total_max_attempts"] == 1


def test_calls_made_for_no_session_are_never_faulted(aws: LocalAws) -> None:
    # GIVEN every call of every session throttled
    aws.random_faults.arm(1, FaultModel(calls={"*": CallRates(throttled=1.0)}))
    ec2, ecs = aws.client("ec2"), aws.client("ecs")

    # WHEN the test calls for itself
    vpcs = ec2.describe_vpcs()["Vpcs"]
    clusters = ecs.list_clusters()["clusterArns"]

    # THEN the calls went through, and nothing was drawn
    assert vpcs and clusters == []
    assert aws.random_faults.injected == []
    assert aws.random_faults.calls_drawn() == {}


def test_a_sessions_calls_are_throttled_with_the_services_code(aws: LocalAws) -> None:
    # GIVEN every call of every session throttled
    aws.random_faults.arm(1, FaultModel(calls={"*": CallRates(throttled=1.0)}))
    ec2, ecs = aws.client("ec2"), aws.client("ecs")

    # WHEN a session calls EC2 and ECS
    with session_scope("s-1"):
        with pytest.raises(ClientError) as ec2_refused:
            ec2.describe_vpcs()
        with pytest.raises(ClientError) as ecs_refused:
            ecs.list_clusters()

    # THEN EC2 answered RequestLimitExceeded, ECS ThrottlingException, at the first attempt
    assert _error(ec2_refused) == ("RequestLimitExceeded", 503)
    assert _error(ecs_refused) == ("ThrottlingException", 400)
    assert ec2_refused.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert aws.random_faults.counts() == {THROTTLED: 2}


def test_a_sessions_calls_meet_server_errors(aws: LocalAws) -> None:
    # GIVEN every call of every session failing on the server's side
    aws.random_faults.arm(1, FaultModel(calls={"*": CallRates(server_error=1.0)}))

    # WHEN a session calls EC2, ECS and STS
    with session_scope("s-1"):
        with pytest.raises(ClientError) as ec2_failed:
            aws.client("ec2").describe_vpcs()
        with pytest.raises(ClientError) as ecs_failed:
            aws.client("ecs").list_clusters()
        with pytest.raises(ClientError) as sts_failed:
            aws.client("sts").get_caller_identity()

    # THEN each answered its service's 5xx error
    assert _error(ec2_failed) == ("InternalError", 500)
    assert _error(ecs_failed) == ("ServerException", 500)
    assert _error(sts_failed) == ("ServiceUnavailable", 503)
    assert aws.random_faults.counts() == {SERVER_ERROR: 3}


def test_a_slow_call_still_answers(aws: LocalAws) -> None:
    # GIVEN every ECS call of every session slow
    model = FaultModel(calls={"ecs:*": CallRates(slow=1.0)}, latency_seconds=0.001)
    aws.random_faults.arm(1, model)

    # WHEN a session lists clusters
    with session_scope("s-1"):
        clusters = aws.client("ecs").list_clusters()["clusterArns"]

    # THEN the call answered, late
    assert clusters == []
    assert aws.random_faults.injected == [InjectedFault(SLOW, "s-1", "ecs:ListClusters", 0)]


def test_a_retrying_client_meets_a_draw_at_each_attempt(aws: LocalAws) -> None:
    # GIVEN every ECS call of every session throttled, and an SDK client that retries
    aws.random_faults.arm(1, FaultModel(calls={"ecs:*": CallRates(throttled=1.0)}))
    retrying = Config(retries={"mode": "standard", "total_max_attempts": 3})
    client = boto3.client("ecs", region_name=aws.region, config=retrying)

    # WHEN a session lists clusters
    with session_scope("s-1"), pytest.raises(ClientError) as refused:
        client.list_clusters()

    # THEN each of the three attempts was drawn and throttled
    assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert aws.random_faults.calls_drawn() == {("s-1", "ecs:ListClusters"): 3}


# --- Lambda ------------------------------------------------------------------------------------


def test_an_invoke_for_a_session_is_throttled(aws: LocalAws) -> None:
    # GIVEN every Invoke of every session throttled
    create_function(aws, "echo", "echo")
    aws.random_faults.arm(1, FaultModel(calls={"lambda:Invoke": CallRates(throttled=1.0)}))

    # WHEN the test invokes the function for a session, then for none
    with pytest.raises(ClientError) as refused:
        invoke(aws, "echo", {"sessionId": "s-1"})
    error, payload = invoke(aws, "echo", {"widget": 1})

    # THEN the session's Invoke was refused before the handler ran; the other went through
    assert _error(refused) == ("TooManyRequestsException", 429)
    assert (error, payload["event"]) == (None, {"widget": 1})
    assert [invocation.event for invocation in aws.invocations] == [{"widget": 1}]
    assert aws.random_faults.injected == [InjectedFault(THROTTLED, "s-1", "lambda:Invoke", 0)]


def test_a_crash_after_the_call_keeps_the_handlers_effects(aws: LocalAws) -> None:
    # GIVEN every invocation of every session crashing after its handler ran
    network = create_network(aws)
    create_function(aws, "creator", "create_group")
    model = FaultModel(invocations=InvocationRates(crashed_after_call=1.0))
    aws.random_faults.arm(1, model)

    # WHEN the function is invoked for a session
    event = {"sessionId": "s-1", "name": "made-anyway", "vpcId": network.vpc_id}
    error, payload = invoke(aws, "creator", event)

    # THEN its group exists, yet the invocation died without answering
    assert "made-anyway" in _group_names(aws, network.vpc_id)
    assert (error, payload["errorType"]) == ("Unhandled", "Runtime.ExitError")
    assert "Runtime exited with error: exit status 1" in payload["errorMessage"]
    assert aws.invocations[-1].outcome == "Runtime.ExitError"
    assert aws.random_faults.injected == [
        InjectedFault(CRASHED_AFTER_CALL, "s-1", "invoke:creator", 0)
    ]


def test_an_invocation_that_runs_out_of_memory_kept_its_effects(aws: LocalAws) -> None:
    # GIVEN every invocation of every session running out of memory after its calls
    network = create_network(aws)
    create_function(aws, "creator", "create_group")
    aws.random_faults.arm(1, FaultModel(invocations=InvocationRates(out_of_memory=1.0)))

    # WHEN the function is invoked for a session
    event = {"sessionId": "s-1", "name": "made-anyway", "vpcId": network.vpc_id}
    error, payload = invoke(aws, "creator", event)

    # THEN its group exists, and Lambda reports the death under its name, with no trace
    assert "made-anyway" in _group_names(aws, network.vpc_id)
    assert (error, payload["errorType"]) == ("Unhandled", "Runtime.OutOfMemory")
    assert payload["stackTrace"] == []
    assert aws.random_faults.counts() == {OUT_OF_MEMORY: 1}


def test_a_timed_out_invocation_did_not_act(aws: LocalAws) -> None:
    # GIVEN every invocation of every session timing out
    network = create_network(aws)
    create_function(aws, "creator", "create_group")
    aws.random_faults.arm(1, FaultModel(invocations=InvocationRates(timed_out=1.0)))

    # WHEN the function is invoked for a session, then for none
    timed_out = invoke(aws, "creator", {"sessionId": "s-1", "name": "x", "vpcId": network.vpc_id})
    answered = invoke(aws, "creator", {"name": "y", "vpcId": network.vpc_id})

    # THEN the session's handler did not run and the invocation timed out; the other ran
    error, payload = timed_out
    assert (error, payload["errorType"]) == ("Unhandled", "Sandbox.Timedout")
    assert "Task timed out after 30.00 seconds" in payload["errorMessage"]
    assert answered[0] is None
    assert _group_names(aws, network.vpc_id) == {"default", "session-sg", "y"}
    assert aws.random_faults.counts() == {TIMED_OUT: 1}


def test_abort_after_needs_an_abort_callback() -> None:
    # GIVEN faults armed without an abort callback
    faults = _armed(1, FaultModel())

    # WHEN a session is planned to be aborted
    with pytest.raises(ValueError, match="abort callback"):
        faults.plan_session("s-1", SessionFaults(abort_after="HoldSessionFunction"))


def test_abort_after_stops_the_session_once(aws: LocalAws) -> None:
    # GIVEN session s-1 to be aborted after the function "holder"
    create_function(aws, "holder", "echo")
    create_function(aws, "other", "echo")
    aborted: list[str] = []
    aws.random_faults.arm(1, FaultModel(), abort=aborted.append)
    aws.random_faults.plan_session("s-1", SessionFaults(abort_after="holder"))

    # WHEN another function, then "holder" twice, are invoked for s-1, and "holder" for s-2
    invoke(aws, "other", {"sessionId": "s-1"})
    first = invoke(aws, "holder", {"sessionId": "s-1"})
    invoke(aws, "holder", {"sessionId": "s-1"})
    invoke(aws, "holder", {"sessionId": "s-2"})

    # THEN the invocation answered, and s-1 was aborted once
    assert first[0] is None
    assert aborted == ["s-1"]
    assert aws.random_faults.injected == [InjectedFault(ABORTED, "s-1", "holder", 0)]


# --- session plans: ECS and EC2 ----------------------------------------------------------------


@pytest.fixture
def network(aws: LocalAws) -> Network:
    """An ECS cluster, a Fargate task definition, and a VPC with a group for the task."""
    create_fargate_cluster(aws)
    return create_network(aws)


def _run_task(aws: LocalAws, network: Network, session_id: str) -> dict[str, Any]:
    """RunTask made for ``session_id`` (the raw answer: tasks and failures)."""
    awsvpc = {"subnets": [network.subnet_id], "securityGroups": [network.group_id]}
    with session_scope(session_id):
        return dict(
            aws.client("ecs").run_task(
                cluster=CLUSTER,
                taskDefinition="bastion",
                launchType="FARGATE",
                networkConfiguration={"awsvpcConfiguration": awsvpc},
                startedBy=session_id,
            )
        )


def _describe(aws: LocalAws, task_arn: str, session_id: str) -> dict[str, Any]:
    with session_scope(session_id):
        tasks = aws.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"]
    return dict(tasks[0])


def test_capacity_is_refused_to_every_run_task_of_a_planned_session(
    aws: LocalAws, network: Network
) -> None:
    # GIVEN session s-1 planned to meet no capacity
    aws.random_faults.arm(1, FaultModel())
    aws.random_faults.plan_session("s-1", SessionFaults(capacity_refused=True))

    # WHEN s-1 runs its task twice (a retry after its function crashed), and s-2 once
    refused = _run_task(aws, network, "s-1")
    retried = _run_task(aws, network, "s-1")
    other = _run_task(aws, network, "s-2")

    # THEN both of s-1's RunTask calls answered the capacity failure, and only those
    for answer in (refused, retried):
        assert answer["tasks"] == []
        assert answer["failures"] == [{"reason": CAPACITY_UNAVAILABLE}]
    assert (other["failures"], len(other["tasks"])) == ([], 1)
    assert aws.random_faults.injected == [
        InjectedFault(CAPACITY_REFUSED, "s-1", "ecs:RunTask", 0),
        InjectedFault(CAPACITY_REFUSED, "s-1", "ecs:RunTask", 1),
    ]


def test_a_planned_sessions_task_stops_before_running(aws: LocalAws, network: Network) -> None:
    # GIVEN session s-1's task planned not to start
    reason = "CannotPullContainerError: pull access denied"
    aws.random_faults.arm(1, FaultModel())
    aws.random_faults.plan_session("s-1", SessionFaults(stops_before_running=reason))

    # WHEN s-1 and s-2 run their tasks and watch them
    failing = _run_task(aws, network, "s-1")["tasks"][0]["taskArn"]
    healthy = _run_task(aws, network, "s-2")["tasks"][0]["taskArn"]
    for _ in range(2):
        _describe(aws, failing, "s-1")
        _describe(aws, healthy, "s-2")

    # THEN s-1's task stopped with the reason; s-2's runs
    stopped = _describe(aws, failing, "s-1")
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "TaskFailedToStart")
    assert stopped["stoppedReason"] == reason
    assert _describe(aws, healthy, "s-2")["lastStatus"] == "RUNNING"
    assert aws.random_faults.counts() == {STOPPED_BEFORE_RUNNING: 1}


def test_a_planned_sessions_interface_is_released_late(aws: LocalAws, network: Network) -> None:
    # GIVEN session s-1's task interface planned to outlive it by ten hours of workflow time
    aws.random_faults.arm(1, FaultModel())
    aws.random_faults.plan_session("s-1", SessionFaults(eni_released_after_seconds=36_000))
    ec2 = aws.client("ec2")
    task_arn = _run_task(aws, network, "s-1")["tasks"][0]["taskArn"]

    # WHEN s-1 stops its task, then deletes its group
    with session_scope("s-1"):
        aws.client("ecs").stop_task(cluster=CLUSTER, task=task_arn, reason="session ended")
        first = _outcome(lambda: ec2.delete_security_group(GroupId=network.group_id))
        # THEN the interface holds the group until its time has come
        assert first == "DependencyViolation"
        aws.time_scale = 1_000_000.0  # ten hours pass in a fraction of a second
        deadline = time.monotonic() + WAIT_SECONDS
        while _outcome(lambda: ec2.delete_security_group(GroupId=network.group_id)) != "ok":
            assert time.monotonic() < deadline, "the interface was never released"
            time.sleep(0.01)
    assert network.group_id not in _group_ids(aws, network.vpc_id)
    assert aws.random_faults.counts() == {ENI_RELEASED_LATE: 1}


def test_an_unplanned_sessions_interface_is_released_at_once(
    aws: LocalAws, network: Network
) -> None:
    # GIVEN only session s-1 planned to have its interface released late
    aws.random_faults.arm(1, FaultModel())
    aws.random_faults.plan_session("s-1", SessionFaults(eni_released_after_seconds=36_000))
    task_arn = _run_task(aws, network, "s-2")["tasks"][0]["taskArn"]

    # WHEN s-2 stops its task and deletes its group
    with session_scope("s-2"):
        aws.client("ecs").stop_task(cluster=CLUSTER, task=task_arn)
        aws.client("ec2").delete_security_group(GroupId=network.group_id)

    # THEN the group is gone at the first attempt
    assert network.group_id not in _group_ids(aws, network.vpc_id)
    assert aws.random_faults.injected == []


# --- reporting and disarming -------------------------------------------------------------------


def test_what_fired_is_reported_and_disarm_stops_injecting(aws: LocalAws) -> None:
    # GIVEN DescribeVpcs throttled and ListClusters slow, for every session
    model = FaultModel(
        calls={"ec2:DescribeVpcs": CallRates(throttled=1.0), "ecs:*": CallRates(slow=1.0)},
        latency_seconds=0.0,
    )
    aws.random_faults.arm(5, model)
    ec2, ecs = aws.client("ec2"), aws.client("ecs")

    # WHEN two sessions call, then the faults are disarmed and s-1 calls again
    with session_scope("s-1"):
        armed = [_outcome(ec2.describe_vpcs), _outcome(ec2.describe_vpcs)]
        _outcome(ecs.list_clusters)
        _outcome(ec2.describe_subnets)  # no rates: not even drawn
    with session_scope("s-2"):
        _outcome(ec2.describe_vpcs)
    fired = aws.random_faults.injected
    aws.random_faults.disarm()
    with session_scope("s-1"):
        disarmed = _outcome(ec2.describe_vpcs)

    # THEN every fault is reported in order, counted by kind and by call drawn
    assert armed == ["RequestLimitExceeded"] * 2
    assert fired == [
        InjectedFault(THROTTLED, "s-1", "ec2:DescribeVpcs", 0),
        InjectedFault(THROTTLED, "s-1", "ec2:DescribeVpcs", 1),
        InjectedFault(SLOW, "s-1", "ecs:ListClusters", 0),
        InjectedFault(THROTTLED, "s-2", "ec2:DescribeVpcs", 0),
    ]
    assert aws.random_faults.counts() == {THROTTLED: 3, SLOW: 1}
    assert aws.random_faults.calls_drawn() == {
        ("s-1", "ec2:DescribeVpcs"): 2,
        ("s-1", "ecs:ListClusters"): 1,
        ("s-2", "ec2:DescribeVpcs"): 1,
    }
    # ... and once disarmed, the call went through and the record stayed as it was
    assert disarmed == "ok"
    assert aws.random_faults.injected == fired


def _group_names(aws: LocalAws, vpc_id: str) -> set[str]:
    groups = aws.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    return {group["GroupName"] for group in groups}


def _group_ids(aws: LocalAws, vpc_id: str) -> set[str]:
    groups = aws.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    return {group["GroupId"] for group in groups}

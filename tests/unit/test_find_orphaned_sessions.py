"""FindOrphanedSessions (sweeper): sessions whose resources outlived their execution."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tasks.authorize_control_plane_ingress import (
    AuthorizeControlPlaneIngressInput,
    authorize_control_plane_ingress,
)
from tasks.common.errors import StepInputInvalid
from tasks.common.models import Session
from tasks.common.settings import Settings, SettingsError
from tasks.create_session_security_group import (
    CreateSessionSecurityGroupInput,
    create_session_security_group,
)
from tasks.find_orphaned_sessions import (
    MAX_SESSIONS_PER_SWEEP,
    FindOrphanedSessionsInput,
    OrphanedSessions,
    find_orphaned_sessions,
    handler,
)
from tasks.hold_session import HoldSessionInput, hold_session
from tasks.run_bastion_task import RunBastionTaskInput, run_bastion_task
from tests.unit.support import (
    ENDPOINT_HOST,
    STACK,
    LambdaContextStub,
    Network,
    client,
    load_event,
    make_session,
)

pytestmark = pytest.mark.unit

#: The sweep starts at noon; make_session's sessions expire at 11:00.
SWEEP = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MACHINE_NAME = "fargate-bastion-session"


@pytest.fixture
def sweeper_settings(settings: Settings) -> Settings:
    """The settings, with the session machine (created here) the sweeper asks."""
    sfn = client("stepfunctions")
    definition = {"StartAt": "Hold", "States": {"Hold": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(
        name=MACHINE_NAME,
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/session",
    )["stateMachineArn"]
    return replace(settings, session_state_machine_arn=machine)


def expiring(session_id: str, expires_at: str) -> Session:
    return make_session(session_id, expires_at=expires_at)


def running(settings: Settings, session_id: str) -> str:
    """A session execution that is RUNNING (plain moto never finishes one by itself)."""
    arn: str = client("stepfunctions").start_execution(
        stateMachineArn=settings.session_state_machine_arn, name=session_id, input="{}"
    )["executionArn"]
    return arn


def aborted(settings: Settings, session_id: str) -> None:
    client("stepfunctions").stop_execution(executionArn=running(settings, session_id))


def session_group(session: Session, network: Network) -> str:
    return create_session_security_group(
        CreateSessionSecurityGroupInput(
            session=session,
            vpc_id=network.vpc_id,
            control_plane_group_id=network.control_plane_group_id,
        ),
        stack_name=STACK,
        ec2=client("ec2"),
    ).group_id


def control_plane_rule(session: Session, network: Network, group_id: str) -> None:
    authorize_control_plane_ingress(
        AuthorizeControlPlaneIngressInput(
            session=session,
            cluster_security_group_id=network.control_plane_group_id,
            session_security_group_id=group_id,
        ),
        stack_name=STACK,
        ec2=client("ec2"),
    )


def bastion_task(session: Session, settings: Settings, group_id: str) -> str:
    request = RunBastionTaskInput(
        session=session, session_security_group_id=group_id, endpoint_host=ENDPOINT_HOST
    )
    return run_bastion_task(request, settings=settings, ecs=client("ecs")).task_arn


def hold_parameter(session: Session) -> None:
    hold_session(
        HoldSessionInput("token", session),
        settings=Settings(),
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
    )


def find(
    settings: Settings,
    at: datetime = SWEEP,
    *,
    sweep_id: str = "sweeper-1",
    limit: int = MAX_SESSIONS_PER_SWEEP,
) -> OrphanedSessions:
    return find_orphaned_sessions(
        FindOrphanedSessionsInput(sweep_id=sweep_id, sweep_started_at=at),
        settings=settings,
        ec2=client("ec2"),
        ecs=client("ecs"),
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
        limit=limit,
    )


def test_nothing_tagged_is_nothing_to_sweep(sweeper_settings: Settings) -> None:
    assert find(sweeper_settings) == OrphanedSessions((), examined=0)


def test_sessions_that_do_not_run_or_run_overdue_are_orphans(
    sweeper_settings: Settings, network: Network
) -> None:
    # GIVEN five sessions, each owning a security group
    cases = {
        "gone": "2026-11-27T13:00:00Z",  # no execution at all
        "aborted": "2026-11-27T13:00:00Z",  # its execution was stopped
        "running": "2026-11-27T13:00:00Z",  # runs, not expired yet
        "in-grace": "2026-11-27T11:50:00Z",  # runs, expired 10 minutes ago (grace: 15)
        "overdue": "2026-11-27T11:40:00Z",  # runs, expired 20 minutes ago
    }
    for session_id, expires_at in cases.items():
        session_group(expiring(session_id, expires_at), network)
    aborted(sweeper_settings, "aborted")
    for session_id in ("running", "in-grace", "overdue"):
        running(sweeper_settings, session_id)

    # WHEN the sweeper looks at noon
    found = find(sweeper_settings)

    # THEN the ones not running, and the one running past expiry plus grace, are orphans
    assert found == OrphanedSessions(("aborted", "gone", "overdue"), examined=5)


def test_one_sweep_takes_at_most_its_limit_and_defers_the_rest(
    sweeper_settings: Settings, network: Network
) -> None:
    # GIVEN five orphaned sessions
    orphans = {f"gone-{index}" for index in range(5)}
    for session_id in orphans:
        session_group(expiring(session_id, "2026-11-27T13:00:00Z"), network)

    # WHEN sweeps that take two sessions each look
    sweeps = [find(sweeper_settings, sweep_id=f"sweeper-{n}", limit=2) for n in range(20)]

    # THEN each takes two of them, in order, and counts the other three as deferred
    for found in sweeps:
        assert (len(found.session_ids), found.deferred, found.examined) == (2, 3, 5)
        assert list(found.session_ids) == sorted(found.session_ids)
    # AND the same sweep takes the same two; different sweeps take different ones, so
    # sessions that cannot be torn down never keep the others waiting
    assert find(sweeper_settings, sweep_id="sweeper-0", limit=2) == sweeps[0]
    assert {session_id for found in sweeps for session_id in found.session_ids} == orphans
    # AND within the limit nothing is deferred
    assert find(sweeper_settings, limit=5) == OrphanedSessions(tuple(sorted(orphans)), 5)


def test_a_limit_below_one_is_refused(sweeper_settings: Settings) -> None:
    with pytest.raises(ValueError, match="limit must be at least 1, got 0"):
        find(sweeper_settings, limit=0)


def test_the_grace_period_is_a_setting(sweeper_settings: Settings, network: Network) -> None:
    session_group(expiring("in-grace", "2026-11-27T11:50:00Z"), network)
    running(sweeper_settings, "in-grace")
    assert find(replace(sweeper_settings, sweeper_grace_minutes=5)).session_ids == ("in-grace",)
    assert find(replace(sweeper_settings, sweeper_grace_minutes=15)).session_ids == ()


@pytest.mark.parametrize("kind", ["rule", "task", "parameter"])
def test_each_kind_of_resource_alone_names_its_session(
    sweeper_settings: Settings, network: Network, kind: str
) -> None:
    # GIVEN a session whose only leftover is of one kind (its group belongs to a live session)
    live = make_session("live", expires_at="2026-11-27T13:00:00Z")
    group_id = session_group(live, network)
    running(sweeper_settings, "live")
    crashed = make_session("crashed")
    if kind == "rule":
        control_plane_rule(crashed, network, group_id)
    elif kind == "task":
        bastion_task(crashed, sweeper_settings, group_id)
    else:
        hold_parameter(crashed)

    # THEN the sweeper finds that session, and leaves the live one
    assert find(sweeper_settings) == OrphanedSessions(("crashed",), examined=2)


def test_a_stopped_task_is_not_a_leftover(sweeper_settings: Settings, network: Network) -> None:
    live = make_session("live", expires_at="2026-11-27T13:00:00Z")
    group_id = session_group(live, network)
    running(sweeper_settings, "live")
    task_arn = bastion_task(make_session("ended"), sweeper_settings, group_id)
    client("ecs").stop_task(cluster=sweeper_settings.ecs_cluster, task=task_arn, reason="done")
    assert find(sweeper_settings).session_ids == ()


def test_the_execution_asked_about_is_the_session_machines(sweeper_settings: Settings) -> None:
    arn = sweeper_settings.session_execution_arn("alice-1")
    assert arn == f"arn:aws:states:us-east-1:123456789012:execution:{MACHINE_NAME}:alice-1"
    with pytest.raises(SettingsError, match="SESSION_STATE_MACHINE_ARN"):
        Settings().session_execution_arn("alice-1")


def test_settings_read_the_grace_period() -> None:
    assert Settings.from_environ({}).sweeper_grace_minutes == 15
    assert Settings.from_environ({"SWEEPER_GRACE_MINUTES": "30"}).sweeper_grace_minutes == 30
    with pytest.raises(SettingsError, match="SWEEPER_GRACE_MINUTES"):
        Settings.from_environ({"SWEEPER_GRACE_MINUTES": "-1"})


def test_a_sweep_time_that_is_not_a_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="sweepStartedAt"):
        FindOrphanedSessionsInput.from_event({"sessionId": "s", "sweepStartedAt": "noon"})
    with pytest.raises(StepInputInvalid, match="sweepStartedAt"):
        FindOrphanedSessionsInput.from_event({"sessionId": "s"})


def test_the_handler_reads_the_event_file(
    sweeper_settings: Settings,
    settings_env: Settings,
    network: Network,
    monkeypatch: pytest.MonkeyPatch,
    context: LambdaContextStub,
) -> None:
    monkeypatch.setenv("SESSION_STATE_MACHINE_ARN", sweeper_settings.session_state_machine_arn)
    hold_parameter(make_session("crashed"))
    output = handler(load_event("find_orphaned_sessions"), context)
    assert output == {"sessionIds": ["crashed"], "examined": 1, "deferred": 0}


def test_another_stacks_resources_and_hostile_tags_are_not_looked_at(
    sweeper_settings: Settings, network: Network
) -> None:
    # GIVEN another stack's session (same id as none of ours, no execution of ours) with a
    # group, a control-plane rule and a hold parameter, and a group tagged with a wildcard
    other = make_session("theirs")
    other_group = create_session_security_group(
        CreateSessionSecurityGroupInput(
            session=other,
            vpc_id=network.vpc_id,
            control_plane_group_id=network.control_plane_group_id,
        ),
        stack_name="another-stack",
        ec2=client("ec2"),
    ).group_id
    authorize_control_plane_ingress(
        AuthorizeControlPlaneIngressInput(
            session=other,
            cluster_security_group_id=network.control_plane_group_id,
            session_security_group_id=other_group,
        ),
        stack_name="another-stack",
        ec2=client("ec2"),
    )
    hold_session(
        HoldSessionInput("token", other),
        settings=Settings(stack_name="another-stack", session_parameter_prefix="/other"),
        ssm=client("ssm"),
        sfn=client("stepfunctions"),
    )
    client("ec2").create_security_group(
        GroupName="wildcard",
        Description="a hostile tag",
        VpcId=network.vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [
                    {"Key": "fargate-bastion:session", "Value": "*"},
                    {"Key": "fargate-bastion:stack", "Value": STACK},
                ],
            }
        ],
    )
    # WHEN this stack's sweeper looks
    found = find(sweeper_settings)
    # THEN it sees nothing to sweep: the other stack's session is not its own, and a tag
    # value that is not a session id is skipped, never used as a filter
    assert found == OrphanedSessions((), examined=0)


def test_an_extended_session_is_overdue_only_past_its_holds_expiry(
    sweeper_settings: Settings, network: Network
) -> None:
    # GIVEN two running sessions whose resources were tagged with an expiry of 11:00, and
    # whose holds hold (after an extension) until 11:55 and until 11:40
    for session_id, held_until in (("extended", "11:55"), ("late", "11:40")):
        session = expiring(session_id, "2026-11-27T11:00:00Z")
        session_group(session, network)
        running(sweeper_settings, session_id)
        hold_session(
            HoldSessionInput("token", session, expires_at=f"2026-11-27T{held_until}:00Z"),
            settings=Settings(),
            ssm=client("ssm"),
            sfn=client("stepfunctions"),
        )
    # WHEN the sweeper looks at noon (grace: 15 minutes)
    # THEN only the one past its hold's expiry plus grace is an orphan: the hold's expiry
    # follows extensions, the tags keep the first one
    assert find(sweeper_settings).session_ids == ("late",)

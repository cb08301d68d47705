"""StopBastionTask (teardown): stop the session's tasks, tolerate there being none."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tasks.common.models import Session
from tasks.common.settings import Settings, SettingsError
from tasks.run_bastion_task import RunBastionTaskInput, run_bastion_task
from tasks.stop_bastion_task import StopBastionTaskInput, StoppedTasks, handler, stop_bastion_task
from tests.unit.support import (
    ECS_CLUSTER,
    ENDPOINT_HOST,
    LambdaContextStub,
    client,
    load_event,
    make_session,
)

pytestmark = pytest.mark.unit


def start(session: Session, settings: Settings, session_group: str) -> str:
    request = RunBastionTaskInput(
        session=session, session_security_group_id=session_group, endpoint_host=ENDPOINT_HOST
    )
    return run_bastion_task(request, settings=settings, ecs=client("ecs")).task_arn


def stop(settings: Settings, reason: str | None = None) -> StoppedTasks:
    event = {"sessionId": "s-0001", **({"reason": reason} if reason else {})}
    return stop_bastion_task(
        StopBastionTaskInput.from_event(event), settings=settings, ecs=client("ecs")
    )


def status(task_arn: str) -> tuple[str, str, str]:
    (task,) = client("ecs").describe_tasks(cluster=ECS_CLUSTER, tasks=[task_arn])["tasks"]
    return task["lastStatus"], task["desiredStatus"], task.get("stoppedReason", "")


def test_stops_the_sessions_task_and_nothing_else(
    settings: Settings, session: Session, session_group: str
) -> None:
    # GIVEN this session's task and another session's
    ours = start(session, settings, session_group)
    theirs = start(make_session("s-0002"), settings, session_group)
    # WHEN the session's task is stopped
    result = stop(settings)
    # THEN only ours stops, with a reason naming the bastion
    assert result == StoppedTasks((ours,))
    assert status(ours) == ("STOPPED", "STOPPED", "fargate-bastion: session ended")
    assert status(theirs)[:2] == ("RUNNING", "RUNNING")


def test_the_reason_is_passed_on(settings: Settings, session: Session, session_group: str) -> None:
    task = start(session, settings, session_group)
    stop(settings, reason="expired")
    assert status(task)[2] == "fargate-bastion: expired"


def test_a_rerun_or_no_task_is_success(
    settings: Settings, session: Session, session_group: str
) -> None:
    assert stop(settings) == StoppedTasks(())
    start(session, settings, session_group)
    assert len(stop(settings).stopped_task_arns) == 1
    assert stop(settings) == StoppedTasks(())


def test_a_missing_ecs_cluster_is_nothing_to_stop(settings: Settings) -> None:
    assert stop(replace(settings, ecs_cluster="gone")) == StoppedTasks(())


def test_the_handler_reads_the_event_file(
    settings_env: Settings, session: Session, session_group: str, context: LambdaContextStub
) -> None:
    task = start(session, settings_env, session_group)
    assert handler(load_event("stop_bastion_task"), context) == {"stoppedTaskArns": [task]}
    assert status(task)[0] == "STOPPED"


def test_no_ecs_cluster_setting_is_a_settings_error(mocked_aws: None) -> None:
    with pytest.raises(SettingsError, match="BASTION_ECS_CLUSTER"):
        stop(Settings())

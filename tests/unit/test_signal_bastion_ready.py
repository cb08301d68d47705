"""SignalBastionReady: a started line, delivered by the log subscription, answers the ready wait
of its own session's task, and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasks.common.bastion_started import bastion_log_stream
from tasks.common.errors import BastionNotReady
from tasks.common.log_subscription import (
    CONTROL_MESSAGE,
    DATA_MESSAGE,
    LogEvent,
    LogSubscriptionError,
    LogSubscriptionMessage,
)
from tasks.common.models import Session
from tasks.common.ready_wait import (
    ReadyWait,
    read_ready_wait,
    ready_parameter_name,
    store_ready_wait,
)
from tasks.common.session_manager import ExecuteCommandNotReady
from tasks.common.settings import Settings
from tasks.signal_bastion_ready import (
    ECS_EXEC_PATIENCE_SECONDS,
    ECS_EXEC_POLL_SECONDS,
    handler,
    signal_bastion_ready,
    waiting_for_ecs_exec,
)
from tasks.wait_for_bastion_address import bastion_look
from tests.unit.support import (
    BASTION_LOG_GROUP,
    ECS_CLUSTER,
    LambdaContextStub,
    LocalStack,
    TaskAnswers,
    client,
    load_event,
)
from tests.unit.support import local_stack as make_local_stack
from tests.unit.test_wait_for_bastion_address import (
    exec_agent,
    ready_wait,
    running_private_bastion,
    start,
    stream_lines,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def local_stack(local_aws) -> LocalStack:
    return make_local_stack(local_aws)


def keep_wait(settings: Settings, session: Session, wait: ReadyWait) -> None:
    name = ready_parameter_name(settings.parameter_name(session.session_id))
    store_ready_wait(client("ssm"), name, wait, [])


def delivery_of(
    task_arn: str, *lines: str, group: str = BASTION_LOG_GROUP
) -> LogSubscriptionMessage:
    stream = bastion_log_stream("bastion", task_arn.rsplit("/", 1)[-1])
    events = tuple(LogEvent(str(i), 1_795_778_400_000 + i, line) for i, line in enumerate(lines))
    return LogSubscriptionMessage(DATA_MESSAGE, "123456789012", group, stream, ("f",), events)


def started_line(task_arn: str) -> str:
    (line,) = [line for line in stream_lines(task_arn) if '"started"' in line]
    return line


def signal(settings: Settings, delivery: LogSubscriptionMessage, answers: Any) -> list[dict]:
    done = signal_bastion_ready(
        delivery, settings=settings, ssm=client("ssm"), sfn=answers, look=bastion_look(settings)
    )
    return [answer.to_dict() for answer in done]


def running_bastion(local_aws, local_stack: LocalStack, session: Session) -> str:
    local_aws.ecs_control.describes_until_running = 0
    return start(session, local_stack.settings, local_stack.session_group_id)


def test_the_started_line_answers_its_sessions_wait_with_the_ready_document(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    # GIVEN a running bastion whose session waits for it
    task_arn = running_bastion(local_aws, local_stack, session)
    keep_wait(local_stack.settings, session, ready_wait(session, task_arn))
    answers = TaskAnswers()
    # WHEN its started line is delivered
    done = signal(local_stack.settings, delivery_of(task_arn, started_line(task_arn)), answers)
    # THEN the wait's token is answered with the ready document and its host keys
    assert done == [{"outcome": "ready"}]
    (sent,) = answers.sent
    assert (sent["kind"], sent["taskToken"]) == ("success", "token")
    ready = json.loads(sent["output"])
    assert ready["sessionId"] == session.session_id
    assert ready["hostPublicKeys"] == json.loads(started_line(task_arn))["hostPublicKeys"]
    # AND the settled wait is gone
    name = ready_parameter_name(local_stack.settings.parameter_name(session.session_id))
    assert read_ready_wait(client("ssm"), name) is None


def test_a_line_before_the_wait_is_kept_answers_nothing(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    task_arn = running_bastion(local_aws, local_stack, session)
    answers = TaskAnswers()
    done = signal(local_stack.settings, delivery_of(task_arn, started_line(task_arn)), answers)
    # the wait's own first look, after it keeps its token, sees the line instead
    assert (done, answers.sent) == ([], [])


def test_a_bastion_naming_another_session_answers_nothing(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    # GIVEN two sessions' bastions, the victim waiting for its own
    victim = Session.from_dict({**session.to_dict(), "sessionId": "victim-1"})
    victim_task = running_bastion(local_aws, local_stack, victim)
    keep_wait(local_stack.settings, victim, ready_wait(victim, victim_task))
    attacker_task = running_bastion(local_aws, local_stack, session)
    # WHEN the attacker's bastion logs a started line naming the victim's session
    forged = json.dumps({**json.loads(started_line(attacker_task)), "sessionId": "victim-1"})
    answers = TaskAnswers()
    done = signal(local_stack.settings, delivery_of(attacker_task, forged), answers)
    # THEN the victim's wait is not answered: the line came from another task's stream
    assert (done, answers.sent) == ([], [])


def test_a_started_line_that_cannot_be_trusted_fails_the_wait(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    # GIVEN a bastion whose first started line carries a key that is not a key
    local_aws.ecs_control.describes_until_running = 0

    def bad_key(started: dict) -> tuple[str, ...]:
        key = {**started["hostPublicKeys"][0], "key": "bm90IGEga2V5"}
        return (json.dumps({**started, "hostPublicKeys": [key]}),)

    local_aws.ecs_control.write_instead_of_started(bad_key)
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)
    keep_wait(local_stack.settings, session, ready_wait(session, task_arn))
    answers = TaskAnswers()
    done = signal(local_stack.settings, delivery_of(task_arn, started_line(task_arn)), answers)
    # THEN the wait fails with BastionStartedInvalid, which tears the session down
    assert done == [{"outcome": "failed", "error": "BastionStartedInvalid"}]
    (sent,) = answers.sent
    assert (sent["kind"], sent["error"]) == ("failure", "BastionStartedInvalid")


def test_a_bastion_not_running_yet_is_looked_at_again_later(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    # A task that starts by describes only, never by the clock: however slow this machine
    # is between RunTask and the delivery, it is still PENDING when the signal looks.
    local_aws.ecs_control.seconds_until_running = 10.0**9
    task_arn = start(session, local_stack.settings, local_stack.session_group_id)  # PENDING
    keep_wait(local_stack.settings, session, ready_wait(session, task_arn))
    answers = TaskAnswers()
    line = json.dumps({"event": "started", "sessionId": session.session_id})
    done = signal(local_stack.settings, delivery_of(task_arn, line), answers)
    assert (done, answers.sent) == ([{"outcome": "not-ready"}], [])


def test_an_answered_token_is_not_an_error(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    task_arn = running_bastion(local_aws, local_stack, session)
    keep_wait(local_stack.settings, session, ready_wait(session, task_arn))

    class Over(TaskAnswers):
        def send_task_success(self, **arguments: str) -> None:
            raise ClientError({"Error": {"Code": "TaskTimedOut"}}, "SendTaskSuccess")

    done = signal(local_stack.settings, delivery_of(task_arn, started_line(task_arn)), Over())
    assert done == [{"outcome": "token-gone"}]


@pytest.mark.parametrize(
    "line",
    [
        json.dumps({"event": "started", "sessionId": "../../other/stack"}),
        json.dumps({"event": "started", "sessionId": 7}),
        json.dumps({"event": "sshd", "sessionId": "s-0001"}),
        "not json",
    ],
    ids=["path in the session id", "no text", "not the started event", "not json"],
)
def test_a_line_naming_no_valid_session_answers_nothing(
    local_aws, local_stack: LocalStack, session: Session, line: str
) -> None:
    task_arn = running_bastion(local_aws, local_stack, session)
    keep_wait(local_stack.settings, session, ready_wait(session, task_arn))
    answers = TaskAnswers()
    assert signal(local_stack.settings, delivery_of(task_arn, line), answers) == []
    assert answers.sent == []


def test_a_delivery_from_another_log_group_is_refused(
    local_aws, local_stack: LocalStack, session: Session
) -> None:
    task_arn = running_bastion(local_aws, local_stack, session)
    delivery = delivery_of(task_arn, started_line(task_arn), group="/aws/lambda/other")
    with pytest.raises(LogSubscriptionError, match="not the bastion log group"):
        signal(local_stack.settings, delivery, TaskAnswers())


def test_a_stream_that_is_not_a_bastion_tasks_is_refused(local_stack: LocalStack) -> None:
    delivery = LogSubscriptionMessage(
        DATA_MESSAGE, "123456789012", BASTION_LOG_GROUP, "bastion/bastion/../x", ("f",), ()
    )
    with pytest.raises(LogSubscriptionError, match="not a bastion task's stream"):
        signal(local_stack.settings, delivery, TaskAnswers())


def test_a_control_message_is_read_and_ignored(local_stack: LocalStack) -> None:
    delivery = LogSubscriptionMessage(
        CONTROL_MESSAGE, "123456789012", BASTION_LOG_GROUP, "x", ("f",), ()
    )
    assert signal(local_stack.settings, delivery, TaskAnswers()) == []


def test_the_handler_refuses_what_is_not_a_delivery(
    settings_env: Settings, context: LambdaContextStub
) -> None:
    with pytest.raises(LogSubscriptionError):
        handler({"awslogs": {"data": "bm90IGd6aXA="}}, context)


def test_the_handler_reads_the_event_file(
    settings_env: Settings, context: LambdaContextStub
) -> None:
    # The event file's session has no ready wait: the delivery is read, and answers nothing.
    assert handler(load_event("signal_bastion_ready"), context) == {"answers": []}


# ----------------------------------------------------------------------- private bastions


class FakeTime:
    """A clock that moves only when slept on, recording each sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_private_bastion_whose_exec_agent_starts_after_its_line_is_answered_once_it_runs(
    local_aws,
) -> None:
    # GIVEN a private bastion that said sshd accepts before ECS Exec's agent runs
    stack, session, task_arn = running_private_bastion(local_aws)
    exec_agent(local_aws, task_arn, "PENDING")
    keep_wait(stack.settings, session, ready_wait(session, task_arn))
    time = FakeTime()

    def sleep(seconds: float) -> None:
        time.sleep(seconds)
        if len(time.sleeps) == 3:
            exec_agent(local_aws, task_arn, "RUNNING")

    look = waiting_for_ecs_exec(bastion_look(stack.settings), sleep=sleep, clock=time.clock)
    answers = TaskAnswers()
    # WHEN its started line is delivered
    done = signal_bastion_ready(
        delivery_of(task_arn, started_line(task_arn)),
        settings=stack.settings,
        ssm=client("ssm"),
        sfn=answers,
        look=look,
    )
    # THEN the look waits for the agent, and answers the wait once it runs
    assert [answer.to_dict() for answer in done] == [{"outcome": "ready"}]
    assert time.sleeps == [ECS_EXEC_POLL_SECONDS] * 3
    (sent,) = answers.sent
    assert json.loads(sent["output"])["sessionManager"]["target"].endswith(
        task_arn.rsplit("/", 1)[-1] + "_" + described_runtime_id(task_arn)
    )


def described_runtime_id(task_arn: str) -> str:
    (task,) = client("ecs").describe_tasks(cluster=ECS_CLUSTER, tasks=[task_arn])["tasks"]
    return str(task["containers"][0]["runtimeId"])


def test_the_wait_for_ecs_exec_gives_up_within_its_patience_and_waits_for_nothing_else() -> None:
    time = FakeTime()
    looks: list[str] = []

    def agent_never_runs(wait: Any) -> dict[str, Any]:
        looks.append("agent")
        raise ExecuteCommandNotReady("the container's ExecuteCommandAgent is PENDING")

    look = waiting_for_ecs_exec(agent_never_runs, sleep=time.sleep, clock=time.clock)
    with pytest.raises(ExecuteCommandNotReady):
        look(None)
    assert sum(time.sleeps) <= ECS_EXEC_PATIENCE_SECONDS
    assert len(looks) == len(time.sleeps) + 1

    # Any other reason not to be ready is answered at once, without waiting
    def pending(wait: Any) -> dict[str, Any]:
        raise BastionNotReady("bastion task is PENDING")

    other = FakeTime()
    with pytest.raises(BastionNotReady, match="PENDING"):
        waiting_for_ecs_exec(pending, sleep=other.sleep, clock=other.clock)(None)
    assert other.sleeps == []

"""CloudWatch Logs in the local AWS: subscription filters pass on what their pattern matches,
to Lambda as CloudWatch Logs invokes it; tasks' awslogs output reaches its stream."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bastion.local import LocalAws
from bastion.local.actions import Principal
from tasks.common.host_keys import started_host_keys
from tasks.common.log_subscription import decode_subscription_event
from tests.local.conftest import ECS_CLUSTER, Network, create_function, create_network

pytestmark = pytest.mark.local

GROUP = "/ecs/local-test/bastion"
STARTED = '{"event":"started","sessionId":"s-1"}'
SSHD = '{"event":"sshd","sessionId":"s-1","message":"Server listening on 0.0.0.0 port 22."}'
STARTED_PATTERN = '{ $.event = "started" }'


def put(aws: LocalAws, stream: str, *messages: str) -> None:
    logs = aws.client("logs")
    try:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": now, "message": message} for message in messages],
    )


def _subscribe(aws: LocalAws, handler: str = "echo", pattern: str = STARTED_PATTERN) -> str:
    arn = create_function(aws, f"on-{handler}", handler, {"CLUSTER": ECS_CLUSTER})
    aws.client("logs").put_subscription_filter(
        logGroupName=GROUP, filterName="bastion-started", filterPattern=pattern, destinationArn=arn
    )
    return arn


@pytest.fixture
def group(aws: LocalAws) -> str:
    aws.client("logs").create_log_group(logGroupName=GROUP)
    return GROUP


def test_a_subscription_gets_only_the_events_its_pattern_matches(aws: LocalAws, group: str) -> None:
    function_arn = _subscribe(aws)

    # WHEN lines go to a stream, one of them the started event
    put(aws, "bastion/bastion/0123", SSHD, "not json at all", STARTED, '{"event":"exit"}')

    # THEN the function is invoked once, with CloudWatch Logs' payload holding that line only
    delivery = aws.log_deliveries.wait_for_delivery(lambda d: True)
    aws.log_deliveries.wait_until_idle()
    assert len(aws.log_deliveries_made) == 1 and delivery.succeeded, delivery.error
    assert delivery.function_arn == function_arn
    received = json.loads(str(delivery.result))["event"]
    assert set(received) == {"awslogs"} and set(received["awslogs"]) == {"data"}
    message = decode_subscription_event(received)
    assert message.as_data() | {"logEvents": []} == {
        "messageType": "DATA_MESSAGE",
        "owner": aws.account_id,
        "logGroup": GROUP,
        "logStream": "bastion/bastion/0123",
        "subscriptionFilters": ["bastion-started"],
        "logEvents": [],
    }
    (event,) = message.log_events
    assert event.message == STARTED
    assert event.id.isdigit() and event.timestamp > 0
    # invoked as CloudWatch Logs, for the log group (what the function's resource policy allows)
    invokes = [a for a in aws.actions if a.action == "lambda:InvokeFunction"]
    assert [a.principal for a in invokes] == [
        Principal(
            "service",
            "logs.amazonaws.com",
            None,
            f"arn:aws:logs:{aws.region}:{aws.account_id}:log-group:{GROUP}:*",
        )
    ]


def test_no_matching_event_means_no_invocation(aws: LocalAws, group: str) -> None:
    _subscribe(aws)
    put(aws, "bastion/bastion/0123", SSHD, '{"event":"started "}', '{"event":["started"]}')
    aws.log_deliveries.wait_until_idle()
    assert aws.log_deliveries_made == []
    assert aws.invocations == []


@pytest.mark.parametrize(
    "pattern",
    [
        "{ $.port > 21 }",
        '{ $.event != "started" }',
        '{ $.event = "started" || $.event = "exit" }',
        '{ ($.event = "started") }',
        "[ip, user, ...]",
        "ERROR -DEBUG",
        "?ERROR ?WARN",
    ],
)
def test_a_pattern_the_local_aws_cannot_evaluate_is_refused(
    aws: LocalAws, group: str, pattern: str
) -> None:
    with pytest.raises(ClientError) as refused:
        _subscribe(aws, pattern=pattern)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"


# --- the awslogs driver -------------------------------------------------------------------


def bastion_task_definition(aws: LocalAws, group: str, **options: str) -> None:
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=ECS_CLUSTER)
    ecs.register_task_definition(
        family="bastion",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "bastion",
                "image": "bastion:test",
                "essential": True,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": group,
                        "awslogs-region": aws.region,
                        "awslogs-stream-prefix": "bastion",
                        **options,
                    },
                },
            }
        ],
    )


def session_environment(session_id: str) -> list[dict[str, str]]:
    from tests.unit.keys import ed25519_key

    values = {
        "BASTION_SESSION_ID": session_id,
        "BASTION_CLUSTER_NAME": "demo",
        "BASTION_AUTHORIZED_KEY": ed25519_key(),
        "BASTION_EXPIRES_AT": "2099-01-01T00:00:00Z",
        "BASTION_SESSION_EXPIRES_AT": "2099-01-01T00:00:00Z",
        "BASTION_IDLE_TIMEOUT_SECONDS": "900",
        "BASTION_ENDPOINT_HOST": "demo.eks.example.com",
        "BASTION_MODE": "tunnel",
    }
    return [{"name": name, "value": value} for name, value in values.items()]


def run_bastion(aws: LocalAws, network: Network, session_id: str) -> dict[str, Any]:
    response = aws.client("ecs").run_task(
        cluster=ECS_CLUSTER,
        taskDefinition="bastion",
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [network.subnet_id], "assignPublicIp": "ENABLED"}
        },
        overrides={
            "containerOverrides": [
                {"name": "bastion", "environment": session_environment(session_id)}
            ]
        },
        tags=[{"key": "fargate-bastion:session", "value": session_id}],
    )
    assert response["failures"] == []
    return dict(response["tasks"][0])


def stream_lines(aws: LocalAws, stream: str) -> list[str]:
    events = aws.client("logs").get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True
    )["events"]
    return [str(event["message"]) for event in events]


def test_a_simulated_bastion_writes_its_started_line_to_its_tasks_stream(
    aws: LocalAws, group: str
) -> None:
    aws.ecs_control.describes_until_running = 1
    bastion_task_definition(aws, group)
    network = create_network(aws)

    task = run_bastion(aws, network, "alice-1")

    # Not running yet: its container has written nothing
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    streams = aws.client("logs").describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [s["logStreamName"] for s in streams] == []
    # Once it runs, its bastion's started line is in its stream
    aws.client("ecs").describe_tasks(cluster=ECS_CLUSTER, tasks=[task["taskArn"]])
    (line,) = stream_lines(aws, f"bastion/bastion/{task_id}")
    started = json.loads(line)
    assert (started["event"], started["sessionId"], started["region"]) == (
        "started",
        "alice-1",
        aws.region,
    )
    assert len(started_host_keys(started)) == 2


def test_the_started_line_reaches_a_subscription_which_finds_the_session_by_the_tasks_tags(
    aws: LocalAws, group: str
) -> None:
    bastion_task_definition(aws, group)
    network = create_network(aws)
    _subscribe(aws, "session_of_log_stream")

    task = run_bastion(aws, network, "alice-2")

    delivery = aws.log_deliveries.wait_for_delivery(lambda d: True)
    assert delivery.succeeded, delivery.result
    answer = json.loads(str(delivery.result))
    assert answer["taskId"] == task["taskArn"].rsplit("/", 1)[-1]
    assert answer["session"] == "alice-2"
    (line,) = answer["messages"]
    assert json.loads(line)["event"] == "started"


def test_a_task_whose_log_group_does_not_exist_never_runs(aws: LocalAws) -> None:
    aws.ecs_control.describes_until_running = 0  # the first describe shows how it ended
    bastion_task_definition(aws, "/ecs/nowhere")
    network = create_network(aws)

    task = run_bastion(aws, network, "alice-3")

    described = aws.client("ecs").describe_tasks(cluster=ECS_CLUSTER, tasks=[task["taskArn"]])
    (found,) = described["tasks"]
    assert found["lastStatus"] == "STOPPED"
    assert found["stoppedReason"].startswith("ResourceInitializationError:")
    assert "log group does not exist" in found["stoppedReason"]


def test_the_driver_may_create_its_log_group(aws: LocalAws) -> None:
    aws.ecs_control.describes_until_running = 0  # runs at once: its line is put at once
    bastion_task_definition(aws, "/ecs/made-by-the-driver", **{"awslogs-create-group": "true"})
    network = create_network(aws)

    task = run_bastion(aws, network, "alice-4")

    task_id = task["taskArn"].rsplit("/", 1)[-1]
    streams = aws.client("logs").describe_log_streams(logGroupName="/ecs/made-by-the-driver")
    assert [s["logStreamName"] for s in streams["logStreams"]] == [f"bastion/bastion/{task_id}"]


def test_a_functions_cloudwatch_logs_event_in_a_template_arms_its_subscription(
    aws: LocalAws, tmp_path: Path
) -> None:
    # GIVEN a stack whose function subscribes to the bastion log group, as SAM writes it
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  BastionLogGroup:\n"
        "    Type: AWS::Logs::LogGroup\n"
        "    Properties:\n"
        f"      LogGroupName: {GROUP}\n"
        "  BastionStartedFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Runtime: python3.11\n"
        "      Handler: tests.local.handlers_for_tests.echo\n"
        "      InlineCode: the handler runs in-process\n"
        "      Events:\n"
        "        Started:\n"
        "          Type: CloudWatchLogs\n"
        "          Properties:\n"
        "            LogGroupName: !Ref BastionLogGroup\n"
        f"            FilterPattern: '{STARTED_PATTERN}'\n",
        encoding="utf-8",
    )
    stack = aws.deploy(template, stack_name="logs-test")

    # WHEN the started line is written
    put(aws, "bastion/bastion/0123", SSHD, STARTED)

    # THEN the stack's function gets it, invoked as its resource policy allows
    delivery = aws.log_deliveries.wait_for_delivery(lambda d: True)
    assert delivery.succeeded, delivery.error
    assert delivery.function_arn == stack.attributes["BastionStartedFunction"]["Arn"]
    assert [e.message for e in delivery.message.log_events] == [STARTED]
    (invoke,) = [a for a in aws.actions if a.action == "lambda:InvokeFunction"]
    policy = json.loads(
        aws.client("lambda").get_policy(FunctionName=delivery.function_arn)["Policy"]
    )
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": invoke.principal.name}
    source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
    assert source == invoke.principal.source_arn

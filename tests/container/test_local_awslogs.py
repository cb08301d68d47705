"""The local AWS's real bastion logs as on Fargate: its entry point's lines reach its task's
CloudWatch Logs stream while it runs, in order, and its started line a subscription."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bastion.local import LocalAws
from bastion.local.task_runner import SshdTaskRunner, log_path
from tasks.common.host_keys import started_host_keys
from tests.container.harness import DEADLINE, Account
from tests.container.test_host_keys import keyscan
from tests.local.conftest import ECS_CLUSTER, create_function, create_network
from tests.local.test_cloudwatch_logs import (
    GROUP,
    STARTED_PATTERN,
    bastion_task_definition,
    run_bastion,
    stream_lines,
)

pytestmark = pytest.mark.container


@pytest.fixture
def aws(account: Account, tmp_path: Path) -> Iterator[LocalAws]:
    """A local AWS whose tasks really run the entry point and sshd."""
    with LocalAws(region="us-east-1", time_scale=60.0) as local:
        runner = SshdTaskRunner(tmp_path / "state")
        local.ecs_control.task_runner = runner
        try:
            yield local
        finally:
            runner.stop_all()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE} s: {what}")
        time.sleep(0.05)


def test_the_bastions_lines_reach_its_stream_as_it_runs(aws: LocalAws, tmp_path: Path) -> None:
    aws.client("logs").create_log_group(logGroupName=GROUP)
    bastion_task_definition(aws, GROUP)
    function_arn = create_function(aws, "on-started", "echo")
    aws.client("logs").put_subscription_filter(
        logGroupName=GROUP,
        filterName="bastion-started",
        filterPattern=STARTED_PATTERN,
        destinationArn=function_arn,
    )

    task = run_bastion(aws, create_network(aws), "real-1")
    stream = f"bastion/bastion/{task['taskArn'].rsplit('/', 1)[-1]}"

    # WHILE it runs, its started line is in its stream, and reports the keys sshd presents
    def started_lines() -> list[str]:
        return [line for line in _lines(aws, stream) if json.loads(line)["event"] == "started"]

    wait_until(lambda: bool(started_lines()), "the started line in the stream")
    started = json.loads(started_lines()[0])
    assert keyscan(started["port"]) == {(k.key_type, k.key) for k in started_host_keys(started)}
    # and the subscription got it
    delivery = aws.log_deliveries.wait_for_delivery(lambda d: True)
    assert [e.message for e in delivery.message.log_events] == started_lines()
    assert delivery.message.log_stream == stream

    # WHEN the task stops, its last line (the exit) follows; the stream is the file, in order
    aws.client("ecs").stop_task(cluster=ECS_CLUSTER, task=task["taskArn"], reason="test")
    file_lines = log_path(tmp_path / "state", "real-1").read_text().splitlines()
    assert json.loads(file_lines[-1])["event"] == "exit"
    wait_until(lambda: _lines(aws, stream) == file_lines, "every line of the file in the stream")


def _lines(aws: LocalAws, stream: str) -> list[str]:
    try:
        return stream_lines(aws, stream)
    except aws.client("logs").exceptions.ResourceNotFoundException:
        return []
